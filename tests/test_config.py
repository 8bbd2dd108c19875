import importlib

import numpy as np
import pytest
import torch

import helpers
from helpers import config


def test_seed_everything_makes_reruns_identical():
    helpers.seed_everything(3)
    a = (torch.randn(5), np.random.rand(3), torch.nn.Linear(4, 2).weight.detach().clone())
    helpers.seed_everything(3)
    b = (torch.randn(5), np.random.rand(3), torch.nn.Linear(4, 2).weight.detach().clone())
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y))


def test_seed_everything_returns_seeded_generator():
    g1, g2 = helpers.seed_everything(7), helpers.seed_everything(7)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "0", True])
def test_seed_everything_rejects_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        helpers.seed_everything(bad)


def test_device_defaults_and_override(monkeypatch):
    assert helpers.device().type in {"cpu", "cuda", "mps"}
    assert helpers.device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert helpers.device() == torch.device("cpu")


def test_device_rejects_unavailable_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        helpers.device("cuda")


def test_fast_flag_reads_environment(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert importlib.reload(config).FAST is True
    monkeypatch.setenv("COURSE_FAST", "0")
    assert importlib.reload(config).FAST is False
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST"):
        importlib.reload(config)
    monkeypatch.delenv("COURSE_FAST")
    importlib.reload(config)


def test_banner_prints_mode_device_versions(capsys):
    helpers.banner()
    out = capsys.readouterr().out
    assert "mode" in out and "device" in out and torch.__version__ in out


def _blas_threads():
    from threadpoolctl import threadpool_info

    return {(i["internal_api"], i["filepath"]): i["num_threads"] for i in threadpool_info()}


def test_threads_default_to_one_for_torch_and_every_blas_pool(monkeypatch, capsys):
    """One thread per operation unless COURSE_THREADS says otherwise (spinning pools on shared cores
    made lesson 05 seven times slower: helpers/config.py)."""
    pytest.importorskip("threadpoolctl")
    import scipy.linalg  # noqa: F401  (SciPy's own OpenBLAS, loaded before the reload)

    try:
        monkeypatch.setenv("COURSE_THREADS", "2")
        assert importlib.reload(config).THREADS == 2 and torch.get_num_threads() == 2
        assert set(_blas_threads().values()) == {2}
        monkeypatch.delenv("COURSE_THREADS")
        assert importlib.reload(config).THREADS == 1 and torch.get_num_threads() == 1
        assert set(_blas_threads().values()) == {1}, _blas_threads()
        config.banner()
        assert "CPU threads: 1 (COURSE_THREADS=N for more)" in capsys.readouterr().out
    finally:
        importlib.reload(config)


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_course_threads_rejects_bad_values(monkeypatch, bad):
    monkeypatch.setenv("COURSE_THREADS", bad)
    try:
        with pytest.raises(ValueError, match="COURSE_THREADS"):
            importlib.reload(config)
    finally:
        monkeypatch.delenv("COURSE_THREADS")
        importlib.reload(config)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_limit_threads_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="threads"):
        config.limit_threads(bad)
