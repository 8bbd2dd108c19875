"""Planted bugs for lesson 09's exercise 3: the learner's two GAN losses train a ring GAN, and the
check compares that model with the reference solution's run from the same seed. Each wrong loss
(the saturating generator loss, swapped labels, a sign error in either loss) must make the check
raise; the set-up must be able to tell them apart (without D's head start the saturating loss
trains as well as the right one, and the check that proves the set-up discriminates must say so);
and a right answer written another way (cross-entropy with logits) must pass.

The machinery is ``tests/test_planted_bugs.py``'s (``plant_and_expect_failure``): each bug is a
text replacement in one code cell of the notebook, its cells run in fast mode from a snapshot of
the clean run, and the named check cell must raise.
"""

from __future__ import annotations

import os

import pytest

from tests import test_planted_bugs as harness
from tests.test_planted_bugs import plant_and_expect_failure

os.environ["COURSE_FAST"] = "1"

STEM = "09_gan"
CHECK = "modes covered: your run vs the reference run − 2"
D_USED = (
    "d_used = discriminator_loss if d_loss_status != check.NOT_ATTEMPTED else solution_discriminator_loss"
)
G_USED = "g_used = nonsaturating_loss if ns_status != check.NOT_ATTEMPTED else solution_nonsaturating_loss"
SOFTPLUS = "torch.nn.functional.softplus"

# (what the bug is, text in the cell, its buggy replacement, text of the check cell that must raise)
BUGS: dict[str, list[tuple[str, str, str, str]]] = {
    STEM: [
        (
            "learner's generator loss is the saturating log(1 − D(G(z)))",
            G_USED,
            f"g_used = lambda logits: -{SOFTPLUS}(logits).mean()",
            CHECK,
        ),
        (
            "learner's discriminator loss with the labels swapped (real called fake)",
            D_USED,
            f"d_used = lambda r, f: {SOFTPLUS}(r).mean() + {SOFTPLUS}(-f).mean()",
            CHECK,
        ),
        (
            "learner's generator loss with its sign lost (G pushes D(G(z)) to 0)",
            G_USED,
            f"g_used = lambda logits: {SOFTPLUS}(logits).mean()",
            CHECK,
        ),
        (
            "learner's discriminator loss with its sign lost (D maximises −V's negative)",
            D_USED,
            "d_used = lambda r, f: -solution_discriminator_loss(r, f)",
            CHECK,
        ),
        (
            "no head start for D: the saturating loss then trains as well, the set-up tells nothing",
            "warmup_critic=HEAD_START",
            "warmup_critic=0",
            CHECK,
        ),
        (
            "learner's discriminator loss as −log σ directly (inf at logit −200)",
            "def discriminator_loss(real_logits, fake_logits):",
            "def discriminator_loss(real_logits, fake_logits):\n"
            "    r, f = torch.as_tensor(real_logits), torch.as_tensor(fake_logits)\n"
            "    return -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()\n\n\n"
            "def _stub(real_logits, fake_logits):",
            "d_loss_status = check.exercise(",
        ),
        (
            "learner's discriminator loss summed over the batch instead of averaged",
            "def discriminator_loss(real_logits, fake_logits):",
            "def discriminator_loss(real_logits, fake_logits):\n"
            f"    return {SOFTPLUS}(-torch.as_tensor(real_logits)).sum() + {SOFTPLUS}(torch.as_tensor(fake_logits)).sum()\n\n\n"
            "def _stub(real_logits, fake_logits):",
            "d_loss_status = check.exercise(",
        ),
    ],
}

# A right answer written another way: it rounds differently, so its run takes a different path.
EQUIVALENT = (
    "learner's losses as cross-entropy with logits and logsigmoid (right, written differently)",
    f"{D_USED}\n{G_USED}",
    "bce = torch.nn.functional.binary_cross_entropy_with_logits\n"
    "d_used = lambda r, f: bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f))\n"
    "g_used = lambda logits: -torch.nn.functional.logsigmoid(logits).mean()",
    CHECK,
)
_ALL = {STEM: BUGS[STEM] + [EQUIVALENT]}


@pytest.fixture(scope="module", autouse=True)
def _own_snapshots():
    """The harness caches one clean run per lesson, taken for one file's bugs: keep this file's
    snapshots apart from ``test_planted_bugs_gan.py``'s (same lesson, other cells)."""
    saved = harness._SNAPSHOTS.pop(STEM, None)
    yield
    harness._SNAPSHOTS.pop(STEM, None)
    if saved is not None:
        harness._SNAPSHOTS[STEM] = saved


CASES = [(STEM, *bug) for bug in BUGS[STEM]]


@pytest.mark.parametrize("stem, what, old, new, check", CASES, ids=[c[1] for c in CASES])
def test_exercise_3_check_catches_the_planted_bug(stem, what, old, new, check):
    plant_and_expect_failure(stem, what, old, new, check, _ALL)


def test_a_right_answer_written_differently_passes_the_training_check():
    import torch

    what, old, new, check = EQUIVALENT
    cells = harness._code_cells(STEM)
    start, stop = harness._find(cells, old, what), harness._find(cells, check, what)
    assert cells[start].count(old) == 1, f"{what}: {old!r} must occur once in its cell"
    snapshot, dtype = harness._snapshots(STEM, _ALL)[start]
    ns = dict(snapshot)
    torch.set_default_dtype(dtype)
    cwd = os.getcwd()
    os.chdir(harness.NOTEBOOKS)
    try:
        for i in range(start, stop + 1):
            harness._run(
                cells[i].replace(old, new) if i == start else cells[i], ns, f"{STEM}[{i}] with '{what}'"
            )
    finally:
        os.chdir(cwd)
        torch.set_default_dtype(torch.float32)
    assert not ns["same_as_reference"], "the equivalent answer must train its own run"
    assert ns["loss_runs"]["yours"] is not ns["loss_runs"]["reference"]


def test_every_wrong_loss_of_the_brief_is_planted():
    whats = " ".join(w for w, *_ in BUGS[STEM])
    for kind in ("saturating", "labels swapped", "sign lost", "head start"):
        assert kind in whats, f"plant the {kind} bug"
