"""Planted bugs for lesson 12's digit section ("5 · Digits": the 28×28 DDPM, the judge's Fréchet
distance against the number of sampling steps, and what the training budget bought).

Each bug is a text replacement in one code cell of that section; the test runs the section's code
cells in fast mode (after the notebook's import and settings cells) with the bug planted and
expects the named check cell to raise (``CheckFailed`` or another ``AssertionError``). The clean
section runs once, with a snapshot of its variables before each cell a bug changes, so each bug
re-runs only the cells from its own to its check. The list doubles as documentation of what the
section's checks catch, on the shipped checkpoint ``ddpm_digits``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["COURSE_FAST"] = "1"

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "12_diffusion_models.ipynb"
SECTION, END = "## 5 · Digits", "## Summary"

# (what the bug is, text in a cell of the section, its buggy replacement, text of the check cell that must raise)
BUGS: list[tuple[str, str, str, str]] = [
    (
        "DDIM that still injects the ancestral noise (η = 1 for both samplers)",
        "samples = digit_model.sample(N_DIGITS, seed=1, steps=steps, method=method)",
        'samples = digit_model.sample(N_DIGITS, seed=1, steps=steps, method="ancestral")',
        "(ancestral ahead)",
    ),
    (
        "the curve's step labels reversed (each FD filed under another step count)",
        'fd_steps.append({"steps": steps, "sampler": method',
        'fd_steps.append({"steps": DIGIT_STEP_COUNTS[::-1][DIGIT_STEP_COUNTS.index(steps)], "sampler": method',
        "more steps are never worse",
    ),
    (
        "the demo model (three steps) judged instead of the shipped checkpoint",
        "samples = digit_model.sample(N_DIGITS, seed=1, steps=steps, method=method)",
        "samples = demo_digits.sample(N_DIGITS, seed=1, steps=steps, method=method)",
        "floors vs the best FD of the curve",
    ),
    (
        "the floor taken at 10× the samples' n (a smaller floor than the curve's)",
        "digit_floor = verdicts[(method, steps)].fd_floor",
        "digit_floor = digit_quality(train_digits[: 10 * N_DIGITS]).fd_floor",
        "floors vs the best FD of the curve",
    ),
    (
        "samples with half their ink (a sampler that scales the image by ½)",
        "samples = digit_model.sample(N_DIGITS, seed=1, steps=steps, method=method)",
        "samples = digit_model.sample(N_DIGITS, seed=1, steps=steps, method=method) * 0.5",
        "floors vs the best FD of the curve",
    ),
    (
        "the 14×14 bottleneck pooled with kernel 1 (no bottleneck at all)",
        "torch.nn.functional.avg_pool2d(train_digits[-N_DIGITS:], 2)",
        "torch.nn.functional.avg_pool2d(train_digits[-N_DIGITS:], 1)",
        "the best FD vs real digits via 14×14",
    ),
    (
        "the DDIM row of the roughness table fed the ancestral samples",
        '(f"DDIM, {last} steps", last_samples["ddim"]),',
        '(f"DDIM, {last} steps", last_samples["ancestral"]),',
        "distance from the real digits' value, DDIM vs ancestral",
    ),
    (
        "training digits passed off as samples (a memorising model)",
        "nearest = nearest_rms(ddpm_samples)",
        "nearest = nearest_rms(train_digits[:N_DIGITS])",
        "nearest-neighbour ratio",
    ),
    (
        "the half-way and the final FDs swapped in the comparison",
        'check.greater(half["fd"], full["fd"], "FD at half',
        'check.greater(full["fd"], half["fd"], "FD at half',
        "FD at half the steps vs all of them",
    ),
    (
        "the complete shorter run and the shipped run swapped in their comparison",
        'other["judge_ancestral"]["fd"],\n    full["fd"],\n    f"FD of the complete',
        'full["fd"],\n    other["judge_ancestral"]["fd"],\n    f"FD of the complete',
        "run vs the shipped run",
    ),
    (
        "the loss curve read backwards",
        'curve = digit_entry["loss_curve"]',
        'curve = digit_entry["loss_curve"][::-1]',
        "vs of the last",
    ),
    (
        "the 1,000-sample FD read against the floor of the 100–200-sample curve",
        'floor_1000 = full["fd_floor"]',
        "floor_1000 = digit_floor",
        "the target is still missed",
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
        f"{what}: no code cell of section 5 contains {text!r} — update BUGS after editing the notebook"
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
            _run(cell, ns, f"section 5 [{i}]")
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
                    f"section 5 [{i}] with '{what}'",
                )
    finally:
        os.chdir(cwd)
