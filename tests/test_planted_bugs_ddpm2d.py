"""Planted bugs for lesson 12's 2-D likelihood checks (sections 3–4: the shipped ``ddpm_<toy>``
models, the ODE's 0.05-nat target, and the table that sets them beside the six-octave and
half-step runs of ``diffusion.BUDGET_RUNS``). The machinery is ``tests/section_bugs.py``'s: each
bug is a text replacement in one code cell; the cells run in fast mode from a snapshot of the clean
run, and the named check cell must raise, on the shipped checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

from tests.section_bugs import section_tests

os.environ["COURSE_FAST"] = "1"

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "12_diffusion_models.ipynb"
SECTION, END = "### From $T$ steps to continuous time", "## 5 · Digits"
BUGS = [
    (
        "the shipped models read in place of the half-step runs",
        'HALF = {toy: f"ddpm_{toy}_12k" for toy in diffusion.TOYS}',
        'HALF = {toy: f"ddpm_{toy}" for toy in diffusion.TOYS}',
        'check.greater(half["checkerboard"]["test_ode_kl"]',
    ),
    (
        "the ODE's target read unpaired (ODE NLL − the entropy estimate: the test draw's luck left in)",
        "ode_gap = full.test_ode_kl.astype(float)",
        "ode_gap = (full.test_ode_nll - full.entropy).astype(float)",
        "check.greater(0.05, ode_gap.max()",
    ),
    (
        "the six-octave runs read from the three-octave half-step checkpoints",
        'FREQ6 = {toy: f"ddpm_{toy}_freq6" for toy in diffusion.TOYS}',
        'FREQ6 = {toy: f"ddpm_{toy}_12k" for toy in diffusion.TOYS}',
        'check.greater(half["checkerboard"]["test_ode_kl"]',
    ),
]

snapshots, test_section_check_catches_the_planted_bug = section_tests(NOTEBOOK, SECTION, END, BUGS)
