"""GaussianMLE and Histogram: closed forms against numpy, normalisation, sampling, errors."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from helpers.estimators.gaussian import GaussianMLE
from helpers.estimators.histogram import Histogram

COV = np.array([[1.0, 0.8], [0.8, 1.0]])


@pytest.fixture
def X2():
    return np.random.default_rng(0).multivariate_normal([0.5, -1.0], COV, size=3000)


# ------------------------------------------------------------------ GaussianMLE
@pytest.mark.parametrize("unbiased", [False, True])
def test_gaussian_closed_form_equals_numpy(X2, unbiased):
    g = GaussianMLE(unbiased=unbiased).fit(X2)
    np.testing.assert_allclose(g.mean_, X2.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(g.covariance_, np.cov(X2.T, bias=not unbiased), rtol=0, atol=1e-12)


def test_gaussian_1d_and_tensor_input():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=5000)
    g = GaussianMLE().fit(torch.from_numpy(x)[:, None])
    assert g.covariance_.shape == (1, 1) and g.n_features_in_ == 1
    np.testing.assert_allclose(g.mean_[0], x.mean(), atol=1e-12)
    np.testing.assert_allclose(g.covariance_[0, 0], x.var(), atol=1e-12)
    pts = np.linspace(-5, 9, 7)
    ref = stats.norm(x.mean(), x.std()).logpdf(pts)
    np.testing.assert_allclose(g.score_samples(pts[:, None]), ref, atol=1e-10)


def test_gaussian_log_density_and_score(X2):
    g = GaussianMLE().fit(X2)
    ref = stats.multivariate_normal(X2.mean(0), np.cov(X2.T, bias=True)).logpdf(X2)
    s = g.score_samples(X2)
    assert isinstance(s, np.ndarray) and s.shape == (len(X2),)
    np.testing.assert_allclose(s, ref, atol=1e-10)
    lp = g.log_prob(X2)
    assert isinstance(lp, torch.Tensor) and lp.dtype == torch.float64
    assert g.score(X2) == pytest.approx(ref.mean(), abs=1e-10)


def test_gaussian_mle_maximises_likelihood(X2):
    g = GaussianMLE().fit(X2)
    best = g.score(X2)
    # any perturbation of the parameters lowers the mean log-likelihood
    for dmu, scale in [([0.05, 0], 1.0), ([0, -0.05], 1.0), ([0, 0], 1.05), ([0, 0], 0.95)]:
        other = stats.multivariate_normal(g.mean_ + dmu, g.covariance_ * scale).logpdf(X2).mean()
        assert other < best


def test_gaussian_sample_reproducible_and_right_moments(X2):
    g = GaussianMLE().fit(X2)
    a, b = g.sample(20000, random_state=3), g.sample(20000, random_state=3)
    assert a.shape == (20000, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.mean(0), g.mean_, atol=0.05)
    np.testing.assert_allclose(np.cov(a.T), g.covariance_, atol=0.05)


def test_gaussian_sklearn_conventions():
    g = GaussianMLE(unbiased=True)
    assert g.get_params() == {"unbiased": True}
    assert not hasattr(g, "mean_")
    assert g.fit(np.random.default_rng(0).normal(size=(10, 3))) is g


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 0.0]]), "NaN"),
        (np.zeros((4, 2, 2)), "dimension"),
        (np.ones((1, 2)), "at least 2"),
        (np.c_[np.arange(5.0), 2 * np.arange(5.0)], "singular"),
    ],
)
def test_gaussian_bad_input(X, match):
    with pytest.raises(ValueError, match=match):
        GaussianMLE().fit(X)


def test_gaussian_errors(X2):
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMLE().score_samples(X2)
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMLE().sample(3)
    g = GaussianMLE().fit(X2)
    with pytest.raises(ValueError, match="fitted on 2"):
        g.score_samples(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n_samples"):
        g.sample(0)
    with pytest.raises(ValueError, match="unbiased"):
        GaussianMLE(unbiased="yes").fit(X2)


# ------------------------------------------------------------------ Histogram
def test_histogram_agrees_with_numpy_histogramdd(X2):
    h = Histogram(bins=(12, 7)).fit(X2)
    H, edges = np.histogramdd(X2, bins=(12, 7), density=True)
    np.testing.assert_allclose(h.density_grid(), H, rtol=1e-12, atol=1e-15)
    for mine, ref in zip(h.edges_, edges):
        np.testing.assert_allclose(mine, ref)
    # the density at every sample is its cell's value in numpy's histogram
    idx = [
        np.clip(np.searchsorted(e, X2[:, i], side="right") - 1, 0, len(e) - 2) for i, e in enumerate(edges)
    ]
    np.testing.assert_allclose(h.score_samples(X2), np.log(H[tuple(idx)]), rtol=1e-12)


def test_histogram_with_range_agrees_and_ignores_outside(X2):
    rng = [(-1.0, 2.0), (-2.5, 0.5)]
    h = Histogram(bins=9, range=rng).fit(X2)
    H, _ = np.histogramdd(X2, bins=9, range=rng, density=True)
    np.testing.assert_allclose(h.density_grid(), H, rtol=1e-12, atol=1e-15)
    inside = ((X2 >= [-1, -2.5]) & (X2 <= [2, 0.5])).all(1)
    assert h.n_samples_in_range_ == inside.sum() < len(X2)


def test_histogram_integrates_to_one_over_its_range(X2):
    h = Histogram(bins=15, range=(-4.0, 4.0)).fit(X2)
    # midpoint rule on a grid 4× finer than the bins is exact for a piecewise-constant density
    m = 60
    c = -4 + (np.arange(m) + 0.5) * 8 / m
    pts = np.stack(np.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)
    p = np.exp(h.score_samples(pts))
    p[p <= h.floor * 1.0001] = 0.0  # remove the floor's negligible mass
    assert p.sum() * (8 / m) ** 2 == pytest.approx(1.0, abs=1e-12)
    assert h.density_grid().sum() * h.bin_volume_ == pytest.approx(1.0, abs=1e-12)


def test_histogram_1d_matches_numpy():
    x = np.random.default_rng(2).exponential(size=2000)
    h = Histogram(bins=25).fit(x[:, None])
    H, _ = np.histogram(x, bins=25, density=True)
    np.testing.assert_allclose(h.density_grid(), H, rtol=1e-12)


def test_histogram_floor_for_empty_cells_and_outside(X2):
    h = Histogram(bins=30).fit(X2)
    far = np.array([[100.0, 100.0], [h.edges_[0][0] - 1e-9, 0.0]])
    np.testing.assert_allclose(h.score_samples(far), math.log(1e-12))
    h0 = Histogram(bins=30, floor=0.0).fit(X2)
    assert np.isneginf(h0.score_samples(far)).all()
    assert np.isneginf(h0.score_samples(X2)).sum() == 0
    # an empty cell inside the range: the corner cell of a correlated Gaussian
    corner = np.array([[h.edges_[0][0] + 1e-3, h.edges_[1][-1] - 1e-3]])
    assert h.density_grid()[0, -1] == 0
    assert h.score_samples(corner)[0] == pytest.approx(math.log(1e-12))


def test_histogram_right_edge_belongs_to_last_bin():
    x = np.array([0.0, 0.5, 1.0, 1.0])
    h = Histogram(bins=2).fit(x[:, None])
    np.testing.assert_allclose(h.density_grid(), np.histogram(x, bins=2, density=True)[0])
    assert h.score_samples([[1.0]])[0] == pytest.approx(math.log(3 / 4 / 0.5))


def test_histogram_high_dimension_is_sparse():
    X = np.random.default_rng(0).normal(size=(2000, 10))
    h = Histogram(bins=10).fit(X)  # 1e10 cells, only the occupied ones are stored
    assert h.n_cells_ == 10**10 and h.n_occupied_ <= 2000
    assert np.isfinite(h.score(X))
    with pytest.raises(ValueError, match="too many"):
        h.density_grid()


def test_histogram_sample_stays_in_occupied_cells(X2):
    h = Histogram(bins=8).fit(X2)
    s = h.sample(5000, random_state=0)
    assert s.shape == (5000, 2)
    np.testing.assert_array_equal(s, h.sample(5000, random_state=0))
    assert (h.score_samples(s) > math.log(1e-12)).all()
    # cell frequencies of the samples follow the histogram
    Hs, _ = np.histogramdd(s, bins=h.edges_, density=True)
    np.testing.assert_allclose(Hs, h.density_grid(), atol=0.03)


def test_histogram_sklearn_conventions():
    h = Histogram(bins=5, range=(0, 1))
    assert h.get_params() == {"bins": 5, "range": (0, 1), "floor": 1e-12}
    assert h.fit(np.random.default_rng(0).random((50, 2))) is h


@pytest.mark.parametrize(
    "kwargs, X, match",
    [
        ({"bins": 0}, np.zeros((5, 2)), "bins"),
        ({"bins": 2.5}, np.zeros((5, 2)), "bins"),
        ({"bins": (3, 0)}, np.zeros((5, 2)), "bins"),
        ({"bins": (3, 3, 3)}, np.zeros((5, 2)), "feature"),
        ({"range": (1, 0)}, np.zeros((5, 2)), "lo must be"),
        ({"range": [(0, 1)] * 3}, np.zeros((5, 2)), "range"),
        ({"range": (5, 6)}, np.zeros((5, 2)), "inside range"),
        ({"floor": -1}, np.zeros((5, 2)), "floor"),
        ({"bins": 10**7}, np.zeros((5, 5)), "too many"),
        ({}, np.array([[1.0, np.inf]]), "infinite"),
        ({}, np.zeros((2, 2, 2)), "dimension"),
    ],
)
def test_histogram_bad_input(kwargs, X, match):
    with pytest.raises(ValueError, match=match):
        Histogram(**kwargs).fit(X)


def test_histogram_errors(X2):
    with pytest.raises(ValueError, match="not fitted"):
        Histogram().score(X2)
    h = Histogram().fit(X2)
    with pytest.raises(ValueError, match="fitted on 2"):
        h.log_prob(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="NaN"):
        h.score_samples(np.array([[np.nan, 0.0]]))
