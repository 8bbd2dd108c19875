"""Diffusion models (lesson 12): DDPM with a noise-predicting network, on 2-D points and on digits.

Forward process, with α_t = 1 − β_t and ᾱ_t = Π_{s ≤ t} α_s (t = 1..T, ᾱ_0 = 1):

    q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t I),     q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I).

The network ε_θ(x_t, t) predicts the noise ε in x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε; the DDPM loss is
E‖ε − ε_θ‖² (the ELBO's terms with their weights dropped; ε_θ / √(1 − ᾱ_t) is minus the score).

``Diffusion`` holds the schedule (``"linear"`` or ``"cosine"``), the loss, the closed-form noising
``q_sample``, and one generalised sampler (``sample_path``): η = 1 is the ancestral DDPM sampler
(on every step, or respaced on a subsequence of steps), η = 0 the deterministic DDIM sampler.
``ToyDDPM`` (an MLP denoiser on 2-D points) adds ``elbo(x)`` in nats; ``DigitDDPM`` (a small
U-Net-style denoiser on 14×14 digits, upsampled to 28×28 for the judge) returns images in [0, 1].
Training: ``fit`` (EMA of the weights, cosine learning rate), used by the notebook and by
``scripts/train_diffusion.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_images, as_samples, one_of, positive_int
from .._validate import seed_generator as _generator
from ..train import train_steps
from . import RecordsArgs

__all__ = [
    "make_betas",
    "iterated_noising",
    "Diffusion",
    "ToyDDPM",
    "DigitDDPM",
    "UNet",
    "fit",
    "to_model_space",
    "TOY_CHECKPOINT",
    "DIGIT_CHECKPOINT",
]

SCHEDULES = ("linear", "cosine")


def make_betas(T: int, schedule: str = "cosine") -> torch.Tensor:
    """β_1..β_T (float64). linear: from 10⁻⁴·1000/T to 0.02·1000/T (DDPM's range rescaled to T steps);
    cosine: ᾱ_t = f(t)/f(0), f(t) = cos²(π/2 · (t/T + s)/(1 + s)), s = 0.008, β clipped at 0.999."""
    T = positive_int(T, "T", minimum=2)
    one_of(schedule, "schedule", SCHEDULES)
    if schedule == "linear":
        scale = 1000 / T
        return torch.linspace(1e-4 * scale, 0.02 * scale, T, dtype=torch.float64)
    s = 0.008
    t = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)


@torch.no_grad()
def iterated_noising(x0, betas: torch.Tensor, ts, n_chains: int = 20_000, seed: int = 0) -> dict:
    """Run ``n_chains`` copies of the forward chain x_t = √α_t x_{t−1} + √β_t ε from the one point
    ``x0`` (d,), step by step, in float64. Returns {t: (mean (d,), variance (d,))} of the chains at
    each step in ``ts`` — the statistics the closed form q(x_t | x_0) must reproduce."""
    x0 = torch.as_tensor(x0, dtype=torch.float64).reshape(-1)
    betas = torch.as_tensor(betas, dtype=torch.float64)
    n_chains = positive_int(n_chains, "n_chains", minimum=2)
    ts = sorted(int(t) for t in ts)
    if not ts or ts[0] < 1 or ts[-1] > len(betas):
        raise ValueError(f"ts must be steps between 1 and T = {len(betas)}, got {ts}.")
    g = _generator(seed)
    x = x0.expand(n_chains, len(x0)).clone()
    out = {}
    for t in range(1, ts[-1] + 1):
        x = (1 - betas[t - 1]).sqrt() * x + betas[t - 1].sqrt() * torch.randn(
            x.shape, generator=g, dtype=torch.float64
        )
        if t in ts:
            out[t] = (x.mean(0), x.var(0))
    return out


def time_embedding(t: torch.Tensor, dim: int, T: int) -> torch.Tensor:
    """Sinusoidal features of the step t (N,) → (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angle = (t.float() / T * 1000.0)[:, None] * freqs[None]
    return torch.cat([angle.sin(), angle.cos()], 1)


class Diffusion(nn.Module):
    """The schedule, the loss and the samplers; subclasses define ``net(x_t, t)`` → ε̂ and ``shape``."""

    shape: tuple = ()
    clip: float | None = None  # clip the predicted x_0 to [-clip, clip] while sampling (images)

    def _init_schedule(self, T: int, schedule: str) -> None:
        betas = make_betas(T, schedule)
        self.T, self.schedule = int(T), schedule
        abar = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])
        # index t = 0..T; beta[0] is unused
        self.register_buffer(
            "betas", torch.cat([torch.zeros(1, dtype=torch.float64), betas]).float(), persistent=False
        )
        self.register_buffer("alpha_bar", abar.float(), persistent=False)

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) for t = 1..T."""
        abar = self.alpha_bar[1:].double()
        return abar / (1 - abar)

    def _bcast(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return v.reshape(-1, *([1] * (x.ndim - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε: a draw from q(x_t | x_0) in one step."""
        abar = self._bcast(self.alpha_bar[t], x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def loss(self, x0: torch.Tensor) -> torch.Tensor:
        """The DDPM objective: mean ‖ε − ε_θ(x_t, t)‖² over a uniform t ∈ 1..T and ε ~ N(0, I)."""
        t = torch.randint(1, self.T + 1, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        return F.mse_loss(self.net(self.q_sample(x0, t, noise), t), noise)

    def timesteps(self, steps: int | None) -> list[int]:
        """The decreasing subsequence of ``steps`` timesteps the sampler visits (all T by default)."""
        steps = self.T if steps is None else positive_int(steps, "steps")
        if steps > self.T:
            raise ValueError(f"steps must be at most T = {self.T}, got {steps}.")
        ts = torch.linspace(self.T, 1, steps).round().long().unique().flip(0)
        return [int(t) for t in ts]

    @torch.no_grad()
    def sample_path(
        self,
        n: int,
        steps: int | None = None,
        eta: float = 1.0,
        seed: int | None = None,
        keep: bool = False,
        x_T: torch.Tensor | None = None,
    ):
        """Run the reverse process from x_T ~ N(0, I) (or the given ``x_T``) in model space.

        On the visited steps t > t' (t' = 0 after the last), with x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t:
        x_{t'} = √ᾱ_{t'} x̂_0 + √(1 − ᾱ_{t'} − σ²) ε̂ + σ z,
        σ = η √((1 − ᾱ_{t'})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'}).
        η = 1 on all T steps is DDPM's ancestral sampler (σ² = β̃_t); η = 0 is DDIM (deterministic).
        Returns x_0, or with ``keep`` the list [x_T, ..., x_0] and the visited steps.
        """
        n = positive_int(n, "n")
        if not 0 <= float(eta) <= 1:
            raise ValueError(f"eta must be between 0 (DDIM) and 1 (ancestral), got {eta}.")
        g = _generator(seed)
        dev = self.alpha_bar.device
        x = torch.randn(n, *self.shape, generator=g).to(dev) if x_T is None else x_T.to(dev).clone()
        ts = self.timesteps(steps)
        path = [x]
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else 0
            a, a_prev = self.alpha_bar[t], self.alpha_bar[t_prev]
            eps = self.net(x, torch.full((n,), t, device=dev, dtype=torch.long))
            x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
            if self.clip is not None:
                x0 = x0.clamp(-self.clip, self.clip)
                eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
            sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).clamp(min=0).sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
            if t_prev > 0 and eta > 0:
                x = x + sigma * torch.randn(x.shape, generator=g).to(dev)
            path.append(x)
        return (path, ts) if keep else x


class MLPDenoiser(nn.Module):
    """ε_θ(x_t, t) for points: an MLP on [x_t, sinusoidal features of t]."""

    def __init__(self, dim: int, hidden: int, n_hidden: int, T: int, emb: int = 32):
        super().__init__()
        self.T, self.emb = T, emb
        layers, width = [], dim + emb
        for _ in range(n_hidden):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x, t):
        return self.net(torch.cat([x, time_embedding(t, self.emb, self.T)], 1))


class ToyDDPM(RecordsArgs, Diffusion):
    """DDPM on 2-D points with an MLP denoiser; ``elbo(x)`` is a lower bound on log p(x) in nats.

    While sampling, the predicted x̂_0 is clipped to [−5, 5] (the toys live in [−3, 3]): at t = T,
    √ᾱ_T ≈ 5·10⁻⁴ and dividing by it would amplify the network's error when steps are skipped."""

    clip = 5.0

    def __init__(
        self, dim: int = 2, T: int = 100, schedule: str = "cosine", hidden: int = 128, n_hidden: int = 3
    ):
        super().__init__()
        self.shape = (positive_int(dim, "dim"),)
        self._init_schedule(T, schedule)
        self.net = MLPDenoiser(
            self.shape[0], positive_int(hidden, "hidden"), positive_int(n_hidden, "n_hidden"), self.T
        )

    def _check(self, x):
        return as_samples(x, "x", dim=self.shape[0])

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, steps: int | None = None, method: str = "ancestral"):
        """n points (n, dim): ``method`` "ancestral" (η = 1) or "ddim" (η = 0) on ``steps`` steps (default T)."""
        one_of(method, "method", ["ancestral", "ddim"])
        return self.sample_path(n, steps, 1.0 if method == "ancestral" else 0.0, seed)

    def reverse_variance(self, t: int) -> torch.Tensor:
        """σ_t² of p_θ(x_{t−1} | x_t) for t ≥ 2: the posterior variance β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t) β_t
        (the variance of the ancestral sampler, η = 1)."""
        abar, betas = self.alpha_bar.double(), self.betas.double()
        return (1 - abar[t - 1]) / (1 - abar[t]) * betas[t]

    @torch.no_grad()
    def elbo_terms(self, x, seed: int | None = 0) -> dict:
        """The three parts of the ELBO in nats, per example (one noise draw of x_t for every t):

        ``prior`` KL(q(x_T | x_0) ‖ N(0, I)) (N,); ``kl`` (N, T−1): KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t))
        for t = 2..T; ``decoder`` log N(x_0; μ_θ(x_1, 1), β_1 I) (N,). With
        μ_θ = (x_t − β_t/√(1−ᾱ_t) ε_θ)/√α_t, q's posterior N(μ̃_t, β̃_t I) and p_θ's variance σ_t²:
        KL = ½ Σ_i [β̃_t/σ_t² − 1 + log(σ_t²/β̃_t) + (μ̃_t − μ_θ)_i²/σ_t²].
        """
        x0 = self._check(x).to(self.alpha_bar.device)
        g = _generator(seed)
        d = x0.shape[1]
        abar, betas = self.alpha_bar.double(), self.betas.double()
        aT = abar[self.T]
        x0d = x0.double()
        prior = 0.5 * ((1 - aT) + aT * x0d.pow(2) - 1 - torch.log(1 - aT)).sum(1)
        kls, decoder = [], None
        for t in range(1, self.T + 1):
            noise = torch.randn(x0.shape, generator=g).to(x0.device)
            xt = self.q_sample(x0, torch.full((len(x0),), t, device=x0.device), noise).double()
            eps = self.net(xt.float(), torch.full((len(x0),), t, device=x0.device, dtype=torch.long)).double()
            alpha_t = 1 - betas[t]
            mu_theta = (xt - betas[t] / (1 - abar[t]).sqrt() * eps) / alpha_t.sqrt()
            if t == 1:
                var = betas[1]
                decoder = -0.5 * ((x0d - mu_theta).pow(2).sum(1) / var + d * torch.log(2 * math.pi * var))
            else:
                beta_tilde = (1 - abar[t - 1]) / (1 - abar[t]) * betas[t]
                var = self.reverse_variance(t)
                mu_tilde = (abar[t - 1].sqrt() * betas[t] * x0d + alpha_t.sqrt() * (1 - abar[t - 1]) * xt) / (
                    1 - abar[t]
                )
                kls.append(
                    0.5 * d * (beta_tilde / var - 1 + torch.log(var / beta_tilde))
                    + (mu_tilde - mu_theta).pow(2).sum(1) / (2 * var)
                )
        return {"prior": prior.float(), "kl": torch.stack(kls, 1).float(), "decoder": decoder.float()}

    def elbo(self, x, seed: int | None = 0) -> torch.Tensor:
        """ELBO ≤ log p_θ(x) in nats per example:

        log p(x_0) ≥ E_q[log p(x_0 | x_1)] − Σ_{t=2}^T KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t))
                     − KL(q(x_T | x_0) ‖ N(0, I))   (the terms: ``elbo_terms``).
        """
        terms = self.elbo_terms(x, seed)
        return terms["decoder"] - terms["kl"].sum(1) - terms["prior"]


class ResBlock(nn.Module):
    """Two 3×3 convolutions with GroupNorm and SiLU, the time embedding added in between."""

    def __init__(self, c_in: int, c_out: int, emb: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(emb, c_out)
        self.norm2 = nn.GroupNorm(8, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """A two-level U-Net for 1-channel S×S images (S even): c channels at S, 2c at S/2, one skip."""

    def __init__(self, channels: int = 32, T: int = 100, emb: int = 64):
        super().__init__()
        c = channels
        self.T, self.emb_dim = T, emb
        self.emb = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inc = nn.Conv2d(1, c, 3, padding=1)
        self.down1 = ResBlock(c, c, emb)
        self.pool = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.mid1 = ResBlock(2 * c, 2 * c, emb)
        self.mid2 = ResBlock(2 * c, 2 * c, emb)
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.up1 = ResBlock(2 * c, c, emb)
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x, t):
        e = self.emb(time_embedding(t, self.emb_dim, self.T))
        h0 = self.down1(self.inc(x), e)
        h = self.mid2(self.mid1(self.pool(h0), e), e)
        h = self.up1(torch.cat([self.up(h), h0], 1), e)
        return self.out(h)


def to_model_space(images: torch.Tensor, size: int) -> torch.Tensor:
    """Digits (n, 1, 28, 28) in [0, 1] → (n, 1, size, size) in [−1, 1] (area-averaged down-sampling)."""
    images = as_images(images, "images", unit_range=True)
    if images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="area")
    return images * 2 - 1


class DigitDDPM(RecordsArgs, Diffusion):
    """DDPM on digits down-sampled to ``size`` × ``size`` (default 14) in [−1, 1], U-Net denoiser.

    ``sample`` returns (n, 1, 28, 28) in [0, 1] (bilinear up-sampling), ready for the digit judge."""

    clip = 1.0

    def __init__(self, size: int = 14, channels: int = 32, T: int = 100, schedule: str = "cosine"):
        super().__init__()
        size = positive_int(size, "size", minimum=4)
        if size % 2:
            raise ValueError(f"size must be even (the U-Net halves it), got {size}.")
        self.size = size
        self.shape = (1, size, size)
        self._init_schedule(T, schedule)
        self.net = UNet(positive_int(channels, "channels", minimum=8), self.T)

    def to_images(self, x: torch.Tensor) -> torch.Tensor:
        """Model space (n, 1, size, size) in [−1, 1] → digits (n, 1, 28, 28) in [0, 1]."""
        x = (x.clamp(-1, 1) + 1) / 2
        if self.size != 28:
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return x.clamp(0, 1)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, steps: int | None = None, method: str = "ancestral"):
        """n digits (n, 1, 28, 28) in [0, 1]: ``method`` "ancestral" or "ddim" on ``steps`` steps."""
        one_of(method, "method", ["ancestral", "ddim"])
        return self.to_images(self.sample_path(n, steps, 1.0 if method == "ancestral" else 0.0, seed))


def fit(
    model: Diffusion,
    data: torch.Tensor,
    *,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 2e-3,
    ema: float = 0.995,
    seed: int = 0,
    max_seconds: float | None = None,
    progress: bool = False,
):
    """Train ``model`` on ``data`` (already in model space) with the DDPM loss: Adam, a short warm-up
    then a cosine learning rate, gradient clipping at 1. The weights kept at the end are an
    exponential moving average (decay ``ema``) of the iterates — cleaner samples than the last one.
    max_seconds: a time budget; the cosine then follows whichever of steps and seconds runs out
    first, so a slow machine does fewer steps but still ends with a small learning rate (the steps
    done are ``len(history["loss"])``). Returns (history, seconds)."""
    batch_size = positive_int(batch_size, "batch_size")
    data = torch.as_tensor(data)
    if tuple(data.shape[1:]) != tuple(model.shape):
        raise ValueError(
            f"data must be shaped (n, {', '.join(map(str, model.shape))}), got {tuple(data.shape)}."
        )

    def loss_fn(g):
        return model.loss(data[torch.randint(0, len(data), (batch_size,), generator=g)])

    return train_steps(
        model,
        loss_fn,
        steps=steps,
        lr=lr,
        seed=seed,
        max_seconds=max_seconds,
        clip=1.0,
        ema=ema,
        progress=progress,
        print_every=200,
    )


#: Names of the shipped checkpoints and their recipes (shared by the notebook and the script).
TOY_CHECKPOINT, TOY_DATA = "ddpm_two_moons", "two_moons"
TOY_STEPS, TOY_BATCH, TOY_LR, TOY_SECONDS = 4000, 512, 2e-3, 60
DIGIT_CHECKPOINT, DIGIT_STEPS, DIGIT_BATCH, DIGIT_LR = "ddpm_digits", 2000, 64, 2e-3
DIGIT_SIZE, DIGIT_CHANNELS, DIGIT_SECONDS = 14, 24, 210
