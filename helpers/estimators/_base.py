"""What every estimator shares: scikit-learn's base classes, float64, seeding, fitted-state checks."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import NotFittedError

from .._validate import _is_sparse, as_matrix, positive_int

__all__ = ["DTYPE", "DensityEstimator", "check_features", "check_fitted", "fit_input", "torch_generator"]

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
    """scikit-learn's ``NotFittedError`` (a ``ValueError``) unless ``est`` has the fitted attribute
    ``attr``; ``what`` names the call."""
    if not hasattr(est, attr):
        raise NotFittedError(f"This {type(est).__name__} is not fitted yet; call .fit(X) before {what}.")


def _one_feature(X, allow_1d: bool):
    """A 1-D array as one feature (n, 1) where the estimator allows it (the histogram, like numpy's)."""
    if allow_1d and not _is_sparse(X) and np.ndim(X) == 1:
        return X[:, None]
    return X


def fit_input(est, X, name: str = "X", min_rows: int = 1, allow_1d: bool = False) -> torch.Tensor:
    """The training data as float64 (n, d) on the CPU, checked as scikit-learn checks it; sets
    ``n_features_in_``. ``allow_1d``: read a 1-D array as one feature instead of refusing it."""
    X = as_matrix(_one_feature(X, allow_1d), name, min_rows=min_rows).detach().cpu().to(DTYPE)
    est.n_features_in_ = X.shape[1]
    return X


class DensityEstimator(DensityMixin, BaseEstimator):
    """scikit-learn's density-estimator base plus ``score_samples``/``score`` derived from the
    subclass's ``log_prob`` (which checks that the estimator is fitted)."""

    def score_samples(self, X) -> np.ndarray:
        """log p(x) of each row, numpy (n,)."""
        return self.log_prob(X).numpy()

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per sample."""
        return float(self.log_prob(X).mean())


def check_features(est, X, name: str = "X", allow_1d: bool = False) -> torch.Tensor:
    """X as float64 (n, d) with the d the estimator was fitted on (scikit-learn's message)."""
    X = as_matrix(_one_feature(X, allow_1d), name, min_rows=0).detach().cpu().to(DTYPE)
    d = est.n_features_in_
    if X.shape[1] != d:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but {type(est).__name__} is expecting {d} features as "
            f"input (it was fitted on {d}); pass shape (n_samples, {d})."
        )
    return X
