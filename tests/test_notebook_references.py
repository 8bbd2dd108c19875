"""Every attribute a notebook reads off a ``helpers.models`` module exists.

Cells that only run with ``RETRAIN = True`` (the lambdas handed to ``load_or_train``) never execute
under nbval, so a recipe constant renamed in ``helpers.models`` would break a learner's retraining
silently. This reads each code cell's source instead and checks ``flows.TOY_STEPS``,
``diffusion.TOY_SECONDS``, ``ar.fit_made`` and the like by name against the modules.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MODULE_ALIAS = re.compile(
    r"from helpers\.models import ([^\n]+)|import helpers\.models\.(\w+)(?: as (\w+))?"
)


def _aliases(source: str) -> dict[str, str]:
    """{name used in the notebook: module name} for helpers.models submodules it imports."""
    out = {}
    for names, dotted, dotted_as in MODULE_ALIAS.findall(source):
        if dotted:
            out[f"helpers.models.{dotted}"] = dotted
            if dotted_as:
                out[dotted_as] = dotted
            continue
        for part in names.replace("(", "").replace(")", "").split(","):
            bits = part.split(" as ")
            name = bits[0].strip()
            if name and importlib.util.find_spec(f"helpers.models.{name}") is not None:
                out[(bits[1] if len(bits) > 1 else name).strip()] = name
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_reads_only_existing_model_attributes(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    missing = []
    for alias, module_name in _aliases(code).items():
        module = importlib.import_module(f"helpers.models.{module_name}")
        for attr in set(re.findall(rf"(?<![\w.]){re.escape(alias)}\.(\w+)", code)):
            if not hasattr(module, attr):
                missing.append(f"{alias}.{attr}")
    assert not missing, f"{path.name} reads attributes that helpers.models does not have: {sorted(missing)}"


def test_the_check_catches_a_missing_constant(tmp_path, monkeypatch):
    """The planted bug: a notebook that reads flows.TOY_SECONDS (which does not exist) fails."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from helpers.models import flows\nx = flows.TOY_SECONDS")]
    path = tmp_path / "99_planted.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(AssertionError, match="flows.TOY_SECONDS"):
        test_notebook_reads_only_existing_model_attributes(path)
