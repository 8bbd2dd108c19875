"""d-dimensional histogram density (lesson 02).

The range of each axis is cut into ``b`` equal bins, so there are b^d cells of volume V. With
c_k samples in cell k (out of the N inside the range) the density is piecewise constant:

    p̂(x) = c_k / (N · V)    for x in cell k,

which integrates to 1 over the range (the same as ``numpy.histogramdd(..., density=True)``).
Empty cells and points outside the range have p̂ = 0, i.e. log p̂ = −∞; ``log_prob`` returns
log(max(p̂, floor)) instead so held-out log-likelihoods stay finite (``floor=0`` keeps −∞). The
floor adds at most ``floor × (empty volume)`` of mass, negligible for the default 1e-12.

Only the occupied cells are stored, so b^d may be far larger than memory (d = 10, b = 10 is fine).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import as_tensor, positive_int
from ._base import DTYPE, DensityEstimator, check_features, check_fitted, fit_input, torch_generator

__all__ = ["Histogram"]

_MAX_CELLS = 2**62  # flat cell indices must fit in int64
_MAX_DENSE = 10_000_000


class Histogram(DensityEstimator):
    """Histogram density estimator in any dimension.

    Parameters
    ----------
    bins : int, or one int per axis — the number of equal-width bins along each axis (≥ 1).
    range : None (each axis from the data's min to max, as numpy does), a pair ``(lo, hi)`` used
        for every axis, or one pair per axis, shape (d, 2). Samples outside it are ignored by ``fit``.
    floor : density used for empty cells and outside the range in ``log_prob`` (≥ 0; 0 gives −∞).

    ``X`` has shape (n_samples, n_features); unlike the other estimators (and scikit-learn's), a 1-D
    array is also read as one feature, as ``numpy.histogram`` reads it.

    Fitted attributes
    -----------------
    edges_ : list of d ndarrays (b_i + 1,) — bin edges per axis.
    n_bins_ : tuple of d ints; n_cells_ : int = Π b_i (may be huge); bin_volume_ : float V.
    n_occupied_ : int — cells holding at least one sample; n_samples_in_range_ : int N.
    n_features_in_ : int d.
    """

    def __init__(self, bins=10, range=None, floor: float = 1e-12):
        self.bins = bins
        self.range = range
        self.floor = floor

    # ---------------------------------------------------------------- fitting
    def _bins_per_axis(self, d: int) -> tuple[int, ...]:
        bins = self.bins
        if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
            return (positive_int(bins, "bins"),) * d
        try:
            seq = list(bins)
        except TypeError:
            raise ValueError(f"bins must be a whole number ≥ 1 or one per axis, got {bins!r}.") from None
        if len(seq) != d:
            raise ValueError(f"bins gives {len(seq)} numbers but the data has {d} feature(s).")
        return tuple(positive_int(b, "each entry of bins") for b in seq)

    def _range_per_axis(self, X: torch.Tensor) -> torch.Tensor:
        d = X.shape[1]
        if self.range is None:
            lo, hi = X.min(dim=0).values, X.max(dim=0).values
        else:
            r = as_tensor(self.range, "range", ndim=(1, 2), dtype=DTYPE)
            if r.ndim == 1:
                if r.shape[0] != 2:
                    raise ValueError(
                        f"range must be a pair (lo, hi) or one pair per axis, got {self.range!r}."
                    )
                r = r.expand(d, 2)
            if r.shape != (d, 2):
                raise ValueError(
                    f"range must have shape ({d}, 2), one (lo, hi) per axis; got {tuple(r.shape)}."
                )
            lo, hi = r[:, 0].clone(), r[:, 1].clone()
            if bool((lo > hi).any()):
                raise ValueError(f"range: each lo must be ≤ hi, got {r.tolist()}.")
        # numpy's rule for an axis of zero width
        same = lo == hi
        lo, hi = torch.where(same, lo - 0.5, lo), torch.where(same, hi + 0.5, hi)
        return torch.stack([lo, hi], dim=1)

    def fit(self, X, y=None) -> Histogram:
        """Count the rows of ``X`` in each cell; returns ``self``."""
        fl = self.floor
        if (
            isinstance(fl, bool)
            or not isinstance(fl, (int, float, np.floating, np.integer))
            or not (math.isfinite(fl) and fl >= 0)
        ):
            raise ValueError(f"floor must be a number ≥ 0, got {fl!r}.")
        X = fit_input(self, X, allow_1d=True)
        d = X.shape[1]
        bins = self._bins_per_axis(d)
        n_cells = math.prod(bins)
        if n_cells > _MAX_CELLS:
            raise ValueError(
                f"{n_cells:.3g} cells (bins^d) is too many to index; use fewer bins or fewer dimensions."
            )
        rng = self._range_per_axis(X)
        b = torch.tensor(bins, dtype=DTYPE)
        width = (rng[:, 1] - rng[:, 0]) / b
        self.n_features_in_ = d
        self.n_bins_ = bins
        self.n_cells_ = n_cells
        self._lo, self._hi, self._width = rng[:, 0], rng[:, 1], width
        self._strides = torch.tensor(
            [math.prod(bins[i + 1 :]) for i in range(d)], dtype=torch.int64
        )  # row-major, like numpy's C order
        self.edges_ = [np.linspace(float(rng[i, 0]), float(rng[i, 1]), bins[i] + 1) for i in range(d)]
        flat, inside = self._cell_index(X)
        if not bool(inside.any()):
            raise ValueError("No sample of X lies inside range; widen range or check the data.")
        cells, counts = torch.unique(flat[inside], return_counts=True)  # sorted
        N = int(counts.sum())
        self.bin_volume_ = float(torch.prod(width))
        self.n_samples_in_range_ = N
        self.n_occupied_ = int(cells.numel())
        self._cells = cells
        self._counts = counts
        self._log_density = counts.to(DTYPE).log() - math.log(N) - torch.log(width).sum()
        return self

    def _cell_index(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat cell index of each row and whether the row lies inside the range (right edge included)."""
        inside = ((X >= self._lo) & (X <= self._hi)).all(dim=1)
        # same arithmetic as numpy's edges: x on an inner edge goes to the bin on its right
        edges = [torch.from_numpy(e) for e in self.edges_]
        idx = torch.empty(X.shape, dtype=torch.int64)
        for i in range(X.shape[1]):
            idx[:, i] = torch.searchsorted(edges[i], X[:, i].contiguous(), right=True) - 1
        idx = torch.minimum(idx, torch.tensor(self.n_bins_) - 1).clamp_min(0)
        return (idx * self._strides).sum(dim=1), inside

    # ---------------------------------------------------------------- density
    def log_prob(self, X) -> torch.Tensor:
        """log p̂(x) for each row of ``X`` → float64 tensor (n,); empty cells and points outside the
        range get log(floor)."""
        check_fitted(self, "_cells")
        X = check_features(self, X, allow_1d=self.n_features_in_ == 1)
        floor = math.log(self.floor) if self.floor > 0 else -math.inf
        out = torch.full((X.shape[0],), floor, dtype=DTYPE)
        if X.shape[0] == 0:
            return out
        flat, inside = self._cell_index(X)
        pos = torch.searchsorted(self._cells, flat).clamp_max(self._cells.numel() - 1)
        hit = inside & (self._cells[pos] == flat)
        out[hit] = torch.maximum(self._log_density[pos[hit]], torch.tensor(floor, dtype=DTYPE))
        return out

    def density_grid(self) -> np.ndarray:
        """The dense array of cell densities, shape ``n_bins_`` (as ``numpy.histogramdd(density=True)``).

        Only for small grids (≤ 10 million cells).
        """
        check_fitted(self, "_cells")
        if self.n_cells_ > _MAX_DENSE:
            raise ValueError(
                f"{self.n_cells_:.3g} cells is too many for a dense array (limit {_MAX_DENSE:.0e})."
            )
        dense = torch.zeros(self.n_cells_, dtype=DTYPE)
        dense[self._cells] = self._log_density.exp()
        return dense.reshape(self.n_bins_).numpy()

    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Draw ``n_samples`` rows: pick a cell with probability c_k / N, then a uniform point in it.

        random_state: None (torch's global generator), an int seed, or a ``torch.Generator``.
        """
        check_fitted(self, "_cells")
        n = positive_int(n_samples, "n_samples")
        g = torch_generator(random_state)
        # inverse-CDF over the occupied cells (torch.multinomial caps the number of categories)
        cum = self._counts.cumsum(0)
        r = torch.randint(0, int(cum[-1]), (n,), generator=g)
        which = torch.searchsorted(cum, r, right=True)
        flat = self._cells[which]
        idx = (flat[:, None] // self._strides) % torch.tensor(self.n_bins_)
        u = torch.rand(n, self.n_features_in_, generator=g, dtype=DTYPE)
        return (self._lo + (idx.to(DTYPE) + u) * self._width).numpy()
