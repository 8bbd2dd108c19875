"""The wheel holds the whole package, and a non-editable install imports every public module.

A wheel is built from a copy of the package files (``pip wheel --no-deps --no-build-isolation``,
seconds) and installed with ``--no-deps`` into a throwaway venv that borrows this environment's
libraries (torch, numpy...) through a ``.pth`` line but not its editable install of ``helpers``, so
the imports below are served by the wheel alone. The checkout's files (checkpoints, figures) are
found by one rule, ``helpers.config.ROOT``: ``$COURSE_ROOT`` if set, else the folder above the package
(the checkout); when they are absent the error names the path it looked in.
"""

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _modules_in_tree() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "helpers").rglob("*.py")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "helpers", src / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(out), str(src)],
        check=True, cwd=src, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    (whl,) = out.glob("*.whl")
    return whl


def test_wheel_holds_every_module(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = {n for n in z.namelist() if n.startswith("helpers/")}
    missing = _modules_in_tree() - names
    assert not missing, f"modules missing from the wheel: {sorted(missing)}"
    assert "helpers/estimators/kde.py" in names and "helpers/models/__init__.py" in names
    print(f"{len([n for n in names if n.endswith('.py')])} modules in {wheel.name}")


def _public_modules() -> list[str]:
    mods = []
    for p in sorted((ROOT / "helpers").rglob("*.py")):
        parts = p.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        mods.append(".".join(parts))
    return mods


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A throwaway venv with the wheel installed non-editable; returns (python, env, cwd)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # this environment's libraries, appended after the venv's own site-packages (no .pth processing
    # there, so the editable install of helpers stays invisible)
    libs = [
        p
        for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    ]
    (purelib / "borrowed_libs.pth").write_text("\n".join(sorted(set(libs))) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURSE_ROOT")}
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(purelib), str(wheel)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    cwd = tmp_path_factory.mktemp("elsewhere")  # not the checkout: `import helpers` must come from the wheel
    return py, env, cwd


_PRETRAINED = (
    "from helpers.models import pretrained\n"
    "try:\n"
    "    pretrained('digit_classifier')\n"
    "    print('LOADED')\n"
    "except ValueError as err:\n"
    "    print('ERROR', err)\n"
)


@pytest.fixture(scope="module")
def probe(installed):
    """One process (torch is imported once): every public module, then a shipped checkpoint."""
    py, env, cwd = installed
    code = (
        "import importlib, helpers\n"
        f"for m in {_public_modules()!r}: importlib.import_module(m)\n"
        "import helpers.estimators, helpers.models\n"
        "print('FROM', helpers.__file__)\n" + _PRETRAINED
    )
    res = subprocess.run([str(py), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_non_editable_install_imports_every_public_module(probe):
    where = Path(next(x for x in probe.splitlines() if x.startswith("FROM ")).removeprefix("FROM "))
    assert str(ROOT) not in str(where) and "site-packages" in str(where), f"helpers imported from {where}"
    assert len(_public_modules()) >= 10


def test_assets_found_by_one_rule_and_a_clear_error_when_absent(installed, probe):
    py, env, cwd = installed
    # installed outside the checkout: the error names the folder it looked in
    line = next(x for x in probe.splitlines() if x.startswith(("ERROR", "LOADED")))
    assert line.startswith("ERROR") and "assets/checkpoints/manifest.json" in line, probe
    assert "site-packages" in line.split(" in ", 1)[1]
    # COURSE_ROOT points the installed package at a checkout
    res = subprocess.run(
        [str(py), "-c", _PRETRAINED], cwd=cwd, env={**env, "COURSE_ROOT": str(ROOT)}, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert "LOADED" in res.stdout, res.stdout + res.stderr[-2000:]


def test_course_kernel_is_this_checkouts_python():
    """The notebooks' kernel (`make` installs it into the venv) starts this checkout's Python — not a
    per-user kernel left behind by another clone, possibly deleted since."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("learning-the-data-distribution")
    except NoSuchKernel:
        pytest.skip("the course kernel is not installed (run through `make test`, which installs it)")
    assert os.path.abspath(spec.argv[0]) == os.path.abspath(sys.executable), (
        f"the course kernel starts {spec.argv[0]}, not this checkout's {sys.executable}: run `make setup` here "
        "(it installs the kernel into .venv), or remove the stale one with "
        "`jupyter kernelspec remove learning-the-data-distribution`"
    )
