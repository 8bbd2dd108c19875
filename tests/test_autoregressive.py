"""helpers.models.autoregressive: exact, normalised likelihoods; causal masks; sampling and
completion; learner-readable errors; and planted bugs that make lesson 07's checks raise.
Runs in a few seconds on one CPU core."""

import pytest
import torch
import torch.nn.functional as F

from helpers import check
from helpers.models import autoregressive as ar
from helpers.models import pretrained, save_pretrained

ALL_3x3 = ar.all_binary_images(3, 3)


@pytest.fixture(scope="module")
def tiny_data():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(60, 1, 3, 3, generator=g) < 0.4).float()
    y = torch.randint(0, 3, (60,), generator=g)
    return x, y


def tiny_models(tiny_data):
    x, y = tiny_data
    torch.manual_seed(0)
    return {
        "bernoulli": ar.FactorisedBernoulli(shape=(3, 3)).fit(x),
        "naive_bayes": ar.NaiveBayes(shape=(3, 3), n_classes=3).fit(x, y),
        "markov": ar.MarkovChain(shape=(3, 3)).fit(x),
        "markov_above": ar.MarkovChain(shape=(3, 3), above=True).fit(x),
        "made": ar.MADE(shape=(3, 3), hidden=(16, 8), seed=3),
    }


def sum_to_one_check(model):
    """Lesson 07's check: Σ over all 512 binary 3×3 images of q(x) is 1."""
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(ALL_3x3).double(), 0).exp()
    check.close_to(total, 1.0, "Σ q(x) over all 512 images", rtol=0, atol=1e-5, quiet=True)


def test_all_binary_images():
    assert ALL_3x3.shape == (512, 1, 3, 3)
    assert len(torch.unique(ALL_3x3.flatten(1), dim=0)) == 512
    with pytest.raises(ValueError, match="too many"):
        ar.all_binary_images(5, 5)


@pytest.mark.parametrize("name", ["bernoulli", "naive_bayes", "markov", "markov_above", "made"])
def test_every_model_sums_to_one_on_3x3(tiny_data, name):
    sum_to_one_check(tiny_models(tiny_data)[name])


def test_missing_normaliser_makes_the_sum_check_raise():
    class Unnormalised(ar.MADE):
        def log_prob(self, x):  # planted bug: the logit times x, without log σ's normaliser
            x = ar.check_binary_images(x, self.shape).flatten(1)
            return (self.logits(x) * x).sum(1)

    with pytest.raises(check.CheckFailed, match="512"):
        sum_to_one_check(Unnormalised(shape=(3, 3), hidden=(16,), seed=1))


def test_made_is_causal_and_a_leaking_mask_is_caught():
    model = ar.MADE(shape=(4, 4), hidden=(32, 32), seed=0)
    assert ar.causality_violations(model) == 0
    leaky = ar.MADE(shape=(4, 4), hidden=(32,), seed=0)
    with torch.no_grad():  # planted bug: '>=' instead of '>' in the output mask
        g = torch.Generator().manual_seed(0)
        degrees = torch.randint(1, 16, (32,), generator=g)
        leaky.layers[-1].mask.copy_((torch.arange(1, 17)[:, None] >= degrees[None, :]).float())
    violations = ar.causality_violations(leaky)
    assert violations > 0
    with pytest.raises(check.CheckFailed):
        check.close_to(violations, 0, "causality violations", atol=0, quiet=True)


def test_made_masks_shapes_and_rule():
    masks = ar.made_masks(9, (5, 4), seed=0)
    assert [tuple(m.shape) for m in masks] == [(5, 9), (4, 5), (9, 4)]
    reach = masks[2] @ masks[1] @ masks[0]
    assert torch.equal(reach > 0, (reach > 0) & torch.tril(torch.ones(9, 9, dtype=torch.bool), -1))


def test_made_masks_with_two_outputs_per_input_wire_each_block_alike():
    masks = ar.made_masks(6, (10,), seed=1, outputs=2)
    assert tuple(masks[-1].shape) == (12, 10)
    torch.testing.assert_close(masks[-1][:6], masks[-1][6:])
    reach = masks[1] @ masks[0]
    strictly_lower = torch.tril(torch.ones(6, 6, dtype=torch.bool), -1)
    for block in reach.split(6):
        assert torch.equal(block > 0, (block > 0) & strictly_lower)


def test_the_flows_made_is_wired_by_made_masks():
    from helpers.models import flows

    made = flows.MADE(5, hidden=16, n_hidden=2, seed=3)
    linear = [m for m in made.net if isinstance(m, ar.MaskedLinear)]
    for layer, mask in zip(linear, ar.made_masks(5, (16, 16), seed=3, outputs=2)):
        torch.testing.assert_close(layer.mask, mask)


def test_made_masks_are_rebuilt_not_stored():
    model = ar.MADE(shape=(3, 3), hidden=(8,), seed=4)
    assert not any("mask" in k for k in model.state_dict()), "masks come from the seed, not the checkpoint"


def test_naive_bayes_chain_rule_equals_the_mixture(tiny_data):
    nb = tiny_models(tiny_data)["naive_bayes"]
    x = ALL_3x3[::7]
    chain = ar.PixelAutoregressive.log_prob(nb, x)
    torch.testing.assert_close(chain, nb.log_prob(x), atol=1e-5, rtol=0)


def test_count_models_match_hand_counts():
    x = torch.tensor([[1, 0, 1, 1], [1, 1, 0, 1], [0, 0, 1, 1]], dtype=torch.float32).reshape(3, 1, 2, 2)
    b = ar.FactorisedBernoulli(shape=(2, 2), alpha=1.0).fit(x)
    torch.testing.assert_close(torch.sigmoid(b.pixel_logits), torch.tensor([3, 2, 3, 4]) / 5.0)
    m = ar.MarkovChain(shape=(2, 2), alpha=1.0).fit(x)
    # pixel 3 (raster) after pixel 2: contexts x_2 = 1 (two images, both x_3 = 1), x_2 = 0 (one, x_3 = 1)
    torch.testing.assert_close(
        torch.sigmoid(m.table[3]), torch.tensor([(1 + 1) / (1 + 2), (2 + 1) / (2 + 2)])
    )


def test_sample_shapes_seeds_and_completion(tiny_data):
    for name, model in tiny_models(tiny_data).items():
        s = model.sample(7, seed=1)
        assert s.shape == (7, 1, 3, 3), name
        assert set(s.unique().tolist()) <= {0.0, 1.0}, name
        assert torch.equal(s, model.sample(7, seed=1)), f"{name}: the same seed gives the same samples"
    made = tiny_models(tiny_data)["made"]
    given = ALL_3x3[[5, 100, 300]]
    done = made.sample(3, seed=0, given=given, start=4)
    assert torch.equal(done.flatten(1)[:, :4], given.flatten(1)[:, :4]), "completion keeps the given pixels"
    seen = []
    made.sample(2, seed=0, callback=lambda i, x: seen.append(i))
    assert seen == list(range(9))


def test_bad_input_is_explained():
    model = ar.MADE(shape=(3, 3), hidden=(4,))
    with pytest.raises(ValueError, match="only 0 and 1"):
        model.log_prob(torch.full((2, 1, 3, 3), 0.5))
    with pytest.raises(ValueError, match=r"\(n, 1, 3, 3\)"):
        model.log_prob(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="9 pixels"):
        model.log_prob(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="NaN"):
        model.log_prob(torch.full((1, 9), float("nan")))
    with pytest.raises(ValueError, match="n must"):
        model.sample(0)
    with pytest.raises(ValueError, match="start"):
        model.sample(2, start=20)
    with pytest.raises(ValueError, match="given"):
        model.sample(2, start=3)
    with pytest.raises(ValueError, match="shape"):
        ar.MADE(shape=(3,))
    with pytest.raises(ValueError, match="hidden"):
        ar.MADE(shape=(3, 3), hidden=())
    with pytest.raises(ValueError, match="differ in length"):
        ar.NaiveBayes(shape=(3, 3)).fit(ALL_3x3[:5], torch.zeros(4))
    with pytest.raises(ValueError, match="labels"):
        ar.NaiveBayes(shape=(3, 3), n_classes=2).fit(ALL_3x3[:5], torch.full((5,), 3))
    with pytest.raises(ValueError, match="alpha"):
        ar.FactorisedBernoulli(shape=(3, 3), alpha=0)


def test_fit_made_lowers_the_nll(tiny_data):
    x, _ = tiny_data
    torch.manual_seed(0)
    model = ar.MADE(shape=(3, 3), hidden=(16,))
    history, seconds = ar.fit_made(
        model, x, x[:20], epochs=30, batch_size=20, lr=1e-2, progress=False, patience=None
    )
    independent = -float(ar.FactorisedBernoulli(shape=(3, 3)).fit(x).log_prob(x).mean())
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert -float(model.log_prob(x).detach().mean()) < independent + 0.5, (
        "MADE starts from the independent model and improves"
    )
    assert seconds >= 0


def test_pretrained_round_trip(tmp_path, tiny_data):
    x, _ = tiny_data
    for name, model in [
        ("m", ar.MADE(shape=(3, 3), hidden=(8,), seed=5)),
        ("c", ar.MarkovChain(shape=(3, 3), above=True).fit(x)),
    ]:
        save_pretrained(name, model, directory=tmp_path, data="tiny", script="test", steps=0, seconds=0.0)
        back = pretrained(name, directory=tmp_path)
        torch.testing.assert_close(back.log_prob(ALL_3x3), model.log_prob(ALL_3x3).detach())


def test_binarised_digits_split_is_fixed():
    a = ar.binarised_digits(verbose=False)
    b = ar.binarised_digits(verbose=False)
    assert torch.equal(a.val, b.val) and torch.equal(a.test, b.test)
    assert len(a.val) == ar.N_VAL and len(a.full_train) == len(a.train) + len(a.val)
    assert set(a.test.unique().tolist()) == {0.0, 1.0}
    with pytest.raises(ValueError, match="n_val"):
        ar.binarised_digits(n_val=10**6, verbose=False)


def test_unnormalised_log_sigmoid_identity():
    # the per-pixel term used everywhere: x log σ(l) + (1 − x) log σ(−l) = −BCE-with-logits
    logit, x = torch.randn(50), (torch.rand(50) < 0.5).float()
    torch.testing.assert_close(
        x * F.logsigmoid(logit) + (1 - x) * F.logsigmoid(-logit),
        -F.binary_cross_entropy_with_logits(logit, x, reduction="none"),
    )


def test_ranking_check_catches_a_chain_that_ignores_its_context():
    digits = ar.binarised_digits(verbose=False)
    independent = -float(ar.FactorisedBernoulli().fit(digits.full_train).log_prob(digits.test).mean())
    markov = -float(ar.MarkovChain().fit(digits.full_train).log_prob(digits.test).mean())
    check.greater(independent, markov, "NLL: independent pixels vs Markov chain", margin=20, quiet=True)

    class Contextless(ar.MarkovChain):  # planted bug: the context is never read
        def context(self, x):
            return torch.zeros_like(x, dtype=torch.long)

    broken = -float(Contextless().fit(digits.full_train).log_prob(digits.test).mean())
    with pytest.raises(check.CheckFailed, match="Markov"):
        check.greater(independent, broken, "NLL: independent pixels vs Markov chain", margin=20, quiet=True)


# ---------------------------------------------------------------------------------------------
# PixelCNN


def test_pixelcnn_is_causal_normalised_and_has_a_blind_spot():
    model = ar.PixelCNN(shape=(3, 3), channels=4, layers=1)
    assert ar.causality_violations(model) == 0
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(ar.all_binary_images(3, 3)).double(), 0).exp()
    assert abs(float(total) - 1) < 1e-5
    big = ar.PixelCNN(shape=(20, 20), channels=4, layers=3)
    seen = ar.receptive_field(big, (12, 10))
    before = (torch.arange(400) < 12 * 20 + 10).reshape(20, 20)
    assert not bool((seen & ~before).any()), "the receptive field reaches the pixel itself or later ones"
    assert bool(seen[11, 10]) and bool(seen[12, 9])
    assert not bool(seen[11, 19]), "a pixel up and far to the right should be in the blind spot"
    assert big.rows_seen == 6 and not bool(seen[12 - 7].any())


def test_pixelcnn_fast_sampler_equals_the_generic_loop_and_completes():
    torch.manual_seed(0)
    model = ar.PixelCNN(shape=(9, 9), channels=4, layers=2, dilations=(2, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.4)
    assert torch.equal(model.sample(5, seed=3), ar.PixelAutoregressive.sample(model, 5, seed=3))
    given = (torch.rand(5, 1, 9, 9) < 0.5).float()
    done = model.sample(5, seed=1, given=given, start=40)
    assert torch.equal(done.flatten(1)[:, :40], given.flatten(1)[:, :40])
    assert torch.equal(done, ar.PixelAutoregressive.sample(model, 5, seed=1, given=given, start=40))


def test_random_shift_moves_each_image_within_the_bound():
    x = torch.zeros(50, 1, 8, 8)
    x[:, 0, 3:5, 3:5] = 1
    g = torch.Generator().manual_seed(0)
    y = ar.random_shift(x, 2, g)
    assert y.shape == x.shape and torch.equal(y.sum((1, 2, 3)), x.sum((1, 2, 3)))
    rows = y[:, 0].sum(2).argmax(1)
    assert int(rows.min()) >= 1 and int(rows.max()) <= 5 and len(set(rows.tolist())) > 1
    assert torch.equal(ar.random_shift(x, 0), x)


def test_fit_pixelcnn_lowers_the_nll_with_shifts():
    torch.manual_seed(0)
    x = (torch.rand(40, 1, 8, 8) < 0.3).float()
    model = ar.PixelCNN(shape=(8, 8), channels=4, layers=1, dropout=0.1)
    with torch.no_grad():
        before = -float(model.log_prob(x).mean())
    history, _ = ar.fit_pixelcnn(model, x, x[:10], epochs=5, batch_size=10, lr=1e-2, shift=1, progress=False)
    assert history["epoch_loss"][-1] < before


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"channels": 0}, "channels"),
        ({"dropout": 1.0}, "dropout"),
        ({"layers": 2, "dilations": (1,)}, "dilations"),
        ({"layers": 1, "dilations": (0,)}, "dilation"),
    ],
)
def test_pixelcnn_bad_arguments_name_themselves(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ar.PixelCNN(shape=(8, 8), **kwargs)


def test_masked_conv_and_receptive_field_bad_input():
    with pytest.raises(ValueError, match="mask_type"):
        ar.MaskedConv2d(1, 1, 3, "C")
    with pytest.raises(ValueError, match="kernel_size"):
        ar.MaskedConv2d(1, 1, 4, "A")
    with pytest.raises(ValueError, match="pixel"):
        ar.receptive_field(ar.PixelCNN(shape=(4, 4), channels=2, layers=1), (4, 0))
    with pytest.raises(ValueError, match="max_shift"):
        ar.random_shift(torch.zeros(1, 1, 4, 4), -1)


def test_cosine_schedule_and_fit_pixelcnn_with_it(monkeypatch):
    assert ar.cosine_lr(2e-3, 0, 100) == pytest.approx(2e-3)
    assert ar.cosine_lr(2e-3, 50, 100) == pytest.approx(2e-3 * (0.05 + 0.95 * 0.5))
    assert ar.cosine_lr(2e-3, 100, 100) == pytest.approx(1e-4)
    assert ar.cosine_lr(2e-3, 500, 100) == pytest.approx(1e-4)  # stays at the floor past the budget
    rates = []
    real = ar.cosine_lr
    monkeypatch.setattr(ar, "cosine_lr", lambda lr, step, total: rates.append((step, total)) or real(lr, step, total))
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(40, 1, 6, 6, generator=g) < 0.3).float()
    model = ar.PixelCNN(shape=(6, 6), channels=4, layers=1)
    history, _ = ar.fit_pixelcnn(model, x, None, epochs=3, batch_size=10, lr=1e-2, patience=None, cosine=True, progress=False)
    assert len(history["loss"]) == 12 and rates[-1] == (12, 12)  # one rate per step, over the whole budget
