"""``helpers.metrics`` against independent references: NumPy brute force for the MMD and its
median heuristic, POT called directly for the Wasserstein distances, closed forms for bits/dim."""

import math

import numpy as np
import ot
import pytest
import torch

from helpers import metrics
from helpers.metrics import _median_bandwidth


def _mmd_numpy(x, y, h):
    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * h * h))

    n, m = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * kxy.mean()
    )


def _median_numpy(x, y):
    z = np.concatenate([x, y])
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    pairs = np.sort(d[np.triu_indices(len(z), 1)])
    return float(pairs[(len(pairs) - 1) // 2])  # torch.median: the lower of the two middle values


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(30, 3)), rng.normal(size=(25, 3)) * 1.3 + 0.4


@pytest.mark.parametrize("h", [0.3, 1.0, 2.5])
def test_mmd_matches_brute_force(xy, h):
    x, y = xy
    assert metrics.mmd(x, y, bandwidth=h) == pytest.approx(_mmd_numpy(x, y, h), rel=1e-10, abs=1e-14)


def test_mmd_median_heuristic_matches_numpy(xy):
    x, y = xy
    for scale in (0.05, 1.0, 20.0):  # medians below and above 1
        xs, ys = x * scale, y * scale
        h = _median_numpy(xs, ys)
        assert _median_bandwidth(torch.as_tensor(xs), torch.as_tensor(ys)) == pytest.approx(h, rel=1e-12)
        assert metrics.mmd(xs, ys) == pytest.approx(_mmd_numpy(xs, ys, h), rel=1e-10)
    # all points equal: the median distance is 0, and 1 is used instead
    z = torch.zeros(4, 2, dtype=torch.float64)
    assert _median_bandwidth(z, z) == 1.0
    assert metrics.mmd(z, z) == pytest.approx(0.0, abs=1e-12)
    # at most max_points of each set enter the median
    a, b = torch.zeros(5, 1, dtype=torch.float64), torch.ones(5, 1, dtype=torch.float64)
    assert (
        _median_bandwidth(a, b, max_points=1) == 1.0
        and _median_bandwidth(torch.cat([a, 3 * b]), b, max_points=5) == 1.0
    )


def test_mmd_two_samples_is_the_minimum(xy):
    x, y = xy
    assert math.isfinite(metrics.mmd(x[:2], y[:2], bandwidth=1.0))


def test_sliced_wasserstein_is_pots(xy):
    x, y = xy
    assert metrics.sliced_wasserstein(x, y) == pytest.approx(
        ot.sliced_wasserstein_distance(x, y, n_projections=200, seed=0), rel=1e-12
    )
    assert metrics.sliced_wasserstein(x, y, n_projections=17, seed=3) == pytest.approx(
        ot.sliced_wasserstein_distance(x, y, n_projections=17, seed=3), rel=1e-12
    )
    assert metrics.sliced_wasserstein(x, y, seed=5) == metrics.sliced_wasserstein(x, y, seed=5)


def test_emd_closed_forms_and_limit():
    # 1-D, equal sizes: W1 = mean |x_(i) − y_(i)| of the sorted samples
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 1)), rng.normal(size=(40, 1)) + 0.7
    assert metrics.emd(x, y) == pytest.approx(np.abs(np.sort(x[:, 0]) - np.sort(y[:, 0])).mean(), rel=1e-10)
    # unequal sizes with uniform weights: half of the mass of {0} moves to 2
    assert metrics.emd([[0.0]], [[0.0], [2.0]]) == pytest.approx(1.0)
    assert metrics.emd([[0.0], [0.0], [0.0]], [[3.0]]) == pytest.approx(3.0)
    # Euclidean cost, not squared: a (3, 4) shift costs 5
    assert metrics.emd([[0.0, 0.0]], [[3.0, 4.0]]) == pytest.approx(5.0)
    # max_points is inclusive
    assert metrics.emd(np.zeros((10, 1)), np.zeros((10, 1)), max_points=10) == 0.0
    with pytest.raises(ValueError, match=r"exact 11×3 transport problem; use at most 10 points"):
        metrics.emd(np.zeros((11, 1)), np.zeros((3, 1)), max_points=10)
    with pytest.raises(ValueError, match=r"exact 3×11"):
        metrics.emd(np.zeros((3, 1)), np.zeros((11, 1)), max_points=10)


def test_bits_per_dim_closed_forms():
    # discrete: bpd = −log p / (D log 2)
    assert metrics.bits_per_dim(-100.0, 10) == pytest.approx(100 / (10 * math.log(2)))
    # continuous with bins: + log2(n_bins) per dimension
    assert metrics.bits_per_dim(-100.0, 10, n_bins=4) == pytest.approx(100 / (10 * math.log(2)) + 2)
    assert metrics.bits_per_dim(-100.0, 10, n_bins=2) == pytest.approx(100 / (10 * math.log(2)) + 1)
    # per-sample values: their mean is used
    lp = torch.tensor([-90.0, -110.0])
    assert metrics.bits_per_dim(lp, 10) == pytest.approx(100 / (10 * math.log(2)))
    assert metrics.bits_per_dim(np.float64(-100.0), 10) == pytest.approx(100 / (10 * math.log(2)))
    with pytest.raises(ValueError, match=r"^log_prob must have 1 dimension"):
        metrics.bits_per_dim(torch.zeros(2, 2), 10)


def test_mean_log_likelihood_batches_and_values():
    calls = []

    def lp(x):
        calls.append(len(x))
        return -x.sum(1)

    x = torch.arange(25.0).reshape(-1, 1)
    assert metrics.mean_log_likelihood(lp, x, batch=10) == pytest.approx(-12.0)
    assert calls == [10, 10, 5]
    calls.clear()
    metrics.mean_log_likelihood(lp, x)
    assert calls == [25]  # the default batch (10,000) holds them all
    assert metrics.mean_log_likelihood(torch.tensor([-1.0, -3.0])) == -2.0
    assert metrics.mean_log_likelihood(torch.tensor([-math.inf, 0.0])) == -math.inf  # allowed: a real zero
    with pytest.raises(ValueError, match=r"^log_prob returned NaN; check the model's parameters\.$"):
        metrics.mean_log_likelihood(lambda x: torch.full((len(x),), math.nan), x)


def test_metrics_need_enough_rows():
    with pytest.raises(ValueError, match=r"^pass the data x when log_prob is a function\.$"):
        metrics.mean_log_likelihood(lambda x: x)
    with pytest.raises(ValueError, match=r"^x needs at least 1 sample"):
        metrics.mean_log_likelihood(lambda x: -x.sum(1), torch.zeros(0, 2))
    # the unbiased MMD divides by m(m − 1): one sample of y is refused, not a division by zero
    with pytest.raises(ValueError, match=r"^y needs at least 2 sample"):
        metrics.mmd(np.zeros((5, 2)), np.zeros((1, 2)), bandwidth=1.0)


def test_median_heuristic_uses_the_first_2000_points_of_each_set():
    # a NaN as the 2001st point would turn the median into NaN (and the fallback 1.0) if it were used
    x = torch.cat([torch.zeros(2000, 1), torch.tensor([[math.nan]])]).double()
    y = 3 * torch.ones(2000, 1, dtype=torch.float64)
    assert _median_bandwidth(x, y) == 3.0  # half the pairs are 3 apart, the lower median is 3


def test_digit_score_prints_and_converts():
    s = metrics.DigitScore(fd=12.345, fd_floor=3.21, confidence=0.9876, classes=9, n=500, binarized=True)
    assert str(s) == "FD 12.35 (real-vs-real floor 3.21), confidence 0.988, 9/10 classes, n = 500 (binarised)"
    s.binarized = False
    assert str(s).endswith("n = 500")
    assert s.as_dict() == {
        "fd": 12.345, "fd_floor": 3.21, "confidence": 0.9876, "classes": 9, "n": 500, "binarized": False,
    }  # fmt: skip
    assert s.as_dict() is not s.__dict__
