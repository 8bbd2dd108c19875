"""Gaussian mixture fitted by EM in log space, vectorised in torch over samples and components.

    p(x) = Σ_k π_k N(x; μ_k, Σ_k)

E-step: log r_nk = log π_k + log N(x_n; μ_k, Σ_k) − log p(x_n)   (log-sum-exp over k)
M-step: N_k = Σ_n r_nk,  π_k = N_k / n,  μ_k = Σ_n r_nk x_n / N_k,
        Σ_k = Σ_n r_nk (x_n − μ_k)(x_n − μ_k)ᵀ / N_k + reg_covar · I   (diagonal only for "diag")

The algorithm, initialisation and stopping rule are scikit-learn's (``sklearn.mixture.GaussianMixture``):
iteration t records the mean log-likelihood of the parameters *before* its M-step (the "lower bound";
for a GMM it is exactly the mean log-likelihood), and EM stops when it changes by less than ``tol``.
From the same start (``weights_init``/``means_init``/``precisions_init``, or the same integer
``random_state``) the fitted parameters match scikit-learn's to rounding. Full covariances are kept
through the Cholesky factor of the precisions, P_k with P_k P_kᵀ = Σ_k^{-1}, so that
log N(x; μ_k, Σ_k) = −½ d log 2π + log|P_k| − ½ ‖(x − μ_k)ᵀ P_k‖².
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np
import torch

from .._validate import as_tensor, one_of, positive_int
from ._base import DTYPE as _DTYPE
from ._base import DensityEstimator, check_features, check_fitted, fit_input
from ._base import torch_generator as _generator
from ._parallel import run_parallel

__all__ = ["GaussianMixture"]

_EPS = float(np.finfo(np.float64).eps)


def _row_blocks(n: int, width: int) -> list[tuple[int, int]]:
    """(start, rows) blocks of about 16 MB of float64 (rows × width), at least 8 blocks when n allows."""
    rows = max(256, min(2**21 // max(width, 1), -(-n // 8)))
    return [(i, min(rows, n - i)) for i in range(0, n, rows)]


def _diag_features(X: torch.Tensor) -> torch.Tensor:
    """[X, X²] (n, 2d): the statistics a diagonal Gaussian needs."""
    return torch.cat([X, X * X], 1)


def _cholesky_or_raise(A: torch.Tensor, what: str) -> torch.Tensor:
    L, info = torch.linalg.cholesky_ex(A)
    if bool((info != 0).any()):
        raise ValueError(
            f"Fitting the mixture failed: a {what} is not positive definite (a collapsed component, "
            "e.g. on duplicate points). Increase reg_covar, use fewer components, or rescale the data."
        )
    return L


class GaussianMixture(DensityEstimator):
    """Gaussian mixture model with scikit-learn's API (``sklearn.mixture.GaussianMixture``).

    Parameters: ``n_components``; ``covariance_type`` "full" or "diag"; ``tol`` (stop when the mean
    log-likelihood changes by less); ``reg_covar`` (added to the covariance diagonal); ``max_iter``;
    ``init_params`` "kmeans" (scikit-learn's KMeans labels) or "random" (random responsibilities);
    ``weights_init`` (K,), ``means_init`` (K, d), ``precisions_init`` (K, d, d) for "full" or (K, d)
    for "diag"; ``random_state`` (int for reproducible fits).

    Fitted: ``weights_``, ``means_``, ``covariances_``, ``precisions_``, ``precisions_cholesky_``
    (numpy, like scikit-learn), ``converged_``, ``n_iter_``, ``lower_bound_``,
    ``log_likelihood_history_`` (mean log-likelihood before each M-step; ``lower_bounds_`` is the
    same list under scikit-learn's name).
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        init_params: str = "kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state

    def __repr__(self) -> str:
        return (
            f"GaussianMixture(n_components={self.n_components!r}, covariance_type={self.covariance_type!r})"
        )

    # ------------------------------------------------------------------ checks
    def _check_params(self, n: int, d: int) -> None:
        K = positive_int(self.n_components, "n_components")
        one_of(self.covariance_type, "covariance_type", ("full", "diag"))
        one_of(self.init_params, "init_params", ("kmeans", "random"))
        positive_int(self.max_iter, "max_iter", minimum=0)
        tol = float(self.tol)
        if not (math.isfinite(tol) and tol >= 0):
            raise ValueError(f"tol must be a number ≥ 0, got {self.tol!r}.")
        reg = float(self.reg_covar)
        if not (math.isfinite(reg) and reg >= 0):
            raise ValueError(f"reg_covar must be a number ≥ 0, got {self.reg_covar!r}.")
        if n < 2:
            raise ValueError(f"GaussianMixture needs at least 2 samples, got n_samples = {n}.")
        if K > n:
            raise ValueError(
                f"n_components={K} is larger than the number of samples ({n}); "
                "use fewer components or more data."
            )
        if self.weights_init is not None:
            w = as_tensor(self.weights_init, "weights_init", ndim=1).to(_DTYPE)
            if w.shape[0] != K:
                raise ValueError(f"weights_init must have {K} entries (one per component), got {w.shape[0]}.")
            if bool((w < 0).any()) or bool((w > 1).any()) or abs(float(w.sum()) - 1) > 1e-6:
                raise ValueError("weights_init must be in [0, 1] and sum to 1.")
        if self.means_init is not None:
            m = as_tensor(self.means_init, "means_init", ndim=2)
            if tuple(m.shape) != (K, d):
                raise ValueError(f"means_init must have shape ({K}, {d}), got {tuple(m.shape)}.")
        if self.precisions_init is not None:
            p = as_tensor(self.precisions_init, "precisions_init").to(_DTYPE)
            want = (K, d, d) if self.covariance_type == "full" else (K, d)
            if tuple(p.shape) != want:
                raise ValueError(
                    f"precisions_init must have shape {want} for covariance_type="
                    f"{self.covariance_type!r}, got {tuple(p.shape)}."
                )
            if self.covariance_type == "diag" and bool((p <= 0).any()):
                raise ValueError("precisions_init must be positive for covariance_type='diag'.")
            if self.covariance_type == "full":
                sym = torch.allclose(p, p.transpose(1, 2), atol=1e-10)
                if not sym or bool((torch.linalg.cholesky_ex(p)[1] != 0).any()):
                    raise ValueError("each precisions_init matrix must be symmetric positive definite.")

    def _check_X(self, X) -> torch.Tensor:
        """Validated X, centred on the training mean (the internal frame of the parameters)."""
        return check_features(self, X) - self._shift

    # ------------------------------------------------------------------ parameters
    def _estimate_parameters(self, X: torch.Tensor, resp: torch.Tensor):
        """M-step statistics: (weights N_k, means, covariances) from responsibilities (n, K)."""
        if self.covariance_type == "diag":
            # first and second moments of every component in one product: rᵀ [X, X²]
            return self._diag_parameters(resp.sum(0), resp.T @ _diag_features(X))
        nk = resp.sum(0) + 10 * _EPS
        reg = float(self.reg_covar)
        means = (resp.T @ X) / nk[:, None]
        if self.covariance_type == "full":
            # Σ_k = Σ_n r_nk x_n x_nᵀ / N_k − μ_k μ_kᵀ for all k in one product per block of rows:
            # [r_n1 x_n, …, r_nK x_n] (rows, K·d)ᵀ @ X (rows, d). X is centred on its mean (see fit),
            # which keeps the subtraction accurate.
            n = X.shape[0]
            K, d = means.shape

            def second_moment(i: int, rows: int) -> torch.Tensor:
                x, r = X[i : i + rows], resp[i : i + rows]
                return (r[:, :, None] * x[:, None, :]).reshape(len(x), K * d).T @ x

            S = sum(run_parallel([partial(second_moment, i, rows) for i, rows in _row_blocks(n, K * d)]))
            cov = S.reshape(K, d, d) / nk[:, None, None] - means[:, :, None] * means[:, None, :]
            cov.diagonal(dim1=1, dim2=2).add_(reg)
        return nk, means, cov

    def _diag_parameters(self, resp_sum: torch.Tensor, sums: torch.Tensor):
        """Diagonal M-step from Σ_n r_nk (K,) and rᵀ[X, X²] (K, 2d): (N_k, means, variances)."""
        nk = resp_sum + 10 * _EPS
        moments = sums / nk[:, None]
        d = sums.shape[1] // 2
        means = moments[:, :d]
        return nk, means, moments[:, d:] - means**2 + float(self.reg_covar)

    def _set_precisions_from_covariances(self, cov: torch.Tensor) -> None:
        if self.covariance_type == "full":
            L = _cholesky_or_raise(cov, "covariance matrix")
            eye = torch.eye(cov.shape[-1], dtype=_DTYPE).expand_as(cov)
            # P = L^{-T}, so P Pᵀ = Σ^{-1}
            self._prec_chol = torch.linalg.solve_triangular(L, eye, upper=False).transpose(1, 2)
        else:
            if bool((cov <= 0).any()):
                raise ValueError(
                    "Fitting the mixture failed: a variance collapsed to ≤ 0 (e.g. a component on duplicate "
                    "points). Increase reg_covar, use fewer components, or rescale the data."
                )
            self._prec_chol = cov.rsqrt()

    def _initialize(self, X: torch.Tensor, rs: np.random.RandomState) -> None:
        n, d = X.shape
        K = self.n_components
        given = all(v is not None for v in (self.weights_init, self.means_init, self.precisions_init))
        if given:
            resp = None
        elif self.init_params == "kmeans":
            from sklearn.cluster import KMeans  # the well-kept k-means, same labels as scikit-learn's GMM

            labels = KMeans(n_clusters=K, n_init=1, random_state=rs).fit((X + self._shift).numpy()).labels_
            resp = torch.zeros(n, K, dtype=_DTYPE)
            resp[torch.arange(n), torch.as_tensor(labels, dtype=torch.long)] = 1
        else:
            resp = torch.as_tensor(rs.uniform(size=(n, K)), dtype=_DTYPE)
            resp /= resp.sum(1, keepdim=True)
        if resp is not None:
            nk, means, cov = self._estimate_parameters(X, resp)
            self._weights = nk / n
            self._means = means
            self._cov = cov
        if self.weights_init is not None:
            self._weights = as_tensor(self.weights_init, "weights_init").to(_DTYPE).clone()
        if self.means_init is not None:
            self._means = as_tensor(self.means_init, "means_init").to(_DTYPE) - self._shift
        if self.precisions_init is not None:
            prec = as_tensor(self.precisions_init, "precisions_init").to(_DTYPE)
            if self.covariance_type == "full":
                self._prec_chol = _cholesky_or_raise(prec, "precisions_init matrix")
                self._cov = torch.cholesky_inverse(self._prec_chol)
            else:
                self._prec_chol = prec.sqrt()
                self._cov = 1 / prec
        else:
            self._set_precisions_from_covariances(self._cov)

    # ------------------------------------------------------------------ E-step pieces
    def _weighted_log_prob(
        self,
        X: torch.Tensor,
        normalise: bool = False,
        feats: torch.Tensor | None = None,
        moments: bool = False,
    ):
        """log π_k + log N(x_n; μ_k, Σ_k) → (n, K); with ``normalise``: (log p(x_n), r_nk), the
        responsibilities from the same shifted exponentials as the log-sum-exp (one exp pass).

        With ``moments`` (diagonal model, fit loop): the E-step fused with the M-step's sums — returns
        (log p(x_n), N_k, rᵀ[X, X²]) accumulated block by block while each block of responsibilities is
        still in cache, and never writes the (n, K) responsibilities out.

        Computed in blocks of rows, one block per thread.
        """
        n, d = X.shape
        K = self._means.shape[0]
        P, mu = self._prec_chol, self._means
        const = -0.5 * d * math.log(2 * math.pi) + self._weights.log()
        if self.covariance_type == "full":
            const = const + P.diagonal(dim1=1, dim2=2).log().sum(1)  # log|P_k| = −½ log|Σ_k|
            # All components in one matrix product: X (rows, d) @ [P_1 … P_K] (d, K·d)
            P_all = P.permute(1, 0, 2).reshape(d, K * d)
            shift = torch.einsum("kd,kde->ke", mu, P).reshape(K * d)
        else:
            prec = P**2
            const = const + P.log().sum(1) - 0.5 * (mu**2 * prec).sum(1)
            # log N(x; μ, diag(1/prec)) is linear in the features [x, x²]: one product per block
            W = torch.cat([(mu * prec).T, -0.5 * prec.T])  # (2d, K)
            if feats is None:
                feats = _diag_features(X)
        fused = moments and self.covariance_type == "diag"
        out = None if fused else torch.empty(n, K, dtype=_DTYPE)
        log_norm = torch.empty(n, dtype=_DTYPE) if normalise or fused else None

        def block(i: int, rows: int):
            x = X[i : i + rows]
            if self.covariance_type == "full":
                y = torch.addmm(shift, x, P_all, beta=-1).square_()
                w = y.reshape(-1, K, d).sum(2).mul_(-0.5).add_(const)
            else:
                w = torch.addmm(const, feats[i : i + rows], W)
            if normalise or fused:
                top = w.amax(1, keepdim=True)
                # exp of a double below −708 is a subnormal (or 0) on a ~50× slower path; a
                # responsibility below e^−700 ≈ 1e−304 changes no sum it enters (each row's total ≥ 1)
                w = w.sub_(top).clamp_(min=-700.0).exp_()
                total = w.sum(1, keepdim=True)
                log_norm[i : i + rows] = (top + total.log()).squeeze(1)
                w.div_(total)
            if fused:
                return w.sum(0), w.T @ feats[i : i + rows]
            out[i : i + rows] = w
            return None

        results = run_parallel([partial(block, i, rows) for i, rows in _row_blocks(n, K * d)])
        if fused:
            return log_norm, sum(r[0] for r in results), sum(r[1] for r in results)
        return (log_norm, out) if normalise else out

    def _em_step(self, X: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        """One EM iteration; returns log p(x_n) under the parameters *before* it. The diagonal model
        (``feats`` = [X, X²]) takes the M-step's sums in the E-step's pass over the data."""
        if feats is not None:
            log_norm, resp_sum, sums = self._weighted_log_prob(X, feats=feats, moments=True)
            nk, self._means, self._cov = self._diag_parameters(resp_sum, sums)
        else:
            log_norm, resp = self._weighted_log_prob(X, normalise=True)
            nk, self._means, self._cov = self._estimate_parameters(X, resp)
        self._weights = nk / nk.sum()
        self._set_precisions_from_covariances(self._cov)
        return log_norm

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None) -> GaussianMixture:
        """Run EM from the initialisation until the mean log-likelihood changes by < tol. Returns ``self``."""
        X = fit_input(self, X)
        n, d = X.shape
        self._check_params(n, d)
        # Work on centred data: likelihoods are unchanged, covariance sums lose no precision.
        self._shift = X.mean(0)
        X = X - self._shift
        rs = self.random_state
        if not isinstance(rs, np.random.RandomState):
            rs = np.random.RandomState(None if rs is None else positive_int(rs, "random_state", minimum=0))
        self._initialize(X, rs)

        feats = _diag_features(X) if self.covariance_type == "diag" else None  # computed once per fit
        history: list[float] = []
        lower_bound = -math.inf
        converged = False
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            prev = lower_bound
            log_norm = self._em_step(X, feats)
            lower_bound = float(log_norm.mean())
            history.append(lower_bound)
            if abs(lower_bound - prev) < self.tol:
                converged = True
                break
        if not converged and self.max_iter > 0:
            try:  # scikit-learn's category, so filters written for sklearn work here too
                from sklearn.exceptions import ConvergenceWarning as category
            except ImportError:  # pragma: no cover
                category = UserWarning
            warnings.warn(
                f"GaussianMixture did not converge in max_iter={self.max_iter} EM iterations (last change of "
                "the mean log-likelihood ≥ tol); increase max_iter or tol, or check the data.",
                category,
                stacklevel=2,
            )
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.log_likelihood_history_ = history
        self.lower_bounds_ = list(history)
        self._export()
        return self

    def _export(self) -> None:
        """Public numpy attributes with scikit-learn's names."""
        self.weights_ = self._weights.numpy().copy()
        self.means_ = (self._means + self._shift).numpy()
        self.covariances_ = self._cov.numpy().copy()
        self.precisions_cholesky_ = self._prec_chol.numpy().copy()
        if self.covariance_type == "full":
            self.precisions_ = (self._prec_chol @ self._prec_chol.transpose(1, 2)).numpy()
        else:
            self.precisions_ = (self._prec_chol**2).numpy()

    # ------------------------------------------------------------------ evaluation
    def log_prob(self, X) -> torch.Tensor:
        """Course alias: log p(x) per row as a float64 tensor (n,)."""
        check_fitted(self, "means_", ".log_prob()")
        return torch.logsumexp(self._weighted_log_prob(self._check_X(X)), 1)

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities p(k | x) per row, numpy (n, K); rows sum to 1."""
        check_fitted(self, "means_", ".predict_proba()")
        return self._weighted_log_prob(self._check_X(X), normalise=True)[1].numpy()

    def predict(self, X) -> np.ndarray:
        """Most probable component of each row, numpy (n,) of ints."""
        check_fitted(self, "means_", ".predict()")
        return self._weighted_log_prob(self._check_X(X)).argmax(1).numpy()

    def sample(self, n_samples: int = 1, random_state=None):
        """Draw ``n_samples`` points → (X numpy (n, d), labels numpy (n,)), grouped by component like sklearn."""
        check_fitted(self, "means_", ".sample()")
        n_samples = positive_int(n_samples, "n_samples")
        g = _generator(random_state if random_state is not None else self.random_state)
        K, d = self._means.shape
        counts = torch.bincount(
            torch.multinomial(self._weights, n_samples, replacement=True, generator=g), minlength=K
        )
        xs, labels = [], []
        for k in range(K):
            m = int(counts[k])
            if m == 0:
                continue
            z = torch.randn(m, d, generator=g, dtype=_DTYPE)
            if self.covariance_type == "full":
                L = torch.linalg.cholesky(self._cov[k])
                xs.append(self._means[k] + z @ L.T)
            else:
                xs.append(self._means[k] + z * self._cov[k].sqrt())
            labels.append(torch.full((m,), k, dtype=torch.long))
        return (torch.cat(xs) + self._shift).numpy(), torch.cat(labels).numpy()

    # ------------------------------------------------------------------ model selection
    def _n_parameters(self) -> int:
        K, d = self._means.shape
        cov_params = K * d * (d + 1) // 2 if self.covariance_type == "full" else K * d
        return int(cov_params + K * d + K - 1)

    def bic(self, X) -> float:
        """Bayesian information criterion −2 log L + p log n (lower is better)."""
        check_fitted(self, "means_", ".bic()")
        lp = self.log_prob(X)
        return float(-2 * lp.sum() + self._n_parameters() * math.log(lp.shape[0]))

    def aic(self, X) -> float:
        """Akaike information criterion −2 log L + 2p (lower is better)."""
        check_fitted(self, "means_", ".aic()")
        return float(-2 * self.log_prob(X).sum() + 2 * self._n_parameters())
