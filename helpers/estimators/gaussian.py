"""Maximum-likelihood Gaussian in closed form (lesson 01).

For samples x_1..x_N in R^d the negative log-likelihood of N(μ, Σ) is minimised by

    μ̂ = (1/N) Σ_n x_n,        Σ̂ = (1/N) Σ_n (x_n − μ̂)(x_n − μ̂)ᵀ

(``unbiased=True`` divides by N − 1 instead: Bessel's correction, no longer the MLE).
The fitted density is a ``torch.distributions.MultivariateNormal``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.distributions import MultivariateNormal

from .._validate import positive_int
from ._base import DTYPE, DensityEstimator, check_features, check_fitted, fit_input, torch_generator

__all__ = ["GaussianMLE"]


class GaussianMLE(DensityEstimator):
    """Fit N(μ, Σ) to samples by maximum likelihood (closed form).

    Parameters
    ----------
    unbiased : divide the scatter matrix by N − 1 instead of N (the MLE divides by N).

    Fitted attributes
    -----------------
    mean_ : ndarray (d,)          μ̂, the sample mean.
    covariance_ : ndarray (d, d)  Σ̂ (N or N − 1 in the denominator).
    distribution_ : torch.distributions.MultivariateNormal (float64) with these parameters.
    n_features_in_ : int          d.

    ``X`` is a numpy array or torch tensor of shape (n_samples, n_features); a 1-D array is one feature.
    """

    def __init__(self, unbiased: bool = False):
        self.unbiased = unbiased

    def fit(self, X, y=None) -> GaussianMLE:
        """Compute μ̂ and Σ̂ from the rows of ``X``; returns ``self``."""
        if not isinstance(self.unbiased, (bool, np.bool_)):
            raise ValueError(f"unbiased must be True or False, got {self.unbiased!r}.")
        X = fit_input(self, X, min_rows=2)
        n, d = X.shape
        mu = X.mean(dim=0)
        centred = X - mu
        Sigma = centred.T @ centred / (n - 1 if self.unbiased else n)
        Sigma = 0.5 * (Sigma + Sigma.T)  # exact symmetry for the Cholesky factorisation
        eig = torch.linalg.eigvalsh(Sigma)
        # relative test: round-off leaves a tiny positive eigenvalue on an exactly singular Σ̂
        if not bool(eig[0] > 1e-12 * eig[-1].clamp_min(torch.finfo(DTYPE).tiny)):
            raise ValueError(
                f"The sample covariance of these {n} samples in {d} dimensions is singular (some feature "
                "is constant or a linear combination of others); a Gaussian needs more samples than "
                "dimensions and no redundant features."
            )
        self.distribution_ = MultivariateNormal(mu, covariance_matrix=Sigma)
        self.mean_ = mu.numpy()
        self.covariance_ = Sigma.numpy()
        return self

    def log_prob(self, X) -> torch.Tensor:
        """log N(x; μ̂, Σ̂) for each row of ``X`` → float64 tensor (n,)."""
        check_fitted(self, "distribution_")
        X = check_features(self, X)
        return self.distribution_.log_prob(X)

    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Draw ``n_samples`` rows from N(μ̂, Σ̂) → ndarray (n_samples, d).

        random_state: None (torch's global generator), an int seed, or a ``torch.Generator``.
        """
        check_fitted(self, "distribution_")
        n = positive_int(n_samples, "n_samples")
        g = torch_generator(random_state)
        z = torch.randn(n, self.n_features_in_, generator=g, dtype=DTYPE)
        return (self.distribution_.loc + z @ self.distribution_.scale_tril.T).numpy()
