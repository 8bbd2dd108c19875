"""Planted bugs for lesson 11's digit-flow section ("6 · A flow on dequantised digits").

Each bug is a text replacement in one code cell of that section; the test runs the section's code
cells in fast mode (after the notebook's import and settings cells) with the bug planted and
expects the named check cell to raise (``CheckFailed`` or another ``AssertionError``). The clean
section runs once, with a snapshot of its variables before each cell a bug changes, so each bug
re-runs only the cells from its own to its check. The list doubles as documentation of what the
section's checks catch, on the shipped checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.section_bugs import section_tests

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

snapshots, test_section_check_catches_the_planted_bug = section_tests(NOTEBOOK, SECTION, END, BUGS)
