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


# --------------------------------------------------------------------------------------------
# check.exercise: the learner's function is tested, never the solution in its place


def _solution_square(x):
    return x * x


def test_exercise_passes_a_right_answer_and_catches_a_wrong_one(capsys):
    def right(x):
        return x**2

    def wrong(x):
        return 2 * x  # right at x = 2 only

    assert check.exercise(right, solution=_solution_square, cases=[2.0, 3.0, (-1.5,)]) == "passed"
    assert "your answer is right" in capsys.readouterr().out
    with pytest.raises(check.CheckFailed, match="wrong, case 2: got 6, expected 9"):
        check.exercise(wrong, solution=_solution_square, cases=[2.0, 3.0])


def _solution_stats(x):
    x = np.asarray(x, dtype=float)
    return x.mean(), {"var": x.var(), "range": np.array([x.min(), x.max()])}


def test_exercise_compares_tuples_and_dicts_part_by_part():
    data = ([1.0, 2.0, 4.0],)

    def right(x):
        x = np.asarray(x)
        return [x.mean(), {"range": np.array([x.min(), x.max()]), "var": x.var()}]  # a list is fine too

    def wrong_var(x):
        x = np.asarray(x)
        return x.mean(), {"var": x.var(ddof=1), "range": np.array([x.min(), x.max()])}

    assert check.exercise(right, solution=_solution_stats, cases=[data], quiet=True) == "passed"
    with pytest.raises(check.CheckFailed, match=r"wrong_var, case 1, value 2, \['var'\]"):
        check.exercise(wrong_var, solution=_solution_stats, cases=[data], quiet=True)
    with pytest.raises(check.CheckFailed, match=r"one, case 1: expected 2 values \(a tuple\), got float"):
        check.exercise(lambda x: float(np.mean(x)), solution=_solution_stats, cases=[data], what="one", quiet=True)
    with pytest.raises(check.CheckFailed, match=r"three, case 1: expected 2 values \(a tuple\), got 3 values"):
        check.exercise(lambda x: (1, 2, 3), solution=_solution_stats, cases=[data], what="three", quiet=True)
    with pytest.raises(check.CheckFailed, match=r"value 2: expected a dict with keys \['range', 'var'\], got \['var'\]"):
        check.exercise(
            lambda x: (np.mean(x), {"var": np.var(x)}), solution=_solution_stats, cases=[data], quiet=True
        )
    with pytest.raises(check.CheckFailed, match=r"value 2: expected a dict with keys \['range', 'var'\], got list"):
        check.exercise(lambda x: (np.mean(x), [1.0]), solution=_solution_stats, cases=[data], quiet=True)


def test_exercise_not_attempted_checks_the_reference(capsys):
    def stub(x):
        raise NotImplementedError

    def stub_none(x):
        pass

    tested = []

    def test(fn):
        tested.append(fn)
        check.close_to(fn(4.0), 16.0, "square of 4", quiet=True)

    for s in (stub, stub_none):
        assert check.exercise(s, solution=_solution_square, cases=[1.0], test=test) == check.NOT_ATTEMPTED
    assert tested == [_solution_square, _solution_square]
    assert "not attempted yet" in capsys.readouterr().out


def test_exercise_property_test_runs_on_the_learner():
    def test(fn):
        check.greater(fn(3.0), 5.0, "square of 3", quiet=True)

    with pytest.raises(check.CheckFailed, match="half: square of 3"):
        check.exercise(lambda x: x / 2, solution=_solution_square, test=test, what="half")


def test_exercise_bad_use():
    with pytest.raises(ValueError, match="same function"):
        check.exercise(_solution_square, solution=_solution_square, cases=[1.0])
    with pytest.raises(ValueError, match="some cases"):
        check.exercise(abs, solution=_solution_square)
    with pytest.raises(ValueError, match="learner must be the function"):
        check.exercise(3, solution=_solution_square, cases=[1.0])


def test_metric_messages_name_their_argument_and_minimum_rows():
    with pytest.raises(ValueError, match=r"^log_prob must hold numbers"):
        metrics.bits_per_dim(np.array(["a", "b"]), 784)
    with pytest.raises(ValueError, match=r"^feats_b needs at least 2 sample\(s\), got 1"):
        metrics.frechet_distance(torch.randn(5, 3), torch.randn(1, 3))
    assert metrics.frechet_distance(torch.randn(5, 3), torch.randn(2, 3)) > 0  # two rows are enough
