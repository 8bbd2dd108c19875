"""Benchmark helpers.estimators against scikit-learn and scipy, measured side by side in one run.

    python benchmarks/estimators.py            # full run (a few minutes)
    python benchmarks/estimators.py --quick    # smoke test (seconds)

1. KDE, Gaussian kernel, fixed bandwidth, n training points × m queries (d = 2 and d = 10): the
   largest |log-density difference| and the time against scikit-learn's exact tree (rtol = atol = 0)
   and scipy.stats.gaussian_kde. The data are whitened (covariance exactly I), so scipy's kernel
   (data covariance × factor²) is the same isotropic kernel. scikit-learn and scipy cost the same per
   query, so by default they are timed on a subset of the queries and their time is scaled up
   linearly (said in the table); ``--all-queries`` times them on every query.
2. GMM, same initialisation (weights, means, precisions), fixed iteration count (tol = 0): final mean
   log-likelihood difference and time against sklearn.mixture.GaussianMixture. scikit-learn also
   runs its (cheap, "random") initialisation, whose result the given start overrides: about one
   M-step of extra work on its side.
3. Held-out negative log-likelihood (nats) of each estimator on the 2-D toy sets, next to the set's
   entropy, the best any model can do.

Uses the course's CPU threads: COURSE_THREADS, default 1 (helpers/config.py); COURSE_THREADS=2 times two.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.data import TOY_2D  # noqa: E402
from helpers.estimators import GaussianMixture, KernelDensity  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]]
    )


def write_markdown(path: Path, text: str) -> None:
    """Write a results file (creating its folder), ending in a newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n")


# ---------------------------------------------------------------------------------------------- KDE
def whitened(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(4, d))
    X = centers[rng.integers(4, size=n)] + rng.normal(size=(n, d))
    X -= X.mean(0)
    L = np.linalg.cholesky(np.cov(X.T))
    return np.linalg.solve(L, X.T).T  # sample covariance exactly I


def bench_kde(n: int, m: int, d: int, m_ref: int, seed: int = 0) -> list:
    from scipy.stats import gaussian_kde
    from sklearn.neighbors import KernelDensity as SkKDE

    X = whitened(n, d, seed)
    Q = whitened(m, d, seed + 1) * 1.2
    h = round(float(n ** (-1.0 / (d + 4))), 3)  # Scott's factor (σ = 1), then fixed
    ours_kde = KernelDensity(bandwidth=h)
    ours, t_ours = timed(lambda: ours_kde.fit(X).score_samples(Q))
    sub = Q[:m_ref]
    scale = m / len(sub)
    sk, t_sk = timed(lambda: SkKDE(bandwidth=h, rtol=0, atol=0).fit(X).score_samples(sub))
    sp_kde = gaussian_kde(X.T, bw_method=h)
    sp, t_sp = timed(lambda: sp_kde.logpdf(sub.T))
    t_sk, t_sp = t_sk * scale, t_sp * scale
    rel = lambda a, b: np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))  # noqa: E731
    tag = "" if scale == 1 else f" (timed on {len(sub):,} queries ×{scale:g})"
    return [
        f"{n:,} × {m:,}, d={d}, h={h}",
        f"{t_ours:.2f}",
        f"{t_sk:.1f}{tag}",
        f"{t_sp:.1f}{tag}",
        f"{min(t_sk, t_sp) / t_ours:.1f}×",
        f"{np.max(np.abs(ours[: len(sub)] - sk)):.1e} (rel {rel(ours[: len(sub)], sk):.0e})",
        f"{np.max(np.abs(ours[: len(sub)] - sp)):.1e} (rel {rel(ours[: len(sub)], sp):.0e})",
    ]


# ---------------------------------------------------------------------------------------------- GMM
def bench_gmm(n: int, d: int, K: int, cov: str, iters: int, seed: int = 0) -> list:
    from sklearn.mixture import GaussianMixture as SkGMM

    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(K, d))
    scales = rng.uniform(0.5, 1.5, size=(K, d))
    z = rng.integers(K, size=n)
    X = centers[z] + rng.normal(size=(n, d)) * scales[z]
    start = dict(
        weights_init=np.full(K, 1.0 / K),
        means_init=X[rng.choice(n, K, replace=False)],
        precisions_init=np.stack([np.eye(d)] * K) if cov == "full" else np.ones((K, d)),
    )
    kw = dict(n_components=K, covariance_type=cov, tol=0.0, max_iter=iters, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fixed iteration count: "did not converge" on purpose
        ours, t_ours = timed(lambda: GaussianMixture(**kw).fit(X))
        sk, t_sk = timed(lambda: SkGMM(init_params="random", random_state=0, **kw).fit(X))
    diff = abs(ours.score(X) - sk.score(X))
    return [
        f"{n:,} × d={d}, K={K}, {cov}, {iters} it",
        f"{t_ours:.2f}",
        f"{t_sk:.2f}",
        f"{t_sk / t_ours:.1f}×",
        f"{ours.score(X):.6f}",
        f"{diff:.1e}",
    ]


# ---------------------------------------------------------------------------------------------- NLL
def held_out_nll(n_train: int, n_test: int) -> tuple[list, list[str]]:
    notes = []
    models = {}
    try:
        from helpers.estimators import GaussianMLE

        GaussianMLE()
        models["Gaussian MLE"] = lambda: GaussianMLE()
    except NotImplementedError:
        notes.append("Gaussian MLE skipped: helpers.estimators.GaussianMLE is still a placeholder here.")
    try:
        from helpers.estimators import Histogram

        Histogram()
        # bins ∝ n^(1/4) per axis: a 2-D histogram's usual rate; range from the training data
        bins = max(5, int(round(2 * n_train**0.25)))
        models[f"Histogram ({bins}×{bins})"] = lambda: Histogram(bins=bins)
    except NotImplementedError:
        notes.append("Histogram skipped: helpers.estimators.Histogram is still a placeholder here.")
    models["KDE (Scott)"] = lambda: KernelDensity(bandwidth="scott")
    models["KDE (5-fold CV)"] = lambda: KernelDensity(bandwidth="cv")
    models["GMM (K=10, full)"] = lambda: GaussianMixture(10, random_state=0, max_iter=300)

    header = ["model"] + list(TOY_2D)
    rows = []
    dists = {name: cls() for name, cls in TOY_2D.items()}
    data = {name: (dist.sample(n_train, seed=1), dist.sample(n_test, seed=2)) for name, dist in dists.items()}
    rows.append(["true entropy (best possible)"] + [f"{dist.entropy():.3f}" for dist in dists.values()])
    for label, make in models.items():
        row = [label]
        for name in TOY_2D:
            train, test = data[name]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = make().fit(train)
            nll = -float(model.log_prob(test).mean())
            extra = f" (h={model.bandwidth_:.3f})" if isinstance(model, KernelDensity) else ""
            row.append(f"{nll:.3f}{extra}")
        rows.append(row)
    return [header] + rows, notes


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shrink everything: a smoke test in seconds")
    p.add_argument("--all-queries", action="store_true", help="time scikit-learn/scipy on every query")
    p.add_argument("--out", type=Path, help="also write the tables (Markdown) to this file")
    args = p.parse_args(argv)
    q = args.quick
    out = []

    def say(s=""):
        print(s, flush=True)
        out.append(s)

    say(f"# helpers.estimators benchmark ({'quick' if q else 'full'})")
    say()
    say(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} CPUs · torch {torch.__version__} with {torch.get_num_threads()} threads · "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    say()

    n, m = (5_000, 1_000) if q else (100_000, 10_000)
    m_ref = m if (q or args.all_queries) else 1_000
    say("## KDE: Gaussian kernel, fixed bandwidth (seconds; log-density differences)")
    say()
    rows = [bench_kde(n, m, d, m_ref) for d in (2, 10)]
    hdr = [
        "n × m, d, h",
        "ours (s)",
        "sklearn tree (s)",
        "scipy (s)",
        "speed-up",
        "max abs Δ vs sklearn",
        "max abs Δ vs scipy",
    ]
    say(table(rows, hdr))
    say()

    say("## GMM: EM from the same start, fixed iteration count (seconds; mean log-likelihood, nats/sample)")
    say()
    N, it = (5_000, 5) if q else (100_000, 20)
    cases = [(N, 32, 16, "diag"), (N, 32, 16, "full"), (N, 2, 8, "full"), (N, 2, 8, "diag")]
    rows = [bench_gmm(n_, d, K, cov, it) for n_, d, K, cov in cases]
    say(
        table(rows, ["case", "ours (s)", "sklearn (s)", "speed-up", "ours: mean log-lik", "abs Δ vs sklearn"])
    )
    say()

    say("## Held-out NLL (nats, lower is better) on the 2-D toy sets")
    say()
    n_train, n_test = (1_000, 1_000) if q else (5_000, 5_000)
    rows, notes = held_out_nll(n_train, n_test)
    say(f"{n_train:,} training and {n_test:,} held-out points per set.")
    say()
    say(table(rows[1:], rows[0]))
    for note in notes:
        say(f"\n- {note}")
    text = "\n".join(out)
    if args.out:
        write_markdown(args.out, text)
    return text


if __name__ == "__main__":
    main()
