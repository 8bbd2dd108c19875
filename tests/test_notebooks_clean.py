"""Notebooks are committed without outputs (readable diffs) and in lecture order."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip` before committing."


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_named_and_titled(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name} should be NN_topic.ipynb"
    nb = json.loads(path.read_text())
    first = "".join(nb["cells"][0]["source"])
    assert nb["cells"][0]["cell_type"] == "markdown" and first.startswith("# "), (
        f"{path.name}: start with a '# Title' cell"
    )
    setup = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    assert "import helpers" in setup, f"{path.name}: the first code cell should import helpers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_does_not_write_into_the_checkout(path):
    """Running a lesson must leave `git status` clean: assets are made by scripts/, not by notebooks."""
    nb = json.loads(path.read_text())
    for i, c in enumerate(nb["cells"]):
        src = "".join(c["source"])
        if c["cell_type"] == "code" and "ASSETS" in src:
            assert not re.search(r"savefig|\.write_|save_pretrained|torch\.save|\.mkdir", src), (
                f"{path.name}, cell {i}: writes under helpers.config.ASSETS; only scripts/ make assets"
            )
