"""Planted bugs for lessons 07 and 08: their new checks must be able to fail.

The same scheme as ``tests/test_planted_bugs.py`` (whose helpers this file reuses): each bug is a
text replacement in one code cell; the notebook's code cells run in fast mode with the bug planted
and the named check cell must raise. The clean notebook runs once per lesson, keeping a snapshot
of the variables before each cell that a bug changes. Unit-level bugs of the PixelCNN and the
VAE's helpers are planted directly at the end.
"""

from __future__ import annotations

import os

import pytest
import torch

from tests.test_planted_bugs import NOTEBOOKS, _code_cells, _find, _run

os.environ["COURSE_FAST"] = "1"

BUGS: dict[str, list[tuple[str, str, str, str]]] = {
    "07_autoregressive_models": [
        (
            "PixelCNN: mask B in the first layer (the centre pixel visible)",
            "small_cnn = ar.PixelCNN(**dict(ar.PIXELCNN_KWARGS, shape=(16, 16)))",
            "small_cnn = ar.PixelCNN(**dict(ar.PIXELCNN_KWARGS, shape=(16, 16)))\nsmall_cnn.first.mask[:, :, 3, 3] = 1",
            "PixelCNN: pairs (i, j ≥ i)",
        ),
        (
            "PixelCNN: a 3×3 kernel that reads the row below",
            "small_cnn = ar.PixelCNN(**dict(ar.PIXELCNN_KWARGS, shape=(16, 16)))",
            "small_cnn = ar.PixelCNN(**dict(ar.PIXELCNN_KWARGS, shape=(16, 16)))\nsmall_cnn.blocks[2].mask[:, :, 2, 0] = 1",
            "PixelCNN: pairs (i, j ≥ i)",
        ),
        (
            "blind spot measured on MADE (which has none)",
            "seen = ar.receptive_field(pixelcnn, (r0, c0))",
            "seen = ar.receptive_field(made, (r0, c0))",
            "pixels in the blind spot (rows within reach",
        ),
        (
            "the table scores an untrained PixelCNN",
            '    "PixelCNN": pixelcnn,\n}',
            '    "PixelCNN": pixelcnn_fresh,\n}',
            '"NLL: MADE vs PixelCNN"',
        ),
        (
            "the PixelCNN's epoch check reads MADE's entry",
            'check.close_to(budget["ar_pixelcnn"]["epochs_run"], budget["ar_pixelcnn"]["train"]["epochs"]',
            'check.close_to(budget["ar_made"]["epochs_run"], budget["ar_made"]["train"]["epochs"]',
            '"PixelCNN: epochs run vs epoch budget',
        ),
        (
            "real training digits judged as the PixelCNN's samples",
            "samples = {name: model.sample(N_JUDGED, seed=7) for name, model in models.items()}",
            'samples = {name: model.sample(N_JUDGED, seed=7) for name, model in models.items()}\nsamples["PixelCNN"] = train_x[:N_JUDGED]',
            '"judge FD: PixelCNN vs 9 × floor"',
        ),
        (
            "the n = 200 ratio divided by the n = 100 floor",
            "ratio_200 = verdict_200.fd / verdict_200.fd_floor",
            'ratio_200 = verdict_200.fd / verdicts["PixelCNN"].fd_floor',
            '"PixelCNN FD / floor: n = ',
        ),
        (
            "learner's output mask with ≥ (output d reads hidden units of degree d)",
            "def made_output_mask(hidden_degrees, D):",
            "def made_output_mask(hidden_degrees, D):\n    d = torch.arange(1, D + 1)\n    return (d[:, None] >= torch.as_tensor(hidden_degrees)[None, :]).float()\n\n\ndef _stub(hidden_degrees, D):",
            "check.exercise(\n    made_output_mask",
        ),
    ],
    "08_autoencoders_vae": [
        (
            "score function with a baseline: the sign flipped",
            "g_baseline = (f_z - baseline)[:, None] * score",
            "g_baseline = (baseline - f_z)[:, None] * score",
            '"baseline score function vs reparameterised',
        ),
        (
            "q not optimised per digit (the encoder's q twice)",
            "mu_star, logvar_star = V.optimise_q(vae, x_am, steps=Q_STEPS, seed=0)",
            "mu_star, logvar_star = vae.encode(x_am)",
            '"amortisation error (fitted q beats the encoder\'s)"',
        ),
        (
            "prior hole measured on an untrained encoder",
            "    mu_tr, logvar_tr = vae.encode(train_x)",
            "    mu_tr, logvar_tr = V.ConvVAE(**V.CONV_KWARGS).eval().encode(train_x)",
            '"inactive latent dimensions',
        ),
        (
            "the N(0, I) draws replaced by held-out codes",
            '"z ~ N(0, I)": torch.cdist(z_std, mu_tr).min(1).values,',
            '"z ~ N(0, I)": torch.cdist(mu_te, mu_tr).min(1).values,',
            '"distance to the nearest training code: N(0, I) draws',
        ),
        (
            "K chosen on the training codes",
            'K_BEST = int(k_table["validation codes"].idxmax())',
            'K_BEST = int(k_table["train codes"].idxmax())',
            '"largest K tried vs the K',
        ),
        (
            "the fitted prior not passed to sample (z ~ N(0, I) again)",
            '    f"z ~ mixture fitted to the codes (K = {K_BEST})": mixture,',
            '    f"z ~ mixture fitted to the codes (K = {K_BEST})": None,',
            '"judge FD: N(0, I) codes vs the fitted mixture"',
        ),
        (
            "the 'mixture' hands back training codes",
            '    f"z ~ mixture fitted to the codes (K = {K_BEST})": mixture,',
            '    f"z ~ mixture fitted to the codes (K = {K_BEST})": TrainingCodes(mu_tr),',
            '"memorisation ratio of the mixture',
        ),
        (
            "memorisation measured against the held-out digits",
            "nn_ratio = float(nearest_rms(x_, grey_train).median()) / held_out_nn",
            "nn_ratio = float(nearest_rms(x_, grey_test).median()) / held_out_nn",
            '"0.8 vs the memorisation ratio',
        ),
        (
            "the single Gaussian replaced by the mixture",
            '"z ~ one Gaussian fitted to the codes (K = 1)": code_priors[1],',
            '"z ~ one Gaussian fitted to the codes (K = 1)": mixture,',
            '"judge FD: one fitted Gaussian vs 0.8',
        ),
        (
            "two-stage IWAE without the mixture's log-density",
            "two_stage = vae.log_prob(x_tab, k=100, generator=torch.Generator().manual_seed(6), prior=mixture)",
            "two_stage = vae.log_prob(x_tab, k=100, generator=torch.Generator().manual_seed(6), prior=None)",
            '"test NLL at k = 100: the N(0, I) VAE vs the two-stage',
        ),
        (
            "learner's KL without the ½",
            "def kl_to_standard_normal(mu, logvar):",
            "def kl_to_standard_normal(mu, logvar):\n    return (mu**2 + logvar.exp() - 1 - logvar).sum(-1)\n\n\ndef _stub(mu, logvar):",
            "check.exercise(\n    kl_to_standard_normal",
        ),
        (
            "learner's KL with log σ² added instead of subtracted (caught by the training too)",
            "def kl_to_standard_normal(mu, logvar):",
            "def kl_to_standard_normal(mu, logvar):\n    return 0.5 * (mu**2 + logvar.exp() - 1 + logvar).sum(-1)\n\n\ndef _stub(mu, logvar):",
            "check.exercise(\n    kl_to_standard_normal",
        ),
    ],
}

_SNAPSHOTS: dict[str, dict[int, dict]] = {}


def _snapshots(stem: str) -> dict[int, dict]:
    if stem not in _SNAPSHOTS:
        cells = _code_cells(stem)
        starts = {_find(cells, old, stem) for _, old, _, _ in BUGS[stem]}
        last = max(_find(cells, check, stem) for *_, check in BUGS[stem])
        ns: dict = {"__name__": "__main__"}
        saved = {}
        cwd = os.getcwd()
        os.chdir(NOTEBOOKS)
        try:
            for i, cell in enumerate(cells[: last + 1]):
                if i in starts:
                    saved[i] = dict(ns)
                _run(cell, ns, f"{stem}[{i}]")
        finally:
            os.chdir(cwd)
        _SNAPSHOTS[stem] = saved
    return _SNAPSHOTS[stem]


CASES = [(stem, *bug) for stem, bugs in BUGS.items() for bug in bugs]


@pytest.mark.parametrize("stem, what, old, new, check", CASES, ids=[f"{c[0][:2]}-{c[1]}" for c in CASES])
def test_lesson_check_catches_the_planted_bug(stem, what, old, new, check):
    cells = _code_cells(stem)
    start, stop = _find(cells, old, what), _find(cells, check, what)
    assert start <= stop, f"{what}: the buggy cell must come before the check that catches it"
    assert cells[start].count(old) == 1, f"{what}: {old!r} must occur once in its cell"
    ns = dict(_snapshots(stem)[start])
    cwd = os.getcwd()
    os.chdir(NOTEBOOKS)
    try:
        with pytest.raises(AssertionError):  # CheckFailed is an AssertionError
            for i in range(start, stop + 1):
                source = cells[i].replace(old, new) if i == start else cells[i]
                _run(source, ns, f"{stem}[{i}] with '{what}'")
    finally:
        os.chdir(cwd)


# ---------------------------------------------------------------------------------------------
# Unit level: the PixelCNN and the VAE helpers


def test_pixelcnn_causality_check_catches_a_visible_centre():
    from helpers.models import autoregressive as ar

    model = ar.PixelCNN(shape=(8, 8), channels=4, layers=2)
    assert ar.causality_violations(model) == 0
    with torch.no_grad():  # planted bug: mask A's centre kept, so output i reads x_i
        model.first.mask[:, :, 3, 3] = 1
    assert ar.causality_violations(model) > 0


def test_fast_sampler_matches_the_generic_loop_and_catches_a_short_window():
    from helpers.models import autoregressive as ar

    torch.manual_seed(0)
    model = ar.PixelCNN(shape=(10, 10), channels=4, layers=3, dilations=(1, 2, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    generic = ar.PixelAutoregressive.sample(model, 6, seed=0)
    assert torch.equal(model.sample(6, seed=0), generic)

    class Short(ar.PixelCNN):  # planted bug: the window one row too short for the receptive field
        @property
        def rows_seen(self):
            return super().rows_seen - 1

    short = Short(shape=(10, 10), channels=4, layers=3, dilations=(1, 2, 1))
    short.load_state_dict(model.state_dict())
    with pytest.raises((RuntimeError, IndexError)):  # the layers run out of rows
        short.sample(6, seed=0)


def test_optimise_q_raises_the_elbo_and_a_sign_error_would_lower_it(monkeypatch):
    from helpers.models import vae as V

    torch.manual_seed(0)
    model = V.VAE(latent=4, hidden=(32,))
    x = (torch.rand(8, 1, 28, 28) < 0.2).float()
    g = torch.Generator().manual_seed(1)
    before = V.elbo_at(model, x, *model.encode(x), n_samples=200, generator=g)
    mu, logvar = V.optimise_q(model, x, steps=60, lr=0.05)
    after = V.elbo_at(model, x, mu, logvar, n_samples=200, generator=g)
    assert float((after - before).mean()) > 0.5
    with monkeypatch.context() as m:  # planted bug: the KL term added to the ELBO, not subtracted
        kl = V.gaussian_kl
        m.setattr(V, "gaussian_kl", lambda mu_, lv_: -kl(mu_, lv_))
        mu_bad, logvar_bad = V.optimise_q(model, x, steps=60, lr=0.05)
    worse = V.elbo_at(model, x, mu_bad, logvar_bad, n_samples=200, generator=g)
    assert float((after - worse).mean()) > 0.5
