"""Input checks shared by the public functions: each raises ``ValueError`` saying what to do."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def as_tensor(
    x,
    name: str = "x",
    *,
    ndim: int | Sequence[int] | None = None,
    dim: int | None = None,
    min_rows: int = 0,
    dtype: torch.dtype | None = None,
    allow_nonfinite: bool = False,
) -> torch.Tensor:
    """Convert ``x`` to a floating tensor and check it.

    ndim: allowed number of axes; dim: required size of the last axis (samples are rows);
    min_rows: at least this many rows. Integer and boolean input is converted to float.
    """
    if _is_sparse(x):
        raise TypeError(
            f"{name} is a sparse matrix: sparse input is not supported; convert it with {name}.toarray()."
        )
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as err:  # pragma: no cover - exotic input
            raise ValueError(f"{name} could not be read as an array: {err}") from None
        if arr.dtype.kind in "USV":
            raise ValueError(
                f"{name} must hold numbers, got an array of {arr.dtype}; "
                "pass a numeric numpy array or torch tensor."
            )
        if arr.dtype == object:  # numbers stored as objects are read; anything else is refused
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as err:
                raise type(err)(
                    f"{name} must hold numbers, got an object array that float() cannot read ({err})."
                ) from None
        t = torch.from_numpy(np.array(arr, copy=True))
    if t.is_complex():
        raise ValueError(f"{name} must be real: Complex data not supported (got {t.dtype}).")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if dtype is not None:
        t = t.to(dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(
                f"{name} must have {want} dimension(s), got shape {tuple(t.shape)}"
                + ("; for samples use shape (n_samples, n_features)." if 2 in allowed else ".")
            )
    if dim is not None and (t.ndim == 0 or t.shape[-1] != dim):
        raise ValueError(f"{name} must have {dim} feature(s) in its last axis, got shape {tuple(t.shape)}.")
    if min_rows and (t.ndim == 0 or t.shape[0] < min_rows):
        n = 0 if t.ndim == 0 else t.shape[0]
        raise ValueError(f"{name} needs at least {min_rows} sample(s), got {n}.")
    if not allow_nonfinite and t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); remove or impute them first.")
    return t


def _is_sparse(x) -> bool:
    if isinstance(x, torch.Tensor):
        return x.layout != torch.strided
    return hasattr(x, "tocsr") and hasattr(x, "nnz")  # scipy.sparse matrices and arrays


def as_matrix(x, name: str = "X", min_rows: int = 1) -> torch.Tensor:
    """Samples as a 2-D float tensor (n_samples, n_features), scikit-learn's contract for ``X``: a
    1-D array is refused (it could be one feature or one sample), as are empty arrays, sparse,
    complex and non-numeric input, NaN and ±inf. Messages name ``name`` and say what to do."""
    t = as_tensor(x, name)
    if t.ndim == 1:
        raise ValueError(
            f"{name} must have 2 dimensions (n_samples, n_features), got a 1-D array of shape "
            f"{tuple(t.shape)}. Reshape your data: {name}.reshape(-1, 1) if it is one feature, "
            f"{name}.reshape(1, -1) if it is one sample."
        )
    if t.ndim != 2:
        raise ValueError(
            f"{name} must have 2 dimensions (n_samples, n_features), got shape {tuple(t.shape)}."
        )
    n, d = t.shape
    if d == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape=({n}, 0)) while a minimum of 1 is required.")
    if n < min_rows:
        raise ValueError(
            f"{name} needs at least {min_rows} sample(s), got n_samples = {n} (shape=({n}, {d}))."
        )
    return t


def as_samples(x, name: str = "x", dim: int | None = None, min_rows: int = 1) -> torch.Tensor:
    """Samples as a 2-D float tensor (n_samples, n_features); a 1-D input is one feature."""
    t = as_tensor(x, name, ndim=(1, 2), min_rows=min_rows)
    if t.ndim == 1:
        t = t[:, None]
    if dim is not None and t.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} feature(s) per sample, got shape {tuple(t.shape)}.")
    return t


def as_images(x, name: str = "images", unit_range: bool = False) -> torch.Tensor:
    """One-channel images as a float tensor (n, 1, H, W); with ``unit_range`` pixels must lie in [0, 1]."""
    t = as_tensor(x, name, ndim=4)
    if t.shape[1] != 1:
        raise ValueError(
            f"{name} must be one-channel (grayscale) images of shape (n, 1, H, W), got {tuple(t.shape)}."
        )
    if unit_range and t.numel() and (float(t.min()) < 0 or float(t.max()) > 1):
        raise ValueError(f"{name} must hold pixel values in [0, 1]; divide by 255 first.")
    return t


def positive(value, name: str) -> float:
    """A finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}.") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return v


def positive_int(value, name: str, minimum: int = 1) -> int:
    """A whole number ≥ minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number ≥ {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number ≥ {minimum}, got {value}.")
    return int(value)


def one_of(value, name: str, choices: Sequence) -> object:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")
    return value


def seed_generator(seed, name: str = "seed") -> torch.Generator:
    """A torch generator seeded with ``seed`` (a non-negative int), or from fresh entropy when None."""
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(positive_int(seed, name, minimum=0))
    return g
