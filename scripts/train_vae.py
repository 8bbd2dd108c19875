"""Train the autoencoder and the two VAEs of lesson 08 on the binarised digits and ship them.

Usage (from the repository root):

    COURSE_THREADS=2 python scripts/train_vae.py                 # ae_mnist, vae_mnist, vae2d_mnist
    COURSE_THREADS=2 python scripts/train_vae.py vae_mnist       # one of them
    python scripts/train_vae.py --epochs 2 --dry-run             # a smoke test that saves nothing

Each model is trained by ``helpers.models.vae.fit`` (the function the notebook calls) on 3,600 of
the 4,000 training digits with early stopping on the other 400; ``vae_mnist`` is the convolutional
VAE (``ConvVAE``), trained with a KL warm-up and ±1-pixel shifts (``V.CONV_TRAIN``) (the split of lesson 07,
``helpers.models.autoregressive.binarised_digits``), then saved with ``save_pretrained``.
"""

from __future__ import annotations

import torch

import helpers
from helpers.models import autoregressive as ar
from helpers.models import save_pretrained
from helpers.models import vae as V

SCRIPT = "scripts/train_vae.py"


def main() -> None:
    parser = helpers.train.script_parser(__doc__, epochs=None)
    parser.add_argument(
        "which", nargs="*", help="any of " + ", ".join(V.CHECKPOINTS) + " (default: all three)"
    )
    args = helpers.train.parse_script_args(parser)
    unknown = sorted(set(args.which) - set(V.CHECKPOINTS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(V.CHECKPOINTS)}")
    digits = ar.binarised_digits()
    data = {
        "source": digits.source,
        "binarize": 0.5,
        "train": len(digits.train),
        "val": len(digits.val),
        "test": len(digits.test),
    }
    for name in args.which or V.CHECKPOINTS:
        helpers.seed_everything(0)
        cls, kwargs, settings = V.CONFIGS[name]
        settings = dict(settings) if args.epochs is None else dict(settings, epochs=args.epochs)
        model = cls(**kwargs)
        history, seconds = V.fit(model, digits.train, digits.val, **settings, progress=False)
        best = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
        torch.manual_seed(1)
        with torch.no_grad():
            if isinstance(model, V.VAE):
                score = {"test_elbo_nats": round(float(model.elbo(digits.test).mean()), 2)}
            else:
                score = {
                    "test_squared_error": round(float(model.reconstruction_error(digits.test).mean()), 2)
                }
        print(
            f"{name}: {len(history['epoch_loss'])} epochs (best {best + 1}) in {seconds:.0f} s; "
            f"best validation loss {history['val_loss'][best]:.2f}; {score}",
            flush=True,
        )
        if not args.dry_run:
            path = save_pretrained(
                name, model, data=data, script=SCRIPT, steps=len(history["loss"]), seconds=seconds, device="cpu",
                epochs_run=len(history["epoch_loss"]), best_epoch=best + 1, train=settings,
                threads=torch.get_num_threads(), **score,
            )  # fmt: skip
            print(f"  saved {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
