"""Property-based tests (hypothesis, bounded example counts so they stay fast).

Properties: every estimator's density integrates to 1; EM never lowers the log-likelihood; samples
have the fitted moments; ``score_samples`` is finite for any finite input; bits/dim conversions
round-trip. Data sets are drawn by hypothesis (sizes, scales, offsets, seeds), so each property is
checked on shapes of data nobody wrote down by hand.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import check, metrics
from helpers.estimators import GaussianMixture, GaussianMLE, Histogram, KernelDensity

FAST = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@st.composite
def datasets(draw, dim=1, min_n=8, max_n=60):
    """Well-conditioned samples: a seeded Gaussian blob (or two), with a drawn size, scale and offset."""
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**16))
    scale = draw(st.floats(0.2, 5.0))
    offset = draw(st.floats(-20.0, 20.0))
    two = draw(st.booleans())
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim)) * scale + offset
    if two:
        X[: n // 2] += 4 * scale
    return X


def _integral_1d(est, X, pad):
    lo, hi = X.min() - pad, X.max() + pad
    grid = np.linspace(lo, hi, 20001)
    dens = np.exp(est.score_samples(grid[:, None]))
    return float(np.trapezoid(dens, grid) if hasattr(np, "trapezoid") else np.trapz(dens, grid))


@FAST
@given(
    X=datasets(), kernel=st.sampled_from(["gaussian", "tophat", "epanechnikov"]), rel_h=st.floats(0.05, 1.0)
)
def test_kde_integrates_to_one(X, kernel, rel_h):
    h = rel_h * X.std() + 1e-3
    est = KernelDensity(bandwidth=h, kernel=kernel).fit(X)
    # compact kernels: the trapezoid rule is exact to O(grid²) except at the support's edges
    tol = 2e-3 if kernel == "gaussian" else 1e-2
    assert _integral_1d(est, X, 8 * h) == pytest.approx(1.0, abs=tol)


@FAST
@given(X=datasets(min_n=10))
def test_gaussian_and_mixture_integrate_to_one(X):
    g = GaussianMLE().fit(X)
    assert _integral_1d(g, X, 10 * math.sqrt(g.covariance_[0, 0])) == pytest.approx(1.0, abs=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = GaussianMixture(2, random_state=0, reg_covar=1e-3).fit(X)
    pad = 10 * math.sqrt(float(m.covariances_.max()))
    assert _integral_1d(m, X, pad) == pytest.approx(1.0, abs=1e-3)


@FAST
@given(X=datasets(dim=2, min_n=20), bins=st.integers(1, 12))
def test_histogram_and_kde_integrate_to_one_in_2d(X, bins):
    lo, hi = X.min(0), X.max(0)
    h = Histogram(bins=bins, floor=0.0).fit(X)
    # the piecewise-constant density, summed exactly over its cells
    assert float(h.density_grid().sum() * h.bin_volume_) == pytest.approx(1.0, rel=1e-12)
    kde = KernelDensity(bandwidth=0.3 * float(X.std())).fit(X)
    c = (lo + hi) / 2
    half = float((hi - lo).max()) / 2 + 8 * kde.bandwidth_
    lim = (-half, half)

    def lp(p):
        return kde.log_prob(p + torch.as_tensor(c))

    check.normalizes(lp, lim=lim, n=300, tol=5e-3, quiet=True)


@FAST
@given(
    X=datasets(dim=2, min_n=30, max_n=120),
    k=st.integers(1, 4),
    cov=st.sampled_from(["full", "diag"]),
    init=st.sampled_from(["kmeans", "random"]),
    seed=st.integers(0, 1000),
)
def test_em_never_lowers_the_log_likelihood(X, k, cov, init, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = GaussianMixture(
            k,
            covariance_type=cov,
            init_params=init,
            random_state=seed,
            tol=1e-10,
            max_iter=60,
            reg_covar=1e-4,
        ).fit(X)
    hist = m.log_likelihood_history_
    if len(hist) >= 2:
        # EM's monotonicity holds up to rounding of the mean log-likelihood (~1e-12 relative)
        check.never_decreases(hist, tol=1e-9, quiet=True)
    # the reported bound is the mean log-likelihood of the parameters before the last M-step;
    # the final parameters are at least as good
    assert m.score(X) >= hist[-1] - 1e-9 * max(1.0, abs(hist[-1]))


@FAST
@given(X=datasets(dim=2, min_n=10), seed=st.integers(0, 2**16))
def test_gaussian_samples_have_the_fitted_moments(X, seed):
    g = GaussianMLE().fit(X)
    n = 20_000
    s = g.sample(n, random_state=seed)
    sd = np.sqrt(np.diag(g.covariance_))
    # 6 standard errors: a false alarm has probability < 1e-8 per coordinate
    assert np.all(np.abs(s.mean(0) - g.mean_) < 6 * sd / math.sqrt(n))
    np.testing.assert_allclose(
        np.cov(s.T), g.covariance_, atol=float(6 * sd.max() ** 2 * math.sqrt(2 / n)) + 1e-12
    )


@FAST
@given(X=datasets(dim=2, min_n=10), seed=st.integers(0, 2**16))
def test_mixture_kde_and_histogram_samples_have_the_fitted_mean(X, seed):
    n = 20_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = GaussianMixture(2, random_state=0, reg_covar=1e-3).fit(X)
    s, labels = m.sample(n, random_state=seed)
    mean = m.weights_ @ m.means_
    spread = np.sqrt(np.cov(s.T).diagonal())
    assert np.all(np.abs(s.mean(0) - mean) < 6 * spread / math.sqrt(n))
    assert set(np.unique(labels)) <= {0, 1}
    kde = KernelDensity(bandwidth=0.5).fit(X)
    s = kde.sample(n, random_state=seed)
    spread = np.sqrt(X.var(0) + 0.25)
    assert np.all(np.abs(s.mean(0) - X.mean(0)) < 6 * spread / math.sqrt(n))
    h = Histogram(bins=6).fit(X)
    s = h.sample(n, random_state=seed)
    assert np.all((s >= X.min(0) - 1e-9) & (s <= X.max(0) + 1e-9))  # inside the fitted range


finite_points = st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1, max_size=20).map(
    np.array
)


@FAST
@given(X=datasets(dim=2, min_n=10), Q=finite_points)
def test_score_samples_is_finite_for_any_finite_input(X, Q):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ests = [
            GaussianMLE().fit(X),
            KernelDensity(bandwidth=0.3).fit(X),  # far from every point: the stable log-sum-exp path
            GaussianMixture(2, random_state=0, reg_covar=1e-3).fit(X),
            Histogram(bins=5).fit(X),  # the floor keeps empty cells and outside points finite
        ]
    for est in ests:
        s = est.score_samples(Q)
        assert s.shape == (len(Q),) and np.isfinite(s).all(), type(est).__name__


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    lp=st.floats(-1e7, 1e7),
    d=st.integers(1, 10_000),
    bins=st.one_of(st.none(), st.integers(2, 65536)),
)
def test_bits_per_dim_round_trips(lp, d, bins):
    bpd = metrics.bits_per_dim(lp, d, n_bins=bins)
    back = -bpd * d * math.log(2) + (d * math.log(bins) if bins else 0.0)
    assert back == pytest.approx(lp, rel=1e-9, abs=1e-6 * d)
    # per-sample values and their mean give the same answer
    assert metrics.bits_per_dim(torch.tensor([lp, lp], dtype=torch.float64), d, n_bins=bins) == pytest.approx(
        bpd
    )


@settings(max_examples=30, deadline=None, derandomize=True)
@given(bpd=st.floats(0.0, 64.0), d=st.integers(1, 4096))
def test_bits_per_dim_inverts_a_uniform_model(bpd, d):
    # a model assigning probability 2^(−bpd·D) to each sample costs exactly bpd bits per dimension
    assert metrics.bits_per_dim(-bpd * d * math.log(2), d) == pytest.approx(bpd, abs=1e-9)
