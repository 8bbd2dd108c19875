"""Tests of helpers.models.naive_density: the score CNN, its loss, the trainer and the shipped checkpoint."""

import pytest
import torch
import torch.nn.functional as F

from helpers import train as course_train
from helpers.models.naive_density import (
    CHECKPOINT,
    ClassScores,
    ScoreCNN,
    contrastive_loss,
    gaussian_noise,
    train_class_model,
    train_class_models,
)


def test_score_cnn_architecture_and_shapes():
    m = ScoreCNN()
    chans = [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in m.convs]
    assert chans == [
        (1, 4, (3, 3), (1, 1)),
        (4, 8, (3, 3), (1, 1)),
        (8, 16, (3, 3), (1, 1)),
        (16, 1, (3, 3), (1, 1)),
    ]
    x = torch.rand(5, 1, 28, 28)
    assert m.score_map(x).shape == (5, 1, 28, 28)
    assert m(x).shape == (5,)
    torch.testing.assert_close(m(x), m.score_map(x).sum(dim=(1, 2, 3)))


def test_receptive_field_is_9x9():
    torch.manual_seed(0)
    m = ScoreCNN()
    x = torch.rand(8, 1, 28, 28, requires_grad=True)
    m.score_map(x)[:, 0, 14, 14].sum().backward()
    touched = (x.grad.abs().sum(0)[0] > 0).nonzero()
    assert touched[:, 0].min() >= 10 and touched[:, 0].max() <= 18
    assert touched[:, 1].min() >= 10 and touched[:, 1].max() <= 18


def test_score_cnn_rejects_bad_input():
    m = ScoreCNN()
    with pytest.raises(ValueError, match="one-channel"):
        m(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="dimension"):
        m(torch.rand(2, 784))


def test_per_class_matches_the_models_one_by_one():
    torch.manual_seed(0)
    models = ClassScores()
    x = torch.rand(3, 10, 28, 28)
    expected = torch.stack([models[k](x[:, k : k + 1]) for k in range(10)], dim=1)
    torch.testing.assert_close(models.per_class(x), expected, rtol=1e-5, atol=1e-4)
    assert models.scores(x[:, :1]).shape == (3, 10)
    with pytest.raises(ValueError, match="10 images per row"):
        models.per_class(torch.rand(3, 4, 28, 28))


def test_contrastive_loss_is_the_logistic_loss():
    torch.manual_seed(0)
    m = ScoreCNN()
    pos, neg = torch.rand(4, 1, 28, 28), torch.rand(6, 1, 28, 28)
    s_pos, s_neg = m(pos), m(neg)
    labels = torch.cat([torch.ones(4), torch.zeros(6)])
    bce_pos = F.binary_cross_entropy_with_logits(s_pos, labels[:4])
    bce_neg = F.binary_cross_entropy_with_logits(s_neg, labels[4:])
    torch.testing.assert_close(contrastive_loss(m, pos, neg), bce_pos + bce_neg)
    with pytest.raises(ValueError, match="at least one"):
        contrastive_loss(m, pos[:0], neg)


def test_gaussian_noise_moments_and_validation():
    x = gaussian_noise(2000, 0.1, 0.3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2000, 1, 28, 28)
    assert abs(float(x.mean()) - 0.1) < 0.01 and abs(float(x.std()) - 0.3) < 0.01
    with pytest.raises(ValueError):
        gaussian_noise(10, 0.0, -1.0)


def _toy_digits(n=200, seed=0):
    """Class 0: a bright square in the middle; class 1: a dark image with a bar at the top."""
    g = torch.Generator().manual_seed(seed)
    x = 0.05 * torch.rand(n, 1, 28, 28, generator=g)
    y = torch.arange(n) % 2
    x[y == 0, :, 10:18, 10:18] += 0.9
    x[y == 1, :, 2:5, :] += 0.9
    return x, y


def test_training_separates_a_class_from_other_class_and_noise():
    torch.manual_seed(0)
    x, y = _toy_digits()
    m = ScoreCNN()
    hist = train_class_model(m, x, y, 0, noise_mean=0.2, noise_std=0.3, steps=60, batch_size=32, lr=1e-2)
    assert len(hist["loss"]) == 60
    assert sum(hist["loss"][-10:]) < sum(hist["loss"][:10])
    xt, yt = _toy_digits(seed=1)
    with torch.no_grad():
        s = m(xt)
        noise = m(gaussian_noise(50, 0.2, 0.3, generator=torch.Generator().manual_seed(2)))
    assert s[yt == 0].min() > s[yt == 1].max()
    assert s[yt == 0].mean() > noise.mean()


def test_train_class_models_validates_and_reports():
    x, y = _toy_digits(40)
    models = ClassScores(2)
    info = train_class_models(models, x, y, steps=2, batch_size=16)
    assert len(info["final_loss"]) == 2 and info["noise_std"] > 0
    with pytest.raises(ValueError, match="ClassScores"):
        train_class_models(ScoreCNN(), x, y, steps=1)
    with pytest.raises(ValueError, match="not among"):
        train_class_model(ScoreCNN(), x, y, 5, noise_mean=0.0, noise_std=1.0, steps=1)
    with pytest.raises(ValueError, match="differ in length"):
        train_class_model(ScoreCNN(), x, y[:3], 0, noise_mean=0.0, noise_std=1.0, steps=1)


def test_shipped_checkpoint_loads_into_class_scores():
    state = course_train.load_checkpoint(CHECKPOINT)
    models = ClassScores()
    models.load_state_dict(state)
    assert models.scores(torch.rand(2, 1, 28, 28)).shape == (2, 10)
