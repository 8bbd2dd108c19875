"""Each check of ``helpers.check`` at its boundary, and ``binarize`` between plausible thresholds.

A lesson's proof is only as strong as its check: a value just inside the tolerance (or margin) must
pass and one just outside must raise, and a strict check must raise at equality. Each test here
kills a one-line bug that the behavioural tests let through: a 10× looser ``close_to`` or
``normalizes``, ``greater`` ignoring its margin or using ``>=``, a 1000× looser ``never_decreases``,
``binarize`` at 0.3 instead of 0.5 or with ``>=``.
"""

import math

import numpy as np
import pytest
import torch

from helpers import check, data

INSIDE, OUTSIDE = 0.99, 1.01


@pytest.mark.parametrize("expected", [1.0, -250.0, 3e4])
@pytest.mark.parametrize("rtol, atol", [(1e-5, 1e-8), (1e-3, 0.0), (0.0, 1e-4)])
def test_close_to_at_its_tolerance(expected, rtol, atol):
    tol = atol + rtol * abs(expected)
    check.close_to(expected + INSIDE * tol, expected, rtol=rtol, atol=atol, quiet=True)
    check.close_to(expected - INSIDE * tol, expected, rtol=rtol, atol=atol, quiet=True)
    for sign in (1, -1):
        with pytest.raises(check.CheckFailed, match="off by"):
            check.close_to(expected + sign * OUTSIDE * tol, expected, rtol=rtol, atol=atol, quiet=True)


def test_close_to_defaults_and_arrays():
    tol = 1e-8 + 1e-5 * 2.0  # the defaults
    check.close_to([1.0, 2.0 + INSIDE * tol], [1.0, 2.0], quiet=True)
    with pytest.raises(check.CheckFailed, match=r"got 2\.00002, expected 2 \(off by 2\.02e-05"):
        check.close_to([1.0, 2.0 + OUTSIDE * tol], [1.0, 2.0], quiet=True)
    # the tolerance is relative to the EXPECTED value, not the actual one
    with pytest.raises(check.CheckFailed):
        check.close_to(1e-3, 0.0, quiet=True)
    check.close_to(torch.tensor([0.5, 0.5]), 0.5, quiet=True)  # broadcasting a scalar
    with pytest.raises(check.CheckFailed, match=r"shape \(3,\) does not match the expected \(2,\)"):
        check.close_to([1.0, 2.0, 3.0], [1.0, 2.0], quiet=True)
    with pytest.raises(check.CheckFailed, match="NaN"):
        check.close_to([1.0, math.nan], [1.0, 1.0], quiet=True)
    with pytest.raises(check.CheckFailed):
        check.close_to(math.inf, 1.0, quiet=True)


@pytest.mark.parametrize("margin", [0.0, 0.05, 2.0])
def test_greater_is_strict_and_keeps_its_margin(margin):
    b = 0.7
    eps = 1e-9
    check.greater(b + margin + eps, b, "AUC", margin=margin, quiet=True)
    with pytest.raises(check.CheckFailed, match="AUC: expected"):
        check.greater(b + margin, b, "AUC", margin=margin, quiet=True)  # equality is not "greater"
    with pytest.raises(check.CheckFailed, match="AUC: expected"):
        check.greater(b + margin - eps, b, "AUC", margin=margin, quiet=True)
    if margin:
        with pytest.raises(check.CheckFailed, match=f"by {margin}"):
            check.greater(b + margin / 2, b, "AUC", margin=margin, quiet=True)


def test_greater_message_and_numbers():
    with pytest.raises(check.CheckFailed, match=r"^gain: expected 1 to exceed 2\.$"):
        check.greater(1, 2, "gain")
    check.greater(torch.tensor(3.0), np.float64(2.0), quiet=True)
    with pytest.raises(check.CheckFailed):
        check.greater(math.nan, 0.0, quiet=True)


@pytest.fixture(scope="module")
def gaussian_total():
    g = data.Gaussian([0, 0], 1.0)
    return g, check.normalizes(g.log_prob, quiet=True)


@pytest.mark.parametrize("tol", [1e-2, 1e-3])
def test_normalizes_at_its_tolerance(gaussian_total, tol):
    g, base = gaussian_total
    assert abs(base - 1) < 1e-6
    for target, ok in [(1 + INSIDE * tol, True), (1 - INSIDE * tol, True), (1 + OUTSIDE * tol, False), (1 - OUTSIDE * tol, False)]:  # fmt: skip
        shift = math.log(target / base)

        def lp(x, shift=shift):
            return g.log_prob(x) + shift

        if ok:
            assert check.normalizes(lp, tol=tol, quiet=True) == pytest.approx(target)
        else:
            with pytest.raises(check.CheckFailed, match="integrates to"):
                check.normalizes(lp, tol=tol, quiet=True)


def test_normalizes_grid_and_nan(gaussian_total):
    g, _ = gaussian_total
    # mass outside a too-small grid is missed: the check must say so
    with pytest.raises(check.CheckFailed, match="integrates to 0"):
        check.normalizes(g.log_prob, lim=(-1, 1), quiet=True)
    with pytest.raises(check.CheckFailed, match="NaN"):
        check.normalizes(lambda x: torch.full((len(x),), math.nan), quiet=True)


@pytest.mark.parametrize("level", [-3.0, 0.5, -2000.0])
@pytest.mark.parametrize("tol", [1e-6, 1e-3])
def test_never_decreases_at_its_tolerance(level, tol):
    limit = tol * max(1.0, abs(level))
    check.never_decreases([level - 1, level, level - INSIDE * limit, level + 1], tol=tol, quiet=True)
    with pytest.raises(check.CheckFailed, match="decreased .* at step 2"):
        check.never_decreases([level - 1, level, level - OUTSIDE * limit, level + 1], tol=tol, quiet=True)


def test_never_decreases_default_tolerance_and_flat_runs():
    check.never_decreases([-10.0, -10.0, -10.0], quiet=True)  # flat is fine
    check.never_decreases([-10.0, -10.0 - 0.99e-5], quiet=True)  # 1e-6 · |−10|
    with pytest.raises(check.CheckFailed):
        check.never_decreases([-10.0, -10.0 - 1.01e-5], quiet=True)
    with pytest.raises(check.CheckFailed, match="at step 3"):  # the worst drop is named
        check.never_decreases([0.0, 1.0, 0.99, 0.0, 5.0], quiet=True)
    for nan_run, first in (([float("nan")] * 3, 0), ([-3.0, -2.0, float("nan"), -1.0], 2)):  # NaN compares False
        with pytest.raises(check.CheckFailed, match=f"loss: value {first} is NaN"):
            check.never_decreases(nan_run, "loss", quiet=True)


def test_has_shape_and_finite_boundaries():
    check.has_shape(np.zeros((2, 3)), (2, -1), quiet=True)
    for bad in [(3, 2), (2,), (2, 3, 1), (-1, 4)]:
        with pytest.raises(check.CheckFailed, match="expected"):
            check.has_shape(np.zeros((2, 3)), bad, quiet=True)
    check.finite([1e308, -1e308, 0.0], quiet=True)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(check.CheckFailed, match="1 entries are NaN or infinite"):
            check.finite([0.0, bad], quiet=True)


def test_binarize_between_thresholds():
    x = torch.tensor([0.0, 0.29, 0.31, 0.4, 0.49, 0.5, 0.51, 0.7, 1.0])
    assert data.binarize(x).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1]  # x > 0.5, strict
    assert data.binarize(x, threshold=0.3).tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert data.binarize(x).dtype == x.dtype
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="threshold must be strictly between 0 and 1"):
            data.binarize(x, threshold=bad)
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        data.binarize(torch.tensor([-0.01, 0.5]))
