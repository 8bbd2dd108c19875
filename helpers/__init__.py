"""``helpers``: the shared package of the course "Learning the data distribution".

Modules: ``config`` (mode, device, seeding), ``data`` (toy densities, MNIST, photos),
``plot``, ``train`` (training loop, checkpoints), ``metrics``, ``check`` (learner-facing checks),
``estimators`` (Gaussian MLE, histogram, KDE, Gaussian mixture with scikit-learn's API).
Lesson-specific models are imported on demand: ``helpers.naive_density`` (lesson 05),
``helpers.rlud`` (lesson 06).
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
