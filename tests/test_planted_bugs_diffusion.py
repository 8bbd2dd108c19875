"""Planted bugs for lesson 12's continuous-time checks: each check the lesson runs on the shipped
2-D diffusion models must raise when a plausible mistake is planted. The models here are the exact
denoiser of a Gaussian (``GaussianDiffusion``, no network), where every quantity has a closed form,
so each bug is seen on its own; a few seconds on one core."""

import math

import pytest
import torch

from helpers import check
from helpers.data import grid_2d
from helpers.models import diffusion

MEAN, COV = [0.5, -1.0], [[2.0, 0.8], [0.8, 1.0]]


def _x(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.tensor(MEAN) + torch.randn(n, 2, generator=g) @ torch.linalg.cholesky(torch.tensor(COV)).T


def _true_lp(x):
    return torch.distributions.MultivariateNormal(torch.tensor(MEAN), torch.tensor(COV)).log_prob(x)


class DivergenceSignFlipped(diffusion.GaussianDiffusion):
    def _velocity_and_divergence(self, z, gamma):
        v, div = super()._velocity_and_divergence(z, gamma)
        return v, -div


class PriorWithout2Pi(diffusion.GaussianDiffusion):
    """log N(z; 0, I) written without its −(d/2) log 2π."""

    def _log_prob_rk4(self, x, steps):
        return super()._log_prob_rk4(x, steps) + x.shape[1] / 2 * math.log(2 * math.pi)


class DecoderWithoutTheOne(diffusion.GaussianDiffusion):
    """−E log p(x | z_0) as d/2 (log 2π + γ_min): the +1 from E‖ε‖² = d forgotten."""

    def elbo_terms(self, x, n_t=16, seed=0):
        terms = super().elbo_terms(x, n_t, seed)
        terms["decoder"] = terms["decoder"] - self.shape[0] / 2
        return terms


class DiffusionTermWithoutTheHalf(diffusion.GaussianDiffusion):
    def elbo_terms(self, x, n_t=16, seed=0):
        terms = super().elbo_terms(x, n_t, seed)
        terms["diffusion"] = 2 * terms["diffusion"]
        return terms


def _gaps(model, n=2000):
    x = _x(n)
    return diffusion.likelihood_gaps(_true_lp(x), model.log_prob(x, steps=16), model.elbo(x, n_t=32))


def test_the_clean_model_passes_every_check():
    m = diffusion.GaussianDiffusion(MEAN, COV)
    check.normalizes(
        lambda x: m.log_prob(x, steps=16), grid=grid_2d((-7, 7), (-7, 7), 80), tol=0.01, quiet=True
    )
    gaps = _gaps(m)
    diffusion.check_likelihood_order(gaps, "clean", quiet=True)
    check.greater(0.15, gaps["elbo"][0], "−ELBO − entropy", quiet=True)


@pytest.mark.parametrize("bug", [DivergenceSignFlipped, PriorWithout2Pi])
def test_planted_ode_bugs_break_the_normalisation_check(bug):
    m = bug(MEAN, COV)
    with pytest.raises(check.CheckFailed, match="integrates to"):
        check.normalizes(lambda x: m.log_prob(x, steps=16), grid=grid_2d((-7, 7), (-7, 7), 80), tol=0.01)


def test_planted_model_above_the_true_density_breaks_the_entropy_check():
    m = PriorWithout2Pi(MEAN, COV)  # log p too high by 1.84 nats everywhere: "below the entropy"
    with pytest.raises(check.CheckFailed, match="ODE NLL − entropy"):
        diffusion.check_likelihood_order(_gaps(m), "planted")


def test_planted_decoder_bug_breaks_the_bound_check():
    with pytest.raises(check.CheckFailed, match="−ELBO − entropy"):
        diffusion.check_likelihood_order(_gaps(DecoderWithoutTheOne(MEAN, COV)), "planted")


def test_planted_loose_bound_breaks_the_target_check():
    """``neg_elbo > entropy`` passes a bound that is 10 nats loose; the target check does not."""
    gaps = _gaps(DiffusionTermWithoutTheHalf(MEAN, COV))
    diffusion.check_likelihood_order(gaps, "loose but ordered", quiet=True)  # the order still holds
    with pytest.raises(check.CheckFailed, match="−ELBO − entropy"):
        check.greater(0.15, gaps["elbo"][0], "−ELBO − entropy (target 0.15 nats)")


def _solution_ddpm_loss(eps_net, x0, t, noise, alpha_bar):
    abar = alpha_bar[t][:, None]
    return (noise - eps_net(abar.sqrt() * x0 + (1 - abar).sqrt() * noise, t)).pow(2).mean()


def _variance_for_std(eps_net, x0, t, noise, alpha_bar):  # (1 − ᾱ) where √(1 − ᾱ) belongs
    abar = alpha_bar[t][:, None]
    return (noise - eps_net(abar.sqrt() * x0 + (1 - abar) * noise, t)).pow(2).mean()


def _predicts_x0(eps_net, x0, t, noise, alpha_bar):  # the target is the clean point, not the noise
    abar = alpha_bar[t][:, None]
    return (x0 - eps_net(abar.sqrt() * x0 + (1 - abar).sqrt() * noise, t)).pow(2).mean()


@pytest.mark.parametrize("wrong", [_variance_for_std, _predicts_x0])
def test_planted_wrong_ddpm_loss_fails_the_exercise(wrong):
    torch.manual_seed(0)
    probe = diffusion.ToyDDPM(hidden=16, n_hidden=1)
    g = torch.Generator().manual_seed(1)
    cases = [
        (
            probe.net,
            torch.randn(8, 2, generator=g),
            torch.randint(1, 101, (8,), generator=g),
            torch.randn(8, 2, generator=g),
            probe.alpha_bar,
        )
    ]
    right = lambda *a: _solution_ddpm_loss(*a)  # noqa: E731  (the right answer, written by a learner)
    assert check.exercise(right, solution=_solution_ddpm_loss, cases=cases, quiet=True) == "passed"
    with pytest.raises(check.CheckFailed):
        check.exercise(wrong, solution=_solution_ddpm_loss, cases=cases, quiet=True)
