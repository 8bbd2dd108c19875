"""Plots, one idea each, in one seaborn theme: densities, samples, image grids, training curves."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from ._validate import as_samples, as_tensor, positive_int
from .data import Grid, grid_2d

__all__ = [
    "set_theme",
    "density",
    "samples",
    "image_grid",
    "training_curves",
    "LiveCurve",
    "truth_vs_model",
]


def set_theme() -> None:
    """The course's one look (called on import of ``helpers.plot``)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    plt.rcParams.update({"figure.dpi": 90, "axes.titleweight": "bold", "image.cmap": "viridis"})


set_theme()


def _numpy(x) -> np.ndarray:
    return torch.as_tensor(x).detach().cpu().numpy() if not isinstance(x, np.ndarray) else x


def _eval_on_grid(log_prob: Callable, grid: Grid, batch: int = 20_000) -> np.ndarray:
    with torch.no_grad():
        vals = [
            torch.as_tensor(log_prob(chunk)).detach().cpu().reshape(-1) for chunk in grid.points.split(batch)
        ]
    return grid.reshape(torch.cat(vals))


def density(
    log_prob: Callable,
    xlim=(-4, 4),
    ylim=None,
    n: int = 200,
    ax=None,
    title: str | None = None,
    contours: bool = True,
    cmap: str = "viridis",
):
    """Heat-map of p(x) = exp(log_prob(x)) on a 2-D grid, with contour lines of log p.

    log_prob: maps a tensor (m, 2) to log-densities (m,). Returns the Axes.
    """
    if not callable(log_prob):
        raise ValueError("log_prob must be a function taking points (m, 2) and returning (m,).")
    grid = grid_2d(xlim, ylim, n)
    logp = _eval_on_grid(log_prob, grid)
    ax = ax or plt.gca()
    p = np.exp(np.clip(logp, -50, 50))
    ax.pcolormesh(_numpy(grid.xx), _numpy(grid.yy), p, shading="auto", cmap=cmap)
    if contours and np.isfinite(logp).any():
        finite = logp[np.isfinite(logp)]
        top = finite.max()
        levels = np.linspace(max(finite.min(), top - 8), top, 7)[:-1]
        if np.unique(levels).size == levels.size:
            ax.contour(
                _numpy(grid.xx),
                _numpy(grid.yy),
                logp,
                levels=levels,
                colors="white",
                linewidths=0.6,
                alpha=0.7,
            )
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax


def samples(
    x,
    ax=None,
    over: Callable | None = None,
    lim=None,
    title: str | None = None,
    s: float = 4,
    alpha: float = 0.5,
    color: str = "C3",
    label: str | None = None,
):
    """Scatter of 2-D samples, optionally over the density ``over`` (a log_prob function)."""
    x = as_samples(x, "x", dim=2)
    ax = ax or plt.gca()
    xn = _numpy(x)
    if lim is None:
        lo, hi = np.quantile(xn, [0.005, 0.995], axis=0)
        pad = 0.15 * (hi - lo).max()
        lim = (float(min(lo) - pad), float(max(hi) + pad))
    if over is not None:
        density(over, lim, lim, n=150, ax=ax, contours=False)
    ax.scatter(xn[:, 0], xn[:, 1], s=s, alpha=alpha, color=color, label=label, linewidths=0)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax


def image_grid(
    images,
    nrow: int = 10,
    ax=None,
    title: str | None = None,
    cmap: str = "gray",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    pad: int = 1,
):
    """Show images (n, H, W), (n, 1, H, W) or (n, 784) as a grid with ``nrow`` per row."""
    x = as_tensor(images, "images", ndim=(2, 3, 4)).detach().cpu()
    if x.ndim == 2:
        side = int(round(x.shape[1] ** 0.5))
        if side * side != x.shape[1]:
            raise ValueError(f"flat images need a square number of pixels, got {x.shape[1]}.")
        x = x.reshape(-1, side, side)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"image_grid shows one-channel images, got {x.shape[1]} channels.")
        x = x[:, 0]
    nrow = positive_int(nrow, "nrow")
    n, H, W = x.shape
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    fill = float(x.min()) if vmin is None else vmin
    canvas = torch.full((rows * (H + pad) + pad, ncol * (W + pad) + pad), fill)
    for i in range(n):
        r, c = divmod(i, ncol)
        canvas[
            pad + r * (H + pad) : pad + r * (H + pad) + H, pad + c * (W + pad) : pad + c * (W + pad) + W
        ] = x[i]
    ax = ax or plt.gca()
    ax.imshow(canvas.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def training_curves(
    history: dict | Sequence[float],
    ax=None,
    title: str = "Training",
    ylabel: str = "loss",
    logy: bool = False,
):
    """Plot a loss history: a list of numbers, or a dict of named lists (e.g. ``train()``'s)."""
    if not isinstance(history, dict):
        history = {"loss": list(history)}
    if not any(len(values) for values in history.values()):
        raise ValueError(
            "history is empty: nothing to plot. Pass the losses recorded during training (a list of numbers, "
            "or train()'s dict of lists) after at least one step."
        )
    ax = ax or plt.gca()
    for name, values in history.items():
        values = [float(v) for v in values]
        if values:
            ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel("step" if "epoch" not in title.lower() else "epoch")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    if len(history) > 1:
        ax.legend()
    return ax


class LiveCurve:
    """A training curve that redraws in place in a notebook every ``every`` updates.

    >>> curve = LiveCurve("NLL"); curve.update(loss=1.0); curve.close()
    Outside a notebook (or when ``enabled=False``) it only records.
    """

    def __init__(self, title: str = "Training", every: int = 10, enabled: bool = True):
        self.title, self.every = title, positive_int(every, "every")
        self.history: dict[str, list[float]] = {}
        self._n = 0
        self._handle = None
        self.enabled = enabled and _in_notebook()

    def update(self, **values: float) -> None:
        for k, v in values.items():
            self.history.setdefault(k, []).append(float(v))
        self._n += 1
        if self.enabled and self._n % self.every == 0:
            self._draw()

    def _draw(self) -> None:
        from IPython.display import display

        fig, ax = plt.subplots(figsize=(5, 3))
        training_curves(self.history, ax=ax, title=self.title)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)

    def close(self) -> dict[str, list[float]]:
        """Draw the final curve and return the history."""
        if self.enabled and self._n:
            self._draw()
        return self.history


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and "IPKernelApp" in ip.config
    except Exception:
        return False


def truth_vs_model(
    true_log_prob: Callable,
    model_log_prob: Callable,
    x=None,
    lim=(-4, 4),
    n: int = 150,
    titles=("truth $p_{data}$", "model $p_\\theta$"),
    suptitle=None,
):
    """Two density heat-maps side by side (same colour scale), with optional data ``x`` on the left."""
    for name, f in (("true_log_prob", true_log_prob), ("model_log_prob", model_log_prob)):
        if not callable(f):
            raise TypeError(
                f"{name} must be a function from points (n, 2) to log-densities (n,), e.g. model.log_prob; "
                f"got {type(f).__name__}."
            )
    grid = grid_2d(lim, lim, n)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    maps = [np.exp(np.clip(_eval_on_grid(f, grid), -50, 50)) for f in (true_log_prob, model_log_prob)]
    vmax = max(float(m.max()) for m in maps)
    for ax, m, t in zip(axes, maps, titles):
        ax.pcolormesh(_numpy(grid.xx), _numpy(grid.yy), m, shading="auto", vmin=0, vmax=vmax)
        ax.set_aspect("equal")
        ax.set_title(t)
        ax.set_xlabel("$x_1$")
    axes[0].set_ylabel("$x_2$")
    if x is not None:
        xn = _numpy(as_samples(x, "x", dim=2))[:2000]
        axes[0].scatter(xn[:, 0], xn[:, 1], s=2, c="white", alpha=0.4, linewidths=0)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
