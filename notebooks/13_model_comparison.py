# %% [markdown]
# # 13 · Every model on the same data: what wins where, and why
#
# Twelve lessons fitted $p_\theta(x)$ in twelve ways. Each lesson scored its own model, on its own
# split, against its own baseline. This lesson puts them side by side: **the same data, the same
# splits, the same units**, each number read against the limit no model can pass.
#
# - **2-D toys with a known density.** Because we know $p_{\text{data}}$ exactly, we know the best any
#   model can do: the held-out negative log-likelihood of any model is, in expectation,
#   $$\mathbb{E}_{p}[-\log q(x)] = H(p) + \mathrm{KL}(p\,\|\,q) \;\ge\; H(p),$$
#   so the true entropy $H(p)$ is a floor. Sample quality is read the same way: the sliced
#   Wasserstein distance between a model's samples and fresh true samples, next to the distance
#   between two sets of true samples of the same size (the floor set by finite samples).
# - **Digits.** Bits per dimension where a likelihood is tractable — binarised digits (lessons 07–08)
#   and dequantised grey digits (11–12) in *separate* tables, because a probability of a binary image
#   and a density of a continuous one are not in the same units — and the digit judge's verdict on
#   every generator, with a **memorisation column**: a sample-quality score alone rewards a model
#   that hands back its training set.
#
# Nothing is trained here: deep models come off the shelf with `helpers.models.pretrained`, the
# classical estimators of lessons 01–04 are refitted through `helpers.estimators` (they take seconds).

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import helpers
from helpers import FAST, check, metrics
from helpers.estimators import GaussianMixture, GaussianMLE, Histogram, KernelDensity
from helpers.models import available, entry, pretrained

helpers.seed_everything(0)
helpers.banner()

# %%
N_TRAIN = 1_000 if FAST else 5_000  # training points per 2-D toy (classical estimators)
N_TEST = 2_000 if FAST else 5_000  # held-out points per toy: the same for every model
N_SAMPLES = 1_000 if FAST else 5_000  # samples per model for the sample-quality columns
N_DIGITS = 100 if FAST else 300  # generated digits judged per model (autoregressive sampling is slow)
N_TEST_DIGITS = 200 if FAST else 1_000  # held-out digits scored by the likelihood models
IWAE_K = 10 if FAST else 200  # importance samples of the VAE's log-likelihood estimate
TOYS = list(helpers.data.TOY_2D)
dists = {name: helpers.data.toy(name) for name in TOYS}
train2d = {name: d.sample(N_TRAIN, seed=1) for name, d in dists.items()}
test2d = {name: d.sample(N_TEST, seed=2) for name, d in dists.items()}
entropy = {name: d.entropy() for name, d in dists.items()}
print("models on the shelf:")
for name, line in available().items():
    print(f"  {name:28s} {line}")

# %% [markdown]
# ## 1 · 2-D toys: held-out NLL against the entropy
#
# Every model is scored on the same held-out points (seed 2; lessons train on other seeds). The
# classical estimators are refitted here on `N_TRAIN` points: Gaussian MLE (lesson 01), a histogram
# with $\approx 2n^{1/4}$ bins per axis (02), a KDE with its bandwidth chosen by 5-fold held-out
# likelihood (03), and a 10-component full-covariance GMM fitted by EM (04). The standard error of a
# mean NLL over $m$ points is $\mathrm{sd}(-\log q(x_i))/\sqrt{m}$.

# %%
def classical_models(n_train: int) -> dict:
    bins = max(5, round(2 * n_train**0.25))
    return {
        "Gaussian MLE (01)": lambda: GaussianMLE(),
        f"histogram {bins}×{bins} (02)": lambda: Histogram(bins=bins),
        "KDE, CV bandwidth (03)": lambda: KernelDensity(bandwidth="cv", random_state=0),
        "GMM K=10 (04)": lambda: GaussianMixture(10, random_state=0, max_iter=300),
    }


def nll_and_se(log_prob, x) -> tuple[float, float]:
    """Mean held-out NLL (nats) and its standard error."""
    with torch.no_grad():
        lp = torch.as_tensor(log_prob(x)).double().reshape(-1)
    return float(-lp.mean()), float(lp.std() / len(lp) ** 0.5)


fitted2d, seconds2d = {}, {}
for label, make in classical_models(N_TRAIN).items():
    for toy in TOYS:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a GMM hitting max_iter on the checkerboard is fine here
            fitted2d[label, toy] = make().fit(train2d[toy])
        seconds2d[label, toy] = time.perf_counter() - start
print(f"fitted {len(fitted2d)} classical models in {sum(seconds2d.values()):.1f} s")

# %% [markdown]
# The deep models of lessons 11 and 12 come off the shelf. A flow has an exact `log_prob`; the
# diffusion model only has a bound, `elbo(x)` $\le \log p(x)$, so its row is an upper bound on its
# NLL (marked "≥").

# %%
DENSITY_2D = {}  # label → {toy: log_prob function}; filled from the shelf below
BOUND_2D = {}  # label → {toy: elbo function}
for label in classical_models(N_TRAIN):
    DENSITY_2D[label] = {toy: fitted2d[label, toy].log_prob for toy in TOYS}
# DEEP_2D_PLACEHOLDER

rows = {"true entropy H(p) (floor)": {toy: f"{entropy[toy]:.3f}" for toy in TOYS}}
nll2d = {}
for label, fns in {**DENSITY_2D, **BOUND_2D}.items():
    rows[label] = {}
    for toy in TOYS:
        if toy not in fns:
            rows[label][toy] = "—"
            continue
        nll, se = nll_and_se(fns[toy], test2d[toy])
        nll2d[label, toy] = (nll, se)
        rows[label][toy] = ("≥ " if label in BOUND_2D else "") + f"{nll:.3f} ± {se:.3f}"
table_nll2d = pd.DataFrame(rows).T[TOYS]
table_nll2d

# %% [markdown]
# **check**: no model's held-out NLL beats the true entropy by more than its standard error. A model
# that did would have found a density *better than the truth* on fresh data — the signature of a
# bug: a missing normalising constant, a test set that leaked into training, a bound read as an
# exact value with the wrong sign.

# %%
for (label, toy), (nll, se) in nll2d.items():
    check.greater(nll, entropy[toy] - se, f"{label} on {toy}: held-out NLL vs H(p) − 1 s.e.", quiet=True)
best = {toy: min((v[0], k[0]) for k, v in nll2d.items() if k[1] == toy) for toy in TOYS}
for toy, (nll, label) in best.items():
    print(f"{toy:13s} best: {label:28s} {nll:.3f} nats, {nll - entropy[toy]:.3f} above H(p) = {entropy[toy]:.3f}")
print(f"✓ none of the {len(nll2d)} (model, toy) scores beats the entropy by more than its standard error")

# %% [markdown]
# **check**: every tractable model's density integrates to 1 over the plane, by a Riemann sum on a
# 300 × 300 grid over $[-6, 6]^2$, where the toys live (a Gaussian fitted to them has tails beyond
# that: it gets $[-12, 12]^2$). The histogram gets a finer 800 × 800 grid: a coarse grid mis-counts
# its sharp bin edges by about 2 %. A likelihood can only be compared with another if both are
# normalised: an unnormalised "density" could score any NLL it likes.

# %%
integrals = {}
for label, fns in DENSITY_2D.items():
    for toy, fn in fns.items():
        lim = (-12, 12) if label.startswith("Gaussian") else (-6, 6)
        n = 800 if label.startswith("histogram") else 300
        integrals[label, toy] = check.normalizes(fn, lim=lim, n=n, tol=1e-2, what=f"{label} on {toy}", quiet=True)
print(
    f"✓ {len(integrals)} densities integrate to 1 (from {min(integrals.values()):.4f} to "
    f"{max(integrals.values()):.4f})"
)

# %% [markdown]
# ## 2 · 2-D toys: sample quality against the true-vs-true floor
#
# A likelihood says how much probability the model puts on real data; it does not say whether the
# model's *samples* look real, and the GANs of lessons 09–10 have no likelihood at all. The sliced
# Wasserstein distance compares samples directly: `N_SAMPLES` from each model against `N_SAMPLES`
# fresh true points. Two independent true sets are not at distance 0: the floor is the mean distance
# between five pairs of true sets of the same size, and its spread (± one standard deviation) says
# how far apart two *equally good* sample sets can land by chance — differences smaller than that
# are noise.

# %%
fresh = {toy: dists[toy].sample(N_SAMPLES, seed=3) for toy in TOYS}
floor_runs = {
    toy: np.array([metrics.sliced_wasserstein(dists[toy].sample(N_SAMPLES, seed=10 + 2 * i), dists[toy].sample(N_SAMPLES, seed=11 + 2 * i)) for i in range(5)])
    for toy in TOYS
}
floor_sw = {toy: float(r.mean()) for toy, r in floor_runs.items()}


def estimator_sampler(model, seed: int = 5):
    """n → samples (n, d) as a float tensor, for an estimator with scikit-learn's ``sample``."""

    def draw(n: int) -> torch.Tensor:
        out = model.sample(n, random_state=seed)
        out = out[0] if isinstance(out, tuple) else out  # a mixture also returns the components
        return torch.as_tensor(np.asarray(out), dtype=torch.float32)

    return draw


SAMPLERS_2D = {label: {toy: estimator_sampler(fitted2d[label, toy]) for toy in TOYS} for label in classical_models(N_TRAIN)}
# DEEP_SAMPLERS_2D_PLACEHOLDER

samples2d, sw_rows = {}, {"true vs true (floor)": {toy: f"{floor_sw[toy]:.3f} ± {floor_runs[toy].std():.3f}" for toy in TOYS}}
for label, fns in SAMPLERS_2D.items():
    sw_rows[label] = {}
    for toy in TOYS:
        if toy not in fns:
            sw_rows[label][toy] = "—"
            continue
        samples2d[label, toy] = fns[toy](N_SAMPLES).float()
        sw = metrics.sliced_wasserstein(samples2d[label, toy], fresh[toy])
        sw_rows[label][toy] = f"{sw:.3f} ({sw / floor_sw[toy]:.1f}×)"
table_sw2d = pd.DataFrame(sw_rows).T[TOYS]
table_sw2d

# %% [markdown]
# ## 3 · Digits: the judge's verdict, and a memorisation column
#
# Every generator of the course draws `N_DIGITS` digits; the digit judge (`helpers.metrics.digit_quality`,
# the course's own classifier, 99 % held-out accuracy) reports the Fréchet distance of their features
# to held-out real digits — with the **real-vs-real floor**, the same distance for as many real
# training digits — the mean confidence, and how many classes appear. Two classical baselines join:
# a diagonal GMM with 10 components (lesson 04) and two KDEs (lesson 03) — one with the bandwidth
# that held-out likelihood picks, one with a small bandwidth $h = 0.05$ — all fitted to the 784 grey
# pixels of the training digits, their samples clipped to [0, 1].
#
# **Memorisation.** For each generated digit, the distance (root-mean-square over pixels) to its
# nearest *training* digit; the same for held-out real digits tells what "new but real" looks like.
# A model whose samples sit much closer to the training set than unseen real digits do is handing
# back (noisy) copies of its training set. We flag a model when its median distance is below
# 0.8 × the held-out digits' median.

# %%
digits_train = helpers.data.load_mnist("train")
digits_test = helpers.data.load_mnist("test")
X_pix = digits_train.flat().double()
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    gmm_pix = GaussianMixture(10, covariance_type="diag", reg_covar=1e-2, random_state=0, max_iter=100).fit(X_pix)
t_gmm_pix = time.perf_counter() - start
start = time.perf_counter()
kde_pix = KernelDensity(bandwidth="cv", cv_max_points=300 if FAST else 1000, random_state=0).fit(X_pix)
t_kde_pix = time.perf_counter() - start
kde_sharp = KernelDensity(bandwidth=0.05).fit(X_pix)
print(f"GMM on pixels: {t_gmm_pix:.1f} s; KDE on pixels: {t_kde_pix:.1f} s, CV bandwidth h = {kde_pix.bandwidth_:.3f}")


def pixel_sampler(model, seed: int = 5):
    draw = estimator_sampler(model, seed)
    return lambda n: draw(n).clamp(0, 1).reshape(n, 1, 28, 28)


GENERATORS = {
    "GMM on pixels (04)": pixel_sampler(gmm_pix),
    "KDE on pixels, CV h (03)": pixel_sampler(kde_pix),
    "KDE on pixels, h = 0.05 (03)": pixel_sampler(kde_sharp),
}
TRAIN_SECONDS = {"GMM on pixels (04)": t_gmm_pix, "KDE on pixels, CV h (03)": t_kde_pix, "KDE on pixels, h = 0.05 (03)": 0.0}
shelf = {name: pretrained(name) for name in ["ar_bernoulli", "ar_markov_above", "ar_made", "ae_mnist", "vae_mnist"]}
GENERATORS.update(
    {
        "independent pixels (07)": lambda n: shelf["ar_bernoulli"].sample(n, seed=0),
        "Markov chain + above (07)": lambda n: shelf["ar_markov_above"].sample(n, seed=0),
        "MADE (07)": lambda n: shelf["ar_made"].sample(n, seed=0),
        "autoencoder, N(0, I) codes (08)": lambda n: shelf["ae_mnist"].sample(n, seed=0).clamp(0, 1),
        "VAE, decoder means (08)": lambda n: shelf["vae_mnist"].sample(n, seed=0, mean=True),
    }
)
SHELF_NAME = {
    "independent pixels (07)": "ar_bernoulli",
    "Markov chain + above (07)": "ar_markov_above",
    "MADE (07)": "ar_made",
    "autoencoder, N(0, I) codes (08)": "ae_mnist",
    "VAE, decoder means (08)": "vae_mnist",
}
# DEEP_GENERATORS_PLACEHOLDER


def nearest_rms(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """RMS pixel distance from each image to its nearest image in ``reference``."""
    d = torch.cdist(x.reshape(len(x), -1).float(), reference.reshape(len(reference), -1).float())
    return d.min(1).values / 28.0


held_out_nn = {}
for binarized in (False, True):
    ref = helpers.data.binarize(digits_train.images) if binarized else digits_train.images
    real = helpers.data.binarize(digits_test.images) if binarized else digits_test.images
    held_out_nn[binarized] = float(nearest_rms(real[:N_DIGITS], ref).median())
print(f"held-out real digits: median distance to the nearest training digit {held_out_nn[False]:.3f} (grey), {held_out_nn[True]:.3f} (binarised)")

# %%
judged, gen_samples, rows = {}, {}, {}
for label, draw in GENERATORS.items():
    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.no_grad():
        x = draw(N_DIGITS).detach().float().cpu()
    speed = N_DIGITS / (time.perf_counter() - start)
    check.has_shape(x, (N_DIGITS, 1, 28, 28), f"{label} samples", quiet=True)
    gen_samples[label] = x
    score = metrics.digit_quality(x)
    judged[label] = score
    ref = helpers.data.binarize(digits_train.images) if score.binarized else digits_train.images
    nn_med = float(nearest_rms(x, ref).median())
    ratio = nn_med / held_out_nn[score.binarized]
    rows[label] = {
        "FD ↓": round(score.fd, 2),
        "floor": round(score.fd_floor, 2),
        "confidence": round(score.confidence, 3),
        "classes": score.classes,
        "NN dist / held-out": round(ratio, 2),
        "memorised?": "yes" if ratio < 0.8 else "no",
        "images/s": f"{speed:,.0f}",
        "train s": f"{TRAIN_SECONDS[label] if label in TRAIN_SECONDS else entry(SHELF_NAME[label])['seconds']:.0f}",
        "pixels": "binary" if score.binarized else "grey",
    }
table_digits = pd.DataFrame(rows).T
table_digits

# %% [markdown]
# ## 4 · Digits: likelihoods, binarised and dequantised apart
#
# **Binarised digits** (lessons 07–08): a model gives each binary image a *probability*, so
# $-\log_2 p(x)/784$ is a code length in bits per pixel, and 1 bit/dim is a coin flip per pixel. The
# autoregressive models are exact; the VAE has only a bound (the ELBO) and the importance-weighted
# estimate $\log \frac1k\sum_j w_j$, itself a stochastic lower bound that tightens as $k$ grows.
# All rows use the same held-out binarised digits.

# %%
test_bin = helpers.data.binarize(digits_test.images[:N_TEST_DIGITS])
gen = torch.Generator().manual_seed(0)
with torch.no_grad():
    binarised_scores = {
        "independent pixels (07)": shelf["ar_bernoulli"].log_prob(test_bin),
        "Naive Bayes (07)": pretrained("ar_naive_bayes").log_prob(test_bin),
        "Markov chain (07)": pretrained("ar_markov").log_prob(test_bin),
        "Markov chain + above (07)": shelf["ar_markov_above"].log_prob(test_bin),
        "MADE (07)": shelf["ar_made"].log_prob(test_bin),
        "VAE, ELBO (08)": shelf["vae_mnist"].elbo(test_bin, generator=gen),
        f"VAE, IWAE k = {IWAE_K} (08)": shelf["vae_mnist"].log_prob(test_bin, k=IWAE_K, generator=gen),
    }
table_binarised = pd.DataFrame(
    {
        label: {
            "nats / image": f"{-float(lp.mean()):.1f} ± {float(lp.std()) / len(lp) ** 0.5:.1f}",
            "bits / dim": f"{metrics.bits_per_dim(lp, 784):.3f}",
            "exact?": "bound" if "VAE" in label else "exact",
        }
        for label, lp in binarised_scores.items()
    }
).T
table_binarised
