"""A generic training loop and pretrained checkpoints verified by hash.

Checkpoints live in ``assets/checkpoints/<name>.pt`` (a ``state_dict``); their sha256 is listed in
``assets/checkpoints/manifest.json``. ``load_checkpoint`` refuses a file that is missing or whose
hash differs, and always loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ._validate import positive, positive_int
from .config import ASSETS
from .config import device as default_device

__all__ = [
    "train",
    "train_steps",
    "checkpoint_path",
    "load_checkpoint",
    "save_checkpoint",
    "load_or_train",
    "manifest_fields",
    "sha256",
    "script_parser",
    "parse_script_args",
]

CHECKPOINTS = ASSETS / "checkpoints"
_NAME = re.compile(r"[A-Za-z0-9_\-]+")
MANIFEST = CHECKPOINTS / "manifest.json"


def _batches(data, batch_size: int, shuffle: bool, generator: torch.Generator | None) -> Iterable:
    if isinstance(data, torch.utils.data.DataLoader):
        yield from data
        return
    tensors = data if isinstance(data, (tuple, list)) else (data,)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ValueError("data must be a tensor, a tuple of tensors, or a DataLoader.")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"all tensors in data must have the same length, got {[len(t) for t in tensors]}.")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        batch = tuple(t[idx] for t in tensors)
        yield batch if isinstance(data, (tuple, list)) else batch[0]


def _to(batch, dev):
    if isinstance(batch, torch.Tensor):
        return batch.to(dev)
    return type(batch)(_to(b, dev) for b in batch)


def train(
    model: torch.nn.Module,
    loss_fn: Callable,
    data,
    *,
    epochs: int = 1,
    max_steps: int | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    clip_grad: float | None = None,
    val_data=None,
    patience: int | None = None,
    device: torch.device | str | None = None,
    seed: int | None = 0,
    progress: bool = True,
    live: bool = False,
    callback: Callable | None = None,
) -> dict[str, list[float]]:
    """Minimise ``loss_fn(model, batch)`` over ``data`` with Adam (``lr``, ``weight_decay``) or ``optimizer``.

    data: a tensor, a tuple of tensors (batched together), or a DataLoader; the batch handed to
    ``loss_fn`` has the same structure, already on ``device``. max_steps stops early after that
    many optimiser steps; clip_grad clips the gradient norm; with ``val_data`` the loss on it is
    recorded each epoch and training stops after ``patience`` epochs without improvement (the
    best weights are restored). live: redraw a training curve in the notebook.
    callback(step, loss) runs after every step.
    Returns the history: ``{"loss": per-step losses, "epoch_loss": ..., "val_loss": ...}``.
    """
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    if max_steps is not None:
        max_steps = positive_int(max_steps, "max_steps")
    if clip_grad is not None:
        clip_grad = positive(clip_grad, "clip_grad")
    if patience is not None:
        patience = positive_int(patience, "patience")
        if val_data is None:
            raise ValueError("early stopping (patience) needs val_data to watch.")
    dev = torch.device(device) if device is not None else default_device()
    model.to(dev)
    if optimizer is None:
        optimizer = torch.optim.Adam(
            model.parameters(), lr=positive(lr, "lr"), weight_decay=float(weight_decay)
        )
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    history: dict[str, list[float]] = {"loss": [], "epoch_loss": []}
    if val_data is not None:
        history["val_loss"] = []
    best, best_state, bad_epochs, step = math.inf, None, 0, 0
    curve = None
    if live:
        from .plot import LiveCurve

        curve = LiveCurve("training loss", every=max(1, 20))
    bar = tqdm(total=max_steps or None, disable=not progress, desc="training", leave=False)
    try:
        for _epoch in range(epochs):
            model.train()
            total, count = 0.0, 0
            for batch in _batches(data, batch_size, True, g):
                batch = _to(batch, dev)
                loss = loss_fn(model, batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"loss became {float(loss.detach())} at step {step}; lower the learning rate or set clip_grad."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if clip_grad is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
                optimizer.step()
                value = float(loss.detach())
                history["loss"].append(value)
                total, count, step = total + value, count + 1, step + 1
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4g}")
                if curve is not None:
                    curve.update(loss=value)
                if callback is not None:
                    callback(step, value)
                if max_steps is not None and step >= max_steps:
                    break
            history["epoch_loss"].append(total / max(count, 1))
            if val_data is not None:
                val = evaluate(model, loss_fn, val_data, batch_size=batch_size, device=dev)
                history["val_loss"].append(val)
                if val < best - 1e-6:
                    best, bad_epochs = val, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad_epochs += 1
                    if patience is not None and bad_epochs >= patience:
                        break
            if max_steps is not None and step >= max_steps:
                break
    finally:
        bar.close()
        if curve is not None:
            curve.close()
    if patience is not None and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


@torch.no_grad()
def _progress(step: int, steps: int, elapsed: float, max_seconds: float | None) -> float:
    """How far training is, in [0, 1]: by steps, or by time when a time budget is given."""
    done = step / steps
    return done if max_seconds is None else max(done, elapsed / max_seconds)


def _set_lr(opt, lr: float, step: int, progress: float, warmup: int = 50) -> None:
    """Linear warm-up over ``warmup`` steps, then a cosine from lr down to lr/20 as progress → 1."""
    factor = min(1.0, (step + 1) / warmup) * (
        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    )
    for group in opt.param_groups:
        group["lr"] = lr * factor


def train_steps(
    model: torch.nn.Module,
    loss_fn: Callable,
    *,
    steps: int,
    lr: float,
    seed: int | None = 0,
    max_seconds: float | None = None,
    clip: float = 1.0,
    ema: float = 0.0,
    weight_decay: float = 0.0,
    progress: bool = False,
    print_every: int = 100,
    callback: Callable | None = None,
) -> tuple[dict[str, list[float]], float]:
    """Adam for ``steps`` steps on ``loss_fn(generator)`` (the loss draws its own batch with the
    generator), with a warm-up and a cosine learning rate that follows whichever of ``steps`` and
    ``max_seconds`` runs out first, gradients clipped at ``clip``. With ``ema`` > 0 the weights kept
    at the end are an exponential moving average of the iterates; ``weight_decay`` > 0 uses AdamW's
    decoupled decay. ``callback(steps_done, weights)`` runs after every step, ``weights`` being the
    averaged model when ``ema`` > 0 (else the model): to keep an intermediate snapshot. The loop of
    the flows and diffusion models (epochs suit a fixed data set; these draw fresh batches or
    samples every step).
    Returns (history ``{"loss": [...]}``, seconds); the steps done are ``len(history["loss"])``."""
    import copy

    from ._validate import seed_generator

    steps = positive_int(steps, "steps")
    if max_seconds is not None:
        max_seconds = positive(max_seconds, "max_seconds")
    if not 0 <= ema < 1:
        raise ValueError(f"ema must be in [0, 1), got {ema}.")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay}.")
    if weight_decay:
        opt = torch.optim.AdamW(model.parameters(), lr=positive(lr, "lr"), weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=positive(lr, "lr"))
    g = seed_generator(seed)
    averaged = copy.deepcopy(model).eval() if ema > 0 else None
    history: dict[str, list[float]] = {"loss": []}
    start = time.perf_counter()
    _set_lr(opt, lr, 0, 0.0)
    model.train()
    for step in range(steps):
        loss = loss_fn(g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        done = _progress(step + 1, steps, time.perf_counter() - start, max_seconds)
        _set_lr(opt, lr, step + 1, done)
        if averaged is not None:
            with torch.no_grad():
                decay = min(ema, (1 + step) / (10 + step))
                for pa, p in zip(averaged.parameters(), model.parameters()):
                    pa.lerp_(p, 1 - decay)
        history["loss"].append(float(loss.detach()))
        if callback is not None:
            callback(step + 1, averaged if averaged is not None else model)
        if progress and step % print_every == 0:
            print(
                f"step {step}: loss {history['loss'][-1]:.4f} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        if done >= 1:
            break
    if averaged is not None:
        model.load_state_dict(averaged.state_dict())
    model.eval()
    return history, time.perf_counter() - start


def evaluate(model, loss_fn, data, batch_size: int = 512, device=None) -> float:
    """Mean of ``loss_fn(model, batch)`` over ``data`` (weighted by batch size), without gradients."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    total, n = 0.0, 0
    for batch in _batches(data, batch_size, False, None):
        batch = _to(batch, dev)
        size = len(batch) if isinstance(batch, torch.Tensor) else len(batch[0])
        with torch.no_grad():
            total += float(loss_fn(model, batch)) * size
        n += size
    return total / max(n, 1)


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest(manifest: Path) -> dict:
    if not manifest.exists():
        return {}
    try:
        return json.loads(manifest.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{manifest} is not valid JSON ({err}); restore it with git.") from None


def checkpoint_path(name: str, directory: str | os.PathLike | None = None) -> Path:
    """``<directory>/<name>.pt``; ``name`` must be a plain name (letters, digits, ``_``, ``-``), so a
    name with a path separator or ``..`` is refused before any file is opened."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"checkpoint name must be a plain name like 'rlud_mnist' (letters, digits, _ and -; "
            f"no path separators, '..' or '.pt'), got {name!r}."
        )
    return Path(directory or CHECKPOINTS) / f"{name}.pt"


def load_checkpoint(name: str, directory: str | os.PathLike | None = None, map_location="cpu") -> dict:
    """The state_dict in ``<directory>/<name>.pt`` after checking its sha256 against the manifest.

    Raises ValueError naming the file when it is missing, unlisted or altered.
    """
    path = checkpoint_path(name, directory)
    manifest = path.parent / "manifest.json"
    if not path.exists():
        raise ValueError(
            f"checkpoint {path} is missing. Restore it with `git checkout -- {path.name}` or "
            "retrain (set RETRAIN = True in the notebook, or run its script in scripts/)."
        )
    expected = _manifest(manifest).get(name, {}).get("sha256")
    if expected is None:
        raise ValueError(f"checkpoint {path} is not listed in {manifest}; save it with save_checkpoint().")
    actual = sha256(path)
    if actual != expected:
        raise ValueError(
            f"checkpoint {path} has sha256 {actual[:12]}…, but the manifest expects "
            f"{expected[:12]}…: the file was altered or is a partial copy. Restore it or retrain."
        )
    return torch.load(path, map_location=map_location, weights_only=True)


#: Manifest fields about *other* runs (complete shorter runs of the same recipe, measured once and read
#: by the lessons): a retrain replaces the entry but keeps these, unless ``info`` brings its own.
CARRIED_FIELDS = ("comparison_runs",)


def save_checkpoint(
    name: str, state_dict: dict, directory: str | os.PathLike | None = None, info: dict | None = None
) -> Path:
    """Save ``state_dict`` (tensors moved to CPU) and record its sha256 (and ``info``) in the manifest;
    the old entry's ``CARRIED_FIELDS`` survive the new one."""
    path = checkpoint_path(name, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(state_dict, dict):
        raise ValueError("save_checkpoint expects a state_dict (model.state_dict()), not a model.")
    torch.save(
        {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in state_dict.items()}, path
    )
    manifest = path.parent / "manifest.json"
    # two trainings finishing at once must not lose each other's entry: read-modify-write under a lock
    import tempfile

    key = hashlib.sha256(str(manifest.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"course-manifest-{key}.lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no advisory locks, one training at a time
            pass
        entries = _manifest(manifest)
        carried = {k: v for k, v in entries.get(name, {}).items() if k in CARRIED_FIELDS}
        entries[name] = {"sha256": sha256(path), "bytes": path.stat().st_size, **carried, **(info or {})}
        manifest.write_text(json.dumps(dict(sorted(entries.items())), indent=2) + "\n")
    return path


def _class_path(model) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def manifest_fields(model, *, data=None, script=None, steps=None, seconds=None, device=None, **extra) -> dict:
    """The fields the manifest keeps for a checkpoint of ``model`` (besides sha256 and bytes)."""
    args = getattr(model, "init_args", None)
    if args is None:
        raise ValueError(
            f"{type(model).__name__} does not record its constructor arguments: derive it from "
            "helpers.models.RecordsArgs so pretrained() can rebuild it."
        )
    if device is None:
        try:
            device = str(next(model.parameters()).device)
        except (StopIteration, AttributeError):
            device = "cpu"
    fields = {
        "class": _class_path(model),
        "kwargs": args,
        "data": data,
        "script": script,
        "steps": steps,
        "seconds": None if seconds is None else round(float(seconds), 1),
        "device": device,
        "cpu": platform.machine(),
        "torch": torch.__version__,
    }
    fields.update(extra)
    return {k: v for k, v in fields.items() if v is not None}


def load_or_train(
    name: str,
    model: torch.nn.Module,
    train_fn: Callable,
    *,
    retrain: bool = False,
    save: bool = True,
    directory: str | os.PathLike | None = None,
    info: dict | None = None,
):
    """Load the shipped checkpoint ``name`` into ``model``, or train it with ``train_fn(model)``.

    retrain: train even if a checkpoint exists; save: then write the new checkpoint and its hash,
    with the manifest fields of ``manifest_fields`` (class and constructor
    arguments when the model records them, seconds, device, torch) plus ``info`` (data, script,
    steps...). A checkpoint whose file is missing is trained here, with a message saying so.
    Returns ``(model, result)``: ``result`` is ``"loaded"`` or whatever ``train_fn`` returned.
    """
    path = checkpoint_path(name, directory)
    if not retrain and path.exists():
        model.load_state_dict(load_checkpoint(name, directory))
        model.eval()
        print(f"loaded pretrained checkpoint {path.name} (set RETRAIN = True to train it yourself)")
        return model, "loaded"
    if not retrain:
        print(
            f"checkpoint {path} not found: training the model here instead (restore the file to skip this)."
        )
    start = time.perf_counter()
    result = train_fn(model)
    seconds = time.perf_counter() - start
    if save:
        fields = dict(info or {})
        if getattr(model, "init_args", None) is not None:
            fields = manifest_fields(model, seconds=seconds, **fields)
        else:
            fields.setdefault("seconds", round(seconds, 1))
            fields.setdefault("torch", torch.__version__)
        saved = save_checkpoint(name, model.state_dict(), directory, fields)
        print(f"saved checkpoint {saved} and its sha256 in the manifest")
    model.eval()
    return model, result


# ---------------------------------------------------------------------------------------------
# The command line every training script in scripts/ shares

_NONE = object()


def _count(text: str) -> int:
    """argparse type for --steps / --epochs: a whole number ≥ 1, or a message saying what to pass."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}")
    return value


def script_parser(doc: str, *, steps=_NONE, epochs=_NONE, dry_run: bool = True) -> argparse.ArgumentParser:
    """The argument parser a training script starts from: its module docstring as ``--help``,
    ``--dry-run`` (train and report, save nothing), and ``--steps`` / ``--epochs`` when given a default
    (``None``: the recipe's own budget), each checked to be a whole number ≥ 1. The script adds its
    own arguments and calls ``parse_script_args``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("steps", steps), ("epochs", epochs)):
        if default is not _NONE:
            what = "the recipe's" if default is None else str(default)
            parser.add_argument(f"--{name}", type=_count, default=default, help=f"{name} to train (default: {what})")
    if dry_run:
        parser.add_argument("--dry-run", action="store_true", help="train and report, save nothing")
    return parser


def parse_script_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse a training script's arguments, then print the banner (mode, device, threads,
    versions) so every log says what it ran on."""
    from .config import banner

    args = parser.parse_args(argv)
    banner()
    return args
