"""How long the command line takes to answer before any work: `dalif --help`, `dalif simulate
--help` and `dalif --version`, against the interpreter's own start (`python -c pass`).

    .venv/bin/python benchmarks/bench_cli.py [--repeats N]

Each command runs N times (default 15) in a fresh process, after one unmeasured run that warms
the file cache and the bytecode; the table gives the median, the fastest and the slowest wall
time, and the median as a multiple of `python -c pass`. Target: `dalif --help` under 1 s on the
2-core machine (torch, 6-8 s to import there, is loaded only by the commands that compute).
Writes benchmarks/results/bench_cli.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from hardware_sim.files import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "bench_cli.json"


def _dalif() -> list[str]:
    """The console script beside this interpreter (what a user types), else ``-m dalif.cli``."""
    script = Path(sys.executable).with_name("dalif")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dalif.cli"]


def wall_times(argv: list[str], repeats: int) -> list[float]:
    subprocess.run(argv, capture_output=True, check=True)  # warm-up, not measured
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    dalif = _dalif()
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "dalif --help": [*dalif, "--help"],
                "dalif simulate --help": [*dalif, "simulate", "--help"],
                "dalif --version": [*dalif, "--version"]}
    rows = []
    for label, command in commands.items():
        times = wall_times(command, args.repeats)
        rows.append({"command": label, "argv": command, "median_s": statistics.median(times),
                     "min_s": min(times), "max_s": max(times), "times_s": times})
    base = rows[0]["median_s"]
    print(f"{'command':<24}{'median s':>10}{'min s':>8}{'max s':>8}{'× python':>10}")
    for row in rows:
        row["ratio_to_python"] = row["median_s"] / base
        print(f"{row['command']:<24}{row['median_s']:>10.3f}{row['min_s']:>8.3f}{row['max_s']:>8.3f}"
              f"{row['ratio_to_python']:>10.1f}")
    out = Path(args.out)
    write_json(out, {
        "command": " ".join([".venv/bin/python", "benchmarks/bench_cli.py", *(argv or sys.argv[1:])]),
        "repeats": args.repeats, "python": platform.python_version(),
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "results": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
