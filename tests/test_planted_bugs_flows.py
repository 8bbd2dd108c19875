"""Planted bugs for lesson 11's 2-D part (the spline flows): its checks must be able to fail.

The scheme of ``tests/test_planted_bugs.py`` (whose harness this reuses): each bug is a text
replacement in one code cell; the notebook's code cells run in fast mode with it planted, and the
named check cell must raise. The digit section's bugs are in ``test_planted_bugs_digitflow.py``.
"""

from __future__ import annotations

import os

import pytest

from tests.test_planted_bugs import plant_and_expect_failure

os.environ["COURSE_FAST"] = "1"

STEM = "11_normalizing_flows"
BUGS = {
    STEM: [
        (
            "spline layer log-det read with the wrong sign",
            "        log_det_k,\n        flows.layer_jacobian_logdet(layer, h),\n        f\"spline layer",
            "        -log_det_k,\n        flows.layer_jacobian_logdet(layer, h),\n        f\"spline layer",
            "spline layer {k + 1} log-det vs autograd",
        ),
        (
            "learner's coupling with the log-det's sign flipped, trained",
            "    your_coupling, whose = solution_coupling_forward, \"the reference\"",
            "    your_coupling, whose = (lambda x, s, t, m: (solution_coupling_forward(x, s, t, m)[0], -((1 - m) * s).sum(-1))), \"a wrong\"",
            "check.normalizes(your_flow.log_prob",
        ),
        (
            "the table's spline flow is the RealNVP (a mislabelled column)",
            'FLOW_LABELS = {"realnvp": "RealNVP", "flow": "spline flow", "zuko": "zuko NSF"}',
            'FLOW_LABELS = {"flow": "RealNVP", "realnvp": "spline flow", "zuko": "zuko NSF"}',
            "misses = {name: kl_rows",
        ),
        (
            "the flows scored on their training points (a leak)",
            "models[family][name].log_prob(test_x).double()",
            "models[family][name].log_prob(train_x[: len(test_x)]).double()",
            "misses = {name: kl_rows",
        ),
        (
            "the longer checkerboard runs swapped in the budget table",
            '("flow_checkerboard_16000steps", "16,000 steps, 10,000 points"),\n    ("flow_checkerboard_100k", "4,000 steps, 100,000 points"),',
            '("flow_checkerboard_100k", "16,000 steps, 10,000 points"),\n    ("flow_checkerboard_16000steps", "4,000 steps, 100,000 points"),',
            "kl_budget = budget_table",
        ),
    ]
}


@pytest.mark.parametrize("what, old, new, check", BUGS[STEM], ids=[b[0] for b in BUGS[STEM]])
def test_lesson_11_check_catches_the_planted_bug(what, old, new, check):
    plant_and_expect_failure(STEM, what, old, new, check, BUGS)
