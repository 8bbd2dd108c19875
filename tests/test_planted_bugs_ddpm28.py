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

import os
from pathlib import Path

from tests.section_bugs import section_tests

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
        "FD of real digits via 14×14 + 2 floors vs the best",
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
        "the shipped run filed as the shortest of the complete runs",
        'complete = [o["judge_ancestral"]["fd"] for o in others] + [full["fd"]]',
        'complete = [full["fd"]] + [o["judge_ancestral"]["fd"] for o in others]',
        "-step run vs the next longer one",
    ),
    (
        "the loss curve read backwards",
        'curve = digit_entry["loss_curve"]',
        'curve = digit_entry["loss_curve"][::-1]',
        "levelled off: within 1 %",
    ),
    (
        "the 1,000-sample FD read against the floor of the 100–200-sample curve",
        'floor_1000 = full["fd_floor"]',
        "floor_1000 = digit_floor",
        "vs 5 floors",
    ),
]

snapshots, test_section_check_catches_the_planted_bug = section_tests(NOTEBOOK, SECTION, END, BUGS)
