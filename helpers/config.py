"""Run-time configuration shared by every notebook: mode, device, seeding, banner.

``FAST`` is read once from the environment variable ``COURSE_FAST`` (set to 1 by the tests):
notebooks shrink their data and epochs when it is true. ``COURSE_THREADS`` caps torch's CPU
threads (the test command sets 1 so two notebooks can run side by side on two cores).
"""

from __future__ import annotations

import os
import platform
import random
import sys
from pathlib import Path

import numpy as np
import torch

__all__ = ["FAST", "ROOT", "ASSETS", "DATA_DIR", "device", "seed_everything", "banner", "env_flag"]


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

if os.environ.get("COURSE_THREADS"):
    _threads = int(os.environ["COURSE_THREADS"])
    if _threads < 1:
        raise ValueError(f"COURSE_THREADS={_threads}: use a whole number of threads ≥ 1.")
    torch.set_num_threads(_threads)


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
    print(f"device  : {dev}{extra}, torch threads: {torch.get_num_threads()}")
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}")
    if sys.version_info < (3, 10):
        print("warning : this course is tested on Python 3.11; older versions may fail.")
