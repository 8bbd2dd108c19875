"""The planted-bug harness for one section of a notebook (shared by the section files, e.g. lesson 11's
digit flow and lesson 12's digits).

``section_snapshots`` runs the notebook's import and settings cells, then the section's code cells once,
clean, keeping a snapshot of the variables before each cell a bug changes; ``plant_in_section`` re-runs
from the buggy cell to its check and expects an ``AssertionError`` (``CheckFailed`` is one). Cells run
with ``tests.test_planted_bugs._run`` and are found with its ``_find``, as for whole lessons.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.test_planted_bugs import _find, _run


def section_cells(notebook: Path, section: str, end: str) -> tuple[list[str], list[str]]:
    """(the notebook's import and settings cells, the code cells between the markdown cell starting with
    ``section`` and the next markdown cell holding ``end``)."""
    nb = json.loads(Path(notebook).read_text())
    cells = [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]
    start = next(i for i, (t, s) in enumerate(cells) if t == "markdown" and s.startswith(section))
    stop = next(i for i, (t, s) in enumerate(cells) if t == "markdown" and end in s)
    prelude = [s for t, s in cells[:start] if t == "code" and ("import helpers" in s or "DEMO_STEPS =" in s)]
    return prelude, [s for t, s in cells[start:stop] if t == "code"]


def section_snapshots(notebook: Path, section: str, end: str, bugs) -> tuple[list[str], dict]:
    """(the section's code cells, {cell index: variables before it}) for every cell a bug in ``bugs``
    (what, old, new, check) changes, from one clean run up to the last check."""
    prelude, cells = section_cells(notebook, section, end)
    starts = {_find(cells, old, what) for what, old, _, _ in bugs}
    last = max(_find(cells, check, what) for what, *_, check in bugs)
    ns: dict = {"__name__": "__main__"}
    saved = {}
    cwd = os.getcwd()
    os.chdir(Path(notebook).parent)
    try:
        for i, cell in enumerate(prelude):
            _run(cell, ns, f"prelude[{i}]")
        for i, cell in enumerate(cells[: last + 1]):
            if i in starts:
                saved[i] = dict(ns)
            _run(cell, ns, f"{section} [{i}]")
    finally:
        os.chdir(cwd)
    return cells, saved


def plant_in_section(notebook: Path, snapshots, what: str, old: str, new: str, check: str) -> None:
    """Run the section's cells from the one holding ``old`` (``new`` planted) to the one holding
    ``check``, from the clean run's snapshot; the check must raise."""
    cells, saved = snapshots
    start, stop = _find(cells, old, what), _find(cells, check, what)
    assert start <= stop, f"{what}: the buggy cell must come before the check that catches it"
    assert cells[start].count(old) == 1, f"{what}: {old!r} must occur once in its cell"
    ns = dict(saved[start])
    cwd = os.getcwd()
    os.chdir(Path(notebook).parent)
    try:
        with pytest.raises(AssertionError):  # CheckFailed is an AssertionError
            for i in range(start, stop + 1):
                _run(cells[i].replace(old, new) if i == start else cells[i], ns, f"[{i}] with '{what}'")
    finally:
        os.chdir(cwd)


def section_tests(notebook: Path, section: str, end: str, bugs):
    """The fixture and the test every section's planted-bug module runs: ``snapshots`` (one clean run
    of the section, module-scoped) and one parametrized case per bug (what, old, new, check). In the
    module: ``snapshots, test_section_check_catches_the_planted_bug = section_tests(...)``."""

    @pytest.fixture(scope="module", name="snapshots")
    def snapshots_fixture():
        return section_snapshots(notebook, section, end, bugs)

    @pytest.mark.parametrize("what, old, new, check", bugs, ids=[b[0] for b in bugs])
    def test_section_check_catches_the_planted_bug(snapshots, what, old, new, check):
        plant_in_section(notebook, snapshots, what, old, new, check)

    return snapshots_fixture, test_section_check_catches_the_planted_bug
