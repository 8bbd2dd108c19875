"""Planted bugs for lesson 11's digit-flow section ("6 · A flow on dequantised digits").

Each bug is a text replacement in one code cell of that section; the test runs the section's code
cells in fast mode (after the notebook's import and settings cells) with the bug planted and
expects the named check cell to raise (``CheckFailed`` or another ``AssertionError``). The clean
section runs once, with a snapshot of its variables before each cell a bug changes, so each bug
re-runs only the cells from its own to its check. The list doubles as documentation of what the
section's checks catch, on the shipped checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["COURSE_FAST"] = "1"

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "11_normalizing_flows.ipynb"
SECTION, END = "## 6 · A flow on dequantised digits", "## Summary"

# (what the bug is, text in a cell of the section, its buggy replacement, text of the check cell that must raise)
BUGS: list[tuple[str, str, str, str]] = [
    (
        "the demo model (a few steps) scored instead of the shipped checkpoint",
        "flow_bits(digit_flow, test_y), flow_bits(digit_flow, train_y)",
        "flow_bits(demo_digits, test_y), flow_bits(demo_digits, train_y)",
        "the target 1.5 vs the trained flow",
    ),
    (
        "the flow's first layer fitted with another smoothing than the baseline it is compared with",
        "fit_marginals(train_digits), test_y[:100])",
        "fit_marginals(train_digits, smoothing=1.0), test_y[:100])",
        "untrained DigitFlow vs its histograms",
    ),
    (
        "the 1×1 convolution's log-det without the H·W pixels it is applied at",
        "lu_log_det = H * W_ * conv.log_s.sum()",
        "lu_log_det = conv.log_s.sum()",
        "1×1 conv log-det vs autograd",
    ),
    (
        "det W read off W's own diagonal instead of U's",
        "float(conv.log_s.sum()),\n",
        "float(conv.weight().diagonal().abs().log().sum()),\n",
        "vs Σ log|s_i| (its LU diagonal)",
    ),
    (
        "samples drawn with the base noise scaled by 1/T for T = 0.5 instead of T",
        "flow_samples = digit_flow.sample(N_JUDGED, seed=1)",
        "flow_samples = digit_flow.sample(N_JUDGED, seed=1, temperature=2.0)",
        "the per-pixel histograms' samples vs the flow's",
    ),
]


def _cells() -> tuple[list[str], list[str]]:
    """(the notebook's import and settings cells, the section's code cells), found by their text."""
    nb = json.loads(NOTEBOOK.read_text())
    cells = [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]
    start = next(i for i, (t, s) in enumerate(cells) if t == "markdown" and s.startswith(SECTION))
    stop = next(i for i, (t, s) in enumerate(cells) if t == "markdown" and END in s)
    prelude = [s for t, s in cells[:start] if t == "code" and ("import helpers" in s or "DEMO_STEPS =" in s)]
    return prelude, [s for t, s in cells[start:stop] if t == "code"]


def _find(cells: list[str], text: str, what: str) -> int:
    hits = [i for i, c in enumerate(cells) if text in c]
    assert hits, (
        f"{what}: no code cell of section 6 contains {text!r} — update BUGS after editing the notebook"
    )
    return hits[0]


def _run(source: str, ns: dict, label: str) -> None:
    import matplotlib.pyplot as plt

    try:
        exec(compile(source, label, "exec"), ns)
    finally:
        plt.close("all")


@pytest.fixture(scope="module")
def snapshots():
    prelude, cells = _cells()
    starts = {_find(cells, old, what) for what, old, _, _ in BUGS}
    last = max(_find(cells, check, what) for what, *_, check in BUGS)
    ns: dict = {"__name__": "__main__"}
    saved = {}
    cwd = os.getcwd()
    os.chdir(NOTEBOOK.parent)
    try:
        for i, cell in enumerate(prelude):
            _run(cell, ns, f"prelude[{i}]")
        for i, cell in enumerate(cells[: last + 1]):
            if i in starts:
                saved[i] = dict(ns)
            _run(cell, ns, f"section 6 [{i}]")
    finally:
        os.chdir(cwd)
    return cells, saved


@pytest.mark.parametrize("what, old, new, check", BUGS, ids=[b[0] for b in BUGS])
def test_section_check_catches_the_planted_bug(snapshots, what, old, new, check):
    cells, saved = snapshots
    start, stop = _find(cells, old, what), _find(cells, check, what)
    assert start <= stop, f"{what}: the buggy cell must come before the check that catches it"
    assert cells[start].count(old) == 1, f"{what}: {old!r} must occur once in its cell"
    ns = dict(saved[start])
    cwd = os.getcwd()
    os.chdir(NOTEBOOK.parent)
    try:
        with pytest.raises(AssertionError):  # CheckFailed is an AssertionError
            for i in range(start, stop + 1):
                _run(
                    cells[i].replace(old, new) if i == start else cells[i],
                    ns,
                    f"section 6 [{i}] with '{what}'",
                )
    finally:
        os.chdir(cwd)
