import math

import numpy as np
import pytest
import torch

from helpers import check, data, metrics


def test_mean_log_likelihood_function_and_values():
    g = data.Gaussian([0, 0], 1.0)
    x = g.sample(1000, seed=0)
    a = metrics.mean_log_likelihood(g.log_prob, x)
    b = metrics.mean_log_likelihood(g.log_prob(x))
    assert math.isclose(a, b, rel_tol=1e-6)
    with pytest.raises(ValueError, match="pass the data"):
        metrics.mean_log_likelihood(g.log_prob)


def test_bits_per_dim():
    # a uniform model over 256 levels per pixel costs exactly 8 bits/dim
    D = 784
    assert math.isclose(metrics.bits_per_dim(0.0, D, n_bins=256), 8.0)
    # a fair Bernoulli model costs 1 bit/dim
    assert math.isclose(metrics.bits_per_dim(torch.full((5,), -D * math.log(2)), D), 1.0, rel_tol=1e-6)
    with pytest.raises(ValueError, match="finite"):
        metrics.bits_per_dim(-math.inf, D)
    with pytest.raises(ValueError, match="n_dims"):
        metrics.bits_per_dim(1.0, 0)


def test_mmd_small_for_same_large_for_different():
    a, b = data.Gaussian([0, 0], 1.0).sample(400, seed=1), data.Gaussian([0, 0], 1.0).sample(400, seed=2)
    c = data.Gaussian([2, 0], 1.0).sample(400, seed=3)
    assert abs(metrics.mmd(a, b)) < 0.01 < metrics.mmd(a, c)
    with pytest.raises(ValueError, match="bandwidth"):
        metrics.mmd(a, b, bandwidth=0)
    with pytest.raises(ValueError, match="2 feature"):
        metrics.mmd(a, torch.zeros(10, 3))


def test_emd_matches_known_shift_and_sliced_is_close():
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor([3.0, 4.0])
    assert math.isclose(metrics.emd(x, x + shift), 5.0, rel_tol=1e-6)  # a translation costs its length
    sw = metrics.sliced_wasserstein(x, x + shift, n_projections=500)
    assert 0 < sw < 5.0
    with pytest.raises(ValueError, match="subsample"):
        metrics.emd(torch.zeros(6000, 1), torch.zeros(10, 1))


def test_close_to_passes_and_fails_with_sentence(capsys):
    check.close_to(1.0 + 1e-9, 1.0, "mean")
    assert "✓ mean" in capsys.readouterr().out
    with pytest.raises(check.CheckFailed, match="mean: got 1.1, expected 1"):
        check.close_to(1.1, 1.0, "mean")
    with pytest.raises(AssertionError):  # CheckFailed is an AssertionError, so nbval fails on it
        check.close_to(np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    with pytest.raises(check.CheckFailed, match="NaN"):
        check.close_to(float("nan"), 1.0)


def test_normalizes_catches_missing_constant():
    g = data.Gaussian([0, 0], 1.0)
    assert abs(check.normalizes(g.log_prob, quiet=True) - 1) < 1e-3
    with pytest.raises(check.CheckFailed, match="integrates to"):
        check.normalizes(lambda x: g.log_prob(x) + 1.0, quiet=True)
    with pytest.raises(ValueError, match="function"):
        check.normalizes(3.0)


def test_never_decreases_greater_shape_finite():
    check.never_decreases([-3.0, -2.0, -2.0, -1.5], quiet=True)
    with pytest.raises(check.CheckFailed, match="decreased from -2 to -2.5 at step 2"):
        check.never_decreases([-3.0, -2.0, -2.5])
    with pytest.raises(check.CheckFailed, match="at least two"):
        check.never_decreases([1.0])
    check.greater(0.9, 0.5, "AUC", quiet=True)
    with pytest.raises(check.CheckFailed, match="AUC: expected 0.4 to exceed 0.5"):
        check.greater(0.4, 0.5, "AUC")
    check.has_shape(torch.zeros(3, 2), (-1, 2), quiet=True)
    with pytest.raises(check.CheckFailed, match="expected"):
        check.has_shape(torch.zeros(3, 2), (3, 3))
    with pytest.raises(check.CheckFailed, match="NaN or infinite"):
        check.finite(torch.tensor([1.0, math.inf]))
