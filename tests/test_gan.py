"""helpers.models.gan, helpers.models.dann and helpers.metrics.mode_coverage: shapes, learner-readable errors, the losses
and their gradients, and planted bugs that make the checks of lessons 09 and 10 raise
(a wrong D* formula, a critic without its penalty, a saturating generator loss). A few seconds each."""

import numpy as np
import pytest
import torch

from helpers import check
from helpers.data import EightGaussians
from helpers.metrics import emd, mode_coverage
from helpers.models import Generator, dann, gan, pretrained

RING = EightGaussians()


# ---------------------------------------------------------------------------------------------
# mode_coverage


def test_true_samples_cover_every_mode_with_high_quality():
    cov = mode_coverage(RING.sample(4000, seed=0), RING)
    assert cov.covered == 8 and cov.n_modes == 8
    # within 3σ in 2-D: P(χ²₂ ≤ 9) = 1 − e^{−4.5} ≈ 0.989
    assert abs(cov.high_quality - (1 - np.exp(-4.5))) < 0.01
    assert sum(cov.counts) == round(cov.high_quality * 4000)


def test_dropped_modes_and_bridges_are_counted():
    x = RING.sample(4000, seed=1)
    keep = torch.atan2(x[:, 1], x[:, 0]).abs() < 2.0  # modes at 0, ±45°, ±90°: 5 of 8
    cov = mode_coverage(x[keep], RING)
    assert cov.covered == 5
    bridges = torch.cat([x[keep], 0.5 * x[keep]])  # half the samples halfway to the centre
    assert abs(mode_coverage(bridges, RING).high_quality - cov.high_quality / 2) < 1e-9
    assert mode_coverage(torch.zeros(100, 2), RING).covered == 0


def test_a_mode_needs_its_share_to_count():
    x = torch.cat([RING.means[0].expand(990, 2), RING.means[1].expand(10, 2)])
    assert mode_coverage(x, RING, min_share=0.01).covered == 2
    assert mode_coverage(x, RING, min_share=0.02).covered == 1


def test_mode_coverage_with_centres_and_bad_input():
    x = RING.sample(500, seed=2)
    assert mode_coverage(x, RING.means, std=0.1).covered == 8
    with pytest.raises(ValueError, match="std"):
        mode_coverage(x, RING.means)
    with pytest.raises(ValueError, match="samples"):
        mode_coverage(torch.zeros(10, 3), RING)
    with pytest.raises(ValueError, match="min_share"):
        mode_coverage(x, RING, min_share=0)
    with pytest.raises(ValueError, match="std"):
        mode_coverage(x, RING.means, std=-1)


# ---------------------------------------------------------------------------------------------
# models: shapes, seeds, errors


def test_ring_gan_samples_points_and_is_a_generator():
    torch.manual_seed(0)
    m = gan.RingGAN("wgan-gp", hidden=16)
    assert isinstance(m, Generator)
    x = m.sample(7, seed=3)
    assert x.shape == (7, 2)
    assert torch.equal(x, m.sample(7, seed=3))
    assert not torch.equal(x, m.sample(7, seed=4))
    assert m.init_args["loss"] == "wgan-gp" and m.init_args["hidden"] == 16


def test_dcgan_samples_digits_in_unit_range():
    torch.manual_seed(0)
    m = gan.DCGAN(z_dim=8, width=8)
    x = m.sample(5, seed=0)
    assert x.shape == (5, 1, 28, 28)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.equal(x, m.sample(5, seed=0))
    assert m.D(x).shape == (5,)
    assert m.G.training  # sample() restores the mode it found


def test_bad_input_says_what_to_do():
    with pytest.raises(ValueError, match="loss must be one of"):
        gan.RingGAN("vanilla")
    m = gan.RingGAN(hidden=8)
    with pytest.raises(ValueError, match="n must be a whole number"):
        m.sample(0)
    with pytest.raises(ValueError, match=r"shaped \(n, 2\)"):
        m.D(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="digits shaped"):
        gan.DigitDiscriminator(8)(torch.zeros(2, 1, 14, 14))
    with pytest.raises(ValueError, match="z must be shaped"):
        gan.DigitGenerator(8, 8)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="digits shaped"):
        dann.DANN(width=4)(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dann.DANN(width=4)(torch.full((2, 1, 28, 28), 255.0))
    with pytest.raises(ValueError, match="same shape"):
        gan.gradient_penalty(m.D, torch.zeros(4, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="steps"):
        gan.train_adversarial(m, lambda n, g: RING._sample(n, g), 0)
    with pytest.raises(ValueError, match="loss must be one of"):
        gan.train_adversarial(m, lambda n, g: RING._sample(n, g), 2, loss="wasserstein")
    with pytest.raises(ValueError, match="differ in length"):
        dann.train_dann(
            dann.DANN(width=4), torch.zeros(3, 1, 28, 28), torch.zeros(2), torch.zeros(3, 1, 28, 28)
        )


# ---------------------------------------------------------------------------------------------
# training: every loss runs, records, snapshots; clipping clips


@pytest.mark.parametrize("loss", gan.LOSSES)
def test_train_adversarial_records_and_snapshots(loss):
    torch.manual_seed(0)
    m = gan.RingGAN(loss, hidden=16, n_records=4, n_snapshots=3, snapshot_points=50)
    h = gan.train_adversarial(m, lambda n, g: RING._sample(n, g), 8, batch_size=32, n_quality=50)
    assert len(h["g_loss"]) == 8 and all(np.isfinite(h["d_loss"]))
    rec = m.record()
    assert list(rec["step"]) == [0, 2, 4, 6] and np.isfinite(rec["quality"]).all()
    steps, snaps = m.snapshots_taken()
    assert steps == [0, 4, 8] and snaps.shape == (3, 50, 2)
    assert not torch.equal(snaps[0], snaps[-1]), "the generator moved between snapshots"
    if loss == "wgan-clip":
        assert max(float(p.detach().abs().max()) for p in m.D.parameters()) <= 0.01 + 1e-9


def test_snapshots_ship_in_the_state_dict():
    m = gan.DCGAN(z_dim=4, width=4, n_snapshots=2, snapshot_images=3)
    assert {"snapshots", "snapshot_steps", "record_steps", "record_values"} <= set(m.state_dict())
    assert m.snapshots.dtype == torch.uint8


# ---------------------------------------------------------------------------------------------
# lesson 09: D*, the generator losses, DANN's gradient reversal


def _d_star_gap(formula):
    """Train a 1-D discriminator as notebook 09 does; compare it with ``formula`` on the support."""
    torch.manual_seed(0)
    p_data, p_g = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.5, 0.75)
    disc = gan.MLPDiscriminator(dim=1, hidden=32, depth=2)
    gan.fit_discriminator(disc, p_data.sample((4000, 1)), p_g.sample((4000, 1)), steps=600)
    x = torch.linspace(-4, 5, 400)
    support = (p_data.log_prob(x).exp() > 0.05) | (p_g.log_prob(x).exp() > 0.05)
    with torch.no_grad():
        learned = torch.sigmoid(disc(x[:, None]))
    expected = formula(p_data.log_prob(x), p_g.log_prob(x))
    check.close_to(learned[support], expected[support], "trained D vs D*", rtol=0, atol=0.06)


def test_trained_discriminator_matches_d_star():
    _d_star_gap(gan.optimal_discriminator)


@pytest.mark.parametrize(
    "wrong",
    [
        lambda a, b: torch.sigmoid(b - a),  # p_g / (p_data + p_g): numerator swapped
        lambda a, b: (a - b).exp().clamp(max=1),  # p_data / p_g, the density ratio
        lambda a, b: torch.full_like(a, 0.5),  # "at the optimum D = ½" taken for any G
    ],
)
def test_a_wrong_d_star_formula_makes_the_check_raise(wrong):
    with pytest.raises(check.CheckFailed):
        _d_star_gap(wrong)


def test_optimal_discriminator_survives_tiny_densities():
    d = gan.optimal_discriminator(torch.tensor([-1000.0, 0.0]), torch.tensor([-1000.0, -1000.0]))
    assert torch.allclose(d, torch.tensor([0.5, 1.0]))


def test_generator_loss_gradients():
    logits = torch.linspace(-6, 6, 13, requires_grad=True)
    d = torch.sigmoid(logits).detach()
    (g_mm,) = torch.autograd.grad(gan.generator_loss(logits, "minimax") * 13, logits)
    (g_ns,) = torch.autograd.grad(gan.generator_loss(logits, "gan") * 13, logits)
    assert torch.allclose(g_mm, -d, atol=1e-6)
    assert torch.allclose(g_ns, -(1 - d), atol=1e-6)
    # notebook 09's ratio check fails when the two losses are swapped
    with pytest.raises(check.CheckFailed):
        check.greater(float(g_mm[0] / g_ns[0]), 100, "ratio", quiet=True)
    assert torch.isfinite(gan.generator_loss(torch.tensor([-500.0, 500.0]), "gan"))
    with pytest.raises(ValueError, match="kind"):
        gan.generator_loss(logits, "hinge")


def test_gradient_reversal_flips_and_scales():
    x = torch.randn(5, 3, requires_grad=True)
    (g,) = torch.autograd.grad(dann.GradientReversal()(x, 0.3).pow(2).sum(), x)
    assert torch.allclose(g, -0.3 * 2 * x)


def test_dann_features_receive_minus_alpha_times_the_domain_gradient():
    torch.manual_seed(0)
    m = dann.DANN(width=4, features=8, domain_hidden=8)
    x = torch.rand(6, 1, 28, 28)
    y = torch.tensor([0.0, 0, 0, 1, 1, 1])

    def feature_grad(alpha, reverse=True):
        m.zero_grad()
        h = m.features(x)
        dom = m.D(m.reverse(h, alpha) if reverse else h)[:, 0]
        torch.nn.functional.binary_cross_entropy_with_logits(dom, y).backward()
        return m.F[0].weight.grad.clone(), m.D[0].weight.grad.clone()

    f_rev, d_rev = feature_grad(0.5)
    f_plain, d_plain = feature_grad(0.5, reverse=False)
    assert torch.allclose(f_rev, -0.5 * f_plain, atol=1e-7), "F gets −α · ∂T2/∂F"
    assert torch.allclose(d_rev, d_plain), "D gets its own gradient unchanged"


def test_shifted_digits():
    x = torch.rand(4, 1, 28, 28)
    a, b = dann.shifted_digits(x, seed=0), dann.shifted_digits(x, seed=0)
    assert a.shape == x.shape and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1 and not torch.equal(a, x)


def test_train_dann_both_ways_runs():
    torch.manual_seed(0)
    xs, ys, xt = torch.rand(16, 1, 28, 28), torch.randint(10, (16,)), torch.rand(16, 1, 28, 28)
    for adversarial in (False, True):
        h = dann.train_dann(dann.DANN(width=4), xs, ys, xt, steps=3, batch_size=4, adversarial=adversarial)
        assert len(h["T1"]) == 3
        assert np.isfinite(h["T2"]).all() == adversarial


def test_shipped_dann_beats_source_only_on_the_target_and_the_check_can_fail():
    d = dann.dann_domains()
    acc = {
        name: dann.dann_accuracy(pretrained(name), d["test_target"], d["test_labels"])
        for name in ("dann_digits", "source_only_digits")
    }
    check.greater(acc["dann_digits"], acc["source_only_digits"], "target accuracy", margin=0.03)
    with pytest.raises(check.CheckFailed):  # the notebook's check, with the two models swapped
        check.greater(acc["source_only_digits"], acc["dann_digits"], "target accuracy", margin=0.03)
    # and not by giving up the source: DANN stays within 3 points of the baseline there
    src = {name: dann.dann_accuracy(pretrained(name), d["test_source"], d["test_labels"]) for name in acc}
    check.greater(src["dann_digits"], src["source_only_digits"] - 0.03, "source accuracy")


# ---------------------------------------------------------------------------------------------
# lesson 10: the dual estimate and the gradient penalty


def _dual_sets():
    x = torch.randn(150, 2, generator=torch.Generator().manual_seed(8)) * 0.5 + torch.tensor([0.5, 0.0])
    return x, RING.sample(150, seed=9)


def test_critic_with_penalty_reaches_the_exact_emd_and_without_it_does_not():
    x, y = _dual_sets()
    exact = emd(x, y)
    torch.manual_seed(0)
    good = gan.fit_critic(gan.MLPDiscriminator(2, 32, 2), x, y, steps=300, gp_weight=10.0)
    check.close_to(good[-1], exact, "dual estimate", rtol=0.10)
    torch.manual_seed(0)
    bad = gan.fit_critic(gan.MLPDiscriminator(2, 32, 2), x, y, steps=300, gp_weight=None)
    assert bad[-1] > 2 * exact, "without the penalty the dual gap grows without bound"
    with pytest.raises(check.CheckFailed):
        check.close_to(bad[-1], exact, "dual estimate", rtol=0.10)


def test_gradient_norm_check_fails_for_a_critic_without_penalty():
    x, y = _dual_sets()
    for gp_weight, should_pass in [(10.0, True), (None, False)]:
        torch.manual_seed(0)
        critic = gan.MLPDiscriminator(2, 32, 2)
        gan.fit_critic(critic, x, y, steps=300, gp_weight=gp_weight)
        norms = gan.critic_gradient_norms(critic, y, x[torch.randperm(150)])
        if should_pass:
            check.close_to(norms.mean(), 1.0, "mean gradient norm", rtol=0, atol=0.25)
        else:
            with pytest.raises(check.CheckFailed):
                check.close_to(norms.mean(), 1.0, "mean gradient norm", rtol=0, atol=0.25)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    gp = gan.gradient_penalty(lambda x: x @ w, torch.randn(6, 2), torch.randn(6, 2))
    assert torch.isclose(gp, torch.tensor(16.0))
    gp.backward()
    assert torch.allclose(w.grad, 2 * 4 * w.detach() / 5)


@pytest.mark.parametrize("loss", ["gan", "wgan-clip", "wgan-gp"])
def test_every_shipped_ring_model_loads_and_samples(loss):
    for seed in gan.RING["seeds"]:
        m = pretrained(gan.ring_name(loss, seed))
        assert m.loss == loss
        assert m.sample(10, seed=0).shape == (10, 2)
        assert len(m.record()["step"]) > 1


def test_mode_coverage_boundaries_and_messages():
    """The edges a mode count can get wrong: the 3σ boundary, a share of exactly 1, a mode with a single
    sample out of few, modes with no sample at all, and the names in the messages."""
    centres = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    on_edge = torch.tensor([[1.0, 0.0]])  # exactly n_sigma · std = 2 · 0.5 from the first centre
    cov = mode_coverage(on_edge, centres, std=0.5, n_sigma=2.0)
    assert (cov.covered, cov.high_quality, cov.counts, cov.n) == (1, 1.0, [1, 0, 0], 1)
    assert cov.as_dict() == {
        "covered": 1, "n_modes": 3, "high_quality": 1.0, "counts": [1, 0, 0], "n": 1,
        "kl": pytest.approx(np.log(3)), "min_share": pytest.approx(1 / 6),
    }  # fmt: skip
    assert mode_coverage(on_edge * 1.001, centres, std=0.5, n_sigma=2.0).covered == 0
    few = torch.cat([centres[:1], centres[1:2].expand(9, 2)])  # 1 of 10 samples at the first mode
    assert mode_coverage(few, centres, std=0.1, min_share=0.01).covered == 2  # needs ⌈0.1⌉ = 1 sample
    assert mode_coverage(centres[:1].expand(5, 2), centres, std=0.1, min_share=1.0).covered == 1
    with pytest.raises(ValueError, match=r"^min_share must be a share in \(0, 1\], got 1.5"):
        mode_coverage(few, centres, std=0.1, min_share=1.5)
    with pytest.raises(ValueError, match=r"^n_sigma must be a positive number"):
        mode_coverage(few, centres, std=0.1, n_sigma=0)
    with pytest.raises(ValueError, match=r"^std must be a positive number"):
        mode_coverage(few, centres, std=-1.0)
    with pytest.raises(ValueError, match=r"^std: pass the components' standard deviation"):
        mode_coverage(few, centres)
    with pytest.raises(ValueError, match=r"^samples must have 2 feature\(s\)"):
        mode_coverage(torch.zeros(4, 3), centres, std=0.1)
    with pytest.raises(ValueError, match=r"^modes must have 1 or 2 dimension"):
        mode_coverage(few, torch.zeros(2, 2, 2), std=0.1)
    from helpers.data import MixtureOfGaussians

    uneven = MixtureOfGaussians(centres, covs=torch.tensor([0.01, 0.04, 0.04]))
    with pytest.raises(
        ValueError, match=r"^modes: the mixture's components are not isotropic with one std; pass std\.$"
    ):
        mode_coverage(few, uneven)
    assert mode_coverage(few, uneven, std=0.1, min_share=0.01).covered == 2
    assert mode_coverage(few, uneven, std=0.1).covered == 1  # the default share 1/(2K) = 1/6 needs 2 of 10


# ---------------------------------------------------------------------------------------------
# the stricter mode count, the mode histogram's KL, the DCGAN's EMA and label smoothing


def _uniform_ring(n=2000):
    t = torch.rand(n, generator=torch.Generator().manual_seed(0)) * 2 * np.pi
    r = 2 + 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(1))
    return torch.stack([r * t.cos(), r * t.sin()], 1)


def test_a_uniform_ring_covers_no_mode_and_a_collapse_has_kl_log_k():
    blur = mode_coverage(_uniform_ring(), RING)
    assert blur.covered == 0 and blur.min_share == 1 / 16  # ~35 % HQ spread over 8 modes: < 1/16 each
    assert blur.kl < 0.05  # ... yet evenly spread: the KL alone cannot see a blur
    one = mode_coverage(RING.means[:1].expand(100, 2) + 0.01, RING)
    assert one.covered == 1 and one.kl == pytest.approx(np.log(8))
    half = mode_coverage(RING.means[:4].repeat(25, 1), RING)
    assert half.kl == pytest.approx(np.log(2))
    assert mode_coverage(torch.full((10, 2), 9.0), RING).kl == float("inf")


def test_mode_histogram_kl_uses_the_mixture_weights():
    from helpers.data import MixtureOfGaussians

    centres = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    x = torch.cat([centres[:1].expand(30, 2), centres[1:].expand(10, 2)])  # 3 : 1
    skewed = MixtureOfGaussians(centres, covs=0.01, weights=torch.tensor([0.75, 0.25]))
    assert mode_coverage(x, skewed).kl == pytest.approx(0.0, abs=1e-12)
    assert mode_coverage(x, centres, std=0.1).kl == pytest.approx(0.75 * np.log(1.5) + 0.25 * np.log(0.5))
    with pytest.raises(ValueError, match="weights must be 2 positive numbers"):
        mode_coverage(x, centres, std=0.1, weights=[1.0, 0.0])


def test_dcgan_ema_follows_g_and_samples_from_the_average():
    torch.manual_seed(0)
    m = gan.DCGAN(z_dim=4, width=4, ema=0.5)
    assert m.init_args["ema"] == 0.5 and not any(p.requires_grad for p in m.G_ema.parameters())
    with torch.no_grad():
        for p in m.G.parameters():
            p.add_(1.0)
    before = [p.clone() for p in m.G_ema.parameters()]
    m.update_ema()  # the first update: decay min(0.5, (1 + 1) / (10 + 1)) = 2/11 (the warm-up)
    for b, p_ema, p in zip(before, m.G_ema.parameters(), m.G.parameters()):
        assert torch.allclose(p_ema, 2 / 11 * b + 9 / 11 * p)
    for _ in range(20):
        m.update_ema()  # by now (1 + t)/(10 + t) > 0.5: the decay is ema itself
    assert int(m.ema_updates) == 21
    assert torch.equal(m.sample(3, seed=0), m.G_ema.sample(3, seed=0))
    m.recalibrate_ema(n=64, batch_size=32)
    bn = m.G_ema.fc[1]
    with torch.no_grad():
        h = m.G_ema.fc[0](torch.randn(64, 4, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(bn.running_mean, h.mean(0), atol=1e-5), "statistics of G_ema's own activations"
    assert bn.momentum == 0.1, "the momentum is restored"
    assert torch.equal(m.sample(3, seed=0, averaged=False), m.G.sample(3, seed=0))
    assert gan.DCGAN(z_dim=4, width=4).G_ema is None
    with pytest.raises(ValueError, match="ema must be in"):
        gan.DCGAN(ema=1.0)


def test_train_adversarial_updates_the_ema_and_calls_back():
    torch.manual_seed(0)
    m = gan.DCGAN(z_dim=4, width=4, ema=0.9, n_records=2, n_snapshots=2, snapshot_images=2)
    x = torch.rand(32, 1, 28, 28)
    seen = []
    h = gan.train_adversarial(
        m, lambda n, g: x[torch.randint(32, (n,), generator=g)], 3, batch_size=4, n_quality=4,
        quality=lambda f, r: 0.0, real_label=0.9, callback=seen.append,
    )  # fmt: skip
    assert seen == [1, 2, 3] and h["callback_seconds"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(m.G_ema.parameters(), m.G.parameters()))


def test_label_smoothing_moves_the_optimum_to_s_times_d_star():
    # minimise −[s·log D + (1 − s)·log(1 − D)]·p_data − log(1 − D)·p_g over one logit, at p_data = p_g
    logit = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([logit], lr=0.05)
    for _ in range(2000):
        loss = gan.discriminator_loss(logit, logit, real_label=0.9)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(torch.sigmoid(logit.detach())) == pytest.approx(0.45, abs=1e-3)  # s · ½
    assert torch.isclose(gan.discriminator_loss(torch.tensor([2.0]), torch.tensor([-1.0]), 1.0),
                         gan.discriminator_loss(torch.tensor([2.0]), torch.tensor([-1.0])))  # fmt: skip
    with pytest.raises(ValueError, match="real_label"):
        gan.discriminator_loss(logit, logit, real_label=0.0)


def test_wgan_paper_schedule_and_rmsprop():
    torch.manual_seed(0)
    m = gan.RingGAN("wgan-clip", hidden=8, n_records=2, n_snapshots=2, snapshot_points=10)
    calls = []
    D_forward = m.D.forward
    m.D.forward = lambda x: (calls.append(1), D_forward(x))[1]
    gan.train_adversarial(
        m, lambda n, g: RING._sample(n, g), 2, batch_size=8, n_quality=10, record_every=100,
        optimizer="rmsprop", lr=5e-5, warmup_critic=7, clip=0.05,
    )  # fmt: skip
    # 2 generator steps, both "early": 7 critic steps of 2 passes each + 1 generator pass, + 1 record
    assert len(calls) == 2 * (7 * 2 + 1) + 2
    assert max(float(p.detach().abs().max()) for p in m.D.parameters()) <= 0.05 + 1e-9
    with pytest.raises(ValueError, match="optimizer must be one of"):
        gan.train_adversarial(m, lambda n, g: RING._sample(n, g), 1, optimizer="sgd")
    with pytest.raises(ValueError, match="warmup_critic"):
        gan.train_adversarial(m, lambda n, g: RING._sample(n, g), 1, warmup_critic=-1)


def test_train_digits_rejects_unknown_recipe_entries():
    with pytest.raises(ValueError, match="unknown recipe entries"):
        gan.train_digits(steps=1, widht=8)


def test_diff_augment_shifts_each_image_by_at_most_shift_and_passes_gradients():
    x = torch.zeros(200, 1, 28, 28)
    x[:, 0, 14, 14] = 1.0  # one lit pixel in the middle of each image
    x.requires_grad_(True)
    y = gan.diff_augment(x, torch.Generator().manual_seed(0), shift=2)
    assert y.shape == x.shape
    assert torch.allclose(y.sum((1, 2, 3)), torch.ones(200))  # moved, not lost or copied
    where = y.detach()[:, 0].flatten(1).argmax(1)
    dy, dx = where // 28 - 14, where % 28 - 14
    assert dy.abs().max() == 2 and dx.abs().max() == 2  # every shift up to 2 is drawn...
    assert len({(int(a), int(b)) for a, b in zip(dy, dx)}) == 25  # ...all 5 × 5 of them
    y.sum().backward()
    # each input pixel lands on at most one output pixel: gradient 1 where it stays in the frame (all
    # of the interior), 0 where the shift pushed it out
    assert torch.all(x.grad[:, :, 2:26, 2:26] == 1) and set(x.grad.unique().tolist()) == {0.0, 1.0}
    edge = torch.zeros(100, 1, 28, 28)
    edge[:, 0, :, 0] = 1.0  # the left column: a shift to the left pushes it out, 0s come in
    shifted = gan.diff_augment(edge, torch.Generator().manual_seed(1), shift=2)
    assert shifted.sum((1, 2, 3)).min() == 0 and shifted.min() == 0
    with pytest.raises(ValueError, match="shift"):
        gan.diff_augment(x, shift=0)


def test_dann_lives_in_its_own_module_and_the_shelf_finds_it():
    from helpers.models import entry

    assert (
        dann.shipped_name(True) == "dann_digits" and dann.shipped_name(False, 2) == "source_only_digits_seed2"
    )
    with pytest.raises(ValueError, match="seed"):
        dann.shipped_name(True, -1)
    for name in ("dann_digits", "source_only_digits"):
        assert entry(name)["class"] == "helpers.models.dann.DANN"
        assert isinstance(pretrained(name), dann.DANN)
    assert not hasattr(gan, "DANN"), "DANN moved to helpers.models.dann"


def _tiny_ring_gan():
    torch.manual_seed(0)
    return gan.RingGAN("gan", hidden=8, n_records=2, n_snapshots=2, snapshot_points=10)


def _train_tiny(**kw):
    m = _tiny_ring_gan()
    h = gan.train_adversarial(m, lambda n, g: RING._sample(n, g), 5, batch_size=16, n_quality=10, **kw)
    return m, h


def test_own_losses_replace_the_librarys_and_train_the_same_model():
    # lesson 09's exercise: the learner's losses in place of discriminator_loss / generator_loss
    seen = {"d": 0, "g": 0}

    def d_fn(real_logits, fake_logits):
        seen["d"] += 1
        return gan.discriminator_loss(real_logits, fake_logits)

    def g_fn(fake_logits):
        seen["g"] += 1
        return gan.generator_loss(fake_logits, "gan")

    m_lib, h_lib = _train_tiny()
    m_own, h_own = _train_tiny(d_loss_fn=d_fn, g_loss_fn=g_fn, warmup_critic=3)
    assert seen == {"d": 5 * 3, "g": 5}  # every D step (3 per generator step while early) and G step
    m_own2, h_own2 = _train_tiny(d_loss_fn=d_fn, g_loss_fn=g_fn)
    assert h_own2["d_loss"] == h_lib["d_loss"] and h_own2["g_loss"] == h_lib["g_loss"]
    assert all(torch.equal(a, b) for a, b in zip(m_own2.G.parameters(), m_lib.G.parameters()))
    # the saturating loss given as the learner's is the library's "minimax"
    _, h_sat = _train_tiny(g_loss_fn=lambda logits: gan.generator_loss(logits, "minimax"))
    _, h_mm = _train_tiny(loss="minimax")
    assert h_sat["g_loss"] == h_mm["g_loss"]


def test_own_losses_are_validated_by_name():
    m = _tiny_ring_gan()
    data = lambda n, g: RING._sample(n, g)  # noqa: E731
    with pytest.raises(ValueError, match="d_loss_fn must be a function"):
        gan.train_adversarial(m, data, 1, d_loss_fn=3.0)
    with pytest.raises(ValueError, match="g_loss_fn replaces a GAN's loss"):
        gan.train_adversarial(m, data, 1, loss="wgan-gp", g_loss_fn=lambda logits: -logits.mean())
    with pytest.raises(ValueError, match="d_loss_fn: label smoothing"):
        gan.train_adversarial(m, data, 1, d_loss_fn=gan.discriminator_loss, real_label=0.9)
    with pytest.raises(ValueError, match="g_loss_fn must return one number"):
        gan.train_adversarial(
            m, data, 1, batch_size=8, g_loss_fn=lambda logits: torch.nn.functional.softplus(-logits)
        )
    with pytest.raises(ValueError, match="d_loss_fn returned a tensor with no gradient"):
        gan.train_adversarial(m, data, 1, batch_size=8, d_loss_fn=lambda r, f: torch.tensor(0.5))
    with pytest.raises(ValueError, match="g_loss_fn must return one number"):
        gan.train_adversarial(m, data, 1, batch_size=8, g_loss_fn=lambda logits: 0.5)


def test_train_ring_passes_head_start_and_callback():
    seen = []
    model, h = gan.train_ring(
        "gan", seed=0, steps=2, warmup_critic=4, callback=lambda s, m: seen.append((s, m))
    )
    assert [s for s, _ in seen] == [1, 2] and all(m is model for _, m in seen)
    assert len(h["g_loss"]) == 2


def test_rejection_sample_with_the_exact_ratio_draws_the_data_distribution():
    # p_g = N(0, 2²), p_data = N(0, 1): the ratio is bounded (largest at 0), so γ = 0 is exact
    # rejection sampling; a γ from a quantile of F is looser (γ < 0) or stricter (γ > 0).
    g = torch.Generator().manual_seed(0)
    p_data, p_g = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(0.0, 2.0)

    def draw(m):
        return 2.0 * torch.randn(m, 1, generator=g)

    def log_ratio(x):
        return (p_data.log_prob(x) - p_g.log_prob(x))[:, 0]

    exact, rate = gan.rejection_sample(draw, log_ratio, 20_000, quantile=None, generator=g)
    assert exact.shape == (20_000, 1)
    assert abs(float(exact.std()) - 1.0) < 0.03 and abs(float(exact.mean())) < 0.03
    assert abs(rate - 0.5) < 0.03  # the acceptance of exact rejection sampling is 1/M = σ_data/σ_g
    loose, loose_rate = gan.rejection_sample(draw, log_ratio, 20_000, quantile=0.2, generator=g)
    assert 1.05 < float(loose.std()) < 1.95 and loose_rate > rate  # γ < 0 here: between p_data and p_g
    strict, strict_rate = gan.rejection_sample(draw, log_ratio, 5_000, quantile=0.8, generator=g)
    assert float(strict.std()) < 0.95 and strict_rate < rate  # γ > 0: narrower than the data
    flipped, _ = gan.rejection_sample(draw, lambda x: -log_ratio(x), 5_000, quantile=0.5, generator=g)
    assert float(flipped.std()) > 2.0  # keeping what D finds fake moves away from the data
    with pytest.raises(ValueError, match="quantile"):
        gan.rejection_sample(draw, log_ratio, 10, quantile=1.0)
    with pytest.raises(RuntimeError, match="max_draws"):
        gan.rejection_sample(draw, log_ratio, 10_000, quantile=None, burn_in=100, max_draws=1_000, generator=g)


def test_dcgan_sample_rejection_is_seeded_and_validated():
    model = gan.DCGAN(z_dim=8, width=4, ema=0.9)
    a, rate_a = model.sample_rejection(20, seed=3, quantile=0.5, real_label=0.9, burn_in=50)
    b, rate_b = model.sample_rejection(20, seed=3, quantile=0.5, real_label=0.9, burn_in=50)
    assert a.shape == (20, 1, 28, 28) and 0 < rate_a <= 1
    assert torch.equal(a, b) and rate_a == rate_b
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    with pytest.raises(ValueError, match="real_label"):
        model.sample_rejection(5, seed=0, real_label=0.4)
