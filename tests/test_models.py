"""helpers.models: the shelf (manifest → pretrained), the digit judge and the Fréchet distance."""

import json
import shutil

import numpy as np
import pytest
import scipy.linalg
import torch

import helpers
from helpers import metrics
from helpers.models import (
    BoundModel,
    DensityModel,
    Generator,
    RecordsArgs,
    available,
    pretrained,
    save_pretrained,
)
from helpers.models.classifier import DigitClassifier, accuracy
from helpers.train import CHECKPOINTS, load_checkpoint, load_or_train


class Tiny(RecordsArgs, torch.nn.Module):
    def __init__(self, width: int = 3, scale: float = 1.0):
        super().__init__()
        self.lin = torch.nn.Linear(2, width)
        self.scale = scale


class TinyChild(Tiny):
    def __init__(self, depth: int = 2):
        super().__init__(width=depth + 1)


def test_records_args_outermost_init_wins():
    assert Tiny(5).init_args == {"width": 5, "scale": 1.0}
    assert TinyChild(4).init_args == {"depth": 4}
    assert TinyChild(4).lin.out_features == 5


def test_every_shipped_checkpoint_is_rebuilt_from_the_manifest_alone():
    entries = json.loads((CHECKPOINTS / "manifest.json").read_text())
    names = available()
    files = sorted(p.stem for p in CHECKPOINTS.glob("*.pt"))
    assert sorted(entries) == files, "every checkpoint file is listed in the manifest and vice versa"
    assert sorted(names) == files, "every checkpoint can be rebuilt by pretrained()"
    for name in files:
        e = entries[name]
        for field in ("sha256", "class", "kwargs", "data", "script", "steps", "seconds", "device", "torch"):
            assert field in e, f"{name}: manifest field {field!r} missing"
        model = pretrained(name)
        assert not model.training
        state = load_checkpoint(name)
        for k, v in model.state_dict().items():
            assert torch.equal(v, state[k]), f"{name}: {k} not loaded"


def test_pretrained_refuses_unknown_and_path_like_names(tmp_path):
    with pytest.raises(ValueError, match="no pretrained model 'nope'.*known: .*digit_classifier"):
        pretrained("nope")
    for bad in ("../manifest", "a/b", "a\\b", "..", "x.pt", ""):
        with pytest.raises(ValueError, match="plain name"):
            pretrained(bad)


def test_save_pretrained_roundtrip_flipped_byte_and_missing_file(tmp_path):
    torch.manual_seed(0)
    m = Tiny(4, scale=2.0)
    save_pretrained("tiny", m, directory=tmp_path, data="none", script="tests", steps=0, seconds=0.5)
    entry = json.loads((tmp_path / "manifest.json").read_text())["tiny"]
    assert entry["class"] == "test_models.Tiny" or entry["class"].endswith(".Tiny")
    assert entry["kwargs"] == {"width": 4, "scale": 2.0}
    # only helpers.models classes are rebuilt: a manifest cannot make pretrained import anything else
    with pytest.raises(ValueError, match="only helpers.models classes"):
        pretrained("tiny", directory=tmp_path)
    # a flipped byte is refused with the file and the hash mismatch named
    path = tmp_path / "tiny.pt"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"tiny\.pt has sha256 .* manifest expects"):
        load_checkpoint("tiny", tmp_path)


def test_missing_shipped_file_falls_back_to_training_with_a_message(tmp_path, capsys):
    shutil.copy(CHECKPOINTS / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(ValueError, match="digit_classifier.pt is missing.*train_digit_classifier"):
        pretrained("digit_classifier", directory=tmp_path)
    calls = []
    model, result = load_or_train(
        "digit_classifier",
        DigitClassifier(),
        lambda m: calls.append(1) or "trained",
        directory=tmp_path,
        info={"script": "tests"},
    )
    assert calls == [1] and result == "trained"
    out = capsys.readouterr().out
    assert "not found: training the model here" in out
    entry = json.loads((tmp_path / "manifest.json").read_text())["digit_classifier"]
    assert entry["class"] == "helpers.models.classifier.DigitClassifier" and "seconds" in entry


def test_protocols_describe_the_shape():
    class D:
        def log_prob(self, x): ...

    class G:
        def sample(self, n, seed=None): ...

    assert isinstance(D(), DensityModel) and not isinstance(D(), Generator)
    assert isinstance(G(), Generator) and not isinstance(G(), BoundModel)


# --------------------------------------------------------------------------------------------
# The Fréchet distance and the digit judge


def _frechet_scipy(a, b):
    mu = a.mean(0) - b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(ca @ cb).real
    return float(mu @ mu + np.trace(ca + cb - 2 * root))


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    b = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8)) + 0.5
    assert metrics.frechet_distance(a, b) == pytest.approx(_frechet_scipy(a, b), rel=1e-8)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # two 1-D Gaussians: (μa − μb)² + (σa − σb)²
    x = np.array([[-1.0], [1.0]] * 50)
    assert metrics.frechet_distance(x, 3 * x + 2) == pytest.approx(
        4 + (3 - 1) ** 2 * np.var(x, ddof=1), rel=1e-10
    )


def test_frechet_distance_bad_input():
    with pytest.raises(ValueError, match="feats_a needs at least 2"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="feats_b must have 3 feature"):
        metrics.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.frechet_distance(np.full((5, 3), np.nan), np.zeros((5, 3)))


def test_judge_is_accurate():
    judge = pretrained("digit_classifier")
    test = helpers.data.load_mnist("test", verbose=False)
    assert accuracy(judge, test.images, test.labels) >= 0.97


def test_digit_quality_orders_real_blurred_noise():
    test = helpers.data.load_mnist("test", verbose=False).images
    train = helpers.data.load_mnist("train", verbose=False).images
    real = train[:500]
    blur = torch.nn.functional.avg_pool2d(real, 3, stride=1, padding=1)
    noise = torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    s_real, s_blur, s_noise = (metrics.digit_quality(x) for x in (real, blur, noise))
    assert s_real.fd < s_blur.fd < s_noise.fd
    assert s_real.fd < 2 * s_real.fd_floor  # real training digits sit at the floor
    assert s_real.classes == 10 and s_real.confidence > 0.9
    assert not s_real.binarized and metrics.digit_quality(helpers.data.binarize(real)).binarized
    # against an explicit reference
    assert metrics.digit_quality(real, reference=test).fd == pytest.approx(s_real.fd)


def test_digit_quality_bad_input():
    x = torch.rand(200, 1, 28, 28)
    with pytest.raises(ValueError, match=r"images must be digits shaped \(n, 1, 28, 28\)"):
        metrics.digit_quality(torch.rand(200, 1, 14, 14))
    with pytest.raises(ValueError, match=r"images must hold pixel values in \[0, 1\]"):
        metrics.digit_quality(x * 255)
    with pytest.raises(ValueError, match="at least 100 images"):
        metrics.digit_quality(x[:10])
    with pytest.raises(ValueError, match="images must have 4 dimension"):
        metrics.digit_quality(torch.rand(200, 784))
