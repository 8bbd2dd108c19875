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

``fit`` trains either model (Adam, early stopping on a validation split); it is the function the
notebook calls and the one ``scripts/train_vae.py`` calls to make the shipped checkpoints.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_tensor, positive_int
from . import RecordsArgs
from .autoregressive import _generator, _shape, check_binary_images

__all__ = [
    "Autoencoder",
    "VAE",
    "gaussian_kl",
    "iwae_curve",
    "fit",
    "validation_split",
    "CHECKPOINTS",
    "CONFIGS",
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
        self, x, k: int, generator: torch.Generator | None = None, chunk: int = 20_000
    ) -> torch.Tensor:
        """log w_j = log p(x | z_j) + log p(z_j) − log q(z_j | x), z_j ~ q(z | x): (n, k)."""
        k = positive_int(k, "k")
        xf = self._x(x)
        out = []
        per = max(1, chunk // k)  # images per chunk, so that a chunk decodes ~chunk codes
        for xb in xf.split(per):
            mu, logvar = self.encoder(xb).chunk(2, dim=-1)
            std = (0.5 * logvar).exp()
            eps = torch.randn(len(xb), k, self.latent, generator=generator).to(xb.device)
            z = mu[:, None] + std[:, None] * eps
            log_q = (-0.5 * eps.pow(2) - 0.5 * logvar[:, None] - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_prior = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_lik = self.log_likelihood(xb[:, None], self.decoder(z))
            out.append(log_lik + log_prior - log_q)
        return torch.cat(out)

    @torch.no_grad()
    def log_prob(self, x, k: int = 100, generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted estimate of log p(x): log (1/k) Σ_j w_j, in nats per image: (n,).

        A stochastic lower bound (its expectation is ≤ log p(x)); k = 1 is a one-sample ELBO."""
        lw = self.log_weights(x, k, generator)
        return torch.logsumexp(lw, 1) - math.log(lw.shape[1])

    @torch.no_grad()
    def reconstruct(self, x) -> torch.Tensor:
        """Decoder means at the encoder means, σ(f(μ(x))): images (n, 1, H, W)."""
        mu, _ = self.encode(x)
        return self.decode(mu).cpu()

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, mean: bool = False) -> torch.Tensor:
        """Draw z ~ N(0, I) and x ~ p(x | z): binary images (n, 1, H, W); ``mean=True`` returns the
        pixel probabilities σ(f(z)) instead (the usual way VAE samples are shown)."""
        g = _generator(seed)
        z = torch.randn(positive_int(n, "n"), self.latent, generator=g)
        p = self.decode(z).cpu()
        return p if mean else torch.bernoulli(p, generator=g)


CONFIGS.update(
    {
        "ae_mnist": (Autoencoder, {"shape": (28, 28), "latent": 16, "hidden": (256, 128)}, TRAIN),
        "vae_mnist": (VAE, {"shape": (28, 28), "latent": 16, "hidden": (256, 128)}, dict(TRAIN, epochs=200)),
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
    seed: int = 0,
    progress: bool = True,
):
    """Train an ``Autoencoder`` (squared error) or a ``VAE`` (negative ELBO) with Adam, watching the
    loss on ``val_x`` and keeping the best epoch's weights (early stopping after ``patience``
    epochs without improvement). Returns (history, seconds)."""
    from ..train import train

    train_x = check_binary_images(train_x, model.shape, "train_x")
    if val_x is not None:
        val_x = check_binary_images(val_x, model.shape, "val_x")
    start = time.perf_counter()
    history = train(
        model,
        lambda m, x: m.loss(x),
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
