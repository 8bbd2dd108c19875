"""Learner-facing checks. Each returns quietly with a ✓ line when the claim holds and raises
``CheckFailed`` (an ``AssertionError``) with a sentence saying what went wrong when it does not.

Every check that passes also notes its name (``what``) and the number it checked in a small record,
``recorded()`` (cleared by ``clear_record()``): the tests execute a notebook twice and compare the
two records, so a notebook whose checked numbers change between runs is caught.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ._validate import as_tensor
from .data import Grid, grid_2d

__all__ = [
    "CheckFailed",
    "close_to",
    "normalizes",
    "never_decreases",
    "greater",
    "has_shape",
    "finite",
    "exercise",
    "NOT_ATTEMPTED",
    "recorded",
    "clear_record",
]


class CheckFailed(AssertionError):
    """A claim of the lesson did not hold."""


def _ok(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"✓ {msg}")


#: (check, what, value) of every check that passed, oldest first (bounded: the newest are kept).
_RECORD: list[tuple[str, str, object]] = []
_RECORD_MAX = 10_000


def _plain(value):
    """A JSON-able copy of a checked value: numbers as floats; arrays of more than 32 entries as
    their shape, sum, minimum and maximum."""
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)) and not all(isinstance(v, (int, float, np.number)) for v in value):
        return [_plain(v) for v in value]
    a = value.detach().cpu().double().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if a.dtype.kind not in "biuf":
        return repr(value)
    a = a.astype(float)
    if a.size <= 32:
        return a.item() if a.ndim == 0 else a.tolist()
    return {"shape": list(a.shape), "sum": float(a.sum()), "min": float(a.min()), "max": float(a.max())}


def _note(check: str, what: str, value) -> None:
    _RECORD.append((check, str(what), _plain(value)))
    if len(_RECORD) > _RECORD_MAX:
        del _RECORD[: len(_RECORD) - _RECORD_MAX]


def recorded() -> list[tuple[str, str, object]]:
    """The checks that passed since the kernel started (or ``clear_record()``): a list of
    ``(check, what, value)``, e.g. ``("close_to", "mean", 0.0213)``, in the order they ran."""
    return list(_RECORD)


def clear_record() -> None:
    """Forget the recorded checks."""
    _RECORD.clear()


def _array(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected numbers, got {type(x).__name__}.") from None


def close_to(
    actual, expected, what: str = "value", rtol: float = 1e-5, atol: float = 1e-8, quiet: bool = False
) -> None:
    """``actual`` equals ``expected`` element-wise within ``atol + rtol·|expected|``."""
    a, e = _array(actual, what), _array(expected, what)
    if a.shape != e.shape and a.size != 1 and e.size != 1:
        raise CheckFailed(f"{what}: shape {a.shape} does not match the expected {e.shape}.")
    if np.isnan(a).any():
        raise CheckFailed(f"{what}: contains NaN — something upstream diverged.")
    err = np.abs(a - e)
    tol = atol + rtol * np.abs(e)
    if not (err <= tol).all():
        worst = np.unravel_index(np.argmax(err - tol), np.broadcast(a, e).shape) if err.ndim else ()
        raise CheckFailed(
            f"{what}: got {np.broadcast_to(a, err.shape)[worst]:.6g}, expected "
            f"{np.broadcast_to(e, err.shape)[worst]:.6g} (off by {err.max():.3g}, "
            f"tolerance {np.broadcast_to(tol, err.shape)[worst]:.3g})."
        )
    _note("close_to", what, a)
    _ok(f"{what} matches (max difference {err.max():.2g})", quiet)


def normalizes(
    log_prob: Callable,
    grid: Grid | None = None,
    lim=(-6, 6),
    n: int = 400,
    tol: float = 1e-2,
    what: str = "density",
    quiet: bool = False,
) -> float:
    """The 2-D density exp(log_prob) integrates to 1 over ``grid`` (default n×n over lim²) within ``tol``.

    Returns the integral. Widen ``lim`` if mass lies outside the grid.
    """
    if not callable(log_prob):
        raise ValueError("log_prob must be a function taking points (m, 2) and returning (m,).")
    grid = grid or grid_2d(lim, lim, n)
    with torch.no_grad():
        vals = torch.cat(
            [torch.as_tensor(log_prob(c)).reshape(-1).cpu().double() for c in grid.points.split(20_000)]
        )
    if torch.isnan(vals).any():
        raise CheckFailed(f"{what}: log_prob returned NaN on the grid.")
    total = float(vals.exp().sum() * grid.cell_area)
    if abs(total - 1) > tol:
        raise CheckFailed(
            f"{what} integrates to {total:.4f} over the grid, not 1 (tolerance {tol}). "
            "A density must integrate to one: is a normalising constant missing, or mass outside the grid?"
        )
    _note("normalizes", what, total)
    _ok(f"{what} integrates to {total:.4f}", quiet)
    return total


def never_decreases(
    values: Sequence[float], what: str = "log-likelihood", tol: float = 1e-6, quiet: bool = False
) -> None:
    """Each value is ≥ the previous one minus ``tol`` (relative to the value's size)."""
    v = _array(values, what).reshape(-1)
    if v.size < 2:
        raise CheckFailed(f"{what}: need at least two values to check a trend, got {v.size}.")
    if np.isnan(v).any():  # NaN compares False with everything: it would pass silently
        i = int(np.argmax(np.isnan(v)))
        raise CheckFailed(f"{what}: value {i} is NaN — no trend to check (did the fit diverge?).")
    drops = v[:-1] - v[1:]
    limit = tol * np.maximum(1.0, np.abs(v[:-1]))
    if (drops > limit).any():
        i = int(np.argmax(drops - limit))
        raise CheckFailed(f"{what} decreased from {v[i]:.6g} to {v[i + 1]:.6g} at step {i + 1}.")
    _note("never_decreases", what, v)
    _ok(f"{what} never decreased over {v.size} steps ({v[0]:.4g} → {v[-1]:.4g})", quiet)


def greater(a, b, what: str = "value", margin: float = 0.0, quiet: bool = False) -> None:
    """``a`` > ``b`` + margin."""
    a_, b_ = float(_array(a, what)), float(_array(b, what))
    if not a_ > b_ + margin:
        raise CheckFailed(
            f"{what}: expected {a_:.6g} to exceed {b_:.6g}" + (f" by {margin}" if margin else "") + "."
        )
    _note("greater", what, (a_, b_))
    _ok(f"{what}: {a_:.4g} > {b_:.4g}" + (f" + {margin}" if margin else ""), quiet)


def has_shape(x, shape: tuple, what: str = "array", quiet: bool = False) -> None:
    """``x.shape`` equals ``shape`` (use -1 for any size)."""
    if not hasattr(x, "shape"):
        raise ValueError(f"{what}: expected an array or tensor, got {type(x).__name__} (it has no shape).")
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape
    ):
        raise ValueError(f"shape must be a tuple of whole numbers (-1 for any size), got {shape!r}.")
    actual = tuple(x.shape)
    if len(actual) != len(shape) or any(s != -1 and s != a for s, a in zip(shape, actual)):
        raise CheckFailed(f"{what} has shape {actual}, expected {tuple(shape)}.")
    _note("has_shape", what, actual)
    _ok(f"{what} has shape {actual}", quiet)


def finite(x, what: str = "values", quiet: bool = False) -> None:
    """Every entry of ``x`` is finite (no NaN or ±inf)."""
    t = as_tensor(x, what, allow_nonfinite=True)
    if not bool(torch.isfinite(t).all()):
        raise CheckFailed(f"{what}: {int((~torch.isfinite(t)).sum())} entries are NaN or infinite.")
    _note("finite", what, t)
    _ok(f"{what} are all finite", quiet)


#: What ``exercise`` returns when the learner's function is still the stub.
NOT_ATTEMPTED = "not attempted"


def _call(fn: Callable, case):
    if isinstance(case, dict):
        return fn(**case)
    if isinstance(case, tuple):
        return fn(*case)
    return fn(case)


def _is_stub_answer(value) -> bool:
    return value is None or value is Ellipsis


def _compare_answer(answer, expected, label: str, rtol: float, atol: float) -> None:
    """close_to, part by part for a tuple (several return values) or a dict (named results)."""
    if isinstance(expected, tuple):
        if not isinstance(answer, (tuple, list)) or len(answer) != len(expected):
            got = f"{len(answer)} values" if isinstance(answer, (tuple, list)) else type(answer).__name__
            raise CheckFailed(f"{label}: expected {len(expected)} values (a tuple), got {got}.")
        for j, (a, e) in enumerate(zip(answer, expected)):
            _compare_answer(a, e, f"{label}, value {j + 1}", rtol, atol)
        return
    if isinstance(expected, dict):
        if not isinstance(answer, dict) or set(answer) != set(expected):
            got = sorted(map(str, answer)) if isinstance(answer, dict) else type(answer).__name__
            raise CheckFailed(f"{label}: expected a dict with keys {sorted(map(str, expected))}, got {got}.")
        for key, e in expected.items():
            _compare_answer(answer[key], e, f"{label}, [{key!r}]", rtol, atol)
        return
    try:
        close_to(answer, expected, label, rtol=rtol, atol=atol, quiet=True)
    except ValueError as err:
        raise CheckFailed(f"{label}: your answer could not be compared with the reference ({err}).") from None


def exercise(
    learner: Callable,
    *,
    solution: Callable,
    cases: Sequence = (),
    test: Callable | None = None,
    what: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    quiet: bool = False,
) -> str:
    """Check the learner's answer to an exercise; the reference ``solution`` lives under its own name.

    learner: the learner's function. While it is the stub (it raises ``NotImplementedError`` or
    returns ``None``/``...``) the exercise counts as *not attempted*: this says so plainly and runs the
    same checks on ``solution`` instead, so the notebook still runs top to bottom and the check
    itself is proved able to pass.
    cases: inputs, each an argument tuple, a dict of keyword arguments, or a single argument; the
    learner's output must equal the solution's within ``atol + rtol·|solution|``.
    test: optional ``test(fn)`` that raises (e.g. ``CheckFailed``) when ``fn`` is wrong — for
    properties that do not need the reference.
    Returns ``"passed"`` or ``NOT_ATTEMPTED``; raises ``CheckFailed`` when the learner's answer is wrong.
    """
    if not callable(learner):
        raise ValueError(
            f"learner must be the function you wrote for the exercise, got {type(learner).__name__}."
        )
    if not callable(solution):
        raise ValueError(f"solution must be the reference function, got {type(solution).__name__}.")
    if test is not None and not callable(test):
        raise ValueError("test must be a function test(fn) that raises when fn is wrong.")
    if not cases and test is None:
        raise ValueError("give the exercise some cases to compare, a test function, or both.")
    if learner is solution:
        raise ValueError(
            "learner and solution are the same function: pass the learner's function, not the reference."
        )
    name = what or getattr(learner, "__name__", "your function")
    attempted = True
    answers = []
    try:
        for case in cases:
            answers.append(_call(learner, case))
    except NotImplementedError:
        attempted = False
    if attempted and cases and all(_is_stub_answer(a) for a in answers):
        attempted = False
    if not attempted:
        print(
            f"… {name}: not attempted yet (it still raises NotImplementedError or returns None). "
            "Checking the reference solution instead — write your own and run this cell again."
        )
        for case in cases:
            if _is_stub_answer(_call(solution, case)):
                raise CheckFailed(f"the reference solution for {name} returned nothing for {case!r}.")
        if test is not None:
            test(solution)
        _note("exercise", name, NOT_ATTEMPTED)
        _ok(f"the reference solution passes the checks of {name}", quiet)
        return NOT_ATTEMPTED
    for i, (case, answer) in enumerate(zip(cases, answers)):
        expected = _call(solution, case)
        label = f"{name}, case {i + 1}"
        if _is_stub_answer(answer):
            raise CheckFailed(f"{label}: your function returned {answer!r}; it should return a value.")
        _compare_answer(answer, expected, label, rtol, atol)
    if test is not None:
        try:
            test(learner)
        except CheckFailed as err:
            raise CheckFailed(f"{name}: {err}") from None
    _note("exercise", name, "passed")
    _ok(f"{name}: your answer is right" + (f" on {len(cases)} case(s)" if cases else ""), quiet)
    return "passed"
