import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from helpers import data, plot


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_density_and_samples_draw():
    dist = data.toy("8gaussians")
    ax = plot.density(dist.log_prob, (-3, 3), n=40, title="ring")
    assert ax.get_title() == "ring" and ax.collections
    ax = plot.samples(dist.sample(100), over=dist.log_prob, title="samples")
    assert ax.get_xlabel() == "$x_1$"
    with pytest.raises(ValueError, match="function"):
        plot.density(torch.zeros(3))
    with pytest.raises(ValueError, match="2 feature"):
        plot.samples(torch.zeros(5, 3))


def test_image_grid_shapes():
    for imgs in (torch.rand(12, 784), torch.rand(12, 28, 28), torch.rand(12, 1, 28, 28)):
        ax = plot.image_grid(imgs, nrow=5)
        assert ax.images[0].get_array().shape == (3 * 29 + 1, 5 * 29 + 1)
        plt.close("all")
    with pytest.raises(ValueError, match="square"):
        plot.image_grid(torch.rand(2, 10))
    with pytest.raises(ValueError, match="one-channel"):
        plot.image_grid(torch.rand(2, 3, 8, 8))


def test_training_curves_and_live_curve():
    ax = plot.training_curves({"train": [3, 2, 1], "val": [3, 2.5, 2]})
    assert len(ax.lines) == 2
    curve = plot.LiveCurve("loss", every=2)
    for v in (3.0, 2.0, 1.0):
        curve.update(loss=v)
    assert curve.close() == {"loss": [3.0, 2.0, 1.0]}


def test_truth_vs_model_shares_colour_scale():
    d = data.toy("two_moons")
    fig = plot.truth_vs_model(d.log_prob, data.Gaussian([0.5, 0.25], 1.0).log_prob, x=d.sample(100), n=30)
    assert len(fig.axes) == 2
