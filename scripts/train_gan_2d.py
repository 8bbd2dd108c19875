"""Train the 2-D GANs of lessons 09 and 10 on the ring of 8 Gaussians and ship them as checkpoints.

Usage (from the repository root; about 15–40 s per model on one laptop CPU core):

    COURSE_THREADS=2 python scripts/train_gan_2d.py                # 3 losses × 3 seeds
    COURSE_THREADS=2 python scripts/train_gan_2d.py --loss wgan-gp # one loss, every seed
    COURSE_THREADS=1 python scripts/train_gan_2d.py --loss gan --seeds 0 --lr 2e-2  # lesson 09's collapse
    python scripts/train_gan_2d.py --steps 50 --dry-run            # a smoke test that saves nothing

Every model uses the same recipe (``helpers.models.gan.RING``: networks, Adam, generator steps) and
``helpers.models.gan.train_ring``, the function the notebooks call; the checkpoint holds the
generator, the discriminator or critic, and the training record (snapshots, losses, EMD to data).
"""

from __future__ import annotations

import helpers
from helpers.metrics import mode_coverage
from helpers.models import gan, save_pretrained


def main() -> None:
    parser = helpers.train.script_parser(__doc__, steps=gan.RING["steps"])
    parser.add_argument("--loss", choices=list(gan.LOSSES), action="append")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(gan.RING["seeds"]))
    parser.add_argument("--lr", type=float, default=gan.RING["lr"], help="both players' learning rate")
    args = helpers.train.parse_script_args(parser)
    ring, _ = gan.ring_data()
    for loss in args.loss or ["gan", "wgan-clip", "wgan-gp"]:
        for seed in args.seeds:
            model, history = gan.train_ring(loss, seed, args.steps, lr=args.lr)
            cov = mode_coverage(model.sample(2000, seed=0), ring)
            name = gan.ring_name(loss, seed, args.lr)
            print(f"{name}: {args.steps} steps in {history['seconds']:.1f} s: {cov}", flush=True)
            if not args.dry_run:
                path = save_pretrained(
                    name,
                    model,
                    data={
                        "name": "EightGaussians",
                        "radius": 2.0,
                        "std": 0.1,
                        "fresh samples per step": True,
                    },
                    script="scripts/train_gan_2d.py",
                    steps=args.steps,
                    seconds=history["seconds"],
                    threads=helpers.config.torch.get_num_threads(),
                    lr=args.lr,
                    batch_size=gan.RING["batch_size"],
                    seed=seed,
                    modes_covered=cov.covered,
                    high_quality=round(cov.high_quality, 4),
                )
                print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
