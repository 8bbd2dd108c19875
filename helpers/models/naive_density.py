"""The "naive marginal" experiment of lesson 05: a tiny CNN score s_θ(x) per digit class.

``ScoreCNN`` maps an image (n, 1, H, W) to a scalar score s_θ(x) (read as an unnormalised
log-density): four 3×3 convolutions with padding 1 (1 → 4 → 8 → 16 → 1 channels) give a score map
that is summed over the pixels. ``contrastive_loss`` is the logistic loss that pushes s_θ up on
the positives (class j) and down on the negatives (other digits and Gaussian noise).
``train_class_models`` trains one model per class (used by the notebook and by
``scripts/train_naive_density.py``, which writes the shipped checkpoint).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_images, as_tensor, positive, positive_int
from ..train import train
from . import RecordsArgs

__all__ = [
    "ScoreCNN",
    "ClassScores",
    "gaussian_noise",
    "contrastive_loss",
    "train_class_model",
    "train_class_models",
    "CHECKPOINT",
]

#: Name of the shipped checkpoint (ten ScoreCNNs, one per digit class) in assets/checkpoints/.
CHECKPOINT = "naive_density_mnist"


class ScoreCNN(RecordsArgs, nn.Module):
    """s_θ(x) = Σ_pixels f_θ(x): four 3×3 convolutions (1 → 4 → 8 → 16 → 1), ReLU between.

    forward(x (n, 1, H, W)) → (n,) scores; ``score_map(x)`` → the (n, 1, H, W) map before the sum.
    Each output pixel sees a 9×9 input patch (four 3×3 layers), so the score is a sum of local
    patch scores.
    """

    def __init__(self, channels=(4, 8, 16)):
        super().__init__()
        chans = [1, *[positive_int(c, "channels") for c in channels], 1]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:]))

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        x = as_images(x)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score_map(x).sum(dim=(1, 2, 3))


class ClassScores(RecordsArgs, nn.ModuleList):
    """Ten ``ScoreCNN`` (one per class); ``scores(x)`` → (n, 10), column j = s_θj(x)."""

    def __init__(self, n_classes: int = 10, channels=(4, 8, 16)):
        super().__init__(ScoreCNN(channels) for _ in range(positive_int(n_classes, "n_classes")))

    @torch.no_grad()
    def scores(self, x, batch_size: int = 1000) -> torch.Tensor:
        x = as_images(x)
        self.eval()
        return torch.cat([torch.stack([m(c) for m in self], dim=1) for c in x.split(batch_size)])

    def per_class(self, x: torch.Tensor) -> torch.Tensor:
        """x (n, K, H, W): image k of each row is scored by model k → (n, K), differentiable.

        The K models run as one grouped convolution, so optimising one image per class (gradient
        ascent, Langevin) costs one forward pass instead of K.
        """
        x = as_tensor(x, "x", ndim=4)
        K = len(self)
        if x.shape[1] != K:
            raise ValueError(
                f"per_class expects {K} images per row (shape (n, {K}, H, W)), got {tuple(x.shape)}."
            )
        depth = len(self[0].convs)
        for i in range(depth):
            w = torch.cat([m.convs[i].weight for m in self])
            b = torch.cat([m.convs[i].bias for m in self])
            x = F.conv2d(x, w, b, padding=1, groups=K)
            if i < depth - 1:
                x = F.relu(x)
        return x.sum(dim=(2, 3))


def gaussian_noise(n: int, mean: float, std: float, shape=(1, 28, 28), generator=None) -> torch.Tensor:
    """n images of i.i.d. N(mean, std²) pixels: the noise negatives."""
    n = positive_int(n, "n")
    std = positive(std, "std")
    return mean + std * torch.randn(n, *shape, generator=generator)


def contrastive_loss(model: nn.Module, positives, negatives) -> torch.Tensor:
    """Logistic loss with the score as logit: mean softplus(−s(x⁺)) + mean softplus(s(x⁻)).

    Minimised by s_θ(x) = log p⁺(x)/p⁻(x) (the log density ratio of positives to negatives).
    """
    pos, neg = as_images(positives, "positives"), as_images(negatives, "negatives")
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("contrastive_loss needs at least one positive and one negative image.")
    return F.softplus(-model(pos)).mean() + F.softplus(model(neg)).mean()


def train_class_model(
    model: nn.Module,
    images,
    labels,
    j: int,
    *,
    noise_mean: float,
    noise_std: float,
    steps: int = 500,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Train ``model`` to score class ``j`` high and the other classes and Gaussian noise low.

    Each step: a shuffled batch of digits (class j = positives, the rest = negatives) plus as many
    noise images; the loss is ``contrastive_loss`` with the two kinds of negatives weighted
    equally. Returns the history of ``helpers.train.train``.
    """
    x = as_images(images, "images")
    y = torch.as_tensor(labels).reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"images and labels differ in length: {len(x)} vs {len(y)}.")
    if not 0 <= int(j) <= int(y.max()):
        raise ValueError(f"class j={j} is not among the labels 0..{int(y.max())}.")
    if not (y == j).any() or (y == j).all():
        raise ValueError(f"class j={j} needs both positive and negative digits in the labels.")
    noise_std = positive(noise_std, "noise_std")
    g = torch.Generator().manual_seed(seed + 1)

    def loss_fn(m, batch):
        xb, yb = batch
        pos, other = xb[yb == j], xb[yb != j]
        noise = gaussian_noise(len(xb), noise_mean, noise_std, xb.shape[1:], generator=g).to(xb)
        # A small batch may lack one kind of digit: its term is then left out of this step.
        loss = F.softplus(m(noise)).mean() * (0.5 if len(other) else 1.0)
        if len(other):
            loss = loss + 0.5 * F.softplus(m(other)).mean()
        if len(pos):
            loss = loss + F.softplus(-m(pos)).mean()
        return loss

    return train(
        model,
        loss_fn,
        (x, y),
        epochs=10**6,
        max_steps=positive_int(steps, "steps"),
        batch_size=positive_int(batch_size, "batch_size"),
        lr=positive(lr, "lr"),
        seed=seed,
        device="cpu",
        progress=progress,
    )


def train_class_models(
    models: ClassScores, images, labels, *, steps: int = 500, seed: int = 0, progress: bool = False, **kw
) -> dict:
    """Train model j of ``models`` on class j with ``train_class_model``, in place.

    The noise negatives get the brightness of the data: N(mean, std²) with the pixel mean and std
    of ``images``. Returns info: the noise mean/std, steps and each model's final loss.
    """
    if not isinstance(models, ClassScores):
        raise ValueError("models must be a ClassScores (one ScoreCNN per class).")
    x = as_images(images, "images")
    mean, std = float(x.mean()), float(x.std())
    final = []
    for j, m in enumerate(models):
        hist = train_class_model(
            m,
            x,
            labels,
            j,
            noise_mean=mean,
            noise_std=std,
            steps=steps,
            seed=seed + j,
            progress=progress,
            **kw,
        )
        tail = hist["loss"][-50:]
        final.append(sum(tail) / len(tail))
    return {"noise_mean": mean, "noise_std": std, "steps": steps, "final_loss": final}
