"""helpers.models.diffusion: schedules, the closed form against iterated noising, the samplers
(DDIM deterministic, η = 1 equal to DDPM's ancestral step), the ELBO against an exact denoiser,
bad input, checkpoints; and planted bugs (a wrong closed-form variance, a missing ELBO term) that
make lesson 12's checks raise. A few seconds on one core."""

import math

import pytest
import torch

from helpers import check
from helpers.models import diffusion, pretrained, save_pretrained

T = 100


def _closed_form(x0, t, betas):
    abar = torch.prod(1 - betas[:t])
    return abar.sqrt() * x0, 1 - abar


def _check_against_chains(formula, n_chains=20_000):
    """Lesson 12's check: closed-form mean/variance vs iterated noising, 5 standard errors."""
    x0 = torch.tensor([1.5, -0.8], dtype=torch.float64)
    for name in diffusion.SCHEDULES:
        betas = diffusion.make_betas(T, name)
        for t, (m, v) in diffusion.iterated_noising(x0, betas, [1, 5, 20, 50, 100], n_chains).items():
            mean, var = formula(x0, t, betas)
            se_mean, se_var = (float(var) / n_chains) ** 0.5, float(var) * (2 / n_chains) ** 0.5
            check.close_to(m, mean, f"{name} t={t} mean", rtol=0, atol=5 * se_mean, quiet=True)
            check.close_to(
                v, torch.full((2,), float(var)), f"{name} t={t} variance", rtol=0, atol=5 * se_var, quiet=True
            )


def test_schedules():
    lin = diffusion.make_betas(T, "linear")
    assert lin.shape == (T,) and math.isclose(float(lin[0]), 1e-3) and math.isclose(float(lin[-1]), 0.2)
    cos = diffusion.make_betas(T, "cosine")
    abar = torch.cumprod(1 - cos, 0)
    s = 0.008
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    assert math.isclose(float(abar[T // 2 - 1]), f(T // 2) / f(0), rel_tol=1e-6)
    m = diffusion.ToyDDPM(T=T, schedule="cosine")
    snr = m.snr()
    assert snr.shape == (T,) and bool((snr[1:] < snr[:-1]).all()), "the SNR must fall with t"


def test_closed_form_matches_iterated_noising():
    _check_against_chains(_closed_form)


def test_planted_wrong_closed_form_variance_fails_the_check():
    def wrong_variance(x0, t, betas):  # forgets the product: uses only the last step's beta
        mean, _ = _closed_form(x0, t, betas)
        return mean, betas[t - 1]

    def variance_as_std(x0, t, betas):  # sqrt(1 - abar) where (1 - abar) belongs
        mean, var = _closed_form(x0, t, betas)
        return mean, var.sqrt()

    for bug in (wrong_variance, variance_as_std):
        with pytest.raises(check.CheckFailed, match="variance"):
            _check_against_chains(bug)


def test_q_sample_is_the_closed_form():
    m = diffusion.ToyDDPM(T=T)
    x0, noise = torch.randn(4, 2), torch.randn(4, 2)
    t = torch.tensor([1, 10, 50, 100])
    abar = m.alpha_bar[t][:, None]
    assert torch.allclose(m.q_sample(x0, t, noise), abar.sqrt() * x0 + (1 - abar).sqrt() * noise)


def test_ddim_is_deterministic_and_eta_one_is_the_ancestral_step():
    torch.manual_seed(0)
    m = diffusion.ToyDDPM(T=20, hidden=16, n_hidden=1).eval()
    x_T = torch.randn(6, 2)
    a = m.sample_path(6, steps=20, eta=0.0, seed=1, x_T=x_T)
    b = m.sample_path(6, steps=20, eta=0.0, seed=2, x_T=x_T)
    assert torch.equal(a, b), "DDIM (eta = 0) must not depend on the noise seed once x_T is fixed"
    # one ancestral step from t = 20 to 19 equals mu_theta + sqrt(beta_tilde) z (without the x̂_0 clip)
    m.clip = None
    path, ts = m.sample_path(6, steps=20, eta=1.0, seed=3, x_T=x_T, keep=True)
    g = torch.Generator().manual_seed(3)
    z = torch.randn(6, 2, generator=g)
    t = 20
    beta, abar, abar_prev = m.betas[t], m.alpha_bar[t], m.alpha_bar[t - 1]
    with torch.no_grad():
        eps = m.net(x_T, torch.full((6,), t))
    mu = (x_T - beta / (1 - abar).sqrt() * eps) / (1 - beta).sqrt()
    beta_tilde = (1 - abar_prev) / (1 - abar) * beta
    assert torch.allclose(path[1], mu + beta_tilde.sqrt() * z, atol=1e-5)


def test_timesteps_and_sample_shapes():
    m = diffusion.ToyDDPM(T=T, hidden=16, n_hidden=1)
    assert m.timesteps(None) == list(range(T, 0, -1))
    ts = m.timesteps(5)
    assert ts[0] == T and ts[-1] == 1 and len(ts) == 5
    assert m.timesteps(2) == [T, 1], "two steps: two network calls, at t = T and t = 1"
    assert m.sample(7, seed=0, steps=3).shape == (7, 2)
    assert torch.equal(m.sample(7, seed=0, steps=3), m.sample(7, seed=0, steps=3))
    d = diffusion.DigitDDPM(size=8, channels=8, T=10)
    s = d.sample(3, seed=0, steps=2, method="ddim")
    assert s.shape == (3, 1, 28, 28) and s.min() >= 0 and s.max() <= 1


class ExactGaussianDenoiser(torch.nn.Module):
    """For x_0 ~ N(0, I), x_t ~ N(0, I) at every t and E[ε | x_t] = √(1 − ᾱ_t) x_t exactly."""

    def __init__(self, alpha_bar):
        super().__init__()
        self.alpha_bar = alpha_bar

    def forward(self, x, t):
        return (1 - self.alpha_bar[t])[:, None].sqrt() * x


class ExactGaussianDDPM(diffusion.ToyDDPM):
    """For N(0, I) data the true reverse step is N(√α_t x_t, β_t I): with this variance and the
    exact denoiser the model's joint equals q's, so the ELBO equals log p(x) in expectation."""

    def __init__(self, T=200):
        super().__init__(T=T, schedule="linear", hidden=8, n_hidden=1)
        self.net = ExactGaussianDenoiser(self.alpha_bar)

    def reverse_variance(self, t):
        return self.betas.double()[t]


class MissingKL(ExactGaussianDDPM):
    """Planted bug: the sum of the KL terms left out of the ELBO."""

    def elbo(self, x, seed=0):
        terms = self.elbo_terms(x, seed)
        return terms["decoder"] - terms["prior"]


ENTROPY_2D_NORMAL = math.log(2 * math.pi * math.e)


def test_elbo_of_the_exact_model_equals_the_log_likelihood():
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    neg_elbo = float(-ExactGaussianDDPM().elbo(x).mean())
    nll = float(-torch.distributions.Normal(0, 1).log_prob(x).sum(1).mean())
    assert abs(neg_elbo - nll) < 0.05, f"the exact model's −ELBO {neg_elbo:.3f} must match the NLL {nll:.3f}"
    check.greater(neg_elbo, ENTROPY_2D_NORMAL - 0.1, "−ELBO vs the entropy of N(0, I)", quiet=True)


def test_posterior_variance_gives_a_looser_bound_on_gaussian_data():
    exact = ExactGaussianDDPM()
    loose = diffusion.ToyDDPM(T=200, schedule="linear", hidden=8, n_hidden=1)
    loose.net = exact.net
    x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
    assert float(loose.elbo(x).mean()) < float(exact.elbo(x).mean()) - 0.1


def test_planted_missing_kl_fails_the_entropy_check():
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(check.CheckFailed, match="ELBO"):
        check.greater(float(-MissingKL().elbo(x).mean()), ENTROPY_2D_NORMAL, "−ELBO vs the entropy")


def test_fit_lowers_the_loss_and_checkpoints_round_trip(tmp_path):
    torch.manual_seed(0)
    m = diffusion.ToyDDPM(T=50, hidden=32, n_hidden=2)
    x = torch.randn(1000, 2) * 0.5 + 1
    history, seconds = diffusion.fit(m, x, steps=150, batch_size=128, lr=3e-3)
    assert sum(history["loss"][-20:]) / 20 < sum(history["loss"][:20]) / 20
    save_pretrained("ddpm_test", m, directory=tmp_path, steps=150, seconds=seconds)
    loaded = pretrained("ddpm_test", directory=tmp_path)
    assert torch.equal(loaded.sample(5, seed=0), m.sample(5, seed=0))
    assert loaded.T == 50


def test_bad_input_is_refused_with_a_clear_message():
    m = diffusion.ToyDDPM(T=10, hidden=8, n_hidden=1)
    with pytest.raises(ValueError, match="schedule"):
        diffusion.make_betas(10, "quadratic")
    with pytest.raises(ValueError, match="T must be"):
        diffusion.ToyDDPM(T=1)
    with pytest.raises(ValueError, match="steps must be at most"):
        m.sample(3, steps=11)
    with pytest.raises(ValueError, match="eta"):
        m.sample_path(3, eta=2.0)
    with pytest.raises(ValueError, match="method"):
        m.sample(3, method="euler")
    with pytest.raises(ValueError, match="x must have 2 feature"):
        m.elbo(torch.randn(4, 3))
    with pytest.raises(ValueError, match="data must be shaped"):
        diffusion.fit(m, torch.randn(10, 3), steps=1)
    with pytest.raises(ValueError, match="size must be even"):
        diffusion.DigitDDPM(size=15)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        diffusion.to_model_space(torch.full((1, 1, 28, 28), 3.0), 14)
    with pytest.raises(ValueError, match="ts must be"):
        diffusion.iterated_noising([0.0], diffusion.make_betas(10), [0, 11])


# ---- continuous time (ToyVDM): the probability-flow ODE and the VDM bound ------------------------

GAUSS_MEAN, GAUSS_COV = [0.5, -1.0], [[2.0, 0.8], [0.8, 1.0]]


def _gaussian_data(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    L = torch.linalg.cholesky(torch.tensor(GAUSS_COV))
    return torch.tensor(GAUSS_MEAN) + torch.randn(n, 2, generator=g) @ L.T


def test_ode_log_likelihood_of_gaussian_data_matches_the_closed_form():
    # γ_max = 14 leaves q(z_1) within 10⁻³ nats of the N(0, I) prior: what remains is the solver's error
    m = diffusion.GaussianDiffusion(GAUSS_MEAN, GAUSS_COV, gamma_max=14.0)
    x = _gaussian_data(1000)
    ode, exact = m.log_prob(x, steps=24), m.exact_log_prob(x)
    gap = float((ode - exact).abs().max())
    assert gap < 5e-3, f"ODE log-likelihood is up to {gap:.4f} nats from the closed form"
    # the default γ_max = 8: per point within 0.1, on average within 0.01
    m = diffusion.GaussianDiffusion(GAUSS_MEAN, GAUSS_COV)
    ode = m.log_prob(x, steps=16)
    assert float((ode - exact).abs().max()) < 0.1 and abs(float((ode - exact).mean())) < 0.01
    entropy = float(torch.distributions.MultivariateNormal(m.mean, m.cov).entropy())
    assert abs(float(-ode.mean()) - entropy) < 4 * float(ode.std()) / len(x) ** 0.5 + 0.01


class WarpedGaussian(diffusion.GaussianDiffusion):
    """The exact Gaussian denoiser plus a smooth bump: no longer the score of anything simple, but
    the ODE it defines is still an invertible map of N(0, I), so its density must integrate to 1."""

    def eps(self, z, gamma):
        s = torch.sigmoid(gamma)[:, None].sqrt()
        return super().eps(z, gamma) + 0.8 * (1 - s) * torch.sin(2 * z.flip(1))


def test_elbo_of_the_exact_gaussian_denoiser_is_below_and_close_to_the_log_likelihood():
    m = diffusion.GaussianDiffusion(GAUSS_MEAN, GAUSS_COV)
    x = _gaussian_data(3000, seed=1)
    elbo = m.elbo(x, n_t=32)
    exact = m.exact_log_prob(x)
    gap = float((exact - elbo).mean())
    se = float((exact - elbo).std()) / len(x) ** 0.5
    assert -3 * se < gap < 3 * se + 0.02, f"ELBO gap {gap:.3f} ± {se:.3f} for the exact denoiser"


def test_ode_log_density_integrates_to_one():
    xs = torch.linspace(-7, 7, 90)
    pts = torch.cartesian_prod(xs, xs)
    cell = float(xs[1] - xs[0]) ** 2
    for m in (diffusion.GaussianDiffusion(GAUSS_MEAN, GAUSS_COV), WarpedGaussian(GAUSS_MEAN, GAUSS_COV)):
        lp = m.log_prob(pts, steps=16)
        mass = float(lp.exp().sum()) * cell
        assert abs(mass - 1) < 0.01, f"{type(m).__name__}: the ODE density integrates to {mass:.4f}"
    warped = lp.exp().reshape(90, 90)
    exact = m.exact_log_prob(pts).exp().reshape(90, 90)
    assert float((warped - exact).abs().sum()) * cell > 0.1, "the warp must change the density"


def test_elbo_is_below_the_ode_log_likelihood_on_average_after_a_short_fit():
    torch.manual_seed(0)
    m = diffusion.ToyVDM(hidden=32, n_blocks=1, n_freq=2)
    x = _gaussian_data(2000, seed=3)
    diffusion.fit(m, x, steps=300, batch_size=256, lr=3e-3, ema=0.99)
    elbo, ode = m.elbo(x[:500], n_t=32), m.log_prob(x[:500], steps=16)
    diff = ode - elbo
    assert float(diff.mean()) > -3 * float(diff.std()) / len(diff) ** 0.5, (
        f"ELBO {float(elbo.mean()):.3f} above the ODE log-likelihood {float(ode.mean()):.3f}"
    )


def test_vdm_sampling_and_round_trip(tmp_path):
    torch.manual_seed(0)
    m = diffusion.ToyVDM(hidden=16, n_blocks=1, n_freq=2).eval()
    for method in ("ancestral", "ddim", "ode"):
        s = m.sample(7, seed=0, steps=4, method=method)
        assert s.shape == (7, 2) and torch.isfinite(s).all()
        assert torch.equal(s, m.sample(7, seed=0, steps=4, method=method))
    save_pretrained("vdm_test", m, directory=tmp_path, steps=0, seconds=0.0)
    loaded = pretrained("vdm_test", directory=tmp_path)
    assert torch.equal(loaded.sample(5, seed=1, steps=3), m.sample(5, seed=1, steps=3))
    x = torch.randn(5, 2)
    assert torch.allclose(loaded.elbo(x), m.elbo(x))


def test_exact_gaussian_samplers_converge_to_the_gaussian():
    m = diffusion.GaussianDiffusion(GAUSS_MEAN, GAUSS_COV)
    cov = torch.tensor(GAUSS_COV)
    s = m.sample(20_000, seed=0, steps=20, method="ode")  # RK4 on the exact ODE: right in 20 steps
    assert torch.allclose(s.mean(0), torch.tensor(GAUSS_MEAN), atol=0.05)
    assert torch.allclose(torch.cov(s.T), cov, atol=0.06)
    err, var = {}, {}
    for method in ("ddim", "ancestral"):  # first order: too narrow, less so with more steps
        for k in (50, 200):
            c = torch.cov(m.sample(20_000, seed=0, steps=k, method=method).T)
            err[method, k], var[method, k] = float((c - cov).abs().max()), float(c.trace())
        assert err[method, 200] < err[method, 50], f"{method}: covariance error must shrink with the steps"
        assert var[method, 50] < float(cov.trace()), f"{method}: 50 steps must be too narrow"
    assert var["ancestral", 50] < var["ddim", 50], "at 50 steps the ancestral sampler is the narrower"


def test_vdm_bad_input_is_refused():
    m = diffusion.ToyVDM(hidden=8, n_blocks=1, n_freq=1)
    with pytest.raises(ValueError, match="gamma_min"):
        diffusion.ToyVDM(gamma_min=3.0, gamma_max=1.0)
    with pytest.raises(ValueError, match="x must have 2 feature"):
        m.log_prob(torch.randn(4, 3))
    with pytest.raises(ValueError, match="steps"):
        m.log_prob(torch.randn(4, 2), steps=0)
    with pytest.raises(ValueError, match="n_t"):
        m.elbo(torch.randn(4, 2), n_t=0)
    with pytest.raises(ValueError, match="method"):
        m.sample(3, method="euler")
    with pytest.raises(ValueError, match="cov must be"):
        diffusion.GaussianDiffusion([0.0, 0.0], [[1.0]])
    with pytest.raises(ValueError, match="n_freq"):
        diffusion.ToyVDM(n_freq=-1)


@pytest.mark.parametrize(
    "kwargs, sizes",
    [
        (dict(mults=(1, 2, 2)), [28, 14, 7]),  # full resolution: 28 → 14 → 7 and back
        (dict(mults=(1, 2), patch=2), [14, 7]),  # 2×2 pixels folded into 4 channels first
        (dict(mults=(1, 2, 4), attention=True), [28, 14, 7]),
    ],
)
def test_unet_at_28_goes_down_to_7_and_back(kwargs, sizes):
    """Every level of the U-Net at the size it should have, and a 28×28 output the same shape as the input."""
    net = diffusion.UNet(channels=8, T=10, **kwargs)
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1])) for b in [*net.down, net.mid1]]
    x = torch.randn(3, 1, 28, 28)
    out = net(x, torch.tensor([1, 5, 10]))
    for h in hooks:
        h.remove()
    assert out.shape == x.shape, f"the U-Net must return (3, 1, 28, 28), got {tuple(out.shape)}"
    assert seen == sizes, f"levels at sizes {seen}, expected {sizes}"


def test_unet_output_depends_on_every_pixel_and_the_skip_is_used():
    """A pixel's prediction sees the whole 28×28 input through the 7×7 level (the receptive field
    covers the image), and with patch folding the fold and unfold are inverse (pixel k in, pixel k out)."""
    torch.manual_seed(0)
    net = diffusion.UNet(channels=8, T=10, mults=(1, 2), attention=True, patch=2)
    for p in net.out.parameters():
        torch.nn.init.normal_(p, std=0.1)  # the zero-initialised last layer would hide every gradient
    x = torch.randn(1, 1, 28, 28, requires_grad=True)
    net(x, torch.tensor([3]))[0, 0, 0, 0].backward()
    assert (x.grad[0, 0] != 0).float().mean() > 0.99, "the corner pixel's output must depend on all pixels"
    y = torch.arange(784.0).reshape(1, 1, 28, 28)
    assert torch.equal(torch.nn.functional.pixel_shuffle(torch.nn.functional.pixel_unshuffle(y, 2), 2), y)


def test_digit_ddpm_at_28_samples_digits_and_refuses_bad_sizes():
    d = diffusion.DigitDDPM(size=28, channels=8, T=10, mults=(1, 2), attention=True, patch=2)
    s = d.sample(3, seed=0, steps=3, method="ancestral")
    assert s.shape == (3, 1, 28, 28) and s.min() >= 0 and s.max() <= 1
    assert torch.equal(s, d.sample(3, seed=0, steps=3, method="ancestral"))
    x = diffusion.to_model_space(torch.rand(4, 1, 28, 28), 28)
    assert x.shape == (4, 1, 28, 28) and float(d.loss(x).detach()) > 0
    with pytest.raises(ValueError, match="size must be divisible by 4"):
        diffusion.DigitDDPM(size=14, channels=8, mults=(1, 2, 2))
    with pytest.raises(ValueError, match="size must be divisible by 4"):
        diffusion.DigitDDPM(size=14, channels=8, patch=2)
    with pytest.raises(ValueError, match="channels must be a multiple of 8"):
        diffusion.DigitDDPM(channels=12)
    with pytest.raises(ValueError, match="mults must"):
        diffusion.DigitDDPM(mults=(1,))


def test_fit_callback_sees_the_averaged_weights():
    m = diffusion.ToyDDPM(T=10, hidden=8, n_hidden=1)
    seen = []
    diffusion.fit(
        m, torch.randn(64, 2), steps=6, batch_size=16, ema=0.9, callback=lambda k, w: seen.append((k, w))
    )
    assert [k for k, _ in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[-1][1] is not m, "with an EMA the callback gets the averaged copy"
    assert all(torch.equal(a, b) for a, b in zip(seen[-1][1].state_dict().values(), m.state_dict().values()))
