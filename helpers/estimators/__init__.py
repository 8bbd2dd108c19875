"""Density estimators with scikit-learn's conventions (constructor stores parameters, ``fit``
returns ``self``, fitted attributes end in ``_``), written in torch so later lessons reuse them.

- ``GaussianMLE`` — closed-form maximum likelihood Gaussian (``gaussian.py``)
- ``Histogram`` — d-dimensional histogram density (``histogram.py``)
- ``KernelDensity`` — vectorised, chunked KDE (``kde.py``)
- ``GaussianMixture`` — EM in log space (``mixture.py``)

All have ``fit(X)``, ``score_samples(X)`` (log-density per row), ``score(X)`` (as in scikit-learn:
the total log-likelihood for ``KernelDensity``, the mean per sample for the others), ``sample(n)``
and the course's alias ``log_prob(X)`` = ``score_samples(X)`` as a tensor.
"""

from .gaussian import GaussianMLE
from .histogram import Histogram
from .kde import KernelDensity
from .mixture import GaussianMixture

__all__ = ["GaussianMLE", "Histogram", "KernelDensity", "GaussianMixture"]
