"""Planted bugs for lesson 13's reading checks: each must raise.

The scheme of ``tests/test_planted_bugs.py`` (whose harness this reuses): a text replacement in one
code cell, the cells from there to the check run in fast mode from the clean run's snapshot, and
the check cell must raise.
"""

from __future__ import annotations

import os

import pytest

from tests.test_planted_bugs import plant_and_expect_failure

os.environ["COURSE_FAST"] = "1"

STEM = "13_model_comparison"
BUGS = {
    STEM: [
        (
            "the two-stage VAE drawn from N(0, I) after all (its prior dropped)",
            "sample(n, seed=0, mean=True, prior=code_prior)",
            "sample(n, seed=0, mean=True)",
            "if ranked[0] != VAE_MIXTURE:",
        ),
        (
            "the ODE's gap to the truth read unpaired (ODE NLL − H: the test draw's luck left in)",
            'elbo, ode, ode_kl = e["test_neg_elbo"], e["test_ode_nll"], e["test_ode_kl"]',
            'elbo, ode, ode_kl = e["test_neg_elbo"], e["test_ode_nll"], e["test_ode_nll"] - entropy[toy]',
            "if ranked[0] != VAE_MIXTURE:",
        ),
        (
            "the diffusion model read from the six-octave checkpoints the recipe replaced",
            'e, flow_e = entry(f"ddpm_{toy}"), entry(f"flow_{toy}")',
            'e, flow_e = entry(f"ddpm_{toy}_freq6"), entry(f"flow_{toy}")',
            "if ranked[0] != VAE_MIXTURE:",
        ),
        (
            "the spline flow's and RealNVP's checkpoints swapped in the 2-D table",
            'FLOW_FAMILIES = {"realnvp": "RealNVP (11)", "flow": "spline flow (11)", "zuko": "zuko NSF (11)"}',
            'FLOW_FAMILIES = {"flow": "RealNVP (11)", "realnvp": "spline flow (11)", "zuko": "zuko NSF (11)"}',
            "if ranked[0] != VAE_MIXTURE:",
        ),
    ]
}


@pytest.mark.parametrize("what, old, new, check", BUGS[STEM], ids=[b[0] for b in BUGS[STEM]])
def test_lesson_13_check_catches_the_planted_bug(what, old, new, check):
    plant_and_expect_failure(STEM, what, old, new, check, BUGS)
