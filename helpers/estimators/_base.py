"""What every estimator shares: scikit-learn's base classes, float64, seeding, fitted-state checks."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin

from .._validate import as_samples, positive_int

__all__ = ["DTYPE", "DensityEstimator", "check_features", "check_fitted", "torch_generator"]

#: Estimators compute in float64 so they agree with scikit-learn / SciPy to ~1e-12.
DTYPE = torch.float64


def torch_generator(random_state) -> torch.Generator:
    """A torch generator from scikit-learn's ``random_state``: None (fresh entropy), an int seed,
    a ``numpy.random.RandomState`` (drawn from, as scikit-learn does) or a ``torch.Generator``."""
    if isinstance(random_state, torch.Generator):
        return random_state
    g = torch.Generator()
    if random_state is None:
        g.seed()
    elif isinstance(random_state, np.random.RandomState):
        g.manual_seed(int(random_state.randint(0, 2**31 - 1)))
    else:
        g.manual_seed(positive_int(random_state, "random_state", minimum=0))
    return g


def check_fitted(est, attr: str, what: str = "using it") -> None:
    """ValueError unless ``est`` has the fitted attribute ``attr``; ``what`` names the call."""
    if not hasattr(est, attr):
        raise ValueError(f"This {type(est).__name__} is not fitted yet; call .fit(X) before {what}.")


class DensityEstimator(DensityMixin, BaseEstimator):
    """scikit-learn's density-estimator base plus ``score_samples``/``score`` derived from the
    subclass's ``log_prob`` (which checks that the estimator is fitted)."""

    def score_samples(self, X) -> np.ndarray:
        """log p(x) of each row, numpy (n,)."""
        return self.log_prob(X).numpy()

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per sample."""
        return float(self.log_prob(X).mean())


def check_features(est, X, name: str = "X") -> torch.Tensor:
    """X as float64 (n, d) with the d the estimator was fitted on."""
    X = as_samples(X, name).detach().cpu().to(DTYPE)
    if X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"{name} has {X.shape[1]} feature(s) per sample but this {type(est).__name__} was fitted "
            f"on {est.n_features_in_}; pass shape (n_samples, {est.n_features_in_})."
        )
    return X
