"""helpers.models.flows: every layer's log-det matches autograd, inverses invert, densities normalise,
MAF/IAF pay their passes where they should, bad input is refused, checkpoints round-trip; and planted
bugs (a wrong log-det sign, a missing Jacobian term) make lesson 11's checks raise. A few seconds."""

import pytest
import torch
from torch import nn

from helpers import check
from helpers.models import flows, pretrained, save_pretrained


def _perturbed(module, scale=0.3, seed=0):
    """Leave the identity initialisation behind, so a test sees a non-trivial map."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return module


def _layers():
    torch.manual_seed(0)
    return {
        "coupling": (flows.AffineCoupling(torch.tensor([1.0, 0.0, 1.0]), hidden=16), torch.randn(5, 3)),
        "maf": (flows.MAFLayer(4, hidden=16), torch.randn(5, 4)),
        "iaf": (flows.IAFLayer(4, hidden=16), torch.randn(5, 4)),
        "reverse": (flows.Reverse(), torch.randn(5, 3)),
        # points beyond the spline's bound (3) check the identity tails too
        "spline": (flows.SplineCoupling(torch.tensor([1.0, 0.0, 0.0]), hidden=16, bins=5), 2.5 * torch.randn(5, 3)),
    }


@pytest.mark.parametrize("name", ["coupling", "maf", "iaf", "reverse", "spline"])
def test_layer_log_det_matches_autograd_and_inverse_inverts(name):
    layer, x = _layers()[name]
    _perturbed(layer)
    z, log_det = layer(x)
    check.close_to(
        log_det, flows.layer_jacobian_logdet(layer, x), f"{name} log-det", rtol=1e-4, atol=1e-5, quiet=True
    )
    x_back, log_det_back = layer.inverse(z)
    assert torch.allclose(x_back, x, atol=1e-5), f"{name}: inverse(forward(x)) must give x back"
    assert torch.allclose(log_det + log_det_back, torch.zeros(len(x)), atol=1e-5), (
        f"{name}: the inverse's log-det must be minus the forward one"
    )


@pytest.mark.parametrize("kind", ["checkerboard", "channel"])
def test_conv_coupling_log_det_matches_autograd(kind):
    torch.manual_seed(1)
    layer = _perturbed(flows.ConvCoupling(4, 4, kind, parity=1, hidden=8), 0.2)
    x = torch.randn(1, 4, 4, 4)
    J = torch.autograd.functional.jacobian(
        lambda v: layer(v.reshape(1, 4, 4, 4))[0].reshape(-1), x.reshape(-1)
    )
    check.close_to(
        layer(x)[1], torch.linalg.slogdet(J)[1], f"conv coupling ({kind}) log-det", atol=1e-4, quiet=True
    )
    assert torch.allclose(layer.inverse(layer(x)[0])[0], x, atol=1e-5)


def test_logit_and_squeeze_log_dets():
    x = torch.rand(1, 1, 4, 4) * 0.9 + 0.05
    for layer in (flows.LogitTransform(0.05), flows.Squeeze()):
        J = torch.autograd.functional.jacobian(
            lambda v, f=layer: f(v.reshape(1, 1, 4, 4))[0].reshape(-1), x.reshape(-1)
        )
        check.close_to(layer(x)[1], torch.linalg.slogdet(J)[1], type(layer).__name__, atol=1e-4, quiet=True)
        assert torch.allclose(layer.inverse(layer(x)[0])[0], x, atol=1e-5)


def test_spline_is_monotone_through_its_knots_and_identity_at_init():
    g = torch.Generator().manual_seed(0)
    K, B = 6, 2.0
    w, h, d = (torch.randn(1, K, generator=g), torch.randn(1, K, generator=g), torch.randn(1, K - 1, generator=g))
    knots_x, _ = flows._knots(w, B)
    knots_y, _ = flows._knots(h, B)
    y, _ = flows.rational_quadratic_spline(
        knots_x[0], w.expand(K + 1, K), h.expand(K + 1, K), d.expand(K + 1, K - 1), B
    )
    assert torch.allclose(y, knots_y[0], atol=1e-5), "the spline must pass through its knots (x_k, y_k)"
    x = torch.linspace(-3, 3, 2001)
    n = len(x)
    y, log_slope = flows.rational_quadratic_spline(x, w.expand(n, K), h.expand(n, K), d.expand(n, K - 1), B)
    assert (y.diff() > 0).all(), "the spline must be strictly increasing"
    assert torch.equal(y[x.abs() > B], x[x.abs() > B]), "outside [-B, B] the spline is the identity"
    # its log-slope against autograd's derivative, and its inverse
    xg = x.clone().requires_grad_(True)
    yg, _ = flows.rational_quadratic_spline(xg, w.expand(n, K), h.expand(n, K), d.expand(n, K - 1), B)
    (dy,) = torch.autograd.grad(yg.sum(), xg)
    assert torch.allclose(log_slope, dy.log(), atol=1e-4), "log|dy/dx| must match autograd"
    x_back, log_back = flows.rational_quadratic_spline(
        y, w.expand(n, K), h.expand(n, K), d.expand(n, K - 1), B, inverse=True
    )
    assert torch.allclose(x_back, x, atol=1e-4) and torch.allclose(log_back, -log_slope, atol=1e-4)
    zero = torch.zeros(n, K)
    y0, ls0 = flows.rational_quadratic_spline(x, zero, zero, torch.zeros(n, K - 1), B)
    assert torch.allclose(y0, x, atol=1e-6) and ls0.abs().max() < 1e-5, "zero parameters give the identity"


@pytest.mark.parametrize("Model", [flows.RealNVP, flows.MAF, flows.IAF, flows.SplineFlow])
def test_2d_flows_normalise_invert_and_sample(Model):
    torch.manual_seed(0)
    model = _perturbed(Model(dim=2, n_layers=3, hidden=16), 0.2).eval()
    total = check.normalizes(model.log_prob, lim=(-8, 8), n=300, tol=2e-2, quiet=True)
    assert abs(total - 1) < 2e-2
    x = model.sample(50, seed=3)
    assert x.shape == (50, 2)
    assert torch.equal(x, model.sample(50, seed=3)), "the same seed must give the same samples"
    with torch.no_grad():
        z, _ = model(x)
        assert torch.allclose(model.inverse(z)[0], x, atol=1e-4)
        # sample_and_log_prob's density is the model's density at the sample
        xs, log_q = model.sample_and_log_prob(20, torch.Generator().manual_seed(0))
        assert torch.allclose(log_q, model.log_prob(xs), atol=1e-4)


def test_maf_and_iaf_pass_counts():
    D = 6
    counts = {}

    def counting(model, key):
        for layer in model.layers:
            if hasattr(layer, "made"):
                layer.made.register_forward_hook(lambda *a: counts.__setitem__(key, counts.get(key, 0) + 1))

    maf, iaf = flows.MAF(dim=D, n_layers=2, hidden=16), flows.IAF(dim=D, n_layers=2, hidden=16)
    counting(maf, "maf")
    counting(iaf, "iaf")
    x = torch.randn(4, D)
    with torch.no_grad():
        for model, key in ((maf, "maf"), (iaf, "iaf")):
            counts[key] = 0
            model.log_prob(x)
            counts[key + " density"] = counts[key]
            counts[key] = 0
            model.sample(4, seed=0)
            counts[key + " sample"] = counts[key]
    assert counts["maf density"] == 2 and counts["maf sample"] == 2 * D, counts
    assert counts["iaf density"] == 2 * D and counts["iaf sample"] == 2, counts


def test_made_is_causal():
    made = _perturbed(flows.MADE(5, hidden=16), 0.5)
    x = torch.randn(1, 5, requires_grad=True)
    mu, alpha = made(x)
    for i in range(5):
        (grad,) = torch.autograd.grad(mu[0, i] + alpha[0, i], x, retain_graph=True)
        assert grad[0, i:].abs().max() == 0, f"output {i} must not depend on inputs ≥ {i}"


def _image_jacobian_logdet(layer, x):
    """log|det| of the full Jacobian of an image layer at one image x (1, C, H, W), by autograd."""
    J = torch.autograd.functional.jacobian(lambda v: layer(v.reshape(x.shape))[0].reshape(-1), x.reshape(-1))
    return torch.linalg.slogdet(J)[1]


def _image_layers():
    torch.manual_seed(2)
    hist = flows.PixelHistogram(n_pixels=16, n_bins=8).fit(torch.randint(0, 8, (50, 1, 4, 4)) / 7.0)
    return {
        "pixel histogram": (hist, (torch.randint(0, 8, (1, 1, 4, 4)) + torch.rand(1, 1, 4, 4)) / 8),
        "actnorm": (_perturbed(flows.ActNorm(3)), torch.randn(1, 3, 4, 4)),
        "invertible 1x1 conv": (_perturbed(flows.InvConv1x1(3), 0.2), torch.randn(1, 3, 4, 4)),
    }


@pytest.mark.parametrize("name", ["pixel histogram", "actnorm", "invertible 1x1 conv"])
def test_digit_layers_log_det_matches_autograd_and_inverse_inverts(name):
    layer, x = _image_layers()[name]
    z, log_det = layer(x)
    check.close_to(log_det, _image_jacobian_logdet(layer, x), f"{name} log-det", atol=1e-3, quiet=True)
    x_back, log_det_back = layer.inverse(z)
    assert torch.allclose(x_back, x, atol=1e-4), f"{name}: inverse(forward(x)) must give x back"
    assert torch.allclose(log_det + log_det_back, torch.zeros(1), atol=1e-3), (
        f"{name}: the inverse's log-det must be minus the forward one"
    )


def test_lu_conv_log_det_is_the_sum_of_the_diagonal():
    layer = _perturbed(flows.InvConv1x1(5), 0.3)
    W = layer.weight()
    assert torch.allclose(torch.linalg.slogdet(W)[1], layer.log_s.sum(), atol=1e-5), (
        "det W must be ± the product of U's diagonal (exp of log_s)"
    )
    assert torch.allclose(layer(torch.randn(2, 5, 3, 3))[1], 9 * layer.log_s.sum().expand(2), atol=1e-5)


def test_pixel_histogram_alone_is_the_independent_pixel_density():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (200, 1, 28, 28)) / 255.0
    layer = flows.PixelHistogram().fit(images, smoothing=1.0)
    k = torch.randint(0, 256, (3, 784))
    y = ((k + torch.rand(3, 784)) / 256).reshape(3, 1, 28, 28)
    z, log_det = layer(y)
    counts = (
        torch.stack(
            [
                torch.bincount(torch.round(images.flatten(1)[:, j] * 255).long(), minlength=256)
                for j in range(784)
            ]
        )
        + 1.0
    )
    expected = (256 * counts / counts.sum(1, keepdim=True)).log().gather(1, k.T).T.sum(1)
    got = -0.5 * (z.pow(2) + flows.LOG_2PI).flatten(1).sum(1) + log_det
    assert torch.allclose(got, expected, atol=2e-2), "log N(z) + log-det must be the histograms' log density"


def test_digit_flow_shapes_bits_and_inverse():
    torch.manual_seed(0)
    for pre in ("histogram", "logit"):
        model = _perturbed(flows.DigitFlow(n_checker=1, n_channel=2, n_low=2, hidden=8, pre=pre), 0.01).eval()
        x = torch.rand(3, 1, 28, 28)
        with torch.no_grad():
            lp = model.log_prob(x)
            assert lp.shape == (3,) and torch.isfinite(lp).all()
            z, log_det = model(x)
            assert z.shape == (3, 784)
            x_back, log_det_back = model.inverse(z)
            assert torch.allclose(x_back, x, atol=1e-4), f"{pre}: the flow must invert"
            assert torch.allclose(log_det + log_det_back, torch.zeros(3), atol=1e-2)
        s = model.sample(4, seed=0)
        assert s.shape == (4, 1, 28, 28) and s.min() >= 0 and s.max() <= 1
        assert torch.equal(s, model.sample(4, seed=0)), "the same seed must give the same samples"


def test_fit_digits_starts_at_the_histograms_and_records_the_curve():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 1, 28, 28)) / 255.0
    model = flows.DigitFlow(n_checker=0, n_channel=1, n_low=1, hidden=8)
    held = (torch.round(images[:16] * 255) + torch.rand(16, 1, 28, 28)) / 256
    history, _ = flows.fit_digits(model, images, steps=3, batch_size=8, eval_images=held, eval_every=2)
    assert bool(model.layers[0].fitted), "fit_digits must fit the first layer's histograms"
    assert [s for s, _ in history["eval"]] == [0, 2, 3]
    assert len(history["loss"]) == 3


def test_bad_input_is_refused_with_a_clear_message():
    model = flows.RealNVP(dim=2, n_layers=2, hidden=8)
    with pytest.raises(ValueError, match="x must have 2 feature"):
        model.log_prob(torch.randn(5, 3))
    with pytest.raises(ValueError, match="NaN"):
        model.log_prob(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="n must be"):
        model.sample(0)
    with pytest.raises(ValueError, match="dim must be"):
        flows.RealNVP(dim=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        flows.DigitFlow(n_checker=1, n_channel=1, n_low=1, hidden=8).log_prob(torch.full((1, 1, 28, 28), 2.0))
    with pytest.raises(ValueError, match="digits shaped"):
        flows.DigitFlow(n_checker=1, n_channel=1, n_low=1, hidden=8).log_prob(torch.rand(1, 1, 14, 14))
    with pytest.raises(ValueError, match="alpha"):
        flows.DigitFlow(alpha=0.7)
    with pytest.raises(ValueError, match="pre must be"):
        flows.DigitFlow(pre="sigmoid")
    with pytest.raises(ValueError, match="n_low"):
        flows.DigitFlow(n_low=-1)
    with pytest.raises(ValueError, match="channels"):
        flows.InvConv1x1(0)
    with pytest.raises(ValueError, match="784 pixels"):
        flows.PixelHistogram().fit(torch.rand(2, 1, 14, 14))
    with pytest.raises(ValueError, match="smoothing"):
        flows.PixelHistogram().fit(torch.rand(2, 1, 28, 28), smoothing=0)
    with pytest.raises(ValueError, match="eval_every"):
        flows.fit_digits(
            flows.DigitFlow(n_checker=0, n_channel=1, n_low=0, hidden=8),
            torch.rand(4, 1, 28, 28),
            steps=1,
            eval_every=0,
        )
    with pytest.raises(ValueError, match="target_log_prob"):
        flows.fit_reverse_kl(model, "not a function", steps=1)
    with pytest.raises(ValueError, match="kind"):
        flows.ConvCoupling(2, 4, kind="diagonal")
    with pytest.raises(ValueError, match="bins must be"):
        flows.SplineFlow(bins=1)
    with pytest.raises(ValueError, match="bound must be"):
        flows.SplineFlow(bound=-1.0)
    with pytest.raises(ValueError, match="x must have 2 feature"):
        flows.ZukoNSF(transforms=1, hidden=8).log_prob(torch.randn(5, 3))


def test_zuko_nsf_normalises_and_samples_deterministically():
    torch.manual_seed(0)
    model = flows.ZukoNSF(transforms=2, hidden=16, bins=4).eval()
    total = check.normalizes(model.log_prob, lim=(-8, 8), n=200, tol=2e-2, quiet=True)
    assert abs(total - 1) < 2e-2
    state = torch.random.get_rng_state()
    x = model.sample(20, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state), "sampling must not move torch's global generator"
    assert x.shape == (20, 2) and torch.equal(x, model.sample(20, seed=3))


def test_training_lowers_the_nll_and_checkpoints_round_trip(tmp_path):
    torch.manual_seed(0)
    _, train_x, test_x = flows.toy_split("two_moons", n_train=2000, n_test=500)
    model = flows.RealNVP(n_layers=4, hidden=32)
    with torch.no_grad():
        before = float(-model.log_prob(test_x).mean())
    history, _ = flows.fit_forward_kl(model, train_x, steps=150, batch_size=256)
    with torch.no_grad():
        after = float(-model.log_prob(test_x).mean())
    assert after < before - 0.3, (
        f"150 steps should lower the held-out NLL clearly ({before:.2f} → {after:.2f})"
    )
    save_pretrained("flow_test", model, directory=tmp_path, steps=150)
    loaded = pretrained("flow_test", directory=tmp_path)
    with torch.no_grad():
        assert torch.allclose(loaded.log_prob(test_x), model.log_prob(test_x))
    rev = flows.RealNVP(n_layers=2, hidden=8)
    history, _ = flows.fit_reverse_kl(rev, lambda x: -0.5 * (x**2).sum(1), steps=5, batch_size=32)
    assert len(history["loss"]) == 5


# --------------------------------------------------------------------------------------------
# Planted bugs: lesson 11's checks must raise on them


class WrongSignCoupling(flows.AffineCoupling):
    """The classic bug: the forward log-det with the wrong sign."""

    def forward(self, x):
        z, log_det = super().forward(x)
        return z, -log_det


class MissingJacobianFlow(flows.RealNVP):
    """A flow that forgets the log-det term: log p = log N(f(x)) only."""

    def log_prob(self, x):
        z, _ = self(self._check(x))
        return -0.5 * (z.pow(2) + flows.LOG_2PI).sum(1)


def test_planted_wrong_log_det_sign_fails_the_autograd_check():
    torch.manual_seed(0)
    layer = _perturbed(WrongSignCoupling(torch.tensor([1.0, 0.0]), hidden=16), 0.5)
    x = torch.randn(16, 2)
    with pytest.raises(check.CheckFailed, match="log-det"):
        check.close_to(
            layer(x)[1],
            flows.layer_jacobian_logdet(layer, x),
            "layer log-det vs autograd",
            rtol=1e-4,
            atol=1e-4,
        )


@pytest.fixture(scope="module")
def moons_flow():
    """A small RealNVP after 200 steps on two moons: its layers stretch space a lot."""
    torch.manual_seed(0)
    _, train_x, _ = flows.toy_split("two_moons", n_train=2000, n_test=10)
    model = flows.RealNVP(n_layers=4, hidden=32)
    flows.fit_forward_kl(model, train_x, steps=200, batch_size=256)
    return model.eval()


def test_planted_missing_jacobian_fails_the_normalisation_check(moons_flow):
    good = moons_flow
    bad = MissingJacobianFlow(n_layers=4, hidden=32).eval()
    bad.load_state_dict(good.state_dict())
    check.normalizes(good.log_prob, lim=(-6, 6), n=300, quiet=True)
    with pytest.raises(check.CheckFailed, match="integrates to"):
        check.normalizes(bad.log_prob, lim=(-6, 6), n=300)


def test_planted_wrong_sign_in_a_flow_fails_the_normalisation_check(moons_flow):
    bad = flows.RealNVP(n_layers=4, hidden=32).eval()
    bad.layers = nn.ModuleList(WrongSignCoupling(layer.mask, hidden=32) for layer in bad.layers)
    bad.load_state_dict(moons_flow.state_dict())
    with pytest.raises(check.CheckFailed, match="integrates to"):
        check.normalizes(bad.log_prob, lim=(-6, 6), n=300)
