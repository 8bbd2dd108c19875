"""Autoencoders and the variational autoencoder (lesson 08) on binarised digits.

* ``Autoencoder`` — x → z = Enc(x) → x′ = Dec(z), trained on the reconstruction error
  E‖x′ − x‖². Nothing makes its codes look like any known distribution, so decoding random
  codes (``sample``) gives no digits.
* ``VAE`` — a stochastic encoder q(z | x) = N(μ(x), diag σ²(x)), the prior p(z) = N(0, I) and a
  Bernoulli decoder p(x | z) = Π_i Bern(x_i; σ(f_i(z))) — so its likelihood is in lesson 07's
  units (nats per binarised image). ``elbo(x)`` = E_q[log p(x | z)] − KL(q(z | x) ‖ N(0, I)) with
  the KL in closed form (``gaussian_kl``); ``log_prob(x, k)`` is the importance-weighted (IWAE)
  estimate log (1/k) Σ_j p(x, z_j) / q(z_j | x), z_j ~ q(z | x), a lower bound on log p(x) in
  expectation that tightens as k grows; ``sample(n, seed)`` decodes z ~ N(0, I).
* ``ConvVAE`` — the same VAE with convolutional networks (two stride-2 convolutions down to 7×7,
  two transposed convolutions back up), the shipped ``vae_mnist``; trained with a KL warm-up
  (``fit(..., warmup=...)``) and ±1-pixel shifts of the training digits.
* ``optimise_q`` — a Gaussian q fitted to one digit at a time by gradient ascent on its ELBO:
  how much of the ELBO's gap is the encoder's (amortisation) and how much the Gaussian family's.

``fit`` trains either model (Adam, early stopping on a validation split); it is the function the
notebook calls and the one ``scripts/train_vae.py`` calls to make the shipped checkpoints.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_tensor, positive, positive_int
from . import RecordsArgs
from .autoregressive import _generator, _shape, check_binary_images

__all__ = [
    "Autoencoder",
    "VAE",
    "ConvVAE",
    "optimise_q",
    "gaussian_kl",
    "iwae_curve",
    "fit",
    "validation_split",
    "CHECKPOINTS",
    "CONFIGS",
    "CONV_KWARGS",
    "CONV_TRAIN",
    "elbo_at",
    "TRAIN",
]

#: The shipped checkpoints of lesson 08 (made by ``scripts/train_vae.py``).
CHECKPOINTS = ("ae_mnist", "vae_mnist", "vae2d_mnist")
#: Training settings shared by the notebook and the script (early stopping on the validation split).
TRAIN = {"epochs": 300, "batch_size": 100, "lr": 1e-3, "weight_decay": 0.0, "patience": 15}
#: name → (class name, constructor arguments, training settings) of each shipped checkpoint.
CONFIGS: dict = {}


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no activation after the last layer


def _hidden(hidden) -> tuple[int, ...]:
    hidden = hidden if isinstance(hidden, (list, tuple)) else [hidden]
    out = tuple(positive_int(h, "hidden size") for h in hidden)
    if not out:
        raise ValueError("hidden must list at least one layer size, e.g. (256, 128).")
    return out


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), summed over the last axis."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def validation_split(x: torch.Tensor, n_val: int, seed: int = 0):
    """(train, val): ``n_val`` rows of ``x`` held out at random (seeded) to watch for overfitting."""
    n_val = positive_int(n_val, "n_val")
    if n_val >= len(x):
        raise ValueError(f"n_val={n_val} leaves no training data out of {len(x)} images.")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return x[perm[n_val:]], x[perm[:n_val]]


class _Coder(nn.Module):
    shape: tuple[int, int]

    @property
    def n_dims(self) -> int:
        return self.shape[0] * self.shape[1]

    def _x(self, x, name: str = "x") -> torch.Tensor:
        return check_binary_images(x, self.shape, name).flatten(1).to(next(self.parameters()).device)

    def _z(self, z) -> torch.Tensor:
        z = as_tensor(z, "z", ndim=(2, 3))
        if z.shape[-1] != self.latent:
            raise ValueError(
                f"z must have {self.latent} latent coordinates in its last axis, got {tuple(z.shape)}."
            )
        return z.to(next(self.parameters()).device)

    def _images(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.reshape(*flat.shape[:-1], 1, *self.shape)


class Autoencoder(RecordsArgs, _Coder):
    """Deterministic autoencoder: Enc: x ↦ z ∈ R^latent, Dec: z ↦ x′ = σ(f(z)) ∈ (0, 1)^D, trained
    on the squared reconstruction error ‖x′ − x‖² (summed over pixels)."""

    def __init__(self, shape=(28, 28), latent: int = 16, hidden=(256, 128)):
        super().__init__()
        self.shape = _shape(shape)
        self.latent = positive_int(latent, "latent")
        h = _hidden(hidden)
        self.encoder = _mlp([self.n_dims, *h, self.latent])
        self.decoder = _mlp([self.latent, *reversed(h), self.n_dims])

    def encode(self, x) -> torch.Tensor:
        """Codes z = Enc(x): (n, latent)."""
        return self.encoder(self._x(x))

    def decode(self, z) -> torch.Tensor:
        """Images x′ = Dec(z) in (0, 1): (n, 1, H, W)."""
        return self._images(torch.sigmoid(self.decoder(self._z(z))))

    def reconstruction_error(self, x) -> torch.Tensor:
        """‖Dec(Enc(x)) − x‖² per image: (n,)."""
        xf = self._x(x)
        return (torch.sigmoid(self.decoder(self.encoder(xf))) - xf).pow(2).sum(1)

    def loss(self, x) -> torch.Tensor:
        return self.reconstruction_error(x).mean()

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Decode ``n`` random codes z ~ N(0, I) — the naive way to 'generate' with an autoencoder."""
        z = torch.randn(positive_int(n, "n"), self.latent, generator=_generator(seed))
        return self.decode(z).cpu()


class VAE(RecordsArgs, _Coder):
    """Variational autoencoder with a Gaussian encoder, N(0, I) prior and Bernoulli decoder."""

    def __init__(self, shape=(28, 28), latent: int = 16, hidden=(256, 128)):
        super().__init__()
        self.shape = _shape(shape)
        self.latent = positive_int(latent, "latent")
        h = _hidden(hidden)
        self.encoder = _mlp([self.n_dims, *h, 2 * self.latent])
        self.decoder = _mlp([self.latent, *reversed(h), self.n_dims])

    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x): the mean μ (n, latent) and log-variance log σ² (n, latent)."""
        mu, logvar = self.encoder(self._x(x)).chunk(2, dim=-1)
        return mu, logvar

    def decoder_logits(self, z) -> torch.Tensor:
        """Logits f(z) of the Bernoulli decoder, one per pixel: (..., D)."""
        return self.decoder(self._z(z))

    def decode(self, z) -> torch.Tensor:
        """Pixel probabilities E[x | z] = σ(f(z)): images (n, 1, H, W)."""
        return self._images(torch.sigmoid(self.decoder_logits(z)))

    @staticmethod
    def log_likelihood(x_flat: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = Σ_i x_i log σ(f_i) + (1 − x_i) log σ(−f_i), over the last axis."""
        logits, x_flat = torch.broadcast_tensors(logits, x_flat)
        return -F.binary_cross_entropy_with_logits(logits, x_flat, reduction="none").sum(-1)

    def elbo(self, x, n_samples: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """ELBO(x) = E_{q(z|x)}[log p(x | z)] − KL(q(z | x) ‖ N(0, I)) in nats per image: (n,).

        The expectation by ``n_samples`` reparameterised draws z = μ + σ ⊙ ε, ε ~ N(0, I); the KL
        in closed form (``gaussian_kl``)."""
        n_samples = positive_int(n_samples, "n_samples")
        xf = self._x(x)
        mu, logvar = self.encoder(xf).chunk(2, dim=-1)
        eps = torch.randn(n_samples, *mu.shape, generator=generator).to(mu.device)
        z = mu + (0.5 * logvar).exp() * eps  # the reparameterisation trick
        reconstruction = self.log_likelihood(xf, self.decoder(z)).mean(0)
        return reconstruction - gaussian_kl(mu, logvar)

    def loss(self, x) -> torch.Tensor:
        return -self.elbo(x).mean()

    @torch.no_grad()
    def log_weights(
        self, x, k: int, generator: torch.Generator | None = None, chunk: int = 20_000, q=None, prior=None
    ) -> torch.Tensor:
        """log w_j = log p(x | z_j) + log p(z_j) − log q(z_j | x), z_j ~ q(z | x): (n, k).

        q: the encoder's q (default), or a pair (mu, logvar), each (n, latent), of any other
        Gaussian proposal (e.g. ``optimise_q``'s). prior: None for p(z) = N(0, I), or a fitted
        density of codes with ``score_samples`` (``code_prior``'s mixture: the two-stage model)."""
        k = positive_int(k, "k")
        if prior is not None and not callable(getattr(prior, "score_samples", None)):
            raise ValueError(f"prior must be None or a fitted density with .score_samples(z); got {type(prior).__name__}.")
        xf = self._x(x)
        if q is not None:
            mu_all, logvar_all = (as_tensor(t, name, ndim=2).to(xf.device) for t, name in zip(q, ("q[0] (mu)", "q[1] (logvar)")))
            if mu_all.shape != (len(xf), self.latent) or logvar_all.shape != mu_all.shape:
                raise ValueError(f"q must be (mu, logvar), each ({len(xf)}, {self.latent}).")
        out = []
        per = max(1, chunk // k)  # images per chunk, so that a chunk decodes ~chunk codes
        for b, xb in enumerate(xf.split(per)):
            if q is None:
                mu, logvar = self.encoder(xb).chunk(2, dim=-1)
            else:
                mu, logvar = mu_all[b * per : b * per + len(xb)], logvar_all[b * per : b * per + len(xb)]
            std = (0.5 * logvar).exp()
            eps = torch.randn(len(xb), k, self.latent, generator=generator).to(xb.device)
            z = mu[:, None] + std[:, None] * eps
            log_q = (-0.5 * eps.pow(2) - 0.5 * logvar[:, None] - 0.5 * math.log(2 * math.pi)).sum(-1)
            if prior is None:
                log_prior = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
            else:
                flat = z.reshape(-1, self.latent).double().cpu()
                log_prior = torch.as_tensor(np.asarray(prior.score_samples(flat)), dtype=z.dtype)
                log_prior = log_prior.reshape(z.shape[:-1]).to(z.device)
            log_lik = self.log_likelihood(xb[:, None], self.decoder(z))
            out.append(log_lik + log_prior - log_q)
        return torch.cat(out)

    @torch.no_grad()
    def log_prob(self, x, k: int = 100, generator: torch.Generator | None = None, prior=None) -> torch.Tensor:
        """Importance-weighted estimate of log p(x): log (1/k) Σ_j w_j, in nats per image: (n,).

        A stochastic lower bound (its expectation is ≤ log p(x)); k = 1 is a one-sample ELBO.
        prior: as in ``log_weights`` (None: N(0, I))."""
        lw = self.log_weights(x, k, generator, prior=prior)
        return torch.logsumexp(lw, 1) - math.log(lw.shape[1])

    @torch.no_grad()
    def reconstruct(self, x) -> torch.Tensor:
        """Decoder means at the encoder means, σ(f(μ(x))): images (n, 1, H, W)."""
        mu, _ = self.encode(x)
        return self.decode(mu).cpu()

    @torch.no_grad()
    def code_prior(self, x, n_components: int = 50, seed: int = 0):
        """A Gaussian mixture (``helpers.estimators.GaussianMixture``, full covariances, EM seeded by
        ``seed``) fitted to the encoder means μ(x) of the binarised images ``x`` (as ``elbo`` takes
        them): an estimate of where the codes of real digits lie (the aggregate posterior), to
        sample from instead of N(0, I) (``sample(..., prior=...)``; ex-post density estimation,
        Ghosh et al. 2020). Returns the fitted mixture."""
        from ..estimators import GaussianMixture

        n_components = positive_int(n_components, "n_components")
        seed = positive_int(seed, "seed", minimum=0)
        xf = self._x(x)
        if n_components > len(xf):
            raise ValueError(f"n_components={n_components} exceeds the {len(xf)} images in x; use fewer components.")
        was = self.training
        self.eval()  # no dropout: the means the decoder was trained around
        try:
            mu = torch.cat([self.encoder(b).chunk(2, dim=-1)[0] for b in xf.split(1000)])
        finally:
            self.train(was)
        return GaussianMixture(n_components=n_components, random_state=seed).fit(mu.double().cpu())

    def _prior_codes(self, prior, n: int, g: torch.Generator) -> torch.Tensor:
        """n codes drawn from ``prior`` (anything with ``sample(n, random_state=...)`` → (X, labels)),
        in a random order (a mixture returns them grouped by component), deterministic in ``g``."""
        if not callable(getattr(prior, "sample", None)):
            raise ValueError(
                f"prior must be None (z ~ N(0, I)) or a fitted density with .sample(n, random_state=...), "
                f"e.g. vae.code_prior(x); got {type(prior).__name__}."
            )
        state = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        try:
            drawn = prior.sample(n, random_state=state)
        except (ValueError, AttributeError) as err:  # scikit-learn's NotFittedError is both
            raise ValueError(f"prior could not be sampled (is it fitted?): {err}") from err
        z = drawn[0] if isinstance(drawn, tuple) else drawn
        z = torch.as_tensor(np.asarray(z), dtype=torch.float32)
        if z.ndim != 2 or tuple(z.shape) != (n, self.latent):
            raise ValueError(
                f"prior must draw codes of the VAE's latent size: {n} × {self.latent} expected, "
                f"got {tuple(z.shape)}."
            )
        return z[torch.randperm(n, generator=g)]

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, mean: bool = False, prior=None) -> torch.Tensor:
        """Draw z ~ N(0, I) and x ~ p(x | z): binary images (n, 1, H, W); ``mean=True`` returns the
        pixel probabilities σ(f(z)) instead (the usual way VAE samples are shown).

        prior: None keeps z ~ N(0, I); a fitted density of codes (``code_prior``'s mixture, or any
        object whose ``sample(n, random_state=...)`` returns (codes, labels)) draws z from it, in a
        shuffled order, deterministic in ``seed``."""
        n = positive_int(n, "n")
        g = _generator(seed)
        if prior is None:
            z = torch.randn(n, self.latent, generator=g)
        else:
            z = self._prior_codes(prior, n, g)
        p = self.decode(z).cpu()
        return p if mean else torch.bernoulli(p, generator=g)


class _ConvEncoder(nn.Module):
    """Flat binary images (n, H·W) → (n, out): two 3×3 stride-2 convolutions, then a linear layer."""

    def __init__(self, shape, channels: int, out: int, dropout: float):
        super().__init__()
        self.shape = shape
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 3, 2, 1), nn.ReLU(), nn.Conv2d(c, 2 * c, 3, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * c * _down(shape), out),
        )  # fmt: skip

    def forward(self, x):
        return self.net(x.reshape(-1, 1, *self.shape))


class _ConvDecoder(nn.Module):
    """Codes (..., latent) → logits (..., H·W): a linear layer to 7×7 maps, two transposed convolutions."""

    def __init__(self, shape, channels: int, latent: int):
        super().__init__()
        self.shape, self.c = shape, channels
        self.small = ((shape[0] + 3) // 4, (shape[1] + 3) // 4)
        c = channels
        self.fc = nn.Sequential(nn.Linear(latent, 2 * c * self.small[0] * self.small[1]), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c, 1, 4, 2, 1),
        )  # fmt: skip

    def forward(self, z):
        lead = z.shape[:-1]
        h = self.fc(z.reshape(-1, z.shape[-1])).reshape(-1, 2 * self.c, *self.small)
        out = self.net(h)[:, 0, : self.shape[0], : self.shape[1]]
        return out.reshape(*lead, self.shape[0] * self.shape[1])


def _down(shape) -> int:
    return ((shape[0] + 3) // 4) * ((shape[1] + 3) // 4)


class ConvVAE(VAE):
    """The VAE with convolutional encoder and decoder (``channels`` and 2·``channels`` feature maps
    at 14×14 and 7×7), dropout before the encoder's last layer; every method as in ``VAE``."""

    def __init__(self, shape=(28, 28), latent: int = 16, channels: int = 32, dropout: float = 0.0):
        nn.Module.__init__(self)
        self.shape = _shape(shape)
        self.latent = positive_int(latent, "latent")
        self.channels = positive_int(channels, "channels")
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        self.encoder = _ConvEncoder(self.shape, self.channels, 2 * self.latent, self.dropout)
        self.decoder = _ConvDecoder(self.shape, self.channels, self.latent)


def optimise_q(
    model: VAE, x, *, steps: int = 300, lr: float = 0.05, n_samples: int = 16, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The best Gaussian q(z | x) = N(μ, diag σ²) for each digit on its own: Adam on μ, log σ² (started
    at the encoder's) to maximise the ELBO with ``n_samples`` reparameterised draws per step, the
    decoder fixed. Returns (mu, logvar), each (n, latent). The ELBO at them minus the encoder's ELBO
    is the *amortisation* error; the IWAE estimate minus it, the limit of the Gaussian family."""
    steps, n_samples = positive_int(steps, "steps"), positive_int(n_samples, "n_samples")
    xf = model._x(x)
    with torch.no_grad():
        mu0, logvar0 = model.encoder(xf).chunk(2, dim=-1)
    mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
    opt = torch.optim.Adam([mu, logvar], lr=positive(lr, "lr"))
    g = torch.Generator().manual_seed(seed)
    was = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            eps = torch.randn(n_samples, *mu.shape, generator=g).to(mu.device)
            z = mu + (0.5 * logvar).exp() * eps
            elbo = model.log_likelihood(xf, model.decoder(z)).mean(0) - gaussian_kl(mu, logvar)
            opt.zero_grad()
            (-elbo.sum()).backward()
            opt.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was)
    return mu.detach(), logvar.detach()


def elbo_at(model: VAE, x, mu, logvar, n_samples: int = 100, generator=None) -> torch.Tensor:
    """ELBO(x) for a given q = N(mu, diag e^logvar) (not the encoder's): (n,)."""
    xf = model._x(x)
    with torch.no_grad():
        eps = torch.randn(positive_int(n_samples, "n_samples"), *mu.shape, generator=generator)
        z = mu + (0.5 * logvar).exp() * eps.to(mu.device)
        return model.log_likelihood(xf, model.decoder(z)).mean(0) - gaussian_kl(mu, logvar)


#: The shipped convolutional VAE and its training (KL warm-up, ±1 px shifts, weight decay).
CONV_KWARGS = {"shape": (28, 28), "latent": 16, "channels": 16, "dropout": 0.1}
CONV_TRAIN = dict(TRAIN, epochs=150, lr=2e-3, weight_decay=1e-5, patience=15, warmup=10, shift=1)

CONFIGS.update(
    {
        "ae_mnist": (Autoencoder, {"shape": (28, 28), "latent": 16, "hidden": (256, 128)}, TRAIN),
        "vae_mnist": (ConvVAE, CONV_KWARGS, CONV_TRAIN),
        "vae2d_mnist": (VAE, {"shape": (28, 28), "latent": 2, "hidden": (256, 128)}, dict(TRAIN, epochs=150)),
    }
)


def iwae_curve(log_w: torch.Tensor, ks) -> torch.Tensor:
    """Mean IWAE estimate over images for each k in ``ks``, from the first k columns of ``log_w`` (n, K)."""
    log_w = as_tensor(log_w, "log_w", ndim=2)
    out = []
    for k in ks:
        k = positive_int(int(k), "k")
        if k > log_w.shape[1]:
            raise ValueError(f"k={k} exceeds the {log_w.shape[1]} importance samples in log_w.")
        out.append(float((torch.logsumexp(log_w[:, :k], 1) - math.log(k)).mean()))
    return torch.tensor(out, dtype=torch.float64)


def fit(
    model: Autoencoder | VAE,
    train_x,
    val_x=None,
    *,
    epochs: int = 100,
    batch_size: int = 100,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int | None = 10,
    warmup: int = 0,
    shift: int = 0,
    seed: int = 0,
    progress: bool = True,
):
    """Train an ``Autoencoder`` (squared error) or a ``VAE`` (negative ELBO) with Adam, watching the
    loss on ``val_x`` and keeping the best epoch's weights (early stopping after ``patience``
    epochs without improvement). Returns (history, seconds).

    warmup: epochs over which a VAE's KL weight β rises linearly from 0 to 1 (the training loss is
    −(reconstruction − β·KL); the validation loss is always the full −ELBO, so keep ``patience``
    above ``warmup``). shift: training digits moved by a random ±``shift`` pixels each step."""
    from ..train import train
    from .autoregressive import random_shift

    train_x = check_binary_images(train_x, model.shape, "train_x")
    if val_x is not None:
        val_x = check_binary_images(val_x, model.shape, "val_x")
    warmup = positive_int(warmup, "warmup", minimum=0)
    shift = positive_int(shift, "shift", minimum=0)
    if warmup and not isinstance(model, VAE):
        raise ValueError("warmup weighs a VAE's KL term; the autoencoder has none (use warmup=0).")
    steps_per_epoch = math.ceil(len(train_x) / positive_int(batch_size, "batch_size"))
    g = torch.Generator().manual_seed(seed + 1)
    done = [0]

    def loss_fn(m, x):
        if not m.training:
            with torch.no_grad():
                return m.loss(x)
        x = random_shift(x, shift, g)
        done[0] += 1
        if not warmup:
            return m.loss(x)
        beta = min(1.0, done[0] / (warmup * steps_per_epoch))
        xf = m._x(x)
        mu, logvar = m.encoder(xf).chunk(2, dim=-1)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        return -(m.log_likelihood(xf, m.decoder(z)) - beta * gaussian_kl(mu, logvar)).mean()

    start = time.perf_counter()
    history = train(
        model,
        loss_fn,
        train_x,
        epochs=positive_int(epochs, "epochs"),
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        val_data=val_x,
        patience=patience if val_x is not None else None,
        device="cpu",
        seed=seed,
        progress=progress,
    )
    return history, time.perf_counter() - start
