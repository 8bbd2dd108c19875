"""scikit-learn's own estimator checks on the course's estimators, and the weighted KDE.

``parametrize_with_checks`` runs every API check scikit-learn applies to its own estimators (fit
returns self, clone/get_params, n_features_in_, NotFittedError, 1-D / empty / sparse / complex /
object input, sample_weight...). A check we deliberately do not meet is declared in
``EXPECTED_FAILED`` with a one-line reason, as scikit-learn's own estimators declare theirs
(``check_array_api_input`` is skipped by scikit-learn itself without SCIPY_ARRAY_API).
"""

import numpy as np
import pytest
import sklearn
import torch
from scipy.stats import gaussian_kde
from sklearn.neighbors import KernelDensity as SkKernelDensity

from helpers.estimators import GaussianMixture, GaussianMLE, Histogram, KernelDensity

_SKLEARN = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
needs_checks = pytest.mark.skipif(
    _SKLEARN < (1, 6), reason="parametrize_with_checks(expected_failed_checks=...) needs scikit-learn ≥ 1.6"
)

ESTIMATORS = [GaussianMLE(), Histogram(), KernelDensity(), GaussianMixture(random_state=0)]

#: {class name: {check name: reason}} for checks deliberately not met.
EXPECTED_FAILED: dict[str, dict[str, str]] = {
    "Histogram": {
        "check_fit1d": "a 1-D X is one feature, as numpy.histogram reads it (lesson 02 bins 1-D samples)",
    },
}


def expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


if _SKLEARN >= (1, 6):
    from sklearn.utils.estimator_checks import parametrize_with_checks

    @needs_checks
    @parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
    def test_sklearn_estimator_checks(estimator, check):
        check(estimator)


# --------------------------------------------------------------------------------------------
# Weighted kernel density: p̂(x) = Σ w_i K_h(x − x_i) / Σ w_i


def _weighted_reference(X, w, Q, h, kernel):
    """Brute-force float64 weighted KDE with scikit-learn's kernel normalisations."""
    from scipy.special import gammaln

    d = X.shape[1]
    D2 = ((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    log_vd = 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1)
    if kernel == "gaussian":
        K = np.exp(-D2 / (2 * h * h)) / (2 * np.pi * h * h) ** (d / 2)
    elif kernel == "tophat":
        K = (D2 < h * h) / np.exp(log_vd + d * np.log(h))
    else:
        K = np.clip(1 - D2 / (h * h), 0, None) * (d + 2) / (2 * np.exp(log_vd + d * np.log(h)))
    with np.errstate(divide="ignore"):
        return np.log(K @ w / w.sum())


@pytest.fixture(scope="module")
def weighted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)) * [1.0, 0.5]
    w = rng.exponential(size=300)
    w[:20] = 0.0
    Q = rng.normal(size=(120, 2)) * 1.2
    return X, w, Q


@pytest.mark.parametrize("kernel", ["gaussian", "tophat", "epanechnikov"])
def test_weighted_kde_matches_brute_force_and_sklearn(weighted, kernel):
    X, w, Q = weighted
    ours = KernelDensity(bandwidth=0.4, kernel=kernel).fit(X, sample_weight=w).score_samples(Q)
    ref = _weighted_reference(X, w, Q, 0.4, kernel)
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(ref))
    ok = np.isfinite(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-10, atol=1e-10)
    sk = SkKernelDensity(bandwidth=0.4, kernel=kernel).fit(X, sample_weight=w).score_samples(Q)
    np.testing.assert_allclose(ours[ok], sk[ok], rtol=1e-6, atol=1e-6)


def test_weighted_kde_pruned_path_and_far_points_are_exact():
    # ≥ 4 kd-tree leaves and ≥ 2 query blocks in 2-D: the pruned path weights its leaves too
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(2500, 2)) * 0.3 - 2, rng.normal(size=(2500, 2)) * 0.5 + 2])
    w = rng.uniform(0.1, 3.0, size=len(X))
    Q = np.concatenate([rng.uniform(-4, 4, size=(590, 2)), [[40.0, 40.0]] * 10])
    kde = KernelDensity(bandwidth=0.2).fit(X, sample_weight=w)
    ours = kde.score_samples(Q)
    from scipy.special import logsumexp

    D2 = ((Q[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    ref = logsumexp(-D2 / (2 * 0.04) + np.log(w / w.sum()), axis=1) - np.log(2 * np.pi * 0.04)
    np.testing.assert_allclose(ours, ref, rtol=1e-10)


def test_integer_weights_repeat_rows_and_zero_weights_drop_them(weighted):
    X, _, Q = weighted
    counts = np.random.default_rng(2).integers(0, 4, size=len(X))
    # at a fixed bandwidth (the rules of thumb use Kish's effective n, as scipy does, not Σw)
    a = KernelDensity(bandwidth=0.3).fit(X, sample_weight=counts)
    b = KernelDensity(bandwidth=0.3).fit(np.repeat(X, counts, axis=0))
    assert a.n_samples_ == int((counts > 0).sum())
    np.testing.assert_allclose(a.score_samples(Q), b.score_samples(Q), rtol=1e-10)
    uniform = KernelDensity(bandwidth=0.3).fit(X, sample_weight=np.full(len(X), 7.0))
    np.testing.assert_allclose(uniform.score_samples(Q), KernelDensity(bandwidth=0.3).fit(X).score_samples(Q))


def test_weighted_scott_matches_scipy_in_1d():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(-2, 0.5, 200), rng.normal(1, 1, 300)])
    w = rng.uniform(0.2, 2.0, size=len(x))
    q = np.linspace(-5, 5, 51)
    ref = gaussian_kde(x, bw_method="scott", weights=w)
    kde = KernelDensity(bandwidth="scott").fit(x[:, None], sample_weight=w)
    assert kde.bandwidth_ == pytest.approx(np.sqrt(ref.covariance[0, 0]), rel=1e-12)
    np.testing.assert_allclose(kde.score_samples(q[:, None]), ref.logpdf(q), rtol=1e-9)


def test_weighted_sampling_follows_the_weights():
    X = np.array([[0.0], [10.0], [20.0]])
    kde = KernelDensity(bandwidth=0.01).fit(X, sample_weight=[1.0, 3.0, 0.0])
    s = kde.sample(4000, random_state=0)
    near = np.abs(s - X.T).argmin(1)
    assert not (near == 2).any()  # a zero weight is never drawn
    assert abs((near == 1).mean() - 0.75) < 0.03


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.zeros(300), "all weights are zero"),
        (-np.ones(300), "sample_weight must be ≥ 0"),
        (np.ones(299), r"one weight per row of X \(300\)"),
        (np.ones((300, 2)), "sample_weight must have 0 or 1 dimension"),
        (np.r_[np.nan, np.ones(299)], "sample_weight contains 1 NaN"),
    ],
)
def test_bad_weights_say_what_to_do(weighted, weights, match):
    X, _, _ = weighted
    with pytest.raises(ValueError, match=match):
        KernelDensity().fit(X, sample_weight=weights)
    with pytest.raises(ValueError, match='bandwidth="cv" does not take sample_weight'):
        KernelDensity(bandwidth="cv").fit(X, sample_weight=np.arange(1.0, 301.0))


def test_weights_are_not_modified(weighted):
    X, w, _ = weighted
    w_t = torch.as_tensor(w.copy())
    KernelDensity().fit(X, sample_weight=w_t)
    np.testing.assert_array_equal(w_t.numpy(), w)


def test_one_dimensional_input_is_refused_except_by_the_histogram():
    x = np.random.default_rng(4).normal(size=50)
    for est in (GaussianMLE(), KernelDensity(), GaussianMixture()):
        with pytest.raises(ValueError, match=r"X must have 2 dimensions.*Reshape your data"):
            est.fit(x)
        with pytest.raises(ValueError, match=r"Reshape your data"):
            est.fit(x[:, None]).score_samples(x)
    h = Histogram(bins=5).fit(x)
    assert h.n_features_in_ == 1
    np.testing.assert_array_equal(h.score_samples(x), h.score_samples(x[:, None]))
    with pytest.raises(ValueError, match="Reshape your data"):
        Histogram(bins=5).fit(np.c_[x, x]).score_samples(x)
