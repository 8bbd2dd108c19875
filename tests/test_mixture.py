"""GaussianMixture: EM matches scikit-learn from the same start, never decreases the likelihood,
normalises, samples, and explains bad input."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGMM

from helpers.check import never_decreases, normalizes
from helpers.estimators import GaussianMixture


@pytest.fixture
def X():
    rng = np.random.default_rng(1)
    centers = np.array([[0.0, 0.0], [4.0, 1.0], [-1.0, 4.0]])
    scales = np.array([[[1.0, 0.6], [0.0, 0.5]], [[0.7, 0.0], [0.3, 0.4]], [[0.5, 0.0], [0.0, 1.2]]])
    return np.concatenate([rng.normal(size=(200, 2)) @ s + c for c, s in zip(centers, scales)])


def fit_both(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on purpose: fixed iteration counts
        return GaussianMixture(**kw).fit(X), SkGMM(**kw).fit(X)


def assert_same_fit(ours, theirs, X, tol=1e-8):
    np.testing.assert_allclose(ours.weights_, theirs.weights_, atol=tol)
    np.testing.assert_allclose(ours.means_, theirs.means_, atol=tol)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, atol=tol)
    np.testing.assert_allclose(ours.precisions_, theirs.precisions_, rtol=1e-6, atol=tol)
    if hasattr(theirs, "lower_bounds_"):  # scikit-learn ≥ 1.7 keeps the whole history
        np.testing.assert_allclose(ours.log_likelihood_history_, theirs.lower_bounds_, atol=tol)
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, atol=tol)
    assert ours.n_iter_ == theirs.n_iter_ and ours.converged_ == theirs.converged_
    assert abs(ours.score(X) - theirs.score(X)) < 1e-4  # the bar, nats per sample
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), atol=tol)


@pytest.mark.parametrize("cov", ["full", "diag"])
@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_same_random_state_same_fit_as_sklearn(X, cov, init):
    kw = dict(n_components=3, covariance_type=cov, init_params=init, random_state=0, max_iter=15, tol=0)
    assert_same_fit(*fit_both(X, **kw), X)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_same_given_start_same_fit_as_sklearn(X, cov):
    rng = np.random.default_rng(0)
    means = X[rng.choice(len(X), 4, replace=False)]
    weights = np.full(4, 0.25)
    precisions = np.stack([np.eye(2)] * 4) if cov == "full" else np.ones((4, 2))
    kw = dict(n_components=4, covariance_type=cov, weights_init=weights, means_init=means)
    assert_same_fit(*fit_both(X, precisions_init=precisions, **kw), X)  # default tol: same stop


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_many_blocks_far_apart_same_fit_as_sklearn(cov):
    """Enough rows for several blocks (diag: E-step fused with the M-step's sums, block by block) and
    clusters so far apart that most responsibilities underflow (the clamp before exp)."""
    rng = np.random.default_rng(2)
    centers = rng.normal(scale=20.0, size=(8, 16))
    Xb = centers[rng.integers(8, size=20_000)] + rng.normal(size=(20_000, 16))
    kw = dict(n_components=8, covariance_type=cov, init_params="random", random_state=0, max_iter=10, tol=0)
    assert_same_fit(*fit_both(Xb, **kw), Xb, tol=1e-7)


def test_em_never_decreases_log_likelihood(X):
    gmm = GaussianMixture(5, init_params="random", random_state=3, max_iter=60, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmm.fit(X)
    never_decreases(gmm.log_likelihood_history_, "EM log-likelihood", tol=1e-12, quiet=True)
    assert len(gmm.log_likelihood_history_) == gmm.n_iter_
    assert gmm.lower_bound_ == gmm.log_likelihood_history_[-1]


def test_predict_and_proba(X):
    gmm = GaussianMixture(3, random_state=0).fit(X)
    proba = gmm.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(gmm.predict(X), proba.argmax(1))
    sk = SkGMM(3, random_state=0).fit(X)
    np.testing.assert_allclose(proba, sk.predict_proba(X), atol=1e-8)


def test_bic_aic_match_sklearn(X):
    for cov in ("full", "diag"):
        ours, theirs = fit_both(X, n_components=3, covariance_type=cov, random_state=0)
        assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-9)
        assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-9)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_2d_density_integrates_to_one(X, cov):
    gmm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    normalizes(gmm.log_prob, lim=(-6, 10), n=300, tol=1e-3, quiet=True)


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_sample(X, cov):
    gmm = GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
    s, labels = gmm.sample(20_000, random_state=1)
    assert s.shape == (20_000, 2) and labels.shape == (20_000,)
    np.testing.assert_array_equal(s, gmm.sample(20_000, random_state=1)[0])
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 20_000, gmm.weights_, atol=0.02)
    for k in range(3):
        np.testing.assert_allclose(s[labels == k].mean(0), gmm.means_[k], atol=0.1)
    np.testing.assert_allclose(
        np.cov(s[labels == 0].T),
        np.atleast_2d(gmm.covariances_[0]) if cov == "full" else np.diag(gmm.covariances_[0]),
        atol=0.1,
    )


def test_api_conventions(X):
    gmm = GaussianMixture(2)
    assert not hasattr(gmm, "means_")
    assert gmm.fit(X) is gmm
    lp = gmm.log_prob(torch.as_tensor(X))
    assert isinstance(lp, torch.Tensor) and lp.shape == (len(X),)
    assert gmm.score(X) == pytest.approx(lp.mean().item())
    assert gmm.get_params()["n_components"] == 2


def test_bad_input_says_what_to_do(X):
    with pytest.raises(ValueError, match="larger than the number of samples"):
        GaussianMixture(10).fit(X[:5])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(bad)
    with pytest.raises(ValueError, match="dimension"):
        GaussianMixture(2).fit(X[None])
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GaussianMixture(2, covariance_type="tied").fit(X)
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(0).fit(X)
    with pytest.raises(ValueError, match=r"means_init must have shape \(2, 2\)"):
        GaussianMixture(2, means_init=np.zeros((3, 2))).fit(X)
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture(2, weights_init=[0.5, 0.6]).fit(X)
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture(2, precisions_init=-np.stack([np.eye(2)] * 2)).fit(X)
    with pytest.raises(ValueError, match=r"not fitted yet; call \.fit"):
        GaussianMixture(2).predict(X)
    gmm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="fitted on 2"):
        gmm.score_samples(np.zeros((4, 3)))


def test_swaps_with_sklearn_in_grid_search(X):
    from sklearn.model_selection import GridSearchCV, KFold

    folds = KFold(3, shuffle=True, random_state=0)  # the data are stored cluster by cluster

    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 3]}, cv=folds).fit(X)
    assert search.best_params_ == {"n_components": 3}
