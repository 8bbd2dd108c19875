"""What each check prints and records, exactly: the ✓ line (with its defaults), silence under
``quiet=True``, the failure sentence, and the record the notebook tests compare between runs.

These pin down what a learner reads, and they kill the mutants that the boundary tests cannot see
(a default label changed, ``quiet`` ignored, the wrong index in a message, a record entry dropped).
"""

import math

import numpy as np
import pytest
import torch

from helpers import check, data


@pytest.fixture(autouse=True)
def fresh_record():
    check.clear_record()
    yield
    check.clear_record()


def _out(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_close_to_prints_records_and_stays_quiet(capsys):
    check.close_to(1.0, 1.0)
    check.close_to([1.0, 2.0], [1.0, 2.0 + 1e-6], "pair")
    check.close_to(3.0, 3.0, "silent", quiet=True)
    assert _out(capsys) == ["✓ value matches (max difference 0)", "✓ pair matches (max difference 1e-06)"]
    assert check.recorded() == [
        ("close_to", "value", 1.0),
        ("close_to", "pair", [1.0, 2.0]),
        ("close_to", "silent", 3.0),
    ]


def test_close_to_failure_names_the_worst_entry():
    # the worst entry relative to its own tolerance is the one named, wherever it sits
    with pytest.raises(
        check.CheckFailed, match=r"^row: got 30\.5, expected 30 \(off by 0\.5, tolerance 0\.1\)\.$"
    ):
        check.close_to([10.05, 30.5, 20.0], [10.0, 30.0, 20.0], "row", rtol=0, atol=0.1)
    with pytest.raises(check.CheckFailed, match=r"^grid: got 7, expected 5 \(off by 2, tolerance 1\)\.$"):
        check.close_to([[0.0, 0.0], [0.0, 7.0]], [[0.0, 0.0], [0.0, 5.0]], "grid", rtol=0, atol=1.0)
    # a scalar expected value broadcasts against an array
    with pytest.raises(check.CheckFailed, match=r"^vec: got 2\.5, expected 2 \(off by 0\.5"):
        check.close_to([2.0, 2.5], 2.0, "vec", rtol=0, atol=0.1)
    with pytest.raises(check.CheckFailed, match=r"^vec: got 3, expected 2 \(off by 1"):
        check.close_to(3.0, [2.0, 2.0], "vec", rtol=0, atol=0.1)
    # equality with the tolerance passes (the bound is inclusive)
    check.close_to(1.5, 1.0, rtol=0.0, atol=0.5, quiet=True)
    check.close_to(3.0, 2.0, rtol=0.5, atol=0.0, quiet=True)
    # a single value against a pair, or a pair against a single value, broadcasts; (2,) vs (3,) does not
    check.close_to([2.0, 2.0], 2.0, quiet=True)
    check.close_to(2.0, [2.0, 2.0], quiet=True)
    with pytest.raises(check.CheckFailed, match=r"shape \(2,\) does not match the expected \(3,\)"):
        check.close_to([2.0, 2.0], [2.0, 2.0, 2.0])


def test_close_to_bad_values_name_the_claim():
    with pytest.raises(ValueError, match=r"^mean: expected numbers, got str\.$"):
        check.close_to("a", 1.0, "mean")
    with pytest.raises(ValueError, match=r"^mean: expected numbers, got dict\.$"):
        check.close_to(1.0, {}, "mean")


def test_normalizes_prints_records_returns(capsys):
    g = data.Gaussian([0, 0], 1.0)
    total = check.normalizes(g.log_prob, n=100)
    assert _out(capsys) == ["✓ density integrates to 1.0000"]
    assert total == pytest.approx(1.0, abs=1e-5)
    assert check.recorded() == [("normalizes", "density", total)]
    check.normalizes(g.log_prob, n=100, what="g", quiet=True)
    assert _out(capsys) == []
    # the default grid: 400 × 400 points over (−6, 6)²
    seen = []

    def spy(x):
        seen.append(x)
        return g.log_prob(x)

    check.normalizes(spy, quiet=True)
    pts = torch.cat(seen)
    assert pts.shape == (400 * 400, 2) and all(len(c) <= 20_000 for c in seen) and len(seen) == 8
    assert float(pts.min()) == pytest.approx(-6 + 6 / 400) and float(pts.max()) == pytest.approx(6 - 6 / 400)
    # lim sets both axes: mass outside y ∈ (−1, 1) is missed even when x is wide
    with pytest.raises(check.CheckFailed, match=r"^density integrates to 0\.4"):
        check.normalizes(g.log_prob, lim=(-1, 1))
    with pytest.raises(
        ValueError, match=r"^log_prob must be a function taking points \(m, 2\) and returning \(m,\)\.$"
    ):
        check.normalizes(None)
    with pytest.raises(check.CheckFailed, match=r"^spiky: log_prob returned NaN on the grid\.$"):
        check.normalizes(lambda x: torch.full((len(x),), math.nan), what="spiky", n=10)


def test_never_decreases_prints_records_and_names_the_step(capsys):
    check.never_decreases([-3.0, -2.0, -1.5])
    check.never_decreases([[1.0, 2.0], [3.0, 4.0]], "nested", quiet=True)
    assert _out(capsys) == ["✓ log-likelihood never decreased over 3 steps (-3 → -1.5)"]
    assert check.recorded() == [
        ("never_decreases", "log-likelihood", [-3.0, -2.0, -1.5]),
        ("never_decreases", "nested", [1.0, 2.0, 3.0, 4.0]),
    ]
    check.never_decreases([5.0, 7.0, 8.0, 9.5], "loss")
    assert _out(capsys) == ["✓ loss never decreased over 4 steps (5 → 9.5)"]
    # the largest drop beyond the tolerance is named, not the first one
    with pytest.raises(check.CheckFailed, match=r"^ELBO decreased from 10 to 4 at step 3\.$"):
        check.never_decreases([5.0, 4.9, 10.0, 4.0, 5.0], "ELBO")
    with pytest.raises(check.CheckFailed, match=r"^ELBO decreased from 5 to 4\.9 at step 2\.$"):
        check.never_decreases([4.0, 5.0, 4.9, 6.0], "ELBO", tol=1e-3)
    with pytest.raises(
        check.CheckFailed, match=r"^log-likelihood: need at least two values to check a trend, got 1\.$"
    ):
        check.never_decreases([1.0])
    with pytest.raises(ValueError, match=r"^loss: expected numbers, got list\.$"):
        check.never_decreases(["a"], "loss")
    # a drop exactly at the limit passes (≤ is allowed)
    check.never_decreases([0.5, 0.5 - 2**-20], tol=2**-20, quiet=True)


def test_greater_prints_records_and_stays_quiet(capsys):
    check.greater(0.9, 0.5)
    check.greater(0.9, 0.5, "AUC", margin=0.1)
    check.greater(2, 1, "q", quiet=True)
    assert _out(capsys) == ["✓ value: 0.9 > 0.5", "✓ AUC: 0.9 > 0.5 + 0.1"]
    assert check.recorded() == [
        ("greater", "value", [0.9, 0.5]),
        ("greater", "AUC", [0.9, 0.5]),
        ("greater", "q", [2.0, 1.0]),
    ]
    with pytest.raises(check.CheckFailed, match=r"^value: expected 0\.4 to exceed 0\.5\.$"):
        check.greater(0.4, 0.5)
    with pytest.raises(check.CheckFailed, match=r"^gain: expected 0\.55 to exceed 0\.5 by 0\.1\.$"):
        check.greater(0.55, 0.5, "gain", margin=0.1)
    with pytest.raises(ValueError, match=r"^gain: expected numbers, got str\.$"):
        check.greater(1.0, "b", "gain")
    with pytest.raises(ValueError, match=r"^gain: expected numbers, got str\.$"):
        check.greater("a", 1.0, "gain")


def test_has_shape_and_finite_print_and_record(capsys):
    check.has_shape(np.zeros((2, 3)), (2, -1))
    check.has_shape(torch.zeros(4), (4,), "v", quiet=True)
    check.finite([1.0, 2.0])
    check.finite(torch.ones(2), "w", quiet=True)
    assert _out(capsys) == ["✓ array has shape (2, 3)", "✓ values are all finite"]
    assert check.recorded() == [
        ("has_shape", "array", [2.0, 3.0]),
        ("has_shape", "v", [4.0]),
        ("finite", "values", [1.0, 2.0]),
        ("finite", "w", [1.0, 1.0]),
    ]
    with pytest.raises(check.CheckFailed, match=r"^array has shape \(2, 3\), expected \(2, 2\)\.$"):
        check.has_shape(np.zeros((2, 3)), (2, 2))
    with pytest.raises(check.CheckFailed, match=r"^grads: 2 entries are NaN or infinite\.$"):
        check.finite([math.nan, 1.0, math.inf], "grads")
    with pytest.raises(ValueError, match=r"^grads must hold numbers"):
        check.finite(np.array(["x"]), "grads")


def _solution_square(x):
    return x**2


def test_exercise_prints_records_and_uses_its_tolerances(capsys):
    def sq(x):
        return x * x

    assert check.exercise(sq, solution=_solution_square, cases=[2.0, 3.0]) == "passed"
    assert check.exercise(sq, solution=_solution_square, test=lambda f: None) == "passed"
    assert check.exercise(sq, solution=_solution_square, cases=[1.0], what="square", quiet=True) == "passed"
    assert _out(capsys) == ["✓ sq: your answer is right on 2 case(s)", "✓ sq: your answer is right"]
    assert check.recorded() == [
        ("close_to", "sq, case 1", 4.0),
        ("close_to", "sq, case 2", 9.0),
        ("exercise", "sq", "passed"),
        ("exercise", "sq", "passed"),
        ("close_to", "square, case 1", 1.0),
        ("exercise", "square", "passed"),
    ]
    # the learner's answer is compared quietly, with the exercise's own rtol and atol
    off = 1e-3

    def close(x):
        return x * x + off

    with pytest.raises(check.CheckFailed, match=r"^close, case 1: got 1\.001, expected 1 \(off by 0\.001"):
        check.exercise(close, solution=_solution_square, cases=[1.0])
    assert check.exercise(close, solution=_solution_square, cases=[1.0], rtol=2e-3, atol=0.0, quiet=True)
    assert check.exercise(close, solution=_solution_square, cases=[1.0], rtol=0.0, atol=2e-3, quiet=True)
    assert _out(capsys) == []
    # an unnamed callable is called "your function"
    unnamed = type("F", (), {"__call__": lambda self, x: x * x})()
    check.exercise(unnamed, solution=_solution_square, cases=[2.0])
    assert _out(capsys) == ["✓ your function: your answer is right on 1 case(s)"]


def test_exercise_not_attempted_prints_and_records(capsys):
    def stub(x):
        raise NotImplementedError

    assert check.exercise(stub, solution=_solution_square, cases=[2.0]) == check.NOT_ATTEMPTED
    assert check.NOT_ATTEMPTED == "not attempted"
    assert _out(capsys) == [
        "… stub: not attempted yet (it still raises NotImplementedError or returns None). Checking the "
        "reference solution instead — write your own and run this cell again.",
        "✓ the reference solution passes the checks of stub",
    ]
    assert check.recorded() == [("exercise", "stub", "not attempted")]
    check.exercise(stub, solution=_solution_square, cases=[2.0], quiet=True)
    assert _out(capsys)[1:] == []  # the "not attempted" notice is always shown; the ✓ line is not
    # a stub that returns ... counts as not attempted; one wrong case among stubs is an answer
    assert (
        check.exercise(lambda x: ..., solution=_solution_square, cases=[1.0], quiet=True) == "not attempted"
    )

    def half_done(x):
        return None if x == 1.0 else 0.0

    with pytest.raises(
        check.CheckFailed,
        match=r"^half_done, case 1: your function returned None; it should return a value\.$",
    ):
        check.exercise(half_done, solution=_solution_square, cases=[1.0, 2.0])
    with pytest.raises(
        check.CheckFailed, match=r"^the reference solution for stub returned nothing for 2\.0\.$"
    ):
        check.exercise(stub, solution=lambda x: None, cases=[2.0])


def test_exercise_bad_use_messages():
    with pytest.raises(
        ValueError, match=r"^learner must be the function you wrote for the exercise, got int\.$"
    ):
        check.exercise(3, solution=_solution_square, cases=[1.0])
    with pytest.raises(ValueError, match=r"^solution must be the reference function, got str\.$"):
        check.exercise(abs, solution="x", cases=[1.0])
    with pytest.raises(
        ValueError, match=r"^test must be a function test\(fn\) that raises when fn is wrong\.$"
    ):
        check.exercise(abs, solution=_solution_square, test=1)
    with pytest.raises(
        ValueError, match=r"^give the exercise some cases to compare, a test function, or both\.$"
    ):
        check.exercise(abs, solution=_solution_square)
    with pytest.raises(
        ValueError,
        match=r"^learner and solution are the same function: pass the learner's function, not the reference\.$",
    ):
        check.exercise(_solution_square, solution=_solution_square, cases=[1.0])
    with pytest.raises(
        check.CheckFailed,
        match=r"^text, case 1: your answer could not be compared with the reference \(text, case 1: expected numbers, got str\.\)\.$",
    ):
        check.exercise(lambda x: "a", solution=_solution_square, cases=[1.0], what="text")


def test_record_is_bounded_and_summarises_large_arrays():
    from helpers.check import _RECORD_MAX

    for i in range(_RECORD_MAX + 5):
        check.greater(i + 1, i, "step", quiet=True)
    rec = check.recorded()
    assert len(rec) == _RECORD_MAX and rec[0] == ("greater", "step", [6.0, 5.0])  # the newest are kept
    assert rec is not check.recorded()  # a copy
    check.clear_record()
    check.close_to(torch.arange(33.0), torch.arange(33.0), "ramp", quiet=True)
    check.close_to(np.arange(32.0), np.arange(32.0), "short", quiet=True)
    check.has_shape(np.zeros((1, 2)), [1, 2], "list shape", quiet=True)
    assert check.recorded() == [
        ("close_to", "ramp", {"shape": [33], "sum": 528.0, "min": 0.0, "max": 32.0}),
        ("close_to", "short", [float(v) for v in range(32)]),
        ("has_shape", "list shape", [1.0, 2.0]),
    ]
    from helpers.check import _plain

    assert _plain("x") == "x" and _plain(None) is None and _plain(True) is True
    assert _plain(("a", 1.0)) == ["a", 1.0] and _plain(np.float32(2.5)) == 2.5
    assert _plain(np.array(["u"])) == repr(np.array(["u"]))


def test_exercise_half_written_stub_counts_as_not_attempted():
    def partial(x):
        if x > 2:
            raise NotImplementedError  # the learner has not finished: not a wrong answer, not a pass
        return x * x

    assert check.exercise(partial, solution=_solution_square, cases=[1.0, 3.0], quiet=True) == "not attempted"


def test_never_decreases_names_the_drop_furthest_beyond_its_own_limit():
    # the limit scales with |value|: a drop of 2 at 3 is far worse than a drop of 2 at a million
    with pytest.raises(check.CheckFailed, match=r"^log-likelihood decreased from 3 to 1 at step 1\.$"):
        check.never_decreases([3.0, 1.0, 1e6, 1e6 - 2])


def test_has_shape_refuses_what_is_not_a_shape():
    with pytest.raises(
        ValueError, match=r"^weights: expected an array or tensor, got float \(it has no shape\)\.$"
    ):
        check.has_shape(3.0, (1,), "weights")
    for bad in [("a",), (True,), (1.0,), "2", 2]:
        with pytest.raises(ValueError, match=r"^shape must be a tuple of whole numbers \(-1 for any size\)"):
            check.has_shape(np.zeros(1), bad)
    check.has_shape(np.zeros((1, 2)), torch.Size([1, 2]), quiet=True)
    check.has_shape(np.zeros((1, 2)), (np.int64(1), 2), quiet=True)
