"""``helpers.models``: the course's deep models, one module per family, one shape for all.

Modules (imported on demand): ``naive_density`` (lesson 05), ``rlud`` (06), ``classifier`` (the
digit judge used by ``helpers.metrics.digit_quality``), and the families of lessons 07–12
(``autoregressive``, ``vae``, ``gan``, ``flows``, ``diffusion``) as they land, and ``dann``
(lesson 09's domain-adversarial classifier).

**The shape** every model keeps (written down as the protocols below):

- a *density model* has ``log_prob(x) -> (N,)`` in **nats per example**, exact where the family is
  tractable; where only a bound or an estimate exists the method says so: ``elbo(x)``, or
  ``log_prob(x, k=...)`` for an importance-weighted estimate;
- a *generator* has ``sample(n, seed=None)`` returning data-space tensors shaped like the data:
  images ``(n, 1, H, W)`` in [0, 1] (binarised digits in {0, 1}), 2-D points ``(n, 2)``;
- each module's training function is the one its notebook calls and the one its script in
  ``scripts/`` calls to make the shipped checkpoint.

**The shelf.** ``available()`` lists the shipped checkpoints; ``pretrained(name)`` rebuilds one from
its manifest entry alone (class, constructor arguments) and loads the sha256-verified weights with
``torch.load(weights_only=True)``. ``save_pretrained`` writes a checkpoint with the fields the
manifest keeps for each: class, arguments, data, script, steps, seconds, device, torch version.
A model remembers its constructor arguments when its class derives from ``RecordsArgs``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Protocol, runtime_checkable

import torch

from ..train import _manifest, checkpoint_path, load_checkpoint, manifest_fields, save_checkpoint

__all__ = [
    "DensityModel",
    "BoundModel",
    "Generator",
    "RecordsArgs",
    "pretrained",
    "available",
    "entry",
    "save_pretrained",
    "manifest_fields",
]


@runtime_checkable
class DensityModel(Protocol):
    """Exact (or explicitly estimated) log-likelihood: ``log_prob(x) -> (N,)`` in nats per example."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class BoundModel(Protocol):
    """Only a lower bound is tractable: ``elbo(x) -> (N,)`` in nats per example (≤ log p(x))."""

    def elbo(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Generator(Protocol):
    """``sample(n, seed=None)``: n samples in data space, shaped like the data."""

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor: ...


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise ValueError(
        f"constructor argument {value!r} ({type(value).__name__}) cannot be written to the manifest; "
        "use numbers, strings, lists or dicts."
    )


class RecordsArgs:
    """Mixin: after ``__init__`` the instance holds ``init_args``, the constructor's arguments
    (defaults filled in) as JSON-able values, so the manifest can rebuild the model.

    With inheritance the outermost ``__init__`` wins (it finishes last)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__init__
        signature = inspect.signature(init)

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            init(self, *args, **kw)
            bound = signature.bind(self, *args, **kw)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(signature.parameters)))  # self
            object.__setattr__(self, "init_args", _jsonable(arguments))

        cls.__init__ = __init__


def save_pretrained(name: str, model, *, directory=None, **fields):
    """Save ``model``'s weights as checkpoint ``name`` with its manifest entry (see ``manifest_fields``)."""
    return save_checkpoint(name, model.state_dict(), directory, manifest_fields(model, **fields))


def _entries(directory=None) -> dict:
    return _manifest(checkpoint_path("x", directory).parent / "manifest.json")


def entry(name: str, directory=None) -> dict:
    """The manifest entry of checkpoint ``name``: sha256, class, arguments, data, script, steps,
    seconds, device, torch version (and whatever its script recorded)."""
    path = checkpoint_path(name, directory)
    entries = _entries(directory)
    if name not in entries:
        raise ValueError(f"checkpoint {name!r} is not in {path.parent / 'manifest.json'}.")
    return dict(entries[name])


def available(directory=None) -> dict[str, str]:
    """{name: one line}: every checkpoint in the manifest that ``pretrained`` can rebuild."""
    out = {}
    for name, e in _entries(directory).items():
        if "class" not in e:
            continue
        bits = [e["class"].removeprefix("helpers.models.")]
        if e.get("data"):
            data = e["data"]
            bits.append(
                "on " + (data if isinstance(data, str) else ", ".join(f"{k} {v}" for k, v in data.items()))
            )
        if e.get("steps"):
            bits.append(f"{e['steps']} steps")
        if e.get("seconds"):
            bits.append(f"{e['seconds']:.0f} s on {e.get('device', '?')}")
        if e.get("bytes"):
            bits.append(f"{e['bytes'] / 1024:.0f} KiB")
        out[name] = " · ".join(bits)
    return out


def pretrained(name: str, device=None, directory=None):
    """Rebuild the shipped model ``name`` from its manifest entry and load its verified weights.

    Returns the model in eval mode, on ``device`` (default: the CPU). Raises ValueError naming the
    checkpoint when it is unknown, missing or altered.
    """
    path = checkpoint_path(name, directory)  # refuses names with separators before any file is read
    entry = _entries(directory).get(name)
    if entry is None or "class" not in entry:
        known = ", ".join(sorted(available(directory))) or "none"
        raise ValueError(f"no pretrained model {name!r} in {path.parent / 'manifest.json'} (known: {known}).")
    module_name, _, cls_name = entry["class"].rpartition(".")
    if not module_name.startswith("helpers.models."):
        raise ValueError(
            f"manifest entry {name!r} names class {entry['class']!r}; only helpers.models classes are rebuilt."
        )
    cls = getattr(importlib.import_module(module_name), cls_name, None)
    if cls is None:
        raise ValueError(f"manifest entry {name!r}: {module_name} has no class {cls_name}.")
    model = cls(**entry.get("kwargs", {}))
    if not path.exists():
        script = entry.get("script", "its script in scripts/")
        raise ValueError(
            f"checkpoint file {path} is missing. Restore it with `git checkout -- {path}` "
            f"or retrain it with `python {script}`."
        )
    model.load_state_dict(load_checkpoint(name, directory))
    model.eval()
    return model.to(device or "cpu")
