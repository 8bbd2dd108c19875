"""KernelDensity: agrees with scikit-learn and scipy, normalises, samples, and explains bad input."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import gaussian_kde
from sklearn.neighbors import KernelDensity as SkKDE

from helpers.check import normalizes
from helpers.estimators import KernelDensity


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X2 = rng.normal(size=(400, 2)) @ np.array([[1.0, 0.3], [0.0, 0.5]]) + [2.0, -1.0]
    Q2 = rng.normal(size=(150, 2)) * 1.5 + [2.0, -1.0]
    X1 = np.concatenate([rng.normal(-2, 0.5, 150), rng.normal(1, 1, 250)])
    Q1 = np.linspace(-5, 5, 101)
    return X1, Q1, X2, Q2


def brute_gaussian(X, Q, h):
    X, Q = np.atleast_2d(X.T).T, np.atleast_2d(Q.T).T
    D = ((Q[:, None, :] - X[None]) ** 2).sum(-1)
    d = X.shape[1]
    return logsumexp(-D / (2 * h * h), 1) - np.log(len(X)) - 0.5 * d * np.log(2 * np.pi * h * h)


@pytest.mark.parametrize("dim", [1, 2])
def test_matches_sklearn_gaussian(data, dim):
    X1, Q1, X2, Q2 = data
    X, Q = (X1[:, None], Q1[:, None]) if dim == 1 else (X2, Q2)
    ours = KernelDensity(bandwidth=0.4).fit(X).score_samples(Q)
    theirs = SkKDE(bandwidth=0.4, rtol=0, atol=0).fit(X).score_samples(Q)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel", ["tophat", "epanechnikov"])
def test_matches_sklearn_compact_kernels(data, kernel):
    _, _, X, Q = data
    ours = KernelDensity(bandwidth=0.8, kernel=kernel).fit(X).score_samples(Q)
    theirs = SkKDE(bandwidth=0.8, kernel=kernel).fit(X).score_samples(Q)
    # scikit-learn's tree returns ~1e-17 instead of 0 far from the data: compare densities there
    inside = theirs > -30
    np.testing.assert_allclose(ours[inside], theirs[inside], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.exp(ours), np.exp(theirs), atol=1e-12)


def test_exact_against_brute_force_with_tiny_blocks(data):
    _, _, X, Q = data
    kde = KernelDensity(bandwidth=0.3, max_chunk_mb=0.005).fit(X)  # many query and training blocks
    np.testing.assert_allclose(kde.score_samples(Q), brute_gaussian(X, Q, 0.3), rtol=1e-10, atol=1e-10)
    far = np.array([[50.0, 50.0], [1e3, -1e3]])  # every kernel value underflows: stable fallback
    np.testing.assert_allclose(kde.score_samples(far), brute_gaussian(X, far, 0.3), rtol=1e-10)


def test_many_far_queries_exact_in_blocks():
    """Thousands of queries far from the data (the stable path, several row blocks on both threads),
    with and without weights, against a brute-force log-sum-exp."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 2))
    Q = rng.uniform(-8, 8, size=(2500, 2))
    kde = KernelDensity(bandwidth=0.05).fit(X)
    np.testing.assert_allclose(kde.score_samples(Q), brute_gaussian(X, Q, 0.05), rtol=1e-10, atol=1e-10)
    w = rng.uniform(0.5, 2.0, size=3000)
    D = ((Q[:, None, :] - X[None]) ** 2).sum(-1)
    ref = logsumexp(-D / (2 * 0.05**2), 1, b=w / w.sum()) - np.log(2 * np.pi * 0.05**2)
    ours = KernelDensity(bandwidth=0.05).fit(X, sample_weight=w).score_samples(Q)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rule", ["scott", "silverman"])
def test_matches_scipy_1d(data, rule):
    X1, Q1, _, _ = data
    kde = KernelDensity(bandwidth=rule).fit(X1[:, None])
    ref = gaussian_kde(X1, bw_method=rule)
    np.testing.assert_allclose(kde.score_samples(Q1[:, None]), ref.logpdf(Q1), rtol=1e-6, atol=1e-9)
    assert kde.bandwidth_ == pytest.approx(np.sqrt(ref.covariance[0, 0]))


def test_matches_scipy_2d_after_whitening(data):
    # scipy's kernel has the data's covariance times factor²; ours is isotropic. On whitened data
    # z = L⁻¹x they are the same estimate up to the Jacobian |det L|.
    _, _, X, Q = data
    ref = gaussian_kde(X.T, bw_method="scott")
    L = np.linalg.cholesky(np.cov(X.T))
    Z, Zq = np.linalg.solve(L, X.T).T, np.linalg.solve(L, Q.T).T
    kde = KernelDensity(bandwidth=ref.factor).fit(Z)
    ours = kde.score_samples(Zq) - np.log(np.linalg.det(L))
    np.testing.assert_allclose(ours, ref.logpdf(Q.T), rtol=1e-6, atol=1e-9)
    # and "scott" on whitened data (σ = 1) is scipy's factor exactly
    assert KernelDensity("scott").fit(Z).bandwidth_ == pytest.approx(ref.factor)


def test_api_conventions(data):
    _, _, X, Q = data
    kde = KernelDensity(bandwidth=0.5)
    assert not hasattr(kde, "bandwidth_")
    assert kde.fit(X) is kde
    assert kde.bandwidth_ == 0.5 and kde.n_features_in_ == 2
    lp = kde.log_prob(torch.as_tensor(Q))
    assert isinstance(lp, torch.Tensor) and lp.shape == (len(Q),) and lp.dtype == torch.float64
    assert kde.score(Q) == pytest.approx(kde.score_samples(Q).sum())
    assert kde.get_params()["bandwidth"] == 0.5
    assert KernelDensity(bandwidth=0.5).fit(X[:, :1]).n_features_in_ == 1
    with pytest.raises(ValueError, match=r"X must have 2 dimensions.*Reshape your data: X\.reshape\(-1, 1\)"):
        KernelDensity(bandwidth=0.5).fit(X[:, 0])  # one feature or one sample? scikit-learn asks


def test_cv_picks_best_held_out_bandwidth(data):
    X1, _, _, _ = data
    grid = [0.02, 0.1, 0.3, 0.6, 3.0]
    kde = KernelDensity(bandwidth="cv", cv_grid=grid, cv_folds=4).fit(X1[:, None])
    assert kde.bandwidth_ == grid[int(np.argmax(kde.cv_scores_))]
    assert kde.bandwidth_ not in (0.02, 3.0)  # neither the spiky nor the oversmoothed extreme
    default = KernelDensity(bandwidth="cv").fit(X1[:, None])
    assert len(default.cv_bandwidths_) == 25 and default.bandwidth_ in default.cv_bandwidths_


@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov", "tophat"])
def test_2d_density_integrates_to_one(data, kernel):
    _, _, X, _ = data
    kde = KernelDensity(bandwidth=0.5, kernel=kernel).fit(X)
    normalizes(kde.log_prob, lim=(-5, 7), n=200, tol=1e-2, quiet=True)


@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov", "tophat"])
def test_sample(data, kernel):
    _, _, X, _ = data
    kde = KernelDensity(bandwidth=0.3, kernel=kernel).fit(X)
    s = kde.sample(4000, random_state=0)
    assert s.shape == (4000, 2)
    np.testing.assert_array_equal(s, kde.sample(4000, random_state=0))
    np.testing.assert_allclose(s.mean(0), X.mean(0), atol=0.1)
    if kernel != "gaussian":  # compact kernels: every sample lies within h of a training point
        D = ((s[:, None] - X[None]) ** 2).sum(-1)
        assert np.sqrt(D.min(1)).max() <= 0.3 + 1e-12


def test_bad_input_says_what_to_do(data):
    _, _, X, _ = data
    with pytest.raises(ValueError, match="positive"):
        KernelDensity(bandwidth=0).fit(X)
    with pytest.raises(ValueError, match="positive"):
        KernelDensity(bandwidth=-1.0).fit(X)
    with pytest.raises(ValueError, match="bandwidth must be a positive number or one of"):
        KernelDensity(bandwidth="auto").fit(X)
    with pytest.raises(ValueError, match="kernel must be one of"):
        KernelDensity(kernel="cosine").fit(X)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KernelDensity().fit(bad)
    with pytest.raises(ValueError, match="dimension"):
        KernelDensity().fit(X[None])
    with pytest.raises(ValueError, match=r"not fitted yet; call \.fit"):
        KernelDensity().score_samples(X)
    with pytest.raises(ValueError, match="fitted on 2"):
        KernelDensity().fit(X).score_samples(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        KernelDensity().fit(X).score_samples(bad)
    with pytest.raises(ValueError, match="cv_folds"):
        KernelDensity("cv", cv_folds=10).fit(X[:5])


@pytest.mark.parametrize("kernel", ["gaussian", "tophat", "epanechnikov"])
def test_pruned_path_is_exact(kernel):
    # ≥ 4 kd-tree leaves and ≥ 2 query blocks in 2-D: far leaves are skipped, values must not change
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(size=(2500, 2)) * 0.3 - 2, rng.normal(size=(2500, 2)) * 0.5 + 2])
    Q = np.concatenate([rng.uniform(-4, 4, size=(590, 2)), [[40.0, 40.0]] * 10])
    kde = KernelDensity(bandwidth=0.1, kernel=kernel).fit(X)
    pruned = kde.score_samples(Q)
    dense = kde._log_density(
        torch.as_tensor(Q) - kde._center, kde._Xc, kde._Xc_sq, torch.tensor([0.1], dtype=torch.float64), None
    )[:, 0].numpy()
    np.testing.assert_array_equal(np.isfinite(pruned), np.isfinite(dense))
    ok = np.isfinite(dense)
    np.testing.assert_allclose(pruned[ok], dense[ok], rtol=1e-12, atol=1e-12)
    if kernel == "gaussian":
        np.testing.assert_allclose(pruned, brute_gaussian(X, Q, 0.1), rtol=1e-10)


def test_swaps_with_sklearn_in_grid_search(data):
    from sklearn.model_selection import GridSearchCV, KFold

    folds = KFold(3, shuffle=True, random_state=0)  # the data are stored cluster by cluster

    X1, _, _, _ = data
    search = GridSearchCV(KernelDensity(), {"bandwidth": [0.02, 0.3, 3.0]}, cv=folds).fit(X1[:, None])
    assert search.best_params_ == {"bandwidth": 0.3}
