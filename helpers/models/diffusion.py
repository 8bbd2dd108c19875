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

Continuous time (the shipped 2-D models ``ddpm_<toy>``): ``ContinuousDiffusion`` indexes the noise by
γ = log σ²/α² (VDM, Kingma et al. 2021) and gives ``elbo(x)`` (the VDM bound: exact prior and
decoder terms, the diffusion term by stratified t), ``log_prob(x, steps)`` (the exact log-density of
the probability-flow ODE, Song et al. 2021: RK4, exact divergence by autograd) and
``sample(n, seed, steps, method)`` ("ancestral", "ddim" or "ode"). ``ToyVDM`` is its network
(Fourier features, residual MLP); ``GaussianDiffusion`` the exact denoiser of Gaussian data, for tests.
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
    "ContinuousDiffusion",
    "GaussianDiffusion",
    "ToyVDM",
    "likelihood_gaps",
    "check_likelihood_order",
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


# --------------------------------------------------------------------------------------------
# Continuous time (Kingma et al. 2021, "Variational Diffusion Models"; Song et al. 2021, the
# probability-flow ODE). The noise level is the log noise-to-signal ratio γ = log σ²/α², with
# α² = sigmoid(−γ), σ² = sigmoid(γ) (variance preserving), z_γ = α x + σ ε, and a linear schedule
# γ(t) = γ_min + (γ_max − γ_min) t for t ∈ [0, 1].


class ContinuousDiffusion(nn.Module):
    """Continuous-time VP diffusion on points: subclasses define ``eps(z, gamma)`` → ε̂ (N, d).

    ``elbo(x)``: the VDM bound in nats per example, −ELBO = prior KL at γ_max + decoder term at
    γ_min (both exact) + ½ ∫ E‖ε − ε̂(z_γ, γ)‖² dγ (stratified over γ).
    ``log_prob(x)``: the model's exact log-density by the probability-flow ODE
    dz/dγ = ½ (σ ε̂(z, γ) − σ² z), integrated from γ_min to γ_max with RK4 and the exact divergence
    (autograd, one backward pass per dimension): log p(x) = log N(z(γ_max); 0, I) + ∫ ∇·(dz/dγ) dγ
    + d log α_min (the ODE starts at z = α_min x).
    ``sample(n, seed, steps, method)``: "ancestral" (η = 1), "ddim" (η = 0) or "ode" (RK4)."""

    shape: tuple = ()
    clip: float | None = None

    def _init_gamma(self, gamma_min: float, gamma_max: float) -> None:
        gamma_min, gamma_max = float(gamma_min), float(gamma_max)
        if not gamma_min < gamma_max:
            raise ValueError(f"gamma_min must be below gamma_max, got {gamma_min} and {gamma_max}.")
        self.gamma_min, self.gamma_max = gamma_min, gamma_max

    def gamma(self, t: torch.Tensor) -> torch.Tensor:
        """γ(t) = γ_min + (γ_max − γ_min) t: the log noise-to-signal ratio at time t ∈ [0, 1]."""
        return self.gamma_min + (self.gamma_max - self.gamma_min) * t

    def eps(self, z: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _check(self, x):
        return as_samples(x, "x", dim=self.shape[0])

    def loss(self, x0: torch.Tensor) -> torch.Tensor:
        """The VDM loss per example, ½ (γ_max − γ_min) ‖ε − ε̂(z_t, γ(t))‖², averaged over a batch
        with low-discrepancy times t_i = (u + i/B) mod 1: the diffusion part of −ELBO."""
        b = len(x0)
        t = (torch.rand(()) + torch.arange(b, dtype=x0.dtype) / b) % 1
        g = self.gamma(t)[:, None]
        noise = torch.randn_like(x0)
        z = torch.sigmoid(-g).sqrt() * x0 + torch.sigmoid(g).sqrt() * noise
        err = (noise - self.eps(z, g[:, 0])).pow(2).sum(1)
        return 0.5 * (self.gamma_max - self.gamma_min) * err.mean()

    @torch.no_grad()
    def elbo_terms(self, x, n_t: int = 16, seed: int | None = 0) -> dict:
        """The three parts of −ELBO in nats per example (N,): ``prior`` KL(q(z_1 | x) ‖ N(0, I)),
        ``decoder`` −E log N(x; z_0/α_0, e^{γ_min} I) = d/2 (log 2π + 1 + γ_min), and ``diffusion``
        ½ (γ_max − γ_min) E_t‖ε − ε̂‖² with ``n_t`` stratified times per example. The control variate
        −α²(‖ε‖² − d) (mean zero) is added inside: at low noise ε is almost unpredictable, and
        without it ‖ε − ε̂‖² ≈ ‖ε‖² would make the estimate noisy."""
        x = self._check(x).double()
        n_t = positive_int(n_t, "n_t")
        g = _generator(seed)
        n, d = x.shape
        a2_max = torch.sigmoid(torch.tensor(-self.gamma_max, dtype=torch.float64))
        prior = 0.5 * (a2_max * x.pow(2) + (1 - a2_max) - 1 - torch.log(1 - a2_max)).sum(1)
        decoder = torch.full(
            (n,), 0.5 * d * (math.log(2 * math.pi) + 1 + self.gamma_min), dtype=torch.float64
        )
        total = torch.zeros(n, dtype=torch.float64)
        u = torch.rand(n, generator=g, dtype=torch.float64)
        for k in range(n_t):
            t = (u + k) / n_t
            gam = self.gamma(t)
            a2, s2 = torch.sigmoid(-gam)[:, None], torch.sigmoid(gam)[:, None]
            noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
            z = a2.sqrt() * x + s2.sqrt() * noise
            e = self.eps(z.float(), gam.float()).double()
            err = (noise - e).pow(2).sum(1) - a2[:, 0] * (noise.pow(2).sum(1) - d)
            total += err
        diffusion = 0.5 * (self.gamma_max - self.gamma_min) * total / n_t
        return {"prior": prior, "decoder": decoder, "diffusion": diffusion}

    def elbo(self, x, n_t: int = 16, seed: int | None = 0) -> torch.Tensor:
        """ELBO ≤ log p(x) in nats per example (N,): −(prior + decoder + diffusion) of ``elbo_terms``."""
        terms = self.elbo_terms(x, n_t, seed)
        return -(terms["prior"] + terms["decoder"] + terms["diffusion"]).float()

    def velocity(self, z: torch.Tensor, gamma: float) -> torch.Tensor:
        """dz/dγ of the probability-flow ODE, ½ (σ ε̂(z, γ) − σ² z)."""
        s2 = torch.sigmoid(torch.tensor(gamma))
        e = self.eps(z, torch.full((len(z),), gamma, dtype=z.dtype))
        return 0.5 * (s2.sqrt() * e - s2 * z)

    def _velocity_and_divergence(self, z: torch.Tensor, gamma: float):
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            v = self.velocity(z, gamma)
            div = torch.zeros(len(z), dtype=z.dtype)
            for i in range(z.shape[1]):
                (gi,) = torch.autograd.grad(v[:, i].sum(), z, retain_graph=i + 1 < z.shape[1])
                div = div + gi[:, i]
        return v.detach(), div.detach()

    def log_prob(self, x, steps: int = 48, batch_size: int = 5000) -> torch.Tensor:
        """log p(x) in nats per example (N,) under the probability-flow ODE, fixed-step RK4 with
        ``steps`` steps uniform in γ (4 evaluations each, exact divergence by autograd)."""
        x = self._check(x)
        steps = positive_int(steps, "steps")
        batch_size = positive_int(batch_size, "batch_size")
        out = []
        for chunk in x.split(batch_size):
            out.append(self._log_prob_rk4(chunk, steps))
        return torch.cat(out)

    def _log_prob_rk4(self, x, steps):
        a_min = float(torch.sigmoid(torch.tensor(-self.gamma_min)).sqrt())
        z = a_min * x.float()
        logdet = torch.zeros(len(z))
        h = (self.gamma_max - self.gamma_min) / steps
        for k in range(steps):
            g0 = self.gamma_min + k * h
            v1, d1 = self._velocity_and_divergence(z, g0)
            v2, d2 = self._velocity_and_divergence(z + 0.5 * h * v1, g0 + 0.5 * h)
            v3, d3 = self._velocity_and_divergence(z + 0.5 * h * v2, g0 + 0.5 * h)
            v4, d4 = self._velocity_and_divergence(z + h * v3, g0 + h)
            z = z + h / 6 * (v1 + 2 * v2 + 2 * v3 + v4)
            logdet = logdet + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
        d = z.shape[1]
        prior = -0.5 * (z.pow(2).sum(1) + d * math.log(2 * math.pi))
        return prior + logdet + d * math.log(a_min)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, steps: int = 100, method: str = "ancestral"):
        """n points (n, d): ``sample_path`` from N(0, I) at γ_max down to γ_min on ``steps`` steps
        uniform in γ, then x = z/α_min. ``method``: "ancestral", "ddim" or "ode"."""
        path, _ = self.sample_path(n, steps, method, seed)
        return path[-1]

    @torch.no_grad()
    def sample_path(self, n: int, steps: int = 100, method: str = "ancestral", seed: int | None = None):
        """The reverse path ([z at γ_max, ..., x], [γ_max, ..., γ_min]); the last entry is in data
        space (z/α_min). On each step γ_t > γ_s, with x̂ = (z − σ_t ε̂)/α_t (clipped to ±``clip``):
        "ancestral" (η = 1) draws z_s ~ q(z_s | z_t, x̂) = N(α_s x̂ + √(σ_s² − c²) ε̂, c²),
        c² = σ_s² (1 − e^{γ_s − γ_t}); "ddim" (η = 0) is the same with c = 0; "ode" takes an RK4 step of
        the probability-flow ODE (4 network calls a step)."""
        n, steps = positive_int(n, "n"), positive_int(steps, "steps")
        one_of(method, "method", ["ancestral", "ddim", "ode"])
        gen = _generator(seed)
        z = torch.randn(n, *self.shape, generator=gen)
        grid = torch.linspace(self.gamma_max, self.gamma_min, steps + 1).tolist()
        path = [z]
        for g_t, g_s in zip(grid[:-1], grid[1:]):
            if method == "ode":
                h = g_s - g_t
                v1 = self.velocity(z, g_t)
                v2 = self.velocity(z + 0.5 * h * v1, g_t + 0.5 * h)
                v3 = self.velocity(z + 0.5 * h * v2, g_t + 0.5 * h)
                v4 = self.velocity(z + h * v3, g_s)
                z = z + h / 6 * (v1 + 2 * v2 + 2 * v3 + v4)
            else:
                a2_t, a2_s = torch.sigmoid(torch.tensor(-g_t)), torch.sigmoid(torch.tensor(-g_s))
                e = self.eps(z, torch.full((n,), g_t))
                x0 = (z - (1 - a2_t).sqrt() * e) / a2_t.sqrt()
                if self.clip is not None:
                    x0 = x0.clamp(-self.clip, self.clip)
                    e = (z - a2_t.sqrt() * x0) / (1 - a2_t).sqrt()
                c2 = (1 - a2_s) * -torch.expm1(torch.tensor(g_s - g_t)) if method == "ancestral" else 0.0
                z = a2_s.sqrt() * x0 + (1 - a2_s - c2) ** 0.5 * e
                if method == "ancestral":
                    z = z + c2**0.5 * torch.randn(z.shape, generator=gen)
            path.append(z)
        path[-1] = z / float(torch.sigmoid(torch.tensor(-self.gamma_min)).sqrt())
        return path, grid


class GaussianDiffusion(ContinuousDiffusion):
    """The exact denoiser of Gaussian data N(m, C): z_γ ~ N(α m, α² C + σ² I) and
    E[ε | z] = σ (α² C + σ² I)⁻¹ (z − α m). No network: the ODE's log-likelihood and the ELBO of
    this model have closed forms to test against."""

    def __init__(self, mean, cov, gamma_min: float = -12.0, gamma_max: float = 8.0):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(-1))
        self.register_buffer("cov", torch.as_tensor(cov, dtype=torch.float32))
        d = len(self.mean)
        if self.cov.shape != (d, d):
            raise ValueError(f"cov must be ({d}, {d}) to match mean, got {tuple(self.cov.shape)}.")
        self.shape = (d,)
        self._init_gamma(gamma_min, gamma_max)

    def eps(self, z, gamma):
        a2, s2 = torch.sigmoid(-gamma)[:, None, None], torch.sigmoid(gamma)[:, None, None]
        cov = a2 * self.cov + s2 * torch.eye(self.shape[0])
        r = z - a2[:, :, 0].sqrt() * self.mean
        return s2[:, :, 0].sqrt() * torch.linalg.solve(cov, r.unsqueeze(-1)).squeeze(-1)

    def exact_log_prob(self, x) -> torch.Tensor:
        """log N(x; m, C + e^{γ_min} I): the density the ODE gives with this exact denoiser (the data
        smoothed by the noise left at γ_min), up to the N(0, I) prior at γ_max."""
        x = self._check(x)
        cov = self.cov + math.exp(self.gamma_min) * torch.eye(self.shape[0])
        return torch.distributions.MultivariateNormal(self.mean, cov).log_prob(x)


class FourierMLP(nn.Module):
    """ε̂(z, γ) for points: a residual MLP on [z, sin/cos(2^k z), k < n_freq] with the (scaled) γ
    embedded by sinusoids and added in every block. The Fourier features let a small MLP draw
    sharp edges (the checkerboard); too many of them let it single out training points (``ToyVDM``)."""

    def __init__(self, dim: int, hidden: int, n_blocks: int, n_freq: int, emb: int = 32):
        super().__init__()
        self.n_freq, self.emb = n_freq, emb
        self.register_buffer("freqs", 2.0 ** torch.arange(n_freq, dtype=torch.float32), persistent=False)
        self.inp = nn.Linear(dim * (1 + 2 * n_freq), hidden)
        self.time = nn.Sequential(nn.Linear(emb, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
            for _ in range(n_blocks)
        )
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, z, t):
        """z (N, d), t (N,) in [0, 1]."""
        zf = z[:, :, None] * self.freqs
        feats = torch.cat([z, zf.sin().flatten(1), zf.cos().flatten(1)], 1)
        half = self.emb // 2
        w = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=z.dtype) / half)
        ang = (t * 1000.0)[:, None] * w[None]
        e = self.time(torch.cat([ang.sin(), ang.cos()], 1))
        h = self.inp(feats)
        for block in self.blocks:
            h = h + block(h + e)
        return self.out(h)


class ToyVDM(RecordsArgs, ContinuousDiffusion):
    """Continuous-time diffusion on 2-D points (a VDM with a fixed linear log-SNR schedule) with a
    Fourier-feature residual MLP predicting ε; ``elbo``, ``log_prob`` (ODE) and ``sample`` of
    ``ContinuousDiffusion``. x̂ is clipped to [−clip, clip] while sampling (the toys live in [−4, 4]).

    n_freq: the Fourier features' octaves, sin/cos(2^k z) for k < n_freq. Three (periods down to
    1.6) draw the checkerboard's edges; six (down to 0.2) let ε̂ wiggle on scales 10,000 points do
    not pin down: on the lessons' split the ODE's held-out NLL is then 0.06–0.08 nats worse on the
    checkerboard and the pinwheel, the −ELBO far less (``BUDGET_RUNS``' ``_freq6``)."""

    clip = 6.0

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 128,
        n_blocks: int = 3,
        n_freq: int = 3,
        gamma_min: float = -12.0,
        gamma_max: float = 8.0,
    ):
        super().__init__()
        self.shape = (positive_int(dim, "dim"),)
        self._init_gamma(gamma_min, gamma_max)
        self.net = FourierMLP(
            self.shape[0],
            positive_int(hidden, "hidden"),
            positive_int(n_blocks, "n_blocks"),
            positive_int(n_freq, "n_freq", minimum=0),
        )

    def eps(self, z, gamma):
        """σ z + MLP(z, t): σ z is E[ε | z] exactly for N(0, I) data, so the network learns only how
        the data differ from a standard Gaussian (and ε̂ ≈ z at high noise from the start)."""
        t = (gamma - self.gamma_min) / (self.gamma_max - self.gamma_min)
        return torch.sigmoid(gamma)[:, None].sqrt() * z + self.net(z, t)


def likelihood_gaps(true_lp, ode_lp, elbo) -> dict:
    """Paired gaps in nats on the same points, each (mean, standard error): ``bound`` −ELBO − ODE NLL,
    ``ode`` ODE NLL − entropy (the KL from the data to the ODE model), ``elbo`` −ELBO − entropy.
    true_lp, ode_lp, elbo: (n,) log-densities of the true density, the ODE, and the ELBO."""
    true_lp, ode_lp, elbo = (
        torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in (true_lp, ode_lp, elbo)
    )
    if not len(true_lp) == len(ode_lp) == len(elbo) or len(true_lp) < 2:
        raise ValueError(
            f"true_lp, ode_lp and elbo must hold the same points (at least 2), got {len(true_lp)}, "
            f"{len(ode_lp)} and {len(elbo)}."
        )

    def mean_se(v):
        return float(v.mean()), float(v.std()) / len(v) ** 0.5

    return {
        "bound": mean_se(ode_lp - elbo),
        "ode": mean_se(true_lp - ode_lp),
        "elbo": mean_se(true_lp - elbo),
    }


def check_likelihood_order(gaps: dict, what: str, n_se: float = 3.0, quiet: bool = False) -> None:
    """Raise ``CheckFailed`` unless ODE NLL ≥ entropy and −ELBO ≥ entropy, each within ``n_se``
    standard errors of its paired gap (``likelihood_gaps``). Both are theorems: the ODE defines a
    normalised density and the ELBO bounds the log-likelihood of the stochastic model, and no model
    beats the data's own entropy. (−ELBO ≥ ODE NLL is *not* one: the two are different models.)"""
    from .. import check

    for key, label in (("ode", "ODE NLL − entropy"), ("elbo", "−ELBO − entropy")):
        gap, se = gaps[key]
        check.greater(
            gap, -n_se * se, f"{what}: {label} (nats; ≥ −{n_se:g} SE = {-n_se * se:.3f})", quiet=quiet
        )


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


class SelfAttention(nn.Module):
    """Single-head self-attention over the H×W positions (GroupNorm first, residual): lets every
    pixel of a coarse feature map see every other one — cheap at 7×7 (49 positions)."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)
        a = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), -1)  # (n, hw, hw)
        return x + self.proj((v @ a.transpose(1, 2)).reshape(n, c, h, w))


class UNet(nn.Module):
    """A U-Net for 1-channel S×S images with ``len(mults)`` resolutions S, S/2, ..., S/2^(L−1)
    (S divisible by 2^(L−1)): ``channels·mults[i]`` channels at level i, one residual block per level
    on the way down (its output is the skip) and one on the way up after the skip is concatenated;
    two blocks at the bottom, with self-attention between them if ``attention``. A stride-2 3×3
    convolution halves the size, a stride-2 2×2 transposed convolution doubles it. The default
    ``mults=(1, 2)`` is the two-level U-Net (c at S, 2c at S/2). ``patch`` = p > 1 first folds each
    p×p block of pixels into p² channels (``pixel_unshuffle``, lossless) and unfolds the output the
    same way, so the levels run at S/p, S/2p, ... — p² times cheaper, every pixel still modelled."""

    def __init__(
        self,
        channels: int = 32,
        T: int = 100,
        emb: int = 64,
        mults=(1, 2),
        attention: bool = False,
        patch: int = 1,
    ):
        super().__init__()
        widths = [channels * int(m) for m in mults]
        self.T, self.emb_dim, self.patch = T, emb, int(patch)
        self.emb = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inc = nn.Conv2d(self.patch**2, widths[0], 3, padding=1)
        self.down = nn.ModuleList(ResBlock(w, w, emb) for w in widths[:-1])
        self.downsample = nn.ModuleList(
            nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths[:-1], widths[1:])
        )
        self.mid1 = ResBlock(widths[-1], widths[-1], emb)
        self.attn = SelfAttention(widths[-1]) if attention else nn.Identity()
        self.mid2 = ResBlock(widths[-1], widths[-1], emb)
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(widths[:-1], widths[1:])
        )
        self.up = nn.ModuleList(ResBlock(2 * w, w, emb) for w in widths[:-1])
        self.out = nn.Sequential(
            nn.GroupNorm(8, widths[0]), nn.SiLU(), nn.Conv2d(widths[0], self.patch**2, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x, t):
        e = self.emb(time_embedding(t, self.emb_dim, self.T))
        if self.patch > 1:
            x = F.pixel_unshuffle(x, self.patch)
        h, skips = self.inc(x), []
        for block, down in zip(self.down, self.downsample):
            h = block(h, e)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.attn(self.mid1(h, e)), e)
        for block, up in zip(reversed(self.up), reversed(self.upsample)):
            h = block(torch.cat([up(h), skips.pop()], 1), e)
        h = self.out(h)
        return F.pixel_shuffle(h, self.patch) if self.patch > 1 else h


def to_model_space(images: torch.Tensor, size: int) -> torch.Tensor:
    """Digits (n, 1, 28, 28) in [0, 1] → (n, 1, size, size) in [−1, 1] (area-averaged down-sampling)."""
    images = as_images(images, "images", unit_range=True)
    if images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="area")
    return images * 2 - 1


class DigitDDPM(RecordsArgs, Diffusion):
    """DDPM on digits at ``size`` × ``size`` (28: full resolution; smaller: area down-sampled) in
    [−1, 1], with a U-Net denoiser (``UNet``: ``channels``, ``mults``, ``attention``).

    ``sample`` returns (n, 1, 28, 28) in [0, 1] (bilinear up-sampling below 28), ready for the digit judge."""

    clip = 1.0

    def __init__(
        self,
        size: int = 14,
        channels: int = 32,
        T: int = 100,
        schedule: str = "cosine",
        mults=(1, 2),
        attention: bool = False,
        patch: int = 1,
    ):
        super().__init__()
        size = positive_int(size, "size", minimum=4)
        mults = tuple(positive_int(m, "mults") for m in mults)
        if len(mults) < 2:
            raise ValueError(f"mults must give at least two resolutions, got {mults}.")
        patch = positive_int(patch, "patch")
        factor = patch * 2 ** (len(mults) - 1)
        if size % factor:
            what = "even" if factor == 2 else f"divisible by {factor}"
            raise ValueError(
                f"size must be {what} (patches of {patch}, then the U-Net halves it "
                f"{len(mults) - 1} times), got {size}."
            )
        channels = positive_int(channels, "channels", minimum=8)
        if channels % 8:
            raise ValueError(f"channels must be a multiple of 8 (GroupNorm of 8 groups), got {channels}.")
        self.size = size
        self.shape = (1, size, size)
        self._init_schedule(T, schedule)
        self.net = UNet(channels, self.T, mults=mults, attention=bool(attention), patch=patch)

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
    callback=None,
):
    """Train ``model`` on ``data`` (already in model space) with the DDPM loss: Adam, a short warm-up
    then a cosine learning rate, gradient clipping at 1. The weights kept at the end are an
    exponential moving average (decay ``ema``) of the iterates — cleaner samples than the last one.
    max_seconds: a time budget; the cosine then follows whichever of steps and seconds runs out
    first, so a slow machine does fewer steps but still ends with a small learning rate (the steps
    done are ``len(history["loss"])``). callback(steps_done, averaged model): see ``train_steps``.
    Returns (history, seconds)."""
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
        callback=callback,
    )


#: Names of the shipped checkpoints and their recipes (shared by the notebook and the script).
#: The 2-D checkpoints ``ddpm_<toy>`` are ``ToyVDM``s (continuous time) trained on ``flows.toy_split``.
TOYS = ("8gaussians", "two_moons", "checkerboard", "pinwheel")
TOY_CHECKPOINTS = {toy: f"ddpm_{toy}" for toy in TOYS}
TOY_CHECKPOINT, TOY_DATA = "ddpm_two_moons", "two_moons"
#: Budgeted in steps, not seconds, so that a retrain gives the same model on a busy machine as on a quiet one
#: (~3 minutes each on one core, and one more to score). 12,000 steps gave held-out ODE gaps of 0.021 / 0.014 /
#: 0.043 / 0.034 nats (8 Gaussians, two moons, checkerboard, pinwheel), 24,000 steps 0.019 / 0.013 / 0.036 /
#: 0.034. With six octaves of Fourier features longer runs overfit: 40,000 steps gave a held-out −ELBO of 0.341
#: on 8 Gaussians and 2.252 on the checkerboard, against 0.331 and 2.123 at 12,000. TOY_SECONDS stays None.
TOY_STEPS, TOY_BATCH, TOY_LR, TOY_EMA, TOY_SECONDS = 24_000, 512, 2e-3, 0.999, None
#: The runs beside the shipped ones (``scripts/train_diffusion.py budget``): checkpoint → (toy, training
#: points, ToyVDM arguments, steps). ``_12k``: the shipped recipe at half the steps. ``_freq6``: the recipe
#: shipped before, six octaves of Fourier features instead of three, 12,000 steps — it fits its 10,000 training
#: points far better than held-out ones (the ODE on the checkerboard: 0.05 nats above the entropy on training
#: points, 0.11 on held-out). ``_100k``: the same six octaves with what more buys against that — ten times the
#: points, a wider network and twice the steps.
BUDGET_RUNS = {
    **{f"ddpm_{toy}_12k": (toy, 10_000, {}, 12_000) for toy in TOYS},
    **{f"ddpm_{toy}_freq6": (toy, 10_000, {"n_freq": 6}, 12_000) for toy in TOYS},
    **{
        f"ddpm_{toy}_100k": (toy, 100_000, {"hidden": 256, "n_freq": 6}, 24_000)
        for toy in ("checkerboard", "pinwheel")
    },
}
#: The digit DDPM at full resolution, budgeted in steps (~17 minutes on the 2 cores of the course's build
#: machine, COURSE_THREADS=2: 24,000 steps, 1,022 s; one core does 16,000 in the same time). Complete runs of
#: the same recipe judged FD 7.10 (6,600 steps), 4.88 (16,000) and 3.87 (24,000) at n = 1,000; DIGIT_SECONDS
#: is only a safety stop. The U-Net folds 2×2 pixels into 4 channels, then runs at 14×14 (32 channels) and
#: 7×7 (64, with self-attention): every one of the 28×28 pixels is modelled.
DIGIT_CHECKPOINT, DIGIT_STEPS, DIGIT_BATCH, DIGIT_LR, DIGIT_EMA = "ddpm_digits", 24_000, 64, 2e-3, 0.999
DIGIT_SIZE, DIGIT_CHANNELS, DIGIT_SECONDS = 28, 32, 1800
DIGIT_KWARGS = dict(size=DIGIT_SIZE, channels=DIGIT_CHANNELS, mults=(1, 2), attention=True, patch=2)
