"""What every command shares: the user-error convention (one line, exit code 2), output paths
checked before any work, progress bars, data and model loading, and the common options."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

EXIT_USAGE = 2


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's default in its help, unless the help already says it (``default …``):
    a default of None or False means "off" and is not shown."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
                and "default" not in text.lower()):
            text += " (default: %(default)s)"
        return text


class CliParser(argparse.ArgumentParser):
    """The parser of every ``dalif`` command: defaults shown in ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)


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
    from hardware_sim.files import FileError
    from hardware_sim.ir.graph import GraphError
    from hardware_sim.ir.inputs import InputFileError
    from hardware_sim.ir.netx import NetxError
    from hardware_sim.ir.nir import NIRFormatError

    return (UserError, CheckpointError, DatasetError, BackendError, ExportError, ChipProfileError,
            GraphError, NIRFormatError, NetxError, InputShapeError, FileError, InputFileError)


def progress(total: int, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", disable=quiet, leave=False, file=sys.stderr)


@contextlib.contextmanager
def phase(desc: str, quiet: bool) -> Iterator[None]:
    """A step without a sample count (cost model, plots, loading): its name on stderr when it
    starts and its wall time when it ends, so a long one never looks hung."""
    if quiet:
        yield
        return
    print(f"  {desc} ...", end="", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        yield
    finally:
        print(f" {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def output_file(path: str) -> Path:
    """One output file on its own: not a directory, device or FIFO, in a writable directory
    (``guard_outputs`` checks it against the command's inputs and other outputs too)."""
    from hardware_sim.files import check_outputs

    check_outputs({"output": path})
    return Path(path)


def guard_outputs(args: argparse.Namespace, inputs: Sequence[str] = (), files: Sequence[str] = (),
                  report_dir: str | None = None) -> None:
    """Every output of a command checked before any work (the first line of its ``run``).

    ``inputs``, ``files``: names of ``args`` attributes holding input paths and output file
    paths (None: not given); ``report_dir``: the attribute holding an energy report's directory
    (the report's file names are checked in it). Refused, as one line: an output that
    resolves to an input or to another output, an existing directory, device or FIFO where a
    file will go, a missing or unwritable directory (``hardware_sim.files.check_outputs``).
    """
    from hardware_sim.files import check_outputs

    directories = {}
    if report_dir is not None:
        from hardware_sim.report.write import REPORT_FILES

        directories[f"--{report_dir.replace('_', '-')}"] = (getattr(args, report_dir, None), REPORT_FILES)
    check_outputs({f"--{name.replace('_', '-')}": getattr(args, name, None) for name in files},
                  inputs=[getattr(args, name, None) for name in inputs], directories=directories)


def checkpoint_sha256(path: str) -> str:
    """The SHA-256 of a checkpoint file, recorded in the NIR file's ``info`` at export."""
    from hardware_sim.files import file_sha256

    return file_sha256(path)


def check_checkpoint_matches(args: argparse.Namespace) -> None:
    """``--checkpoint`` must be the checkpoint ``args.model`` was exported from: its SHA-256
    equals the one ``dalif export`` recorded in the NIR file (else a float accuracy of one
    model would be printed beside the quantized accuracy of another)."""
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint is None:
        return
    raise_if_wrong_kind(checkpoint, "checkpoint", flag="--checkpoint")
    from hardware_sim.ir.nir import read_nir_info

    recorded = read_nir_info(args.model, read_limits(args)).get("checkpoint_sha256")
    if not isinstance(recorded, str):
        raise UserError(f"--checkpoint {checkpoint}: {args.model} records no checkpoint hash (not "
                        f"written by this version of `dalif export`), so it cannot be checked to be "
                        f"the one exported; re-export the model, or leave --checkpoint out")
    actual = checkpoint_sha256(checkpoint)
    if actual != recorded:
        raise UserError(f"--checkpoint {checkpoint} is not the checkpoint {args.model} was exported "
                        f"from (sha256 {actual[:12]}..., the file records {recorded[:12]}...)")


def raise_if_wrong_kind(path: str, expected: str, flag: str = "") -> None:
    """After a reader refused ``path``: a UserError saying what kind of file it is and which
    command takes it, when it is a kind we know other than ``expected`` (``file_kinds``)."""
    from dalif.cli.file_kinds import wrong_kind

    message = wrong_kind(path, expected)
    if message:
        raise UserError(f"{flag} {message}" if flag else message)


def load_checkpoint_file(path: str, flag: str = "") -> Any:
    """``dalif.checkpoint.load_checkpoint`` of a file the user named (with ``flag``, if an
    option): a NIR, netx or other file in its place is named as such, in one line."""
    from dalif.checkpoint import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(path)
    except CheckpointError:
        raise_if_wrong_kind(path, "checkpoint", flag)
        raise


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
                limits: Any = None, dt: float | None = None, reset: str | None = None,
                input_bits: int | None = None):
    """The NIR file as a DeployedModel (a foreign one quantized for ``input_bits``-bit inputs,
    default 8); for a foreign file, what it was taken to mean (producer convention, dt, notes)
    goes to stderr, and every warning as a ``warning:`` line (the
    commands record ``model.reading`` in RESULT.json and the report)."""
    from hardware_sim.ir.nir import DEFAULT_LIMITS, FOREIGN_INPUT_SCALE, NIRFormatError, read_nir

    try:
        spikes = input_bits == 1  # 1-bit inputs are spikes: one step is 1.0, not 1/255
        model = read_nir(path, timesteps=timesteps,
                         input_scale=(1.0 if spikes else FOREIGN_INPUT_SCALE) if input_scale is None
                         else input_scale,
                         limits=DEFAULT_LIMITS if limits is None else limits, dt=dt, reset=reset,
                         input_bits=8 if input_bits is None else input_bits)
    except NIRFormatError:
        raise_if_wrong_kind(path, "nir")
        raise
    if model.reading is not None:
        print(f"foreign NIR file read as {model.reading['producer']}: "
              + "; ".join(model.reading["notes"]), file=sys.stderr)
        for warning in model.reading["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
    return model


def foreign_args(p: argparse.ArgumentParser) -> None:
    """--dt and --reset: what a foreign NIR file cannot say (hardware_sim.ir.nir.conventions)."""
    p.add_argument("--dt", type=float,
                   help="seconds per step for a foreign NIR file whose tau are in seconds (default: "
                        "recognised from snnTorch's and norse's files, else tau in timesteps)")
    p.add_argument("--reset", choices=("zero", "subtract"),
                   help="the reset mode the foreign file's producer used (NIR cannot say; "
                        "unstated, a warning is recorded and v resets to 0); subtract runs on chips "
                        "with programmable neurons only (loihi2)")


def read_limits(args: argparse.Namespace) -> Any:
    """The --max-neurons/--max-synapses/--max-delay/--max-timesteps/--max-bytes options as
    ReadLimits (defaults where not given)."""
    from hardware_sim.ir.nir import DEFAULT_LIMITS, ReadLimits

    given = {}
    for field, lowest in (("max_neurons", 1), ("max_synapses", 1), ("max_delay", 0),
                          ("max_timesteps", 1), ("max_bytes", 1)):
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


def temporal(dataset: str) -> bool:
    """Whether the data set gives a different input at each step, (N, T, C, H, W)."""
    from dalif.data import DATASETS

    return DATASETS[dataset].temporal


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
    p.add_argument("--max-timesteps", type=int,
                   help=f"refuse more timesteps, the file's or --timesteps (default {DEFAULT_LIMITS.max_timesteps})")
    p.add_argument("--max-bytes", type=int,
                   help="memory budget of reading a file: the data it declares, and T x neurons x 8 "
                        f"(default {DEFAULT_LIMITS.max_bytes})")
