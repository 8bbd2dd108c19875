"""DANN, lesson 09's domain-adversarial network (Ganin et al. 2016): a digit classifier whose
features are made indistinguishable between a labelled source domain and an unlabelled target
domain by a domain head behind a gradient-reversal layer.

``train_dann(model, ...)`` trains it with or without its domain branch (without: the source-only
baseline); ``fit_dann`` is the shipped recipe ``DANN_RECIPE``, the function the notebook and
``scripts/train_dann.py`` call. ``shifted_digits`` makes the target domain (digits on photo
patches), ``dann_domains`` the shipped split.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_images, positive, positive_int
from . import RecordsArgs

__all__ = [
    "GradientReversal",
    "DANN",
    "DANN_RECIPE",
    "SEEDS",
    "shipped_name",
    "dann_domains",
    "fit_dann",
    "train_dann",
    "dann_accuracy",
    "domain_accuracy",
    "shifted_digits",
]

#: The recipe of the shipped DANN and of its source-only baseline (same network, same steps).
DANN_RECIPE = {"steps": 1000, "lr": 1e-3, "domain_lr": 5e-3, "batch_size": 64, "n_source": 2000}
#: The training seeds of the shipped pairs (one DANN and one source-only model per seed).
SEEDS = (0, 1, 2)


def shipped_name(adversarial: bool, seed: int = 0) -> str:
    """Checkpoint name of the shipped DANN (``adversarial``) or source-only model from ``seed``:
    ``dann_digits`` / ``source_only_digits`` for seed 0, ``..._seed<s>`` for the others."""
    base = "dann_digits" if adversarial else "source_only_digits"
    seed = positive_int(seed, "seed", minimum=0)
    return base if seed == 0 else f"{base}_seed{seed}"


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.alpha * grad, None


class GradientReversal(nn.Module):
    """Identity on the way forward; multiplies the gradient by −alpha on the way back."""

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return _Reverse.apply(x, float(alpha))


class DANN(RecordsArgs, nn.Module):
    """Domain-adversarial network: features F(x) (two conv blocks, no BatchNorm, so no batch
    statistics quietly adapt to the target), a label head C(F(x)) → 10
    logits, and a domain head D(R(F(x))) → one logit (1 = target domain) behind a gradient-reversal
    layer R, so one backward pass gives D the loss T2 and F the loss T1 − α·T2."""

    def __init__(self, width: int = 16, features: int = 64, domain_hidden: int = 64):
        super().__init__()
        w = positive_int(width, "width")
        self.n_features = positive_int(features, "features")
        self.F = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * w * 49, self.n_features), nn.ReLU(),
        )  # fmt: skip
        self.C = nn.Linear(self.n_features, 10)
        self.reverse = GradientReversal()
        h = positive_int(domain_hidden, "domain_hidden")
        self.D = nn.Sequential(nn.Linear(self.n_features, h), nn.ReLU(), nn.Linear(h, 1))

    def _check(self, x) -> torch.Tensor:
        x = as_images(x, "x", unit_range=True)
        if tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must be digits shaped (n, 1, 28, 28), got {tuple(x.shape)}.")
        return x.to(_device(self))

    def features(self, x) -> torch.Tensor:
        return self.F(self._check(x) - 0.5)

    def forward(self, x, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(class logits (n, 10), domain logits (n,))."""
        h = self.features(x)
        return self.C(h), self.D(self.reverse(h, alpha))[:, 0]

    @torch.no_grad()
    def predict(self, x, batch_size: int = 1000) -> torch.Tensor:
        """Predicted classes (n,), in eval mode."""
        was = self.training
        self.eval()
        out = torch.cat([self(c)[0].argmax(1) for c in self._check(x).split(batch_size)])
        self.train(was)
        return out


def dann_accuracy(model: DANN, images, labels) -> float:
    """Share of ``images`` classified as their label."""
    y = torch.as_tensor(labels).reshape(-1)
    return float((model.predict(images).cpu() == y).double().mean())


@torch.no_grad()
def domain_accuracy(model: DANN, source, target) -> float:
    """How often the domain head tells source (0) from target (1) — the two-sample test's power."""
    model.eval()
    s = model(model._check(source))[1] < 0
    t = model(model._check(target))[1] > 0
    return float(torch.cat([s, t]).double().mean())


def shifted_digits(images, seed: int = 0, photos=("china", "flower")) -> torch.Tensor:
    """The target domain: each digit blended with a random 28×28 patch of a grey photo, |x − patch|
    (a grey-scale MNIST-M). Same shape and range as ``images``."""
    from ..data import load_photo

    x = as_images(images, "images", unit_range=True)
    g = torch.Generator().manual_seed(seed)
    pics = [torch.as_tensor(load_photo(p, gray=True)).float() for p in photos]
    pics = [p / 255 if p.max() > 1 else p for p in pics]
    out = torch.empty_like(x)
    for i in range(len(x)):
        pic = pics[int(torch.randint(len(pics), (1,), generator=g))]
        r = int(torch.randint(pic.shape[0] - 28, (1,), generator=g))
        c = int(torch.randint(pic.shape[1] - 28, (1,), generator=g))
        out[i, 0] = (x[i, 0] - pic[r : r + 28, c : c + 28]).abs()
    return out


def train_dann(
    model: DANN,
    source_x,
    source_y,
    target_x,
    *,
    steps: int = 1500,
    batch_size: int = 64,
    lr: float = 1e-3,
    domain_lr: float | None = None,
    adversarial: bool = True,
    alpha_max: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Train on labelled source digits (loss T1, cross-entropy) and, with ``adversarial``, on the
    domain task through the gradient reversal (T2: source vs unlabelled ``target_x``, BCE), with
    α ramped from 0 to ``alpha_max`` as 2/(1 + e^{−10 p}) − 1 over training progress p. Without
    ``adversarial`` it is the source-only baseline (same network, same steps, target unused).
    ``domain_lr`` (default ``lr``) is the domain head's own learning rate: a faster adversary
    keeps up with the features it is trying to tell apart. Returns {"T1": [...], "T2": [...], "seconds": s}."""
    xs = as_images(source_x, "source_x", unit_range=True)
    ys = torch.as_tensor(source_y).reshape(-1).long()
    xt = as_images(target_x, "target_x", unit_range=True)
    if len(ys) != len(xs):
        raise ValueError(f"source_x and source_y differ in length: {len(xs)} vs {len(ys)}.")
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size", minimum=2)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dev = _device(model)
    domain_params = list(model.D.parameters())
    rest = [q for q in model.parameters() if all(q is not d for d in domain_params)]
    domain_lr = lr if domain_lr is None else domain_lr
    opt = torch.optim.Adam(
        [{"params": rest}, {"params": domain_params, "lr": positive(domain_lr, "domain_lr")}],
        lr=positive(lr, "lr"),
    )
    history = {"T1": [], "T2": []}
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        i = torch.randint(len(xs), (batch_size,), generator=g)
        j = torch.randint(len(xt), (batch_size,), generator=g)
        p = step / steps
        alpha = alpha_max * (2 / (1 + math.exp(-10 * p)) - 1)
        if adversarial:
            x = torch.cat([xs[i], xt[j]]).to(dev)
            logits, dom = model(x, alpha)
            t1 = F.cross_entropy(logits[:batch_size], ys[i].to(dev))
            domain = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)]).to(dev)
            t2 = F.binary_cross_entropy_with_logits(dom, domain)
            loss = t1 + t2  # the reversal turns +T2 into −α·T2 for the features F
        else:
            logits, _ = model(xs[i].to(dev))
            t1 = F.cross_entropy(logits, ys[i].to(dev))
            t2 = torch.tensor(float("nan"))
            loss = t1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history["T1"].append(float(t1.detach()))
        history["T2"].append(float(t2.detach()))
        if progress and (step + 1) % max(1, steps // 10) == 0:
            print(
                f"  step {step + 1}/{steps}: T1 {history['T1'][-1]:.3f}, T2 {history['T2'][-1]:.3f}",
                flush=True,
            )
    model.eval()
    history["seconds"] = time.perf_counter() - start
    return history


def dann_domains(n_source: int | None = None) -> dict:
    """The DANN data: labelled source digits, unlabelled shifted target digits (disjoint training
    digits), and the held-out test digits plain and shifted, with their labels."""
    from ..data import load_mnist

    n = n_source or DANN_RECIPE["n_source"]
    train, test = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    if not 0 < n < len(train):
        raise ValueError(f"n_source must be between 1 and {len(train) - 1}, got {n}.")
    return {
        "source": train.images[:n],
        "source_labels": train.labels[:n],
        "target": shifted_digits(train.images[n:], seed=1),
        "target_labels": train.labels[n:],  # for evaluation only: never used in training
        "test_source": test.images,
        "test_target": shifted_digits(test.images, seed=2),
        "test_labels": test.labels,
    }


def fit_dann(
    domains: dict, adversarial: bool = True, steps: int | None = None, seed: int = 0, progress=False
):
    """A fresh ``DANN`` trained by ``train_dann`` with the recipe ``DANN_RECIPE``: (model, history)."""
    from ..config import seed_everything

    seed_everything(seed)
    model = DANN()
    history = train_dann(
        model,
        domains["source"],
        domains["source_labels"],
        domains["target"],
        steps=steps or DANN_RECIPE["steps"],
        lr=DANN_RECIPE["lr"],
        domain_lr=DANN_RECIPE["domain_lr"],
        batch_size=DANN_RECIPE["batch_size"],
        adversarial=adversarial,
        seed=seed,
        progress=progress,
    )
    return model, history
