"""The ``dalif`` command: train → export → simulate → energy (and import).

The only package that imports all four packages (DESIGN §1): it parses arguments, loads
data, calls the packages and writes their outputs; it computes nothing of its own. One
module per command (``add_parser`` and ``run``), what they share in ``common``. A user
mistake ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

from dalif.cli import compare, energy, export, netx_import, simulate, train
from dalif.cli.common import EXIT_USAGE, CliParser, UserError, user_errors

COMMANDS = (train, export, netx_import, simulate, compare, energy)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="dalif", description="Train, export, simulate and cost DA-LIF spiking networks on "
                                  "Loihi-style neuromorphic hardware.")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=CliParser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def version_line() -> str:
    """``dalif --version``: the installed distribution's version and the Python running it."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("dalif-toolchain")
    except PackageNotFoundError:
        installed = "(not installed: run from a source tree)"
    return f"dalif {installed} (Python {platform.python_version()})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command as typed, for provenance
    func: Callable[[argparse.Namespace], Any] = args.func
    try:
        func(args)
    except user_errors() as exc:
        print(f"dalif: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dalif: interrupted", file=sys.stderr)
        return 130
    return 0


__all__ = ["EXIT_USAGE", "UserError", "build_parser", "main"]
