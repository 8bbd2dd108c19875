"""helpers.models.vae: shapes, the ELBO and IWAE estimates, the closed-form KL, learner-readable
errors, and planted bugs that make lesson 08's checks raise. Runs in seconds on one CPU core."""

import math

import pytest
import torch

from helpers import check
from helpers.models import autoregressive as ar
from helpers.models import pretrained, save_pretrained
from helpers.models import vae as V


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(200, 1, 4, 4, generator=g) < 0.4).float()


def small_vae(latent=2):
    torch.manual_seed(0)
    return V.VAE(shape=(4, 4), latent=latent, hidden=(8,))


def kl_check(kl_fn, mu, logvar, S=4000):
    """Lesson 08's check: the closed-form KL equals its Monte-Carlo estimate within sampling error."""
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(S, *mu.shape, generator=torch.Generator().manual_seed(0))
    terms = (
        torch.distributions.Normal(mu, std).log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)
    ).sum(-1)
    se = terms.std(0) / math.sqrt(S)
    check.close_to(
        terms.mean(0),
        kl_fn(mu, logvar),
        "Monte-Carlo KL vs closed form",
        rtol=0,
        atol=float(4 * se.max()),
        quiet=True,
    )


def test_closed_form_kl_passes_and_planted_bugs_raise():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(20, 8, generator=g), torch.randn(20, 8, generator=g) - 1
    kl_check(V.gaussian_kl, mu, logvar)
    with pytest.raises(check.CheckFailed):  # dropped log σ²
        kl_check(lambda m, lv: 0.5 * (m**2 + lv.exp() - 1).sum(-1), mu, logvar)
    with pytest.raises(check.CheckFailed):  # missing ½
        kl_check(lambda m, lv: (m**2 + lv.exp() - 1 - lv).sum(-1), mu, logvar)


def iwae_checks(log_w, elbo, curve):
    """Lesson 08's checks: k = 1 matches the ELBO, the curve never decreases, ELBO < IWAE(k_max)."""
    single = log_w.mean(1)
    diff = single - elbo
    check.close_to(
        single.mean(),
        elbo.mean(),
        "IWAE k=1 vs ELBO",
        rtol=0,
        atol=float(4 * diff.std() / math.sqrt(len(diff)) + 0.05),
        quiet=True,
    )
    check.never_decreases(curve, "IWAE as k grows", tol=1e-4, quiet=True)
    check.greater(curve[-1], elbo.mean(), "IWAE vs ELBO", quiet=True)


def test_iwae_starts_at_the_elbo_and_grows(data):
    model = small_vae()
    ks = [1, 2, 5, 20, 100, 400]
    log_w = model.log_weights(data, 400, generator=torch.Generator().manual_seed(0))
    assert log_w.shape == (200, 400)
    elbo = model.elbo(data, n_samples=400, generator=torch.Generator().manual_seed(1)).detach()
    curve = V.iwae_curve(log_w, ks)
    iwae_checks(log_w, elbo, curve)
    # planted bug: ELBO that adds the KL instead of subtracting it
    mu, logvar = model.encode(data)
    wrong_elbo = (elbo + 2 * V.gaussian_kl(mu, logvar)).detach()
    with pytest.raises(check.CheckFailed, match="k=1"):
        iwae_checks(log_w, wrong_elbo, curve)
    # planted bug: subtracting k instead of log k
    wrong_curve = torch.tensor([float((torch.logsumexp(log_w[:, :k], 1) - k).mean()) for k in ks])
    with pytest.raises(check.CheckFailed, match="decreased"):
        iwae_checks(log_w, elbo, wrong_curve)


def test_iwae_approaches_the_exact_likelihood_of_a_1d_latent_model(data):
    # with a 1-D latent, log p(x) = log ∫ p(x|z) p(z) dz by quadrature on a fine grid
    model = small_vae(latent=1)
    data = data[:40]
    z = torch.linspace(-8, 8, 20001)[:, None]
    with torch.no_grad():
        log_lik = model.log_likelihood(
            data.flatten(1)[:, None, :], model.decoder_logits(z)[None]
        )  # (n, grid)
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z[:, 0])
        exact = torch.logsumexp(log_lik + log_prior, 1) + math.log(float(z[1, 0] - z[0, 0]))
    est = model.log_prob(data, k=5000, generator=torch.Generator().manual_seed(0))
    assert float((est - exact).max()) < 0.05, "IWAE must not exceed log p(x) (beyond noise)"
    assert float((exact - est).mean()) < 0.05, "with k = 5000 the estimate reaches log p(x)"
    elbo = model.elbo(data, n_samples=2000, generator=torch.Generator().manual_seed(2)).detach()
    assert float(elbo.mean()) < float(exact.mean()), "the ELBO lies below log p(x)"


def test_iwae_curve_validates():
    with pytest.raises(ValueError, match="exceeds"):
        V.iwae_curve(torch.zeros(3, 5), [10])


def test_shapes_and_sampling(data):
    model = small_vae(latent=3)
    assert model.elbo(data).shape == (200,)
    assert model.log_prob(data, k=7).shape == (200,)
    s = model.sample(5, seed=0)
    assert s.shape == (5, 1, 4, 4) and set(s.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(s, model.sample(5, seed=0))
    m = model.sample(5, seed=0, mean=True)
    assert ((m > 0) & (m < 1)).all()
    assert model.reconstruct(data[:3]).shape == (3, 1, 4, 4)
    ae = V.Autoencoder(shape=(4, 4), latent=3, hidden=(8,))
    assert ae.encode(data).shape == (200, 3)
    assert ae.decode(torch.zeros(2, 3)).shape == (2, 1, 4, 4)
    assert ae.reconstruction_error(data).shape == (200,)
    assert ae.sample(6, seed=1).shape == (6, 1, 4, 4)


def test_bad_input_is_explained(data):
    model = small_vae(latent=3)
    with pytest.raises(ValueError, match="only 0 and 1"):
        model.elbo(torch.full((2, 1, 4, 4), 0.3))
    with pytest.raises(ValueError, match="latent"):
        model.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="k must"):
        model.log_prob(data, k=0)
    with pytest.raises(ValueError, match="n_samples"):
        model.elbo(data, n_samples=0)
    with pytest.raises(ValueError, match="hidden"):
        V.VAE(hidden=())
    with pytest.raises(ValueError, match="latent"):
        V.Autoencoder(latent=0)
    with pytest.raises(ValueError, match="n_val"):
        V.validation_split(data, 200)


def test_fit_improves_both_models(data):
    for cls in (V.VAE, V.Autoencoder):
        torch.manual_seed(0)
        model = cls(shape=(4, 4), latent=2, hidden=(16,))
        history, _ = V.fit(
            model, data[:40], data[:10], epochs=40, batch_size=10, lr=1e-2, patience=None, progress=False
        )
        assert history["val_loss"][-1] < history["val_loss"][0], cls.__name__


def test_pretrained_round_trip(tmp_path, data):
    model = small_vae()
    save_pretrained("v", model, directory=tmp_path, data="tiny", script="test", steps=0, seconds=0.0)
    back = pretrained("v", directory=tmp_path)
    torch.testing.assert_close(back.decode(torch.zeros(1, 2)), model.decode(torch.zeros(1, 2)))


def test_configs_match_the_shared_split():
    assert set(V.CONFIGS) == set(V.CHECKPOINTS)
    for cls, kwargs, settings in V.CONFIGS.values():
        assert cls(**kwargs).init_args["latent"] == kwargs["latent"]
        assert settings["patience"] and settings["epochs"] > 0
    assert ar.N_VAL > 0


def test_judge_check_on_the_shipped_models_and_a_swapped_model():
    from helpers.metrics import digit_quality

    vae, ae = pretrained("vae_mnist"), pretrained("ae_mnist")
    ae_fd = digit_quality(ae.sample(200, seed=0)).fd
    vae_fd = digit_quality(vae.sample(200, seed=1, mean=True)).fd
    check.greater(ae_fd, 2 * vae_fd, "judge FD: AE random codes vs 2 × VAE samples", quiet=True)
    # planted bug: the autoencoder's decoded noise passed off as the VAE's samples
    swapped_fd = digit_quality(ae.sample(200, seed=1)).fd
    with pytest.raises(check.CheckFailed, match="judge FD"):
        check.greater(ae_fd, 2 * swapped_fd, "judge FD: AE random codes vs 2 × VAE samples", quiet=True)


# ---------------------------------------------------------------------------------------------
# The convolutional VAE, the KL warm-up, q fitted per digit


def test_conv_vae_has_the_vae_shape():
    torch.manual_seed(0)
    model = V.ConvVAE(latent=3, channels=4)
    x = (torch.rand(6, 1, 28, 28) < 0.2).float()
    assert model.elbo(x).shape == (6,)
    assert model.log_weights(x, 5).shape == (6, 5)
    assert model.log_prob(x, k=5).shape == (6,)
    assert model.sample(4, seed=0).shape == (4, 1, 28, 28)
    assert model.decoder_logits(torch.zeros(2, 7, 3)).shape == (2, 7, 784)


def test_log_weights_with_a_given_q_and_optimise_q():
    torch.manual_seed(0)
    model = V.ConvVAE(latent=3, channels=4)
    x = (torch.rand(4, 1, 28, 28) < 0.2).float()
    mu, logvar = model.encode(x)
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    assert torch.allclose(model.log_weights(x, 7, g(0)), model.log_weights(x, 7, g(0), q=(mu, logvar)))
    mu_s, logvar_s = V.optimise_q(model, x, steps=40, lr=0.05)
    assert float((V.elbo_at(model, x, mu_s, logvar_s, 200, g(1)) - V.elbo_at(model, x, mu, logvar, 200, g(1))).mean()) > 0
    with pytest.raises(ValueError, match="q must be"):
        model.log_weights(x, 3, q=(mu[:2], logvar[:2]))
    with pytest.raises(ValueError, match="lr"):
        V.optimise_q(model, x, lr=-1.0)


def test_fit_with_warmup_and_shifts_lowers_the_loss():
    torch.manual_seed(0)
    x = (torch.rand(60, 1, 28, 28) < 0.2).float()
    model = V.ConvVAE(latent=2, channels=4)
    history, _ = V.fit(model, x, x[:20], epochs=4, batch_size=20, lr=3e-3, warmup=2, shift=1, patience=None, progress=False)
    assert history["val_loss"][-1] < history["val_loss"][0]
    with pytest.raises(ValueError, match="warmup"):
        V.fit(V.Autoencoder(latent=2, hidden=(8,)), x, epochs=1, warmup=1, progress=False)
    with pytest.raises(ValueError, match="dropout"):
        V.ConvVAE(dropout=-0.1)


# --------------------------------------------------------------------------- the fitted code prior
def test_code_prior_fits_a_mixture_to_the_encoder_means(data):
    from helpers.estimators import GaussianMixture

    model = small_vae(latent=3)
    model.train()
    prior = model.code_prior(data, n_components=4, seed=0)
    assert isinstance(prior, GaussianMixture) and prior.means_.shape == (4, 3)
    assert model.training  # the mode is restored
    again = model.code_prior(data, n_components=4, seed=0)
    assert (prior.means_ == again.means_).all()  # deterministic in seed
    with torch.no_grad():
        model.eval()
        mu, _ = model.encode(data)
    # the mixture's weighted mean is the mean of the codes it was fitted to
    assert abs(prior.weights_ @ prior.means_ - mu.double().mean(0).numpy()).max() < 1e-5


def test_sample_with_a_prior_is_deterministic_shuffled_and_checked(data):
    model = small_vae(latent=3)
    prior = model.code_prior(data, n_components=4, seed=0)
    a = model.sample(50, seed=3, mean=True, prior=prior)
    b = model.sample(50, seed=3, mean=True, prior=prior)
    c = model.sample(50, seed=4, mean=True, prior=prior)
    assert a.shape == (50, 1, 4, 4) and torch.equal(a, b) and not torch.equal(a, c)
    draws = model.sample(50, seed=3, prior=prior)
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    # the codes come shuffled: the mixture's component labels are not grouped in order
    g = torch.Generator().manual_seed(3)
    z = model._prior_codes(prior, 200, g)
    labels = prior.predict(z.double())
    assert (labels[1:] != labels[:-1]).sum() > 20
    # prior=None is the N(0, I) sampler, unchanged
    assert torch.equal(model.sample(10, seed=1, mean=True), model.sample(10, seed=1, mean=True, prior=None))


def test_code_prior_and_prior_bad_input(data):
    from helpers.estimators import GaussianMixture

    model = small_vae(latent=3)
    with pytest.raises(ValueError, match="n_components"):
        model.code_prior(data, n_components=0)
    with pytest.raises(ValueError, match="n_components"):
        model.code_prior(data[:5], n_components=10)
    with pytest.raises(ValueError, match="seed"):
        model.code_prior(data, seed=-1)
    with pytest.raises(ValueError, match="x must hold only 0 and 1"):
        model.code_prior(data * 0.5 + 0.25)
    with pytest.raises(ValueError, match="prior"):  # not fitted
        model.sample(5, seed=0, prior=GaussianMixture(2))
    with pytest.raises(ValueError, match="prior"):  # no .sample at all
        model.sample(5, seed=0, prior="mixture")
    wrong = small_vae(latent=2).code_prior(data, n_components=2)
    with pytest.raises(ValueError, match="latent size"):  # codes of another latent size
        model.sample(5, seed=0, prior=wrong)
    with pytest.raises(ValueError, match="prior"):
        model.log_prob(data[:3], k=4, prior="mixture")


def test_iwae_with_the_fitted_prior(data):
    model = small_vae(latent=2)
    prior = model.code_prior(data, n_components=3)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    lw_prior = model.log_weights(data[:10], 6, g(), prior=prior)
    lw_std = model.log_weights(data[:10], 6, g())
    # the same draws z: the log-weights differ exactly by log p_mix(z) − log N(z; 0, I)
    torch.manual_seed(0)
    eps = torch.randn(10, 6, 2, generator=g())
    with torch.no_grad():
        mu, logvar = model.encode(data[:10])
    z = mu[:, None] + (0.5 * logvar).exp()[:, None] * eps
    log_n = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_mix = torch.as_tensor(prior.score_samples(z.reshape(-1, 2).double())).reshape(10, 6).float()
    check.close_to(lw_prior - lw_std, log_mix - log_n, "log-weight difference", atol=1e-4, quiet=True)
    assert model.log_prob(data[:10], k=6, generator=g(), prior=prior).shape == (10,)
