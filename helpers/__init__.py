"""``helpers``: the shared package of the course "Learning the data distribution".

Modules: ``config`` (mode, device, seeding), ``data`` (toy densities, MNIST, photos),
``plot``, ``train`` (training loop, checkpoints), ``metrics``, ``check`` (learner-facing checks),
``estimators`` (Gaussian MLE, histogram, KDE, Gaussian mixture with scikit-learn's API).
Deep models live in ``helpers.models`` (one module per family, imported on demand: ``naive_density``
for lesson 05, ``rlud`` for 06, ``classifier`` — the digit judge — and the families of 07–12);
``helpers.models.pretrained(name)`` rebuilds any shipped checkpoint from its manifest entry.
Every notebook starts with::

    import helpers
    helpers.seed_everything(0)
    helpers.banner()
"""

from . import check, config, data, estimators, metrics, plot, train
from .config import FAST, banner, device, seed_everything

__all__ = [
    "FAST",
    "banner",
    "device",
    "seed_everything",
    "config",
    "data",
    "plot",
    "train",
    "metrics",
    "check",
    "estimators",
]
__version__ = "0.1.0"
