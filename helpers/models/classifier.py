"""The digit judge: a small CNN digit classifier whose penultimate layer is the feature space of
``helpers.metrics.digit_quality`` (a Fréchet distance computed without Inception weights).

``DigitClassifier`` maps images (n, 1, 28, 28) in [0, 1] to logits (n, 10); ``features(x)`` is the
penultimate layer (n, ``features``). ``fit`` is the training function the shipped checkpoint
``digit_classifier`` was made with (``scripts/train_digit_classifier.py``): Adam with a one-cycle
learning rate, small random affine jitter, and half of each batch binarised so that the judge
reads binarised digits (lessons 07–08) as well as grey ones.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_images, positive, positive_int
from . import RecordsArgs

__all__ = ["DigitClassifier", "fit", "accuracy", "CHECKPOINT", "TRAIN_STEPS"]

#: Name of the shipped judge in assets/checkpoints/.
CHECKPOINT = "digit_classifier"
#: Optimiser steps of the shipped checkpoint (batch 128).
TRAIN_STEPS = 1200


def _block(a: int, b: int) -> list[nn.Module]:
    return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]


class DigitClassifier(RecordsArgs, nn.Module):
    """Four 3×3 conv layers (two per resolution, 28 → 14 → 7) with BatchNorm, then a
    ``features``-wide layer and a linear read-out to the 10 classes."""

    def __init__(self, width: int = 16, features: int = 64, dropout: float = 0.3):
        super().__init__()
        w = positive_int(width, "width")
        self.n_features = positive_int(features, "features")
        self.body = nn.Sequential(
            *_block(1, w), *_block(w, w), nn.MaxPool2d(2),
            *_block(w, 2 * w), *_block(2 * w, 2 * w), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * w * 49, self.n_features), nn.BatchNorm1d(self.n_features), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(float(dropout)), nn.Linear(self.n_features, 10))

    def _check(self, x, name: str = "x") -> torch.Tensor:
        x = as_images(x, name, unit_range=True)
        if tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"{name} must be digits shaped (n, 1, 28, 28), got {tuple(x.shape)}.")
        return x.to(next(self.parameters()).device)

    def features(self, x) -> torch.Tensor:
        """Penultimate-layer features (n, features) of images (n, 1, 28, 28) in [0, 1]."""
        return self.body(self._check(x) - 0.5)

    def forward(self, x) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict_proba(self, x, batch_size: int = 1000, name: str = "x") -> torch.Tensor:
        """Class probabilities (n, 10), in eval mode. ``name``: the argument named in error messages."""
        was = self.training
        self.eval()
        out = torch.cat([F.softmax(self(c), dim=1) for c in self._check(x, name).split(batch_size)])
        self.train(was)
        return out


def _jitter(
    x: torch.Tensor, g: torch.Generator, max_shift: float = 0.1, max_angle: float = 0.2
) -> torch.Tensor:
    """Random small rotations, scalings and shifts (as fractions of the image) of a batch."""
    n = len(x)
    u = torch.rand(n, 4, generator=g) * 2 - 1
    angle, scale = u[:, 0] * max_angle, 1 + 0.1 * u[:, 1]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin, u[:, 2] * max_shift * 2], 1),
            torch.stack([sin, cos, u[:, 3] * max_shift * 2], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros").clamp(0, 1)


def fit(
    model: DigitClassifier,
    images,
    labels,
    *,
    steps: int = TRAIN_STEPS,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
):
    """Train ``model`` on (images, labels) for ``steps`` Adam steps with a one-cycle schedule.

    Returns (history, seconds)."""
    from ..train import train

    x = as_images(images, "images", unit_range=True)
    y = torch.as_tensor(labels).reshape(-1).long()
    if len(y) != len(x):
        raise ValueError(f"images and labels differ in length: {len(x)} vs {len(y)}.")
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=positive(lr, "lr"))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)

    def loss_fn(m, batch):
        xb, yb = batch
        xb = _jitter(xb, g)
        half = torch.rand(len(xb), 1, 1, 1, generator=g) < 0.5
        xb = torch.where(half, (xb > 0.5).to(xb.dtype), xb)
        return F.cross_entropy(m(xb), yb)

    start = time.perf_counter()
    history = train(
        model,
        loss_fn,
        (x, y),
        epochs=math.ceil(steps * batch_size / len(x)) + 1,
        max_steps=steps,
        batch_size=batch_size,
        optimizer=opt,
        device="cpu",
        seed=seed,
        progress=progress,
        callback=lambda step, loss: sched.step(),
    )
    return history, time.perf_counter() - start


def accuracy(model: DigitClassifier, images, labels) -> float:
    """Share of ``images`` whose most probable class is the label."""
    y = torch.as_tensor(labels).reshape(-1)
    return float((model.predict_proba(images, name="images").argmax(1) == y).double().mean())
