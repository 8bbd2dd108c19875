"""Fit the autoregressive models of lesson 07 on the binarised digits and ship them as checkpoints.

Usage (from the repository root):

    COURSE_THREADS=2 python scripts/train_autoregressive.py            # all six checkpoints
    python scripts/train_autoregressive.py ar_pixelcnn                 # some of them
    python scripts/train_autoregressive.py --epochs 2 --dry-run        # a smoke test that saves nothing

The count models (independent pixels, Naive Bayes, the two Markov chains) are fitted in closed
form on all 4,000 training digits; MADE and the PixelCNN are trained by
``helpers.models.autoregressive.fit_made`` and ``fit_pixelcnn`` (the functions the notebook calls)
on 3,600 of them with early stopping on the other 400 (``binarised_digits``). Each is saved with ``helpers.models.save_pretrained``.
"""

from __future__ import annotations

import time

import torch

import helpers
from helpers.metrics import bits_per_dim
from helpers.models import autoregressive as ar
from helpers.models import save_pretrained

SCRIPT = "scripts/train_autoregressive.py"


def main() -> None:
    parser = helpers.train.script_parser(__doc__, epochs=None)
    parser.add_argument(
        "which", nargs="*", help="any of " + ", ".join(ar.CHECKPOINTS) + " (default: all)"
    )
    args = helpers.train.parse_script_args(parser)
    unknown = sorted(set(args.which) - set(ar.CHECKPOINTS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(ar.CHECKPOINTS)}")
    wanted = set(args.which or ar.CHECKPOINTS)
    helpers.seed_everything(0)
    digits = ar.binarised_digits()
    data = {
        "source": digits.source,
        "binarize": 0.5,
        "train": len(digits.full_train),
        "test": len(digits.test),
    }
    shape = tuple(digits.test.shape[2:])
    D = shape[0] * shape[1]
    fitted = {}
    for name, model, fit in [
        ("ar_bernoulli", ar.FactorisedBernoulli(shape=shape), lambda m: m.fit(digits.full_train)),
        (
            "ar_naive_bayes",
            ar.NaiveBayes(shape=shape),
            lambda m: m.fit(digits.full_train, digits.full_train_labels),
        ),
        ("ar_markov", ar.MarkovChain(shape=shape), lambda m: m.fit(digits.full_train)),
        ("ar_markov_above", ar.MarkovChain(shape=shape, above=True), lambda m: m.fit(digits.full_train)),
    ]:
        if name not in wanted:
            continue
        start = time.perf_counter()
        fit(model)
        fitted[name] = (
            model,
            time.perf_counter() - start,
            {"steps": 0, "fit": "closed form (smoothed counts)"},
        )
    for name, cls, kwargs, fit, defaults in [
        ("ar_made", ar.MADE, ar.MADE_KWARGS, ar.fit_made, ar.MADE_TRAIN),
        ("ar_pixelcnn", ar.PixelCNN, ar.PIXELCNN_KWARGS, ar.fit_pixelcnn, ar.PIXELCNN_TRAIN),
    ]:
        if name not in wanted:
            continue
        helpers.seed_everything(0)  # each network starts from the same seeded weights, alone or not
        model = cls(**kwargs)
        settings = dict(defaults) if args.epochs is None else dict(defaults, epochs=args.epochs)
        cpu_start = time.process_time()
        history, seconds = fit(model, digits.train, digits.val, **settings, progress=False)
        cpu_seconds = time.process_time() - cpu_start  # on one thread: the core's time, whatever the load
        best = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
        print(
            f"{name}: {len(history['epoch_loss'])} epochs (best {best + 1}) in {seconds:.0f} s "
            f"({cpu_seconds:.0f} s of CPU); validation NLL "
            + " ".join(f"{v:.1f}" for v in history["val_loss"]),
            flush=True,
        )
        fitted[name] = (
            model,
            seconds,
            {
                "steps": len(history["loss"]),
                "epochs_run": len(history["epoch_loss"]),
                "best_epoch": best + 1,
                "train": dict(settings, n_train=len(digits.train), n_val=len(digits.val)),
                "threads": torch.get_num_threads(),
                "cpu_seconds": round(cpu_seconds, 1),
            },
        )
    for name, (model, secs, extra) in fitted.items():
        with torch.no_grad():
            nll = -float(model.log_prob(digits.test).mean())
            extra["train_nll_nats"] = round(-float(model.log_prob(digits.train).mean()), 2)
        print(
            f"{name:16s}: test NLL {nll:7.2f} nats/image = {bits_per_dim(-nll, D):.4f} bits/dim ({secs:.1f} s)",
            flush=True,
        )
        if not args.dry_run:
            path = save_pretrained(
                name, model, data=data, script=SCRIPT, seconds=secs, device="cpu",
                test_nll_nats=round(nll, 2), **extra,
            )  # fmt: skip
            print(f"  saved {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
