"""Planted bugs: every lesson's checks must be able to fail.

For each lesson 00–06 this keeps a list of plausible mistakes (a wrong constant, a wrong sign, a
wrong axis, a mask that leaks, a learner's wrong answer to an exercise). Each bug is a text
replacement in one code cell of the notebook (a learner's answer replaces the stub's ``def`` line
with a function that returns the wrong thing); the test runs the notebook's code cells in fast mode
with the bug planted and expects the named check cell to raise (``CheckFailed`` or another
``AssertionError``). The clean notebook is run once per lesson, with a snapshot of its variables
before each cell that a bug changes (and torch's default dtype, which 03 and 04 set to float64),
so each bug re-runs only a few cells.

The list doubles as documentation: BUGS[lesson] is what that lesson's checks are known to catch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["COURSE_FAST"] = "1"

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# lesson: [(what the bug is, text in the cell, its buggy replacement, text of the check cell that must raise)]
BUGS: dict[str, list[tuple[str, str, str, str]]] = {
    "00_course_map": [
        (
            "device check: one operand transposed",
            "on_device = (a.float().to(dev) @ a.float().to(dev)).cpu()",
            "on_device = (a.float().to(dev) @ a.float().T.to(dev)).cpu()",
            "on_device = ",
        ),
        (
            "a toy density off by a 2 % constant",
            "check.normalizes(dist.log_prob,",
            "check.normalizes(lambda p: dist.log_prob(p) + 0.0198,",
            "check.normalizes(",
        ),
        (
            "learner's mean over the wrong axis",
            "def mean_image(images):",
            "def mean_image(images):\n    return images.mean(dim=1)\n\n\ndef _stub(images):",
            "check.exercise(mean_image",
        ),
    ],
    "01_gaussian_mle": [
        (
            "NLL without the ½ in front of log(2πσ²)",
            "+ 0.5 * torch.log(2 * math.pi * sigma2)).mean()",
            "+ torch.log(2 * math.pi * sigma2)).mean()",
            "GaussianMLE score vs −NLL",
        ),
        (
            "gradient descent stopped after 30 steps",
            "for _ in range(300):",
            "for _ in range(30):",
            "1-D: μ by gradient descent",
        ),
        (
            "the 'fresh' sample is the fitted one (the in-sample KL again)",
            "fresh_sample = torch.randn(50, n, generator=gen_fresh, dtype=torch.float64)",
            "fresh_sample = fit_sample",
            "fresh-sample KL minimiser vs the MLE",
        ),
        (
            "the biased estimate divides by N − 1",
            "b, u = s2 / n, s2 / (n - 1)",
            "b, u = s2 / (n - 1), s2 / (n - 1)",
            "mean of σ̂² (÷N)",
        ),
        (
            "learner's λ̂ = mean instead of 1 / mean",
            "def mle_exponential(x):",
            "def mle_exponential(x):\n    return float(x.mean())\n\n\ndef _stub(x):",
            "check.exercise(\n    mle_exponential",
        ),
        (
            "learner's KL with the log-ratio upside down",
            "def kl_monte_carlo(p, q, n, seed=0):",
            "def kl_monte_carlo(p, q, n, seed=0):\n    xs = p.sample(n, seed=seed)\n    t = (q.log_prob(xs) - p.log_prob(xs)).double()\n    return float(t.mean()), float(t.std() / math.sqrt(n))\n\n\ndef _stub(p, q, n, seed=0):",
            "check.exercise(\n    kl_monte_carlo",
        ),
    ],
    "02_curse_of_dimensionality": [
        (
            "occupancy formula with b instead of b^d cells",
            "math.log1p(-1 / cells)",
            "math.log1p(-1 / B)",
            "occupied cells vs the uniform-occupancy formula",
        ),
        (
            "the truth's entropy without its factor d",
            "true_ll = -0.5 * d * math.log(2 * math.pi * math.e)",
            "true_ll = -0.5 * math.log(2 * math.pi * math.e)",
            "b = 2: gap per dimension",
        ),
        (
            "distance-spread theory without its ½",
            "theory = math.sqrt(7 / 5) / (2 * np.sqrt(DIST_DIMS))",
            "theory = math.sqrt(7 / 5) / np.sqrt(DIST_DIMS)",
            "relative spread of distances vs",
        ),
        (
            "squared norm instead of the norm",
            "r = z.norm(dim=1)",
            "r = z.pow(2).sum(1)",
            "mean norm vs the exact χ mean",
        ),
        (
            "learner's mass_within returns 0 (passed the old d = 100 check)",
            "def mass_within(r, d):",
            "def mass_within(r, d):\n    return 0.0\n\n\ndef _stub(r, d):",
            "solution=solution_mass_within",
        ),
    ],
    "03_kernel_density_estimation": [
        (
            "Gaussian kernel missing its 1/h^d",
            "return -r2 / 2 - d / 2 * math.log(2 * math.pi) - d * math.log(h)",
            "return -r2 / 2 - d / 2 * math.log(2 * math.pi)",
            "KDE vs scikit-learn",
        ),
        (
            "exp–sum–log instead of log-sum-exp",
            "out.append(torch.logsumexp(log_kernel(r2, data.shape[1], h, kernel), dim=1))",
            "out.append(torch.log(log_kernel(r2, data.shape[1], h, kernel).exp().sum(1)))",
            "log-sum-exp KDE at x = 10",
        ),
        (
            "Epanechnikov standard deviation h/√3 instead of h/√5",
            '"epanechnikov": 1 / math.sqrt(5)}',
            '"epanechnikov": 1 / math.sqrt(3)}',
            "variance of the {kernel} kernel",
        ),
        (
            "bandwidth chosen on the training samples (leak)",
            "val_ll = torch.stack([kde_log_prob(x_val, x_train, float(b)).mean() for b in bandwidths])",
            "val_ll = torch.stack([kde_log_prob(x_train, x_train, float(b)).mean() for b in bandwidths])",
            "held-out bandwidth beats Scott's rule",
        ),
        (
            "learner's Silverman with the N denominator",
            "def silverman_bandwidth(x):",
            "def silverman_bandwidth(x):\n    return (4 / (3 * x.shape[0])) ** (1 / 5) * float(x.std(unbiased=False))\n\n\ndef _stub(x):",
            "helpers.check.exercise(\n    silverman_bandwidth",
        ),
    ],
    "04_gaussian_mixtures_em": [
        (
            "responsibilities normalised over the wrong axis (samples, not components)",
            "return log_joint - log_px[:, None], log_px.mean()",
            "return log_joint - torch.logsumexp(log_joint, dim=0), log_px.mean()",
            "final log-likelihood vs scikit-learn",
        ),
        (
            "M-step covariances divided by N instead of N_k",
            'Sigma = torch.einsum("nk,nki,nkj->kij", r, diff, diff) / N_k[:, None, None]',
            'Sigma = torch.einsum("nk,nki,nkj->kij", r, diff, diff) / len(x)',
            "final log-likelihood vs scikit-learn",
        ),
        (
            "BIC forgetting the covariance parameters",
            "return (n_components - 1) + n_components * d + n_components * d * (d + 1) // 2",
            "return (n_components - 1) + n_components * d",
            "our BIC vs scikit-learn's",
        ),
        (
            "learner's sampler with Lᵀ instead of L",
            "def sample_mixture(n, pi, mu, Sigma, generator=None):",
            "def sample_mixture(n, pi, mu, Sigma, generator=None):\n    z = torch.multinomial(pi, n, replacement=True, generator=generator)\n    eps = torch.randn(n, mu.shape[1], generator=generator)\n    L = torch.linalg.cholesky(Sigma)\n    return mu[z] + (L[z].transpose(1, 2) @ eps[:, :, None])[:, :, 0], z\n\n\ndef _stub(n, pi, mu, Sigma, generator=None):",
            "shapes(sample_mixture)",
        ),
    ],
    "05_naive_mnist_density": [
        (
            "logistic loss with the positives' sign flipped",
            "return F.softplus(-s_pos).mean() + F.softplus(s_neg).mean()",
            "return F.softplus(s_pos).mean() + F.softplus(s_neg).mean()",
            "our loss vs helpers' contrastive_loss",
        ),
        (
            "AUC read from the wrong model's column",
            "pos, other = scores[y_test == j, j], scores[y_test != j, j]",
            "pos, other = scores[y_test == j, (j + 1) % 10], scores[y_test != j, (j + 1) % 10]",
            "mean AUC, held-out class digits",
        ),
        (
            "Langevin stepping down the gradient",
            "x = (x + eps / 2 * grad + eps**0.5",
            "x = (x - eps / 2 * grad + eps**0.5",
            "gap between the two starts",
        ),
        (
            "learner's AUC counting ties as wins",
            "def auc_by_pairs(pos, neg):",
            "def auc_by_pairs(pos, neg):\n    return float((pos[:, None] >= neg[None, :]).double().mean())\n\n\ndef _stub(pos, neg):",
            "helpers.check.exercise(\n    auc_by_pairs",
        ),
    ],
    "06_rlud_inpainting": [
        (
            "the loop sweep walks the wrong way",
            "for c in range(W_):",
            "for c in reversed(range(W_)):",
            "loop sweep vs helpers.models.rlud.Sweep",
        ),
        (
            "nearest neighbour matched on the hole (a mask that leaks)",
            '"nearest neighbour": rlud.nearest_fill(test_digits, mask, train_digits),',
            '"nearest neighbour": rlud.nearest_fill(test_digits, 1 - mask, train_digits),',
            "digits: {baseline} MSE vs RLUD's MSE",
        ),
        (
            "a fill that ignores the border (the duel check)",
            'fill = fills_digits["RLUD"]  # filled from each digit\'s own border',
            'fill = fills_digits["mean image"]',
            "fraction of fills closer to their own hole",
        ),
        (
            "learner's interpolation between the first and last hidden columns",
            "def row_interpolation(x, mask):",
            "def row_interpolation(x, mask):\n    hc = mask[0, 0].amax(0).nonzero().flatten()\n    left, right = int(hc.min()), int(hc.max())\n    c = torch.arange(x.shape[-1], dtype=x.dtype)\n    t = ((c - left) / (right - left)).clamp(0, 1)\n    return x * (1 - mask) + (x[..., left : left + 1] * (1 - t) + x[..., right : right + 1] * t) * mask\n\n\ndef _stub(x, mask):",
            "check.exercise(\n    row_interpolation",
        ),
    ],
}


def _code_cells(stem: str) -> list[str]:
    nb = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _find(cells: list[str], text: str, what: str) -> int:
    hits = [i for i, c in enumerate(cells) if text in c]
    assert len(hits) >= 1, f"{what}: no code cell contains {text!r} — update BUGS after editing the notebook"
    return hits[0]


def _run(source: str, ns: dict, label: str) -> None:
    import matplotlib.pyplot as plt

    try:
        exec(compile(source, label, "exec"), ns)
    finally:
        plt.close("all")


_SNAPSHOTS: dict[str, dict[int, tuple[dict, object]]] = {}


def _snapshots(stem: str, bugs: dict | None = None) -> dict[int, dict]:
    """Run the clean notebook once up to its last needed check; keep a copy of the variables before
    each cell that some bug changes. ``bugs``: the lists of planted bugs (default: this file's BUGS;
    the other ``test_planted_bugs_*.py`` files pass their own)."""
    bugs = BUGS if bugs is None else bugs
    if stem not in _SNAPSHOTS:
        cells = _code_cells(stem)
        starts = {_find(cells, old, stem) for _, old, _, _ in bugs[stem]}
        last = max(_find(cells, check, stem) for *_, check in bugs[stem])
        import torch

        torch.set_default_dtype(torch.float32)  # a lesson may change it (03, 04 use float64): start clean
        ns: dict = {"__name__": "__main__"}
        saved = {}
        cwd = os.getcwd()
        os.chdir(NOTEBOOKS)
        try:
            for i, cell in enumerate(cells[: last + 1]):
                if i in starts:
                    saved[i] = (dict(ns), torch.get_default_dtype())
                _run(cell, ns, f"{stem}[{i}]")
        finally:
            os.chdir(cwd)
        _SNAPSHOTS[stem] = saved
    return _SNAPSHOTS[stem]


CASES = [(stem, *bug) for stem, bugs in BUGS.items() for bug in bugs]


def plant_and_expect_failure(stem, what, old, new, check, bugs=None):
    """Run the cells from the one holding ``old`` (with ``new`` planted) to the check cell holding
    ``check``, from the clean run's snapshot; the check must raise."""
    cells = _code_cells(stem)
    start, stop = _find(cells, old, what), _find(cells, check, what)
    assert start <= stop, f"{what}: the buggy cell must come before the check that catches it"
    assert cells[start].count(old) == 1, f"{what}: {old!r} must occur once in its cell"
    import torch

    snapshot, dtype = _snapshots(stem, bugs)[start]
    ns = dict(snapshot)
    torch.set_default_dtype(dtype)
    cwd = os.getcwd()
    os.chdir(NOTEBOOKS)
    try:
        with pytest.raises(AssertionError):  # CheckFailed is an AssertionError
            for i in range(start, stop + 1):
                source = cells[i].replace(old, new) if i == start else cells[i]
                _run(source, ns, f"{stem}[{i}] with '{what}'")
    finally:
        os.chdir(cwd)
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("stem, what, old, new, check", CASES, ids=[f"{c[0][:2]}-{c[1]}" for c in CASES])
def test_lesson_check_catches_the_planted_bug(stem, what, old, new, check):
    plant_and_expect_failure(stem, what, old, new, check)


def test_every_lesson_has_planted_bugs_including_an_exercise():
    for stem in BUGS:
        assert len(BUGS[stem]) >= 3, f"{stem}: plant at least three bugs"
        assert any("learner" in what for what, *_ in BUGS[stem]), f"{stem}: plant a learner's wrong answer"
