"""The training scripts share one command line (helpers.train.script_parser / parse_script_args)."""

from pathlib import Path

import pytest

from helpers.train import parse_script_args, script_parser

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "scripts").glob("train_*.py"))


def test_there_are_training_scripts():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_training_script_uses_the_shared_parser(script):
    text = script.read_text()
    assert "helpers.train.script_parser(__doc__" in text, f"{script.name}: build the parser with script_parser"
    assert "helpers.train.parse_script_args(parser)" in text, f"{script.name}: parse with parse_script_args"
    assert "argparse.ArgumentParser(" not in text, f"{script.name}: a parser of its own"


def test_steps_and_dry_run(capsys):
    parser = script_parser("doc", steps=100)
    args = parse_script_args(parser, ["--steps", "7", "--dry-run"])
    assert args.steps == 7 and args.dry_run
    assert "mode" in capsys.readouterr().out  # the banner
    assert parse_script_args(parser, []).steps == 100


@pytest.mark.parametrize("bad", ["0", "-3", "1.5", "ten"])
def test_a_bad_step_count_names_the_argument(bad, capsys):
    parser = script_parser("doc", steps=None, epochs=None)
    with pytest.raises(SystemExit):
        parser.parse_args(["--epochs", bad])
    err = capsys.readouterr().err
    assert "argument --epochs" in err and "whole number" in err and repr(bad) in err


def test_no_budget_arguments_unless_asked():
    parser = script_parser("doc", dry_run=False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--steps", "3"])
