"""Kernel density estimation, vectorised and chunked in torch.

    p̂(x) = 1/n Σ_i K_h(x − x_i),   K_h(u) = h^{-d} K(u / h)

``log p̂`` is computed as a log-sum-exp over the training points, in blocks of queries × training
points so that memory stays bounded (default 8 MB per block, cache-sized) even for 10^5 × 10^5 evaluations.
In dimension ≤ 5 the training points are grouped into kd-tree leaves and, per block of queries,
leaves are visited nearest first; the far ones are skipped only when their total contribution is
provably below 2e-16 of the sum (Gaussian) or exactly zero (compact kernels), so values are unchanged.
Squared distances come from ‖q‖² + ‖t‖² − 2 q·t (one matrix product per block), in float64 and after
centring both sets on the training mean, so the values agree with ``scipy.stats.gaussian_kde`` and a
brute-force float64 sum to ~1e-12. (scikit-learn's tree, even with ``rtol=0, atol=0``, drifts from
these by up to ~1e-7 in 2-D and ~1e-2 nats in 10-D on 10^5 points, and returns ~1e-17 instead of 0
outside a compact kernel's support.)

Kernels (normalised on R^d, V_d = volume of the unit ball):
- ``"gaussian"``:     K_h(u) = (2π h²)^{-d/2} exp(−‖u‖² / 2h²)
- ``"tophat"``:       K_h(u) = 1{‖u‖ < h} / (V_d h^d)
- ``"epanechnikov"``: K_h(u) = (1 − ‖u‖²/h²)₊ · (d + 2) / (2 V_d h^d)
Same names and normalisations as ``sklearn.neighbors.KernelDensity``.

Bandwidth rules (one isotropic bandwidth h for all axes):
- a number: h itself;
- ``"scott"``:     h = n^{−1/(d+4)} · σ
- ``"silverman"``: h = (n (d + 2) / 4)^{−1/(d+4)} · σ
  where the factors are scipy.stats.gaussian_kde's and σ = sqrt(mean over axes of the unbiased
  per-axis variance). scipy scales its factor by the full data covariance instead; in 1-D both are the
  same estimate, in d-D ours is the isotropic version. (scikit-learn's "scott"/"silverman" use the
  factor alone, i.e. assume σ = 1: standardise your data first to get theirs.)
- ``"cv"``: the h on a grid (``cv_grid``, default 25 values from 0.05 to 2 times Scott's h,
  geometric) that maximises the ``cv_folds``-fold cross-validated held-out mean log-likelihood
  (each fold's points scored by a KDE on all other points; at most ``cv_max_points`` points scored).
  The grid and its scores are kept in ``cv_bandwidths_`` and ``cv_scores_``.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch

from .._validate import as_tensor, one_of, positive, positive_int
from ._base import DTYPE as _DTYPE
from ._base import DensityEstimator, check_features, check_fitted, fit_input
from ._base import torch_generator as _generator
from ._parallel import run_parallel

__all__ = ["KernelDensity"]

KERNELS = ("gaussian", "tophat", "epanechnikov")
_LEAF = 1024  # training points per kd-tree leaf block
_QLEAF = 256  # queries per block
RULES = ("scott", "silverman", "cv")


def _log_unit_ball_volume(d: int) -> float:
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)


def _log_norm(kernel: str, d: int, h: torch.Tensor) -> torch.Tensor:
    """log of the kernel's normalising constant Z(h) with K_h(u) = k(‖u‖/h) / Z(h)."""
    if kernel == "gaussian":
        return 0.5 * d * torch.log(2 * math.pi * h**2)
    log_vol = _log_unit_ball_volume(d) + d * torch.log(h)
    if kernel == "tophat":
        return log_vol
    return log_vol + math.log(2.0 / (d + 2))  # epanechnikov


def _kd_blocks(P: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Row indices of P split by medians along the widest axis until blocks have ≤ size rows."""
    out, stack = [], [torch.arange(len(P))]
    while stack:
        idx = stack.pop()
        if len(idx) <= size:
            out.append(idx)
            continue
        pts = P[idx]
        axis = int((pts.max(0).values - pts.min(0).values).argmax())
        order = pts[:, axis].argsort()
        half = len(idx) // 2
        stack += [idx[order[half:]], idx[order[:half]]]
    return out


def _check_weights(sample_weight, n: int) -> torch.Tensor:
    """sample_weight as float64 (n,), finite, ≥ 0 and not all zero."""
    w = as_tensor(sample_weight, "sample_weight", ndim=(0, 1)).detach().cpu().to(_DTYPE)
    if w.ndim == 0:
        w = w.expand(n).clone()
    if w.shape[0] != n:
        raise ValueError(f"sample_weight must have one weight per row of X ({n}), got {w.shape[0]}.")
    if bool((w < 0).any()):
        raise ValueError("sample_weight must be ≥ 0 (negative weights make no density).")
    if not bool((w > 0).any()):
        raise ValueError("sample_weight: all weights are zero; give at least one point a positive weight.")
    return w


class KernelDensity(DensityEstimator):
    """Kernel density estimate with scikit-learn's API (``sklearn.neighbors.KernelDensity``).

    Parameters:
    - ``bandwidth``: number > 0, "scott", "silverman" or "cv" (see the module docstring);
    - ``kernel``: "gaussian", "tophat" or "epanechnikov";
    - ``cv_grid``: bandwidths tried by "cv" (None → 25 values, 0.05–2 × Scott's h);
    - ``cv_folds``: folds for "cv"; ``cv_max_points``: held-out points "cv" scores (a random subset;
      "cv" costs ≈ cv_max_points · n · len(cv_grid) kernel evaluations);
    - ``random_state``: fold split of "cv" (None → a fixed split, so fits are reproducible) and the
      default seed of ``sample``;
    - ``max_chunk_mb``: memory of one block of query × training kernel values (small blocks stay in cache).

    Fitted: ``bandwidth_`` (float), ``n_features_in_``, ``n_samples_``; with "cv" also
    ``cv_bandwidths_`` and ``cv_scores_`` (held-out mean log-likelihood per bandwidth).
    """

    def __init__(
        self,
        bandwidth=1.0,
        kernel: str = "gaussian",
        *,
        cv_grid=None,
        cv_folds: int = 5,
        cv_max_points: int = 2000,
        random_state=None,
        max_chunk_mb: float = 8,
    ):
        self.bandwidth = bandwidth
        self.kernel = kernel
        self.cv_grid = cv_grid
        self.cv_folds = cv_folds
        self.cv_max_points = cv_max_points
        self.random_state = random_state
        self.max_chunk_mb = max_chunk_mb

    def __repr__(self) -> str:
        return f"KernelDensity(bandwidth={self.bandwidth!r}, kernel={self.kernel!r})"

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None) -> KernelDensity:
        """Store the training points and choose the bandwidth. Returns ``self``.

        sample_weight: optional weights w_i ≥ 0, one per row (not all zero): the estimate becomes
        p̂(x) = Σ_i w_i K_h(x − x_i) / Σ_i w_i, so an integer weight is the same as repeating the row
        and a zero weight the same as leaving it out (as in scikit-learn). The rules of thumb then use
        the weighted spread and Kish's effective sample size (Σw)² / Σw², as ``scipy.stats.gaussian_kde``.
        """
        one_of(self.kernel, "kernel", KERNELS)
        positive(self.max_chunk_mb, "max_chunk_mb")
        X = fit_input(self, X)
        w = None
        if sample_weight is not None:
            w = _check_weights(sample_weight, X.shape[0])
            keep = w > 0
            X, w = X[keep], w[keep]
            w = w * (len(w) / w.sum())  # mean 1: no overflow, and log-normaliser log n as without weights
            if bool((w == 1).all()):
                w = None
        n, d = X.shape
        self.n_samples_ = n
        self._w = w
        self._X = X
        self._center = X.mean(0)
        self._Xc = X - self._center
        self._Xc_sq = (self._Xc**2).sum(1)
        self._leaf_cache = None

        bw = self.bandwidth
        if isinstance(bw, str):
            if bw not in RULES:
                raise ValueError(f"bandwidth must be a positive number or one of {list(RULES)}, got {bw!r}.")
            if n < 2:
                raise ValueError(
                    f'bandwidth="{bw}" needs at least 2 training samples, got {n}; pass a number.'
                )
            if bw == "cv":
                if w is not None:
                    raise ValueError(
                        'bandwidth="cv" does not take sample_weight; pass a number, "scott" or "silverman".'
                    )
                self.bandwidth_ = self._fit_cv(X)
            else:
                self.bandwidth_ = self._rule_of_thumb(X, bw, w)
        else:
            self.bandwidth_ = positive(bw, "bandwidth")
        return self

    @staticmethod
    def _rule_of_thumb(X: torch.Tensor, rule: str, w: torch.Tensor | None = None) -> float:
        n, d = X.shape
        if w is None:
            sigma = float(X.var(0, unbiased=True).mean().sqrt())
        else:  # weighted, unbiased (numpy.cov's aweights), and Kish's effective sample size
            W, W2 = float(w.sum()), float((w**2).sum())
            mu = (w[:, None] * X).sum(0) / W
            var = (w[:, None] * (X - mu) ** 2).sum(0) / (W - W2 / W)
            sigma = float(var.mean().sqrt())
            n = W * W / W2
        if not sigma > 0:
            raise ValueError(
                f'bandwidth="{rule}" needs data with non-zero spread (all points are equal); pass a number.'
            )
        factor = n ** (-1.0 / (d + 4)) if rule == "scott" else (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
        return factor * sigma

    def _fit_cv(self, X: torch.Tensor) -> float:
        n, _ = X.shape
        folds = positive_int(self.cv_folds, "cv_folds", minimum=2)
        if folds > n:
            raise ValueError(f"cv_folds={folds} is larger than the number of samples ({n}); use fewer folds.")
        if self.cv_grid is None:
            grid = self._rule_of_thumb(X, "scott") * np.geomspace(0.05, 2.0, 25)
        else:
            grid = np.atleast_1d(np.asarray(self.cv_grid, dtype=float))
            if grid.ndim != 1 or grid.size == 0 or not (np.isfinite(grid).all() and (grid > 0).all()):
                raise ValueError("cv_grid must be a non-empty list of positive bandwidths.")
        hs = torch.as_tensor(grid, dtype=_DTYPE)
        g = _generator(0 if self.random_state is None else self.random_state)
        # Score at most cv_max_points held-out points (a random subset, split into the folds); every
        # other point always trains. Cost ≈ cv_max_points · n · len(grid) kernel evaluations.
        cap = positive_int(self.cv_max_points, "cv_max_points", minimum=folds)
        perm = torch.randperm(n, generator=g)[:cap]
        total = torch.zeros(len(hs), dtype=_DTYPE)
        for held in perm.chunk(folds):
            mask = torch.ones(n, dtype=torch.bool)
            mask[held] = False
            train = X[mask]
            c = train.mean(0)
            tc = train - c
            total += self._log_density(X[held] - c, tc, (tc**2).sum(1), hs, None).sum(0)
        scores = total / len(perm)
        self.cv_bandwidths_ = grid
        self.cv_scores_ = scores.numpy()
        finite = torch.isfinite(scores)
        if not bool(finite.any()):
            raise ValueError(
                "every bandwidth in cv_grid gives held-out points zero density; try larger bandwidths."
            )
        best = int(torch.where(finite, scores, -torch.inf).argmax())
        return float(hs[best])

    # ------------------------------------------------------------------ evaluation
    def _log_density(
        self, Q: torch.Tensor, T: torch.Tensor, T_sq: torch.Tensor, hs: torch.Tensor, w: torch.Tensor | None
    ) -> torch.Tensor:
        """log p̂(q) for centred queries Q (m, d), centred training T (n, d), bandwidths hs (G,) → (m, G);
        w: None or weights of the training points with mean 1."""
        m, d = Q.shape
        n = T.shape[0]
        G = len(hs)
        budget = max(1, int(self.max_chunk_mb * 2**20 / 8))  # float64 entries per block
        tn = min(n, budget, 8192)
        qm = max(1, min(m, budget // tn))
        Q_sq = (Q**2).sum(1, keepdim=True)
        # −‖q − t‖² as ONE matrix product: [q, ‖q‖², 1] · [2t, −1, −‖t‖²]
        Qa = torch.cat([Q, Q_sq, torch.ones_like(Q_sq)], 1)
        Ta = torch.cat([2 * T, -torch.ones_like(T_sq)[:, None], -T_sq[:, None]], 1)
        c = 1.0 / (2 * hs**2)
        gauss = self.kernel == "gaussian"
        if gauss and G == 1:
            Ta = Ta * c[0]  # fold −1/2h² into the product: the block is already the exponent
        sums = torch.zeros(m, G, dtype=_DTYPE)

        def block(i: int) -> None:
            q = Qa[i : i + qm]
            for j in range(0, n, tn):
                A = q @ Ta[j : j + tn].T
                wj = None if w is None else w[j : j + tn]
                for k in range(G):
                    if gauss:
                        E = A if G == 1 else torch.mul(A, c[k])
                        # clamp: exp of −708…−745 hits slow denormals, and such terms are < 1e-300
                        K = E.clamp_(min=-700.0).exp_()
                    elif self.kernel == "tophat":
                        K = (A > -(hs[k] ** 2)).to(_DTYPE)
                    else:
                        K = torch.mul(A, 1 / hs[k] ** 2).add_(1).clamp_(min=0)
                    sums[i : i + qm, k] += K.sum(1) if wj is None else K @ wj

        run_parallel([partial(block, i) for i in range(0, m, qm)])
        out = sums.log()
        if gauss:
            # Rows whose sum underflowed (query far from every training point): exact log-sum-exp
            # shifted by the nearest training point's distance.
            bad = (sums < 1e-280).any(1).nonzero()[:, 0]
            if len(bad):
                out[bad] = self._log_sums_stable(Qa[bad], Ta if G > 1 else Ta / c[0], c, tn, w)
        return out - (_log_norm(self.kernel, d, hs) + math.log(n))

    @staticmethod
    def _log_sums_stable(
        Qa: torch.Tensor, Ta: torch.Tensor, c: torch.Tensor, tn: int, w: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log Σ_t w_t exp(−c ‖q − t‖²) with a per-row shift (rows far from the data) → (rows, G).

        In blocks of rows (memory: rows × n per block), one block per thread. The shifted exponents
        are clamped at −700 before exp, as in the main path: exp of a double below −708 takes a ~50×
        slower subnormal path (torch.logsumexp does not avoid it), and such terms are < 1e-300 of the
        row's largest, which is 1."""
        n = Ta.shape[0]
        logw = 0.0 if w is None else w.log()
        out = torch.empty(Qa.shape[0], len(c), dtype=_DTYPE)
        rows = max(1, min(Qa.shape[0], 2**21 // max(n, 1)))

        def block(i: int) -> None:
            negD = torch.cat([Qa[i : i + rows] @ Ta[j : j + tn].T for j in range(0, n, tn)], 1).clamp_(max=0)
            for k, ck in enumerate(c):
                x = negD * ck + logw
                top = x.amax(1, keepdim=True)
                out[i : i + rows, k] = (top + x.sub_(top).clamp_(min=-700.0).exp_().sum(1, keepdim=True).log())[:, 0]

        run_parallel([partial(block, i) for i in range(0, Qa.shape[0], rows)])
        return out

    def log_prob(self, X) -> torch.Tensor:
        """Course alias: log p̂(x) per row as a float64 tensor (n,)."""
        check_fitted(self, "bandwidth_", ".log_prob()")
        Q = check_features(self, X) - self._center
        h = torch.tensor([self.bandwidth_], dtype=_DTYPE)
        # Bounding boxes only prune in low dimension; in high dimension every block is 'near'.
        if self.n_features_in_ <= 5 and self.n_samples_ >= 4 * _LEAF and len(Q) >= 2 * _QLEAF:
            return self._log_density_pruned(Q, h)
        return self._log_density(Q, self._Xc, self._Xc_sq, h, self._w)[:, 0]

    def _leaves(self):
        """Training points grouped into spatially compact blocks (kd-tree leaves), built once per fit."""
        if getattr(self, "_leaf_cache", None) is None:
            blocks = _kd_blocks(self._Xc, _LEAF)
            perm = torch.cat(blocks)
            T = self._Xc[perm]
            T_sq = self._Xc_sq[perm]
            Ta = torch.cat([2 * T, -torch.ones_like(T_sq)[:, None], -T_sq[:, None]], 1)
            bounds = torch.tensor([0] + [len(b) for b in blocks]).cumsum(0).tolist()
            lo = torch.stack([self._Xc[b].min(0).values for b in blocks])
            hi = torch.stack([self._Xc[b].max(0).values for b in blocks])
            w = None if self._w is None else self._w[perm]
            self._leaf_cache = (Ta, bounds, lo, hi, w)
        return self._leaf_cache

    def _log_density_pruned(self, Q: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Same values as ``_log_density``, skipping training blocks whose whole contribution is negligible.

        Blocks are visited nearest first (by the distance between bounding boxes). Gaussian kernel: the
        rest is skipped once its upper bound Σ_b |b| exp(−d_min(b)²/2h²) is below e^{-36} ≈ 2e-16 times
        the smallest partial sum of the query block, so the result is unchanged to rounding. Compact
        kernels: blocks farther than h contribute exactly 0.
        """
        m, d = Q.shape
        n = self.n_samples_
        Ta, bounds, lo, hi, w = self._leaves()
        if w is None:
            counts = torch.tensor([b - a for a, b in zip(bounds[:-1], bounds[1:])], dtype=_DTYPE)
        else:  # the bound on a leaf's contribution uses its total weight
            counts = torch.stack([w[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])])
        c = float(1.0 / (2 * h[0] ** 2))
        gauss = self.kernel == "gaussian"
        Q_sq = (Q**2).sum(1, keepdim=True)
        Qa = torch.cat([Q, Q_sq, torch.ones_like(Q_sq)], 1)
        if gauss:
            Qa = Qa * c  # the product is then the exponent −‖q − t‖²/2h²
        sums = torch.zeros(m, dtype=_DTYPE)
        h2 = float(h[0] ** 2)

        def block(qidx: torch.Tensor) -> None:
            q = Qa[qidx]
            qlo, qhi = Q[qidx].min(0).values, Q[qidx].max(0).values
            gap = (lo - qhi).clamp(min=0) + (qlo - hi).clamp(min=0)
            dmin2 = (gap**2).sum(1)
            order = dmin2.argsort()
            if gauss:
                ub = (counts.log() - c * dmin2)[order]
                tail = ub.flip(0).logcumsumexp(0).flip(0)  # log of the bound on blocks order[k:]
            s = torch.zeros(len(qidx), dtype=_DTYPE)
            for k, b in enumerate(order.tolist()):
                if not gauss and float(dmin2[b]) >= h2:
                    break  # this and all farther blocks lie outside every kernel
                A = q @ Ta[bounds[b] : bounds[b + 1]].T
                wb = None if w is None else w[bounds[b] : bounds[b + 1]]
                if gauss:
                    K = A.clamp_(min=-700.0).exp_()
                elif self.kernel == "tophat":
                    K = (A > -h2).to(_DTYPE)
                else:
                    K = A.mul_(1 / h2).add_(1).clamp_(min=0)
                s += K.sum(1) if wb is None else K @ wb
                if gauss and k + 1 < len(order) and float(tail[k + 1]) < math.log(float(s.min())) - 36:
                    break
            sums[qidx] = s

        run_parallel([partial(block, qidx) for qidx in _kd_blocks(Q, _QLEAF)])
        out = sums.log()
        if gauss:
            bad = (sums < 1e-280).nonzero()[:, 0]
            if len(bad):  # far from all data: exact shifted log-sum-exp over every point
                out[bad] = self._log_sums_stable(Qa[bad] / c, Ta, torch.tensor([c], dtype=_DTYPE), 8192, w)[
                    :, 0
                ]
        return out - (float(_log_norm(self.kernel, d, h)[0]) + math.log(n))

    def score(self, X, y=None) -> float:
        """Total log-likelihood of X (scikit-learn's convention for KernelDensity)."""
        return float(self.log_prob(X).sum())

    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Draw ``n_samples`` points: a random training point plus kernel noise. numpy (n_samples, d)."""
        check_fitted(self, "bandwidth_", ".sample()")
        n_samples = positive_int(n_samples, "n_samples", minimum=0)
        g = _generator(random_state if random_state is not None else self.random_state)
        n, d = self._X.shape
        if self._w is None:
            idx = torch.randint(n, (n_samples,), generator=g)
        else:  # a training point with probability w_i / Σw (inverse CDF: no cap on the number of points)
            cum = self._w.cumsum(0)
            u = torch.rand(n_samples, generator=g, dtype=_DTYPE) * cum[-1]
            idx = torch.searchsorted(cum, u, right=True).clamp_max(n - 1)
        h = self.bandwidth_
        if self.kernel == "gaussian":
            noise = torch.randn(n_samples, d, generator=g, dtype=_DTYPE) * h
        else:
            noise = self._ball_noise(n_samples, d, g) * h
        return (self._X[idx] + noise).numpy()

    def _ball_noise(self, m: int, d: int, g: torch.Generator) -> torch.Tensor:
        """Points in the unit ball, uniform (tophat) or ∝ 1 − ‖u‖² (epanechnikov, by rejection)."""
        out = []
        need = m
        while need > 0:
            k = max(2 * need, 16)
            u = torch.randn(k, d, generator=g, dtype=_DTYPE)
            u /= u.norm(dim=1, keepdim=True)
            r = torch.rand(k, generator=g, dtype=_DTYPE) ** (1.0 / d)
            u *= r[:, None]
            if self.kernel == "epanechnikov":
                keep = torch.rand(k, generator=g, dtype=_DTYPE) < 1 - r**2
                u = u[keep]
            out.append(u[:need])
            need -= len(out[-1])
        return torch.cat(out) if out else torch.empty(0, d, dtype=_DTYPE)
