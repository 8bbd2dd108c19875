"""Metrics that compare a model with data: likelihood, bits/dim, MMD, sliced and exact Wasserstein."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ._validate import as_samples, as_tensor, positive, positive_int

__all__ = ["mean_log_likelihood", "bits_per_dim", "mmd", "sliced_wasserstein", "emd"]


def mean_log_likelihood(log_prob: Callable | torch.Tensor, x=None, batch: int = 10_000) -> float:
    """Mean log p(x) in nats: ``log_prob`` is a function applied to the rows of ``x`` (in
    batches, without gradients) or already a tensor of per-sample log-likelihoods."""
    if callable(log_prob):
        if x is None:
            raise ValueError("pass the data x when log_prob is a function.")
        x = as_tensor(x, "x", min_rows=1)
        with torch.no_grad():
            values = torch.cat([torch.as_tensor(log_prob(c)).reshape(-1).cpu() for c in x.split(batch)])
    else:
        values = as_tensor(log_prob, "log_prob", ndim=1, min_rows=1, allow_nonfinite=True)
    if torch.isnan(values).any():
        raise ValueError("log_prob returned NaN; check the model's parameters.")
    return float(values.double().mean())


def bits_per_dim(log_prob, n_dims: int, n_bins: int | None = None) -> float:
    """Negative log-likelihood in bits per dimension.

    log_prob: per-sample log-likelihoods in nats (tensor (n,)) or their mean (a float).
    n_dims: dimensions per sample (784 for MNIST).
    n_bins: for a *continuous* density on data rescaled to [0, 1] (e.g. dequantised pixels with
    256 levels), pass the number of levels: each pixel bin has width 1/n_bins, so
    bpd = (-log p(x) + D log n_bins) / (D log 2). Leave None for a discrete model (Bernoulli pixels).
    """
    n_dims = positive_int(n_dims, "n_dims")
    lp = float(log_prob) if np.ndim(log_prob) == 0 else mean_log_likelihood(as_tensor(log_prob, "log_prob"))
    if not math.isfinite(lp):
        raise ValueError(f"log-likelihood is {lp}; bits/dim needs a finite value.")
    nll = -lp
    if n_bins is not None:
        nll += n_dims * math.log(positive_int(n_bins, "n_bins", minimum=2))
    return nll / (n_dims * math.log(2))


def _median_bandwidth(x: torch.Tensor, y: torch.Tensor, max_points: int = 2000) -> float:
    z = torch.cat([x[:max_points], y[:max_points]])
    d = torch.cdist(z, z)
    med = d[torch.triu(torch.ones_like(d, dtype=torch.bool), 1)].median()
    return float(med) if float(med) > 0 else 1.0


def mmd(x, y, bandwidth: float | None = None) -> float:
    """Unbiased squared maximum mean discrepancy with an RBF kernel k(a, b) = exp(-|a-b|²/(2h²)).

    bandwidth h defaults to the median pairwise distance of the pooled samples (median heuristic).
    Zero in expectation when x and y come from the same distribution.
    """
    x = as_samples(x, "x", min_rows=2).double()
    y = as_samples(y, "y", dim=x.shape[1], min_rows=2).double()
    h = _median_bandwidth(x, y) if bandwidth is None else positive(bandwidth, "bandwidth")

    def k(a, b):
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * h * h))

    n, m = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(term_x + term_y - 2 * kxy.mean())


def sliced_wasserstein(x, y, n_projections: int = 200, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance (POT's ``ot.sliced_wasserstein_distance``): the mean over
    random directions of the 1-D Wasserstein distance between the projected samples."""
    import ot

    x = as_samples(x, "x").double().cpu().numpy()
    y = as_samples(y, "y", dim=x.shape[1]).double().cpu().numpy()
    n_projections = positive_int(n_projections, "n_projections")
    return float(ot.sliced_wasserstein_distance(x, y, n_projections=n_projections, seed=seed))


def emd(x, y, max_points: int = 5000) -> float:
    """Exact earth mover's distance W1 between two empirical distributions (uniform weights,
    Euclidean cost), solved as a linear programme by POT's ``ot.emd2``. Small sets only:
    memory grows as n·m."""
    import ot

    x = as_samples(x, "x").double().cpu().numpy()
    y = as_samples(y, "y", dim=x.shape[1]).double().cpu().numpy()
    if max(len(x), len(y)) > max_points:
        raise ValueError(
            f"emd solves an exact {len(x)}×{len(y)} transport problem; use at most {max_points} "
            "points per set (subsample) or sliced_wasserstein for large sets."
        )
    cost = ot.dist(x, y, metric="euclidean")
    return float(ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), cost))
