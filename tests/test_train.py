import json

import pytest
import torch

from helpers import train


def _regression(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3


def _mse(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x), y)


def test_train_reduces_loss_and_is_deterministic():
    x, y = _regression()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        hist = train.train(
            model, _mse, (x, y), epochs=30, lr=0.05, batch_size=64, device="cpu", progress=False
        )
        runs.append(hist["loss"])
    assert runs[0] == runs[1]
    assert runs[0][-1] < 0.01 * runs[0][0]
    assert len(hist["epoch_loss"]) == 30


def test_train_max_steps_clip_and_early_stop():
    x, y = _regression()
    model = torch.nn.Linear(3, 1)
    hist = train.train(
        model, _mse, (x, y), epochs=100, max_steps=5, clip_grad=1.0, device="cpu", progress=False
    )
    assert len(hist["loss"]) == 5
    hist = train.train(
        torch.nn.Linear(3, 1),
        _mse,
        (x, y),
        epochs=500,
        lr=0.1,
        val_data=(x, y),
        patience=3,
        device="cpu",
        progress=False,
    )
    assert len(hist["val_loss"]) < 500


def test_train_bad_input():
    model = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError, match="patience"):
        train.train(model, _mse, _regression(), patience=2, progress=False)
    with pytest.raises(ValueError, match="same length"):
        train.train(model, _mse, (torch.zeros(4, 3), torch.zeros(5, 1)), progress=False)
    with pytest.raises(ValueError, match="lr"):
        train.train(model, _mse, _regression(), lr=-1, progress=False)
    with pytest.raises(FloatingPointError, match="learning rate"):
        train.train(
            model, lambda m, b: m(b[0]).sum() * float("nan"), _regression(), device="cpu", progress=False
        )


def test_checkpoint_roundtrip_and_tamper_detection(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = train.save_checkpoint("tiny", model.state_dict(), tmp_path, info={"note": "test"})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["tiny"]["sha256"] == train.sha256(path) and manifest["tiny"]["note"] == "test"
    state = train.load_checkpoint("tiny", tmp_path)
    assert torch.equal(state["weight"], model.weight)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValueError, match="altered"):
        train.load_checkpoint("tiny", tmp_path)
    with pytest.raises(ValueError, match="missing"):
        train.load_checkpoint("absent", tmp_path)
    with pytest.raises(ValueError, match="plain name"):
        train.load_checkpoint("../etc/passwd", tmp_path)


def test_a_retrain_keeps_the_comparison_runs_and_replaces_the_rest(tmp_path):
    model = torch.nn.Linear(3, 2)
    runs = [{"steps": 100, "fd": 9.0}]
    train.save_checkpoint("tiny", model.state_dict(), tmp_path, info={"steps": 200, "comparison_runs": runs, "fd": 5.0})
    train.save_checkpoint("tiny", model.state_dict(), tmp_path, info={"steps": 300})
    entry = json.loads((tmp_path / "manifest.json").read_text())["tiny"]
    assert entry["steps"] == 300 and "fd" not in entry and entry["comparison_runs"] == runs
    train.save_checkpoint("tiny", model.state_dict(), tmp_path, info={"comparison_runs": []})
    assert json.loads((tmp_path / "manifest.json").read_text())["tiny"]["comparison_runs"] == []


def test_load_or_train(tmp_path):
    calls = []

    def fit(model):
        calls.append(1)
        torch.nn.init.constant_(model.weight, 0.5)
        return "trained"

    model, result = train.load_or_train("m", torch.nn.Linear(2, 1), fit, directory=tmp_path)
    assert result == "trained" and calls == [1]
    fresh, result = train.load_or_train("m", torch.nn.Linear(2, 1), fit, directory=tmp_path)
    assert result == "loaded" and calls == [1] and torch.all(fresh.weight == 0.5)
    _, result = train.load_or_train("m", torch.nn.Linear(2, 1), fit, directory=tmp_path, retrain=True)
    assert result == "trained" and calls == [1, 1]


def test_shipped_checkpoints_match_manifest():
    """Every checkpoint in assets/ is listed with its hash, and every listed one exists and loads."""
    manifest_path = train.MANIFEST
    entries = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    files = {p.stem for p in train.CHECKPOINTS.glob("*.pt")}
    assert files == set(entries), f"unlisted or missing checkpoints: {files ^ set(entries)}"
    for name in entries:
        assert isinstance(train.load_checkpoint(name), dict)
