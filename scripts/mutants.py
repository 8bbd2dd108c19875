"""`make mutants`: mutation testing of helpers/check.py, helpers/metrics.py and helpers/estimators/
with their unit tests as the oracle (mutmut; configuration in pyproject.toml's [tool.mutmut]).

    python scripts/mutants.py                      # every configured module (slow: hours on 2 cores)
    python scripts/mutants.py "helpers.check*"     # only the mutants whose names match
    python scripts/mutants.py --report             # only summarise the last run

mutmut copies the package into mutants/, rewrites each function into variants (an operator flipped,
a constant changed...), and runs for each variant only the tests that call that function. A mutant
is *killed* when some test fails. The score is killed / (all mutants that ran), per module; the
survivors are listed so each can be judged: a real gap in the tests, or an equivalent mutant (a
change no caller can observe). It is CPU-heavy: on the shared course machine run it under the
training lock, e.g. ``flock /tmp/course-train.lock make mutants``. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(patterns: list[str], children: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # mutmut puts mutants/ first itself
    env.update(COURSE_FAST="1", COURSE_THREADS="1", MPLBACKEND="Agg")
    cmd = [str(BIN / "mutmut"), "run", "--max-children", str(children), *patterns]
    subprocess.run(cmd, cwd=ROOT, env=env, check=False)


def report(patterns: list[str]) -> float:
    out = subprocess.run(
        [str(BIN / "mutmut"), "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rx = [re.compile("^" + re.escape(p).replace(r"\*", ".*")) for p in patterns] if patterns else None
    by_module: dict[str, Counter] = defaultdict(Counter)
    survivors: list[str] = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name or (rx and not any(r.match(name) for r in rx)):
            continue
        module = name.split(".x_")[0].split(".xǁ")[0]
        by_module[module][status] += 1
        if status in ("survived", "no tests", "suspicious"):
            survivors.append(f"{name}: {status}")
    total = Counter()
    print(f"{'module':<36} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>7}")
    for module, c in sorted(by_module.items()):
        ran = sum(v for k, v in c.items() if k not in ("not checked", "skipped"))
        killed = c["killed"] + c["timeout"] + c["segfault"]
        total.update(c)
        score = 100 * killed / ran if ran else float("nan")
        print(f"{module:<36} {ran:>8} {killed:>7} {c['survived']:>9} {c['no tests']:>9} {score:>6.1f}%")
    ran = sum(v for k, v in total.items() if k not in ("not checked", "skipped"))
    killed = total["killed"] + total["timeout"] + total["segfault"]
    score = 100 * killed / ran if ran else float("nan")
    print(f"{'total':<36} {ran:>8} {killed:>7} {total['survived']:>9} {total['no tests']:>9} {score:>6.1f}%")
    if total["not checked"]:
        print(f"({total['not checked']} mutants not checked yet: the run was interrupted or scoped)")
    if survivors:
        print("\nsurvivors (`mutmut show NAME` prints the change):")
        print("\n".join("  " + s for s in survivors))
    return score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("patterns", nargs="*", help='mutant name globs, e.g. "helpers.check*"')
    ap.add_argument("--report", action="store_true", help="only summarise the last run")
    ap.add_argument("--children", type=int, default=2, help="parallel test processes (default 2)")
    args = ap.parse_args()
    if not args.report:
        run(args.patterns, args.children)
    report(args.patterns)


if __name__ == "__main__":
    main()
