"""What every command shares: the user-error convention (one line, exit code 2), output paths
checked before any work, progress bars, data and model loading, and the common options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input: reported as one line, exit code 2."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Every error class that means 'bad input', from all four packages."""
    from dalif.checkpoint import CheckpointError
    from dalif.data import DatasetError
    from deploy.registry import BackendError
    from deploy.run import InputShapeError
    from export.fold import ExportError
    from hardware_sim.chips import ChipProfileError
    from hardware_sim.ir.graph import GraphError
    from hardware_sim.ir.netx import NetxError
    from hardware_sim.ir.nir import NIRFormatError

    return (UserError, CheckpointError, DatasetError, BackendError, ExportError, ChipProfileError,
            GraphError, NIRFormatError, NetxError, InputShapeError)


def progress(total: int, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", disable=quiet, leave=False, file=sys.stderr)


def output_file(path: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise UserError(f"{out}: is a directory; give a file name")
    if not out.parent.exists():
        raise UserError(f"{out.parent}: output directory does not exist")
    return out


def load_split(name: str, split: str, data_dir: str | None, limit: int | None
                ) -> tuple[np.ndarray, np.ndarray]:
    from dalif.data import load_dataset

    if limit is not None and limit < 1:
        raise UserError("--limit must be at least 1")
    x, y = load_dataset(name, split, data_dir)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x.numpy(), y.numpy()


def load_model(path: str, timesteps: int | None, input_scale: float | None,
                limits: Any = None):
    from hardware_sim.ir.nir import DEFAULT_LIMITS, FOREIGN_INPUT_SCALE, read_nir

    return read_nir(path, timesteps=timesteps,
                    input_scale=FOREIGN_INPUT_SCALE if input_scale is None else input_scale,
                    limits=DEFAULT_LIMITS if limits is None else limits)


def read_limits(args: argparse.Namespace) -> Any:
    """The --max-neurons/--max-synapses/--max-delay options as ReadLimits (defaults where
    not given)."""
    from hardware_sim.ir.nir import DEFAULT_LIMITS, ReadLimits

    given = {}
    for field, lowest in (("max_neurons", 1), ("max_synapses", 1), ("max_delay", 0)):
        value = getattr(args, field, None)
        if value is not None and value < lowest:
            raise UserError(f"--{field.replace('_', '-')} must be at least {lowest}")
        given[field] = getattr(DEFAULT_LIMITS, field) if value is None else value
    return ReadLimits(**given)


def check_strict(args: argparse.Namespace, model: Any, result: Any) -> None:
    """--strict: a UserError when quantizing clipped a value or the run overflowed."""
    if args.strict:
        clipped = sum(sum(c.values()) for c in model.graph.quantization_report.values())
        if clipped or result.overflow_events:
            raise UserError(f"--strict: {clipped} values clipped while quantizing, "
                            f"{result.overflow_events} overflow events in the run (clipped inputs, "
                            f"wrapped currents, saturated voltages)")


def data_args(p: argparse.ArgumentParser) -> None:
    from dalif.data import DATASETS

    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS),
                   help="data set (digits is bundled with scikit-learn; default: digits)")
    p.add_argument("--data-dir", help="directory holding the data set's files (mnist)")


def common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def limit_args(p: argparse.ArgumentParser) -> None:
    from hardware_sim.ir.nir import DEFAULT_LIMITS

    p.add_argument("--max-neurons", type=int,
                   help=f"refuse NIR files declaring more neurons (default {DEFAULT_LIMITS.max_neurons})")
    p.add_argument("--max-synapses", type=int,
                   help=f"refuse NIR files declaring more synapses (default {DEFAULT_LIMITS.max_synapses})")
    p.add_argument("--max-delay", type=int,
                   help=f"refuse NIR files with a longer delay in steps (default {DEFAULT_LIMITS.max_delay})")
