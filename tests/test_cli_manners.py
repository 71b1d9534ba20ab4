"""The command line's manners: `--help` and `--version` without torch, every default shown."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version

import pytest

from dalif.cli import build_parser

# torch made unimportable: a meta-path finder that refuses it, installed before dalif loads
_WITHOUT_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked by the test")
sys.meta_path.insert(0, _NoTorch())
from dalif.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WITHOUT_TORCH, *args], capture_output=True,
                          text=True, timeout=60)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


COMMANDS = sorted(_subparsers())


@pytest.mark.parametrize("argv", [["--help"], *[[c, "--help"] for c in COMMANDS]],
                         ids=["dalif", *COMMANDS])
def test_help_needs_no_torch(argv):
    proc = run_without_torch(*argv)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: dalif"), proc.stdout[:200]
    assert "Traceback" not in proc.stderr


def test_a_mistyped_command_needs_no_torch():
    proc = run_without_torch("simulat")
    assert proc.returncode == 2
    assert "invalid choice: 'simulat'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_version_names_the_installed_distribution():
    proc = run_without_torch("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ["dalif", version("dalif-toolchain")]
    as_module = subprocess.run([sys.executable, "-m", "dalif", "--version"], capture_output=True,
                               text=True, timeout=60)
    assert as_module.stdout == proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_that_shows_its_default(command):
    parser = _subparsers()[command]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.option_strings or action.dest}: no help"
        text = formatter._expand_help(action)
        if action.option_strings and action.default not in (None, False):
            assert "default" in text and str(action.default) in text, \
                f"{command} {action.option_strings}: default {action.default!r} not in {text!r}"


def test_the_cli_timings_are_the_engines():
    from dalif.cli.engine import TIMINGS
    from hardware_sim.engine import TIMINGS as ENGINE_TIMINGS

    assert TIMINGS == ENGINE_TIMINGS


def test_train_offers_every_model_field_the_data_set_does_not_fix():
    """Every ModelConfig field is a `train` option, but for those the data set determines."""
    from dataclasses import fields

    from dalif.config import ModelConfig

    from_data_set = {"input_shape", "num_classes", "input_scale"}
    options = {action.dest for action in _subparsers()["train"]._actions}
    assert {f.name for f in fields(ModelConfig)} - from_data_set <= options
