"""Planted bugs for lessons 09 (GAN) and 10 (WGAN and optimal transport): every check these
lessons added must be able to fail.

The same machinery as ``tests/test_planted_bugs.py``: each bug is a text replacement in one code
cell of the notebook (a learner's wrong answer replaces the stub's ``def`` line); the notebook's
code cells run in fast mode with the bug planted, and the named check cell must raise
(``CheckFailed`` or another ``AssertionError``). The clean notebook runs once per lesson, with a
snapshot of its variables before each cell that a bug changes, so each bug re-runs only a few cells.

BUGS[lesson] doubles as the list of what each lesson's checks are known to catch.
"""

from __future__ import annotations

import os

import pytest

from tests.test_planted_bugs import plant_and_expect_failure

os.environ["COURSE_FAST"] = "1"


# lesson: [(what the bug is, text in the cell, its buggy replacement, text of the check cell that must raise)]
BUGS: dict[str, list[tuple[str, str, str, str]]] = {
    "09_gan": [
        (
            "rejection sampling keeps the draws D finds fake (the log-ratio's sign flipped)",
            'S, Q, DRS_SEEDS = gan.DIGITS["real_label"], 0.8, [0, 1, 2]',
            'S, Q, DRS_SEEDS = gan.DIGITS["real_label"], 0.8, [0, 1, 2]\n_ratio = dcgan.log_ratio\ndcgan.log_ratio = lambda x, s=1.0: -_ratio(x, s)',
            'check.greater(0.9 * plain_fd["mean"], drs_fd_col["mean"]',
        ),
        (
            "the exact rule's bound M taken as the median log-ratio, not the largest",
            "exact_rate = float((r_pool - r_pool.max()).exp().mean())",
            "exact_rate = float((r_pool - r_pool.median()).exp().mean())",
            'check.greater(0.9 * plain_fd["mean"], drs_fd_col["mean"]',
        ),
        (
            "−V at the optimum taken as log 4 − JSD (the factor 2 dropped)",
            "check.close_to(minus_v_fresh, np.log(4) - 2 * jsd,",
            "check.close_to(minus_v_fresh, np.log(4) - jsd,",
            "−V of the trained D vs log 4 − 2·JSD",
        ),
        (
            "the JSD integrated in bits instead of nats",
            "integrand = 0.5 * (torch.special.xlogy(a, a / m) + torch.special.xlogy(b, b / m))",
            "integrand = 0.5 * (torch.special.xlogy(a, a / m) + torch.special.xlogy(b, b / m)) / np.log(2)",
            "−V of the trained D vs log 4 − 2·JSD",
        ),
        (
            "the discriminator stopped after 3 steps (far from D*)",
            "losses_1d = gan.fit_discriminator(disc_1d, x_data, x_g, steps=D_STEPS)",
            "losses_1d = gan.fit_discriminator(disc_1d, x_data, x_g, steps=3)",
            "−V of the trained D vs log 4 − 2·JSD",
        ),
        (
            "the grid stops at x = 5, before D* comes back up in the right tail",
            "grid_1d = torch.linspace(-4, 8, 600)",
            "grid_1d = torch.linspace(-4, 5, 600)",
            "D* at both ends of the grid",
        ),
        (
            "the two generator losses swapped",
            "(g_,) = torch.autograd.grad(gan.generator_loss(logits, kind) * len(logits), logits)",
            '(g_,) = torch.autograd.grad(gan.generator_loss(logits, "gan" if kind == "minimax" else "minimax") * len(logits), logits)',
            "|∂ minimax loss / ∂ℓ| vs D",
        ),
        (
            "the old lenient mode rule (1 % of the samples) instead of 1/(2K)",
            "def coverage_row(name, seed, pts):\n    cov = mode_coverage(pts, ring)",
            "def coverage_row(name, seed, pts):\n    cov = mode_coverage(pts, ring, min_share=0.01)",
            "modes the uniform ring covers",
        ),
        (
            "the 'collapse' read off a run that covers (seed 1 of the recipe)",
            '"non-saturating, lr 2·10⁻²": pretrained("ring_gan_lr2e-2_seed0"),',
            '"non-saturating, lr 2·10⁻²": gans[SEEDS[1]],',
            "modes the lr = 2·10⁻² run covers",
        ),
        (
            "the last G judged in place of its EMA",
            "score_dc = digit_quality(samples_dc)",
            "score_dc = digit_quality(dcgan.sample(N_JUDGE, seed=0, averaged=False))",
            "FD: the EMA of G vs the last G",
        ),
        (
            "DANN judged on its one lucky seed",
            "DANN_SEEDS = [s for s in dann.SEEDS if RETRAIN or dann.shipped_name(True, s) in helpers.models.available()]",
            "DANN_SEEDS = [0]",
            "training seeds of the DANN comparison",
        ),
        (
            "learner's D* with the densities swapped",
            "def optimal_discriminator(log_p_data, log_p_g):",
            "def optimal_discriminator(log_p_data, log_p_g):\n    return torch.sigmoid(torch.as_tensor(log_p_g) - torch.as_tensor(log_p_data))\n\n\ndef _stub(log_p_data, log_p_g):",
            "check.exercise(\n    optimal_discriminator",
        ),
        (
            "learner's non-saturating loss as −log σ(ℓ) computed directly (inf at ℓ = −200)",
            "def nonsaturating_loss(fake_logits):",
            "def nonsaturating_loss(fake_logits):\n    return -torch.log(torch.sigmoid(torch.as_tensor(fake_logits))).mean()\n\n\ndef _stub(fake_logits):",
            "check.exercise(\n    nonsaturating_loss",
        ),
    ],
    "10_wgan_optimal_transport": [
        (
            "W2 solved with the W1 cost (distances not squared)",
            "w2_exact = float(np.sqrt(ot.emd2(a_big, a_big, C_big**2)))",
            "w2_exact = float(ot.emd2(a_big, a_big, C_big)) / 2",
            "W2/√d (+2 %) vs the sliced W2",
        ),
        (
            "the raw dual estimate taken as the bound (no rescaling by the slope)",
            "lower = estimates[-1] / lipschitz",
            "lower = estimates[-1]",
            "exact EMD vs the rescaled dual estimate",
        ),
        (
            "the critic stopped after 20 steps",
            "estimates = gan.fit_critic(critic, x_dual, y_dual, steps=CRITIC_STEPS, gp_weight=10.0)",
            "estimates = gan.fit_critic(critic, x_dual, y_dual, steps=20, gp_weight=10.0)",
            "rescaled dual estimate vs 90 % of the exact EMD",
        ),
        (
            "WGAN-GP retrained with the penalty switched off",
            "penalty_used = gradient_penalty_at if attempted else solution_gradient_penalty_at",
            "penalty_used = lambda critic, x_hat: 0 * solution_gradient_penalty_at(critic, x_hat)",
            "your critic's mean slope on interpolates",
        ),
        (
            "the critic's warm-up counted in the correlation",
            "WARMUP = 2  # records left out",
            "WARMUP = 0  # records left out",
            "WGAN-GP: Spearman ρ(critic estimate, EMD), worst seed",
        ),
        (
            "learner's 1-D EMD without sorting",
            "def emd_1d(x, y):",
            "def emd_1d(x, y):\n    return (torch.as_tensor(x, dtype=torch.float64) - torch.as_tensor(y, dtype=torch.float64)).abs().mean()\n\n\ndef _stub(x, y):",
            "check.exercise(\n    emd_1d",
        ),
        (
            "learner's penalty on ‖∇f‖² instead of ‖∇f‖",
            "def gradient_penalty_at(critic, x_hat):",
            "def gradient_penalty_at(critic, x_hat):\n    x_hat = x_hat.detach().requires_grad_(True)\n    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)\n    return (grad.pow(2).sum(1) - 1).pow(2).mean()\n\n\ndef _stub(critic, x_hat):",
            "gp_status = check.exercise(",
        ),
    ],
}


CASES = [(stem, *bug) for stem, bugs in BUGS.items() for bug in bugs]


@pytest.mark.parametrize("stem, what, old, new, check", CASES, ids=[f"{c[0][:2]}-{c[1]}" for c in CASES])
def test_lesson_check_catches_the_planted_bug(stem, what, old, new, check):
    plant_and_expect_failure(stem, what, old, new, check, BUGS)


def test_every_lesson_has_planted_bugs_including_an_exercise():
    for stem in BUGS:
        assert len(BUGS[stem]) >= 3, f"{stem}: plant at least three bugs"
        assert any("learner" in what for what, *_ in BUGS[stem]), f"{stem}: plant a learner's wrong answer"
