"""Run-time configuration shared by every notebook: mode, device, seeding, banner.

``FAST`` is read once from the environment variable ``COURSE_FAST`` (set to 1 by the tests):
notebooks shrink their data and epochs when it is true.

``THREADS`` (the environment variable ``COURSE_THREADS``, default 1) is the number of CPU threads
of each parallel operation: torch's intra-op threads and the BLAS / OpenMP pools of NumPy, SciPy and
scikit-learn. One is the default because these pools spin while they wait: with two threads on two
cores that other programs also use (a browser, a second notebook, a training), every small parallel
operation waited for a thread the OS had paused, and lesson 05 took 622 s instead of 90 s
(``benchmarks/notebooks.py --load N`` measures it). The lessons' models are small, so one thread
loses little on a quiet machine. ``COURSE_THREADS=N`` gives N threads (set ``OMP_WAIT_POLICY=PASSIVE``
before starting Jupyter as well, if the cores are shared).
"""

from __future__ import annotations

import os
import platform
import random
import sys
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "FAST",
    "THREADS",
    "ROOT",
    "ASSETS",
    "DATA_DIR",
    "device",
    "seed_everything",
    "banner",
    "env_flag",
    "limit_threads",
]


def env_flag(name: str, default: bool = False) -> bool:
    """True when the environment variable ``name`` is set to 1/true/yes/on (case-insensitive)."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    value = value.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={value!r} is not understood: use 1 (on) or 0 (off).")


FAST: bool = env_flag("COURSE_FAST")

#: Repository root (the folder holding ``helpers/``, ``assets/`` and ``notebooks/``).
ROOT: Path = Path(os.environ.get("COURSE_ROOT", Path(__file__).resolve().parent.parent))
ASSETS: Path = ROOT / "assets"
#: Where downloaded data sets (full MNIST) are looked for and cached.
DATA_DIR: Path = Path(os.environ.get("COURSE_DATA", ROOT / "data"))

#: Environment variables read by the BLAS and OpenMP libraries that load after this module.
_POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _threads_from_env() -> int:
    value = os.environ.get("COURSE_THREADS", "").strip()
    if not value:
        return 1
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"COURSE_THREADS={value!r}: use a whole number of threads ≥ 1.") from None
    if threads < 1:
        raise ValueError(f"COURSE_THREADS={threads}: use a whole number of threads ≥ 1.")
    return threads


def limit_threads(threads: int) -> None:
    """Use ``threads`` CPU threads per operation in torch and in every BLAS / OpenMP pool.

    Loaded libraries are set now (torch, and the pools threadpoolctl finds: NumPy's and SciPy's
    OpenBLAS, scikit-learn's OpenMP); those that load later read ``OMP_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS``, set here unless already set. OpenMP runtimes
    that load later also get ``OMP_WAIT_POLICY=PASSIVE`` (unless set): idle threads sleep instead of
    spinning. torch's own OpenMP runtime has read its wait policy when torch was imported.
    """
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a whole number ≥ 1, got {threads!r}.")
    threads = int(threads)
    for name in _POOL_VARIABLES:
        os.environ.setdefault(name, str(threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it the loaded BLAS keeps its threads
        return
    threadpool_limits(threads)


#: CPU threads per parallel operation (``COURSE_THREADS``, default 1; see the module's docstring).
THREADS: int = _threads_from_env()
limit_threads(THREADS)


def device(prefer: str | None = None) -> torch.device:
    """The best available device: cuda, then Apple's mps, then cpu.

    ``prefer`` (or the environment variable ``COURSE_DEVICE``) forces one, e.g. ``"cpu"``.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer:
        if prefer.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} was asked for but CUDA is not available; use 'cpu'.")
        if prefer == "mps" and not _mps_available():
            raise ValueError("device 'mps' was asked for but is not available; use 'cpu'.")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) and make CPU kernels deterministic.

    Returns a ``torch.Generator`` seeded with ``seed`` for code that wants its own stream.
    A rerun of a notebook on the CPU then gives the same numbers.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be a whole number, got {seed!r}.")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be between 0 and 2**32 - 1, got {seed}.")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA / MPS device too
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.Generator().manual_seed(seed)


def banner() -> None:
    """Print the one-line facts a learner needs before a lesson: mode, device, versions."""
    mode = "FAST (tests: small data, few epochs)" if FAST else "FULL (real results)"
    dev = device()
    extra = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    print(f"mode    : {mode}  — set COURSE_FAST=1 for the quick version")
    more = "" if THREADS > 1 else " (COURSE_THREADS=N for more)"
    print(f"device  : {dev}{extra}, CPU threads: {torch.get_num_threads()}{more}")
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}")
    if sys.version_info < (3, 10):
        print("warning : this course is tested on Python 3.11; older versions may fail.")
