"""Every notebook follows the exercise pattern: no function is defined in two cells (a hidden solution
can never overwrite the learner's function), each solution cell is collapsed, starts with a line
that gives nothing away and defines ``solution_...``, and every stub is checked by
``check.exercise``."""

import ast
import json
from collections import Counter
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _defined(source: str) -> set[str]:
    tree = ast.parse(source)
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_function_is_defined_in_two_cells(path):
    counts = Counter(name for c in _cells(path) for name in _defined("".join(c["source"])))
    twice = sorted(name for name, n in counts.items() if n > 1)
    assert not twice, (
        f"{path.name}: {twice} defined in more than one cell (a later cell would shadow the first)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_use_the_pattern(path):
    cells = _cells(path)
    sources = ["".join(c["source"]) for c in cells]
    hidden = [
        s for c, s in zip(cells, sources) if c.get("metadata", {}).get("jupyter", {}).get("source_hidden")
    ]
    for s in hidden:
        assert s.startswith("# Solution — expand to see it"), (
            f"{path.name}: a collapsed solution cell must start with '# Solution — expand to see it', got {s[:60]!r}"
        )
        names = _defined(s)
        assert names and all(n.startswith("solution_") for n in names), (
            f"{path.name}: a solution cell must define solution_... functions only, got {sorted(names)}"
        )
    stubs = [
        n
        for s in sources
        if "raise NotImplementedError" in s
        for n in _defined(s)
        if not n.startswith("solution_")
    ]
    everything = "\n".join(sources)
    for name in stubs:
        assert f"solution_{name}" in everything, f"{path.name}: the stub {name} has no solution_{name}"
        assert "exercise(" in everything and name in everything.split("exercise(", 1)[1], (
            f"{path.name}: {name} is never checked with check.exercise"
        )
    if path.stem[:2] in {"01", "02", "03", "04", "05", "06"}:
        assert len(stubs) >= 2, f"{path.name}: a lesson has two exercises, found stubs {stubs}"
        assert len(hidden) >= 2, f"{path.name}: two collapsed solution cells expected"
