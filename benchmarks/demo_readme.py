"""The README's "Measured" demo table, regenerated from the committed demo summary.

    .venv/bin/python benchmarks/demo_readme.py [--from runs/demo/summary.json]

``--from`` first copies a fresh `make demo` summary over the committed one,
benchmarks/results/demo_summary.json (the machine it was measured on is inside it); then
the block between the README's ``demo-table`` markers is rewritten from the committed summary
(``dalif.demo.readme_block``). tests/test_readme_demo.py checks that the two agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dalif.demo import README_BEGIN, README_END, readme_block
from hardware_sim.files import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "benchmarks" / "results" / "demo_summary.json"
README = ROOT / "README.md"


def replace_block(text: str, block: str) -> str:
    """``text`` with the part from README_BEGIN to README_END (both included) replaced."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no {README_BEGIN!r} ... {README_END!r} block")
    return text[:start] + block + text[end + len(README_END):]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", type=Path,
                        help="a fresh summary.json of `make demo` to commit first")
    args = parser.parse_args(argv)
    if args.source is not None:
        write_json(SUMMARY, json.loads(args.source.read_text()))
        print(f"wrote {SUMMARY}")
    block = readme_block(json.loads(SUMMARY.read_text()))
    write_text(README, replace_block(README.read_text(encoding="utf-8"), block))
    print(f"wrote {README} (the demo table)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
