"""Autoregressive models of binary images (lesson 07): exact likelihoods by the chain rule.

Every model here scores binarised images ``(n, 1, H, W)`` with pixels in {0, 1}, read in raster
order (row by row, left to right) as a vector x_1 … x_D, D = H·W. ``log_prob(x)`` is the exact
log-likelihood in **nats per image**; ``sample(n, seed)`` draws images pixel by pixel.

* ``FactorisedBernoulli`` — p(x) = Π_i Bern(x_i; p_i): every pixel independent (the extreme
  product q(x) = Π q_i(x_i)).
* ``NaiveBayes`` — p(x, y) = p(y) Π_i p(x_i | y), the class y the only shared cause; p(x) sums y out.
* ``MarkovChain`` — p(x_i | x_{i−1}) along the pixel order; with ``above=True`` the pixel also
  sees the one above it, p(x_i | x_{i−1}, x_{i−W}). One table per pixel position.
* ``MADE`` — a masked multilayer perceptron (Germain et al., 2015) whose output i depends on
  x_<i only: p(x_i | x_<i) = σ(logit_i(x_<i)).
* ``PixelCNN`` — masked convolutions (van den Oord et al., 2016): a 7×7 mask-A layer (the centre
  pixel hidden) then 3×3 mask-B layers (the centre visible), so output i sees pixels above and to
  the left of i only — with a *blind spot* up and to the right that stacking 3×3 masks never fills.

The first three are fitted in closed form (maximum likelihood = smoothed counts, ``fit``); MADE
and the PixelCNN are trained by gradient descent with ``fit_made`` and ``fit_pixelcnn``, the
functions ``scripts/train_autoregressive.py`` calls to make the shipped checkpoints ``ar_made`` and
``ar_pixelcnn`` (and the count models' tiny checkpoints).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_tensor, positive, positive_int
from .._validate import seed_generator as _generator
from . import RecordsArgs

__all__ = [
    "PixelAutoregressive",
    "FactorisedBernoulli",
    "NaiveBayes",
    "MarkovChain",
    "MaskedLinear",
    "MADE",
    "made_masks",
    "fit_made",
    "MaskedConv2d",
    "PixelCNN",
    "fit_pixelcnn",
    "cosine_lr",
    "random_shift",
    "receptive_field",
    "check_binary_images",
    "all_binary_images",
    "causality_violations",
    "CHECKPOINTS",
    "MADE_KWARGS",
    "MADE_TRAIN",
    "PIXELCNN_KWARGS",
    "PIXELCNN_TRAIN",
    "N_VAL",
    "Digits",
    "binarised_digits",
]

#: The shipped checkpoints of lesson 07 (made by ``scripts/train_autoregressive.py``).
CHECKPOINTS = ("ar_bernoulli", "ar_naive_bayes", "ar_markov", "ar_markov_above", "ar_made", "ar_pixelcnn")
#: Constructor arguments and training settings of the shipped MADE (notebook and script share them).
MADE_KWARGS = {"shape": (28, 28), "hidden": (256,), "seed": 0}
MADE_TRAIN = {"epochs": 60, "batch_size": 100, "lr": 2e-3, "weight_decay": 0.0, "patience": 8}
#: The shipped PixelCNN: channels, 3×3 mask-B layers, dropout; its training (±1 px shifts, weight decay).
PIXELCNN_KWARGS = {"shape": (28, 28), "channels": 32, "layers": 5, "dropout": 0.1}
PIXELCNN_TRAIN = {
    "epochs": 40, "batch_size": 50, "lr": 2e-3, "weight_decay": 1e-5, "patience": 5, "shift": 1, "cosine": True,
}  # fmt: skip
#: Training digits held out (seeded) for early stopping in lessons 07 and 08.
N_VAL = 400


@dataclass
class Digits:
    """The binarised digits of lessons 07–08: ``train`` (fit), ``val`` (early stopping; carved from
    the training split), ``test`` (the held-out split every number is reported on), with labels.
    ``full_train`` is train + val (the count models, which need no early stopping, use all of it)."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor
    val_labels: torch.Tensor
    test_labels: torch.Tensor
    source: str

    @property
    def full_train(self) -> torch.Tensor:
        return torch.cat([self.train, self.val])

    @property
    def full_train_labels(self) -> torch.Tensor:
        return torch.cat([self.train_labels, self.val_labels])


def binarised_digits(n_val: int = N_VAL, seed: int = 0, verbose: bool = True) -> Digits:
    """``load_mnist(split, binarize=True)`` for both splits, with ``n_val`` training digits held out
    at random (seeded) for early stopping. The same call in lessons 07 and 08 gives the same split."""
    from ..data import load_mnist

    train = load_mnist("train", binarize=True, verbose=verbose)
    test = load_mnist("test", binarize=True, verbose=verbose)
    n_val = positive_int(n_val, "n_val")
    if n_val >= len(train):
        raise ValueError(f"n_val={n_val} leaves no training digits out of {len(train)}.")
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    fit_idx, val_idx = perm[n_val:], perm[:n_val]
    return Digits(
        train.images[fit_idx], train.images[val_idx], test.images,
        train.labels[fit_idx], train.labels[val_idx], test.labels, train.source,
    )  # fmt: skip


def _shape(shape) -> tuple[int, int]:
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"shape must be (height, width), got {shape!r}.")
    return positive_int(shape[0], "shape[0] (height)"), positive_int(shape[1], "shape[1] (width)")


def check_binary_images(x, shape: tuple[int, int], name: str = "x") -> torch.Tensor:
    """Binary images as a float tensor (n, 1, H, W); accepts (n, H·W) too. Raises a ValueError
    that says what to do when the shape is wrong or a pixel is not 0 or 1."""
    t = as_tensor(x, name, ndim=(2, 4))
    H, W = shape
    if t.ndim == 2:
        if t.shape[1] != H * W:
            raise ValueError(
                f"{name} must have {H * W} pixels per row (or shape (n, 1, {H}, {W})), got {tuple(t.shape)}."
            )
        t = t.reshape(-1, 1, H, W)
    if tuple(t.shape[1:]) != (1, H, W):
        raise ValueError(f"{name} must be binary images shaped (n, 1, {H}, {W}), got {tuple(t.shape)}.")
    if t.numel() and not bool(((t == 0) | (t == 1)).all()):
        raise ValueError(
            f"{name} must hold only 0 and 1 (binarised pixels): these models are Bernoulli per pixel. "
            "Use helpers.data.load_mnist(split, binarize=True) or helpers.data.binarize(x)."
        )
    return t.float()


def all_binary_images(H: int, W: int) -> torch.Tensor:
    """Every binary H×W image, (2^(H·W), 1, H, W): 512 of them for 3×3."""
    D = positive_int(H, "H") * positive_int(W, "W")
    if D > 16:
        raise ValueError(f"2^{D} images are too many to list; use at most 16 pixels (e.g. 3×3 or 4×4).")
    codes = torch.arange(2**D)
    bits = (codes[:, None] >> torch.arange(D)) & 1
    return bits.float().reshape(-1, 1, H, W)


class PixelAutoregressive(nn.Module):
    """Base class: a model of p(x_i = 1 | x_<i) = σ(logits(x)_i) for every pixel i in raster order.

    Subclasses implement ``logits(x_flat) -> (n, D)`` where column i may depend on x_<i only.
    The chain rule then gives the exact log-likelihood and a sampler, written once here.
    """

    shape: tuple[int, int]

    @property
    def n_dims(self) -> int:
        return self.shape[0] * self.shape[1]

    def logits(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def log_prob(self, x) -> torch.Tensor:
        """log p(x) = Σ_i log p(x_i | x_<i), exact, in nats per image: (n,)."""
        x = check_binary_images(x, self.shape).flatten(1).to(self._device())
        return -F.binary_cross_entropy_with_logits(self.logits(x), x, reduction="none").sum(1)

    def _device(self):
        return next(iter(self.buffers()), next(iter(self.parameters()), torch.empty(0))).device

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int | None = None,
        *,
        given=None,
        start: int = 0,
        callback: Callable[[int, torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` images pixel by pixel: x_i ~ Bern(σ(logits(x)_i)) for i = start … D−1.

        given: images (n, 1, H, W) whose pixels before ``start`` are kept (completion of a
        partly seen image); callback(i, x) is called after pixel i is drawn (x: (n, 1, H, W)).
        Returns binary images (n, 1, H, W).
        """
        n = positive_int(n, "n")
        D = self.n_dims
        if not isinstance(start, int) or not 0 <= start < D:
            raise ValueError(f"start must be a pixel index between 0 and {D - 1}, got {start!r}.")
        g = _generator(seed)
        if given is None:
            if start:
                raise ValueError("start > 0 keeps the first pixels of `given`: pass the images to complete.")
            x = torch.zeros(n, D)
        else:
            x = check_binary_images(given, self.shape, "given").flatten(1).clone()
            if len(x) != n:
                raise ValueError(f"given holds {len(x)} images but n = {n}.")
            x[:, start:] = 0
        was = self.training
        self.eval()
        dev = self._device()
        x = x.to(dev)
        for i in range(start, D):
            p = torch.sigmoid(self.logits(x)[:, i]).cpu()
            x[:, i] = torch.bernoulli(p, generator=g).to(dev)
            if callback is not None:
                callback(i, x.reshape(n, 1, *self.shape).cpu())
        self.train(was)
        return x.reshape(n, 1, *self.shape).cpu()


# ---------------------------------------------------------------------------------------------
# Count models: maximum likelihood in closed form


def _smoothed_logit(ones: torch.Tensor, total: torch.Tensor, alpha: float) -> torch.Tensor:
    """logit of the smoothed frequency (ones + α) / (total + 2α)."""
    return torch.log(ones + alpha) - torch.log(total - ones + alpha)


class FactorisedBernoulli(RecordsArgs, PixelAutoregressive):
    """p(x) = Π_i p_i^{x_i} (1 − p_i)^{1 − x_i}: independent pixels. MLE: p_i = mean of x_i
    (smoothed by ``alpha`` pseudo-counts so no pixel gets probability exactly 0 or 1)."""

    def __init__(self, shape=(28, 28), alpha: float = 1.0):
        super().__init__()
        self.shape = _shape(shape)
        self.alpha = positive(alpha, "alpha")
        self.register_buffer("pixel_logits", torch.zeros(self.n_dims))

    @torch.no_grad()
    def fit(self, x) -> FactorisedBernoulli:
        x = check_binary_images(x, self.shape).flatten(1)
        self.pixel_logits.copy_(_smoothed_logit(x.sum(0), torch.tensor(float(len(x))), self.alpha))
        return self

    def logits(self, x):
        return self.pixel_logits.expand(len(x), -1)


class NaiveBayes(RecordsArgs, PixelAutoregressive):
    """p(x, y) = p(y) Π_i p(x_i | y): pixels independent *given the class* y.

    log p(x) = log Σ_y p(y) Π_i p(x_i | y) (a mixture of ``n_classes`` factorised Bernoullis whose
    components are the labelled classes). MLE: class frequencies and per-class pixel means."""

    def __init__(self, shape=(28, 28), n_classes: int = 10, alpha: float = 1.0):
        super().__init__()
        self.shape = _shape(shape)
        self.n_classes = positive_int(n_classes, "n_classes", minimum=1)
        self.alpha = positive(alpha, "alpha")
        self.register_buffer("log_prior", torch.full((self.n_classes,), -math.log(self.n_classes)))
        self.register_buffer("class_logits", torch.zeros(self.n_classes, self.n_dims))

    @torch.no_grad()
    def fit(self, x, y) -> NaiveBayes:
        x = check_binary_images(x, self.shape).flatten(1)
        y = torch.as_tensor(y).reshape(-1).long()
        if len(y) != len(x):
            raise ValueError(f"x and y differ in length: {len(x)} images, {len(y)} labels.")
        if len(y) and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"labels y must lie in 0 … {self.n_classes - 1}.")
        counts = torch.bincount(y, minlength=self.n_classes).float()
        self.log_prior.copy_(torch.log((counts + self.alpha) / (counts.sum() + self.n_classes * self.alpha)))
        ones = torch.zeros(self.n_classes, self.n_dims).index_add_(0, y, x)
        self.class_logits.copy_(_smoothed_logit(ones, counts[:, None], self.alpha))
        return self

    def log_joint(self, x) -> torch.Tensor:
        """log p(x, y) for every class y: (n, n_classes)."""
        x = check_binary_images(x, self.shape).flatten(1)
        l = self.class_logits  # noqa: E741
        # log p(x | y) = Σ_i x_i log σ(l_yi) + (1 − x_i) log σ(−l_yi)
        log_lik = x @ F.logsigmoid(l).T + (1 - x) @ F.logsigmoid(-l).T
        return self.log_prior + log_lik

    def log_prob(self, x) -> torch.Tensor:
        """log p(x) = log Σ_y p(y) p(x | y), exact, in nats per image: (n,)."""
        return torch.logsumexp(self.log_joint(x), 1)

    def logits(self, x):
        """p(x_i = 1 | x_<i) for the mixture: the class posterior given x_<i weights the classes."""
        l = self.class_logits  # noqa: E741
        per_pixel = x[:, None, :] * F.logsigmoid(l) + (1 - x[:, None, :]) * F.logsigmoid(-l)  # (n, K, D)
        before = torch.cumsum(per_pixel, 2) - per_pixel  # log p(x_<i | y)
        log_post = self.log_prior[:, None] + before
        log_post = log_post - torch.logsumexp(log_post, 1, keepdim=True)
        p1 = torch.logsumexp(log_post + F.logsigmoid(l), 1)
        p0 = torch.logsumexp(log_post + F.logsigmoid(-l), 1)
        return p1 - p0

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, *, y=None, **kw) -> torch.Tensor:
        """Draw a class y ~ p(y) (or use the given labels ``y``), then every pixel independently."""
        if kw:
            return super().sample(n, seed, **kw)
        n = positive_int(n, "n")
        g = _generator(seed)
        if y is None:
            y = torch.multinomial(self.log_prior.exp(), n, replacement=True, generator=g)
        else:
            y = torch.as_tensor(y).reshape(-1).long()
            if len(y) != n or y.min() < 0 or y.max() >= self.n_classes:
                raise ValueError(f"y must hold n = {n} labels in 0 … {self.n_classes - 1}.")
        x = torch.bernoulli(torch.sigmoid(self.class_logits[y]), generator=g)
        return x.reshape(n, 1, *self.shape)


class MarkovChain(RecordsArgs, PixelAutoregressive):
    """p(x) = Π_i p(x_i | x_{i−1}) along the raster order (one 2-row table per position i), and
    with ``above=True`` p(x_i | x_{i−1}, x_{i−W}) (a 4-row table per position). Neighbours that
    fall outside the image read as 0. MLE: smoothed transition counts."""

    def __init__(self, shape=(28, 28), above: bool = False, alpha: float = 1.0):
        super().__init__()
        self.shape = _shape(shape)
        self.above = bool(above)
        self.alpha = positive(alpha, "alpha")
        self.register_buffer("table", torch.zeros(self.n_dims, 4 if self.above else 2))

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """Context index of every pixel (n, D): x_{i−1} (+ 2·x_{i−W} with ``above``)."""
        W = self.shape[1]
        left = F.pad(x, (1, 0))[:, :-1]
        c = left
        if self.above:
            c = c + 2 * F.pad(x, (W, 0))[:, :-W]
        return c.long()

    @torch.no_grad()
    def fit(self, x) -> MarkovChain:
        x = check_binary_images(x, self.shape).flatten(1)
        c = self.context(x)
        C = self.table.shape[1]
        onehot = F.one_hot(c, C).float()  # (n, D, C)
        total = onehot.sum(0)
        ones = (onehot * x[:, :, None]).sum(0)
        self.table.copy_(_smoothed_logit(ones, total, self.alpha))
        return self

    def logits(self, x):
        return self.table.gather(1, self.context(x).T).T


# ---------------------------------------------------------------------------------------------
# MADE


class MaskedLinear(nn.Linear):
    """y = (M ⊙ W) x + b: a linear layer whose weight is multiplied by a fixed 0/1 mask (out, in)."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        if tuple(mask.shape) != (out_features, in_features):
            raise ValueError(f"mask must be ({out_features}, {in_features}), got {tuple(mask.shape)}.")
        self.register_buffer("mask", mask.float(), persistent=False)  # rebuilt from the degrees

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


def made_masks(D: int, hidden: tuple[int, ...], seed: int = 0, outputs: int = 1) -> list[torch.Tensor]:
    """MADE's masks for inputs of degree 1 … D (the raster order) and hidden layers of sizes ``hidden``.

    Each hidden unit gets a degree m ∈ {1, …, D−1} (random, seeded): it may see inputs of degree
    ≤ m. Hidden→hidden: M[k, j] = m_k ≥ m_j; input→hidden: M[k, d] = m_k ≥ d; hidden→output:
    M[d, k] = d > m_k (strict, so output d sees only inputs < d). ``outputs`` > 1 stacks that many
    blocks of D outputs (e.g. a shift and a log-scale per input, as a MAF layer needs), each wired as
    the first. Returns one (out, in) mask per layer. Lesson 07's pixel MADE and lesson 11's MAF/IAF
    layers (``flows.MADE``) are both wired by this function.
    """
    outputs = positive_int(outputs, "outputs")
    g = torch.Generator().manual_seed(seed)
    degrees = [torch.arange(1, D + 1)]
    for h in hidden:
        low = int(degrees[-1].min()) if len(degrees) > 1 else 1
        degrees.append(torch.randint(low, max(D, low + 1), (h,), generator=g))
    masks = [(d_out[:, None] >= d_in[None, :]).float() for d_in, d_out in zip(degrees[:-1], degrees[1:])]
    masks.append((degrees[0].repeat(outputs)[:, None] > degrees[-1][None, :]).float())
    return masks


class MADE(RecordsArgs, PixelAutoregressive):
    """Masked autoencoder for distribution estimation: an MLP D → hidden … → D whose weight masks
    make output i a function of x_<i only, so one forward pass gives every p(x_i | x_<i)."""

    def __init__(self, shape=(28, 28), hidden=(256,), seed: int = 0):
        super().__init__()
        self.shape = _shape(shape)
        hidden = tuple(
            positive_int(h, "hidden size")
            for h in (hidden if isinstance(hidden, (list, tuple)) else [hidden])
        )
        if not hidden:
            raise ValueError("hidden must list at least one layer size, e.g. (256,).")
        self.hidden, self.seed = hidden, int(seed)
        D = self.n_dims
        masks = made_masks(D, hidden, seed)
        sizes = [D, *hidden, D]
        self.layers = nn.ModuleList(MaskedLinear(a, b, m) for a, b, m in zip(sizes[:-1], sizes[1:], masks))

    def logits(self, x):
        h = x
        for layer in self.layers[:-1]:
            h = F.relu(layer(h))
        return self.layers[-1](h)


def causality_violations(model: PixelAutoregressive, n: int = 4, seed: int = 0) -> int:
    """How many (i, j ≥ i) pairs have ∂ logit_i / ∂ x_j ≠ 0 on random inputs (0 for a causal model).

    The full Jacobian by autograd (D backward passes for D pixels; batched with ``is_grads_batched``)."""
    D = model.n_dims
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, D, generator=g).to(model._device()).requires_grad_(True)
    out = model.logits(x)
    eye = torch.eye(D, device=x.device)[:, None, :].expand(D, n, D)
    (jac,) = torch.autograd.grad(out, x, eye, is_grads_batched=True)  # (D_out, n, D_in)
    dependence = jac.abs().sum(1)  # (D_out, D_in)
    upper = torch.triu(torch.ones(D, D, dtype=torch.bool, device=x.device))
    return int((dependence[upper] != 0).sum())


def cosine_lr(lr: float, step: int, total: int) -> float:
    """The learning rate after ``step`` of ``total`` steps: ``lr`` falling along a cosine to ``lr``/20."""
    lr, total = positive(lr, "lr"), positive_int(total, "total")
    step = positive_int(step, "step", minimum=0)
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0))))


def _fit_nll(
    model, loss_fn, train_x, val_x, epochs, batch_size, lr, weight_decay, patience, seed, progress, cosine=False
):
    """The one loop of fit_made and fit_pixelcnn: helpers.train.train on the mean NLL, early stopping
    on ``val_x`` when given. ``cosine``: the learning rate falls from ``lr`` to ``lr``/20 along a
    cosine over the whole step budget (epochs × batches per epoch). Returns (history, seconds)."""
    from ..train import train

    epochs = positive_int(epochs, "epochs")
    optimizer, callback = None, None
    if cosine:
        lr = positive(lr, "lr")
        total = epochs * math.ceil(len(train_x) / positive_int(batch_size, "batch_size"))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=float(weight_decay))

        def callback(step, _loss):  # after optimiser step ``step``: the rate for the next one
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(lr, step, total)

    start = time.perf_counter()
    history = train(
        model,
        loss_fn,
        train_x,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        optimizer=optimizer,
        callback=callback,
        val_data=val_x,
        patience=patience if val_x is not None else None,
        device="cpu",
        seed=seed,
        progress=progress,
    )
    return history, time.perf_counter() - start


def fit_made(
    model: MADE,
    train_x,
    val_x=None,
    *,
    epochs: int = 60,
    batch_size: int = 100,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    patience: int | None = 8,
    seed: int = 0,
    progress: bool = True,
):
    """Maximum likelihood for MADE: Adam on the mean NLL (nats per image), with early stopping on
    ``val_x`` (the best epoch's weights are kept). Returns (history, seconds)."""
    train_x = check_binary_images(train_x, model.shape, "train_x").flatten(1)
    if val_x is not None:
        val_x = check_binary_images(val_x, model.shape, "val_x").flatten(1)
    with torch.no_grad():  # start from the independent-pixel model: output biases = pixel log-odds
        model.layers[-1].bias.copy_(_smoothed_logit(train_x.sum(0), torch.tensor(float(len(train_x))), 1.0))

    def loss_fn(m, x):
        return -m.log_prob(x).mean()

    return _fit_nll(model, loss_fn, train_x, val_x, epochs, batch_size, lr, weight_decay, patience, seed, progress)


# ---------------------------------------------------------------------------------------------
# PixelCNN


class MaskedConv2d(nn.Conv2d):
    """A k×k convolution whose kernel is zero below the centre row and right of the centre pixel:
    mask ``"A"`` also zeroes the centre (first layer: output i must not see x_i), mask ``"B"`` keeps
    it (later layers: position i holds features of x_<i already)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str, dilation: int = 1):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}.")
        k = positive_int(kernel_size, "kernel_size")
        if k % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a centre pixel), got {k}.")
        d = positive_int(dilation, "dilation")
        super().__init__(in_channels, out_channels, k, padding=d * (k // 2), dilation=d)
        mask = torch.ones(k, k)
        c = k // 2
        mask[c, c + (mask_type == "B") :] = 0
        mask[c + 1 :] = 0
        self.mask_type = mask_type
        self.register_buffer("mask", mask[None, None].expand_as(self.weight).clone(), persistent=False)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding, dilation=self.dilation)


class PixelCNN(RecordsArgs, PixelAutoregressive):
    """A small PixelCNN: x ↦ 7×7 mask-A conv (``channels``) → ``layers`` residual blocks
    h ← h + MaskedConv_B(ReLU(h)) (3×3, dropout) → two 1×1 convs → one logit per pixel.

    Output i sees x_<i only (``causality_violations`` is 0), but not all of x_<i: the receptive
    field grows 3 + Σ dilations rows up (``dilations``: one per 3×3 layer, default all 1) and
    widens to the right by only one step per row up, leaving a blind spot up and to the right of i
    (``receptive_field`` draws it)."""

    def __init__(
        self, shape=(28, 28), channels: int = 32, layers: int = 5, dropout: float = 0.0, dilations=None
    ):
        super().__init__()
        self.shape = _shape(shape)
        self.channels = positive_int(channels, "channels")
        self.n_layers = positive_int(layers, "layers", minimum=0)
        if dilations is None:
            dilations = (1,) * self.n_layers
        if not isinstance(dilations, (list, tuple)) or len(dilations) != self.n_layers:
            raise ValueError(f"dilations must list one dilation per layer ({self.n_layers}), got {dilations!r}.")
        self.dilations = tuple(positive_int(d, "dilation") for d in dilations)
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        C = self.channels
        self.first = MaskedConv2d(1, C, 7, "A")
        self.blocks = nn.ModuleList(MaskedConv2d(C, C, 3, "B", d) for d in self.dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 1), nn.ReLU(), nn.Conv2d(C, 1, 1))

    @property
    def rows_seen(self) -> int:
        """How many rows above a pixel its output can see: 3 (the 7×7 mask A) + each 3×3 layer's dilation."""
        return 3 + sum(self.dilations)

    def _logit_map(self, img: torch.Tensor) -> torch.Tensor:
        h = self.first(2 * img - 1)  # pixels as ±1, so a 0 pixel is not the same as padding
        for block in self.blocks:
            h = h + F.dropout(block(F.relu(h)), self.dropout, self.training)
        return self.head(h)[:, 0]

    def logits(self, x):
        n = len(x)
        return self._logit_map(x.reshape(n, 1, *self.shape)).reshape(n, -1)

    @staticmethod
    def _upper_conv(layer: MaskedConv2d, h: torch.Tensor, at_top: bool) -> torch.Tensor:
        """The masked conv with only its kernel rows above and at the centre, no vertical padding:
        each output row needs the rows above it to exist, so the output is ``reach`` rows shorter
        (unless ``at_top``: then zero rows are padded on, as the full-image forward does)."""
        c, d = layer.kernel_size[0] // 2, layer.dilation[0]
        if at_top:
            h = F.pad(h, (0, 0, c * d, 0))
        w = (layer.weight * layer.mask)[:, :, : c + 1]
        return F.conv2d(h, w, layer.bias, padding=(0, layer.padding[1]), dilation=layer.dilation)

    def _last_row_logits(self, window: torch.Tensor, at_top: bool) -> torch.Tensor:
        """Logits of the last row of ``window`` (n, 1, R, W), the rows the net can see from it: each
        layer computes only the rows the next one needs (the sampler's fast path). (n, W)."""
        h = self._upper_conv(self.first, 2 * window - 1, at_top)
        for block in self.blocks:
            out = self._upper_conv(block, F.relu(h), at_top)
            h = h[:, :, h.shape[2] - out.shape[2] :] + F.dropout(out, self.dropout, self.training)
        return self.head(h[:, :, -1:])[:, 0, 0]

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, *, given=None, start: int = 0, callback=None):
        """Pixel by pixel like every model here, but each step runs the net only on the rows the
        next pixel can see (``rows_seen`` above it), each layer only on the rows the next layer
        needs: the same draws as the generic loop, several times faster."""
        n = positive_int(n, "n")
        H, W = self.shape
        D = H * W
        if not isinstance(start, int) or not 0 <= start < D:
            raise ValueError(f"start must be a pixel index between 0 and {D - 1}, got {start!r}.")
        g = _generator(seed)
        if given is None:
            if start:
                raise ValueError("start > 0 keeps the first pixels of `given`: pass the images to complete.")
            img = torch.zeros(n, 1, H, W)
        else:
            img = check_binary_images(given, self.shape, "given").clone()
            if len(img) != n:
                raise ValueError(f"given holds {len(img)} images but n = {n}.")
            img.view(n, -1)[:, start:] = 0
        was = self.training
        self.eval()
        dev = self._device()
        img = img.to(dev)
        for i in range(start, D):
            r, c = divmod(i, W)
            top = max(0, r - self.rows_seen)
            logit = self._last_row_logits(img[:, :, top : r + 1], at_top=top == 0)[:, c]
            img[:, 0, r, c] = torch.bernoulli(torch.sigmoid(logit).cpu(), generator=g).to(dev)
            if callback is not None:
                callback(i, img.cpu())
        self.train(was)
        return img.cpu()


def receptive_field(model: PixelAutoregressive, pixel: tuple[int, int], n: int = 2, seed: int = 0) -> torch.Tensor:
    """Which inputs the logit of ``pixel`` = (row, col) depends on: |∂ logit / ∂ x| summed over ``n``
    random inputs, > 0 where it depends, as an (H, W) boolean map."""
    H, W = model.shape
    r, c = pixel
    if not (isinstance(r, int) and isinstance(c, int) and 0 <= r < H and 0 <= c < W):
        raise ValueError(f"pixel must be (row, col) inside the {H}×{W} image, got {pixel!r}.")
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, H * W, generator=g).to(model._device()).requires_grad_(True)
    was = model.training
    model.eval()
    (grad,) = torch.autograd.grad(model.logits(x)[:, r * W + c].sum(), x)
    model.train(was)
    return (grad.abs().sum(0) > 0).reshape(H, W).cpu()


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image (n, 1, H, W) moved by its own random (dy, dx) ∈ {−s … s}², zeros shifted in."""
    s = positive_int(max_shift, "max_shift", minimum=0)
    if s == 0:
        return x
    n, _, H, W = x.shape
    padded = F.pad(x, (s, s, s, s))
    d = torch.randint(0, 2 * s + 1, (2, n), generator=generator).to(x.device)
    rows = (d[0][:, None] + torch.arange(H, device=x.device))[:, :, None]  # (n, H, 1)
    cols = (d[1][:, None] + torch.arange(W, device=x.device))[:, None, :]  # (n, 1, W)
    return padded[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols][:, None]


def fit_pixelcnn(
    model: PixelCNN,
    train_x,
    val_x=None,
    *,
    epochs: int = 40,
    batch_size: int = 50,
    lr: float = 2e-3,
    weight_decay: float = 0.0,
    patience: int | None = 6,
    shift: int = 1,
    cosine: bool = False,
    seed: int = 0,
    progress: bool = True,
):
    """Maximum likelihood for the PixelCNN: Adam on the mean NLL (nats per image) of training digits
    each moved by a random ±``shift`` pixels (0: no augmentation), early stopping on the unshifted
    ``val_x`` (the best epoch's weights kept); ``cosine=True`` anneals the learning rate from ``lr``
    to ``lr``/20 over the ``epochs`` budget. Returns (history, seconds)."""
    train_x = check_binary_images(train_x, model.shape, "train_x")
    if val_x is not None:
        val_x = check_binary_images(val_x, model.shape, "val_x")
    shift = positive_int(shift, "shift", minimum=0)
    g = torch.Generator().manual_seed(seed + 1)

    def loss_fn(m, x):  # validation (eval mode, no gradients in train's evaluate) sees unshifted digits
        if not m.training:
            return -m.log_prob(x).mean()
        return -m.log_prob(random_shift(x, shift, g)).mean()

    return _fit_nll(
        model, loss_fn, train_x, val_x, epochs, batch_size, lr, weight_decay, patience, seed, progress, bool(cosine)
    )
