"""The loihi-sim engine's options and run, shared by `dalif simulate` and `dalif energy`:
device, memory budget (it picks the batch size) and Ray workers."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from dalif.cli.common import UserError, progress

_DEFAULT_MEMORY_FRACTION = 0.5
TIMINGS = ("zero-delay", "pipelined", "aligned")
"""hardware_sim.engine.TIMINGS, spelled out so that `--help` imports no torch (a test checks
that the two agree)."""


def engine_args(p: argparse.ArgumentParser) -> None:
    """The loihi-sim engine's options: device, memory budget, Ray workers (shared with energy)."""
    p.add_argument("--device", default="cpu",
                   help="loihi-sim: cpu or cuda[:N] (the same integers on both; default cpu)")
    p.add_argument("--max-memory", metavar="SIZE",
                   help="loihi-sim: working-set budget of the engine per process, e.g. 8G, 512M or "
                        f"30%% (of the device's memory); it picks the batch size (default "
                        f"{round(_DEFAULT_MEMORY_FRACTION * 100)}%% of the machine's RAM, of the GPU's "
                        "memory with --device cuda)")
    p.add_argument("--workers", type=int, default=1,
                   help="loihi-sim: shard the samples over N Ray workers, merged exactly (needs "
                        "ray: pip install 'dalif-toolchain[ray]'; default 1: this process)")
    p.add_argument("--ray-address",
                   help="loihi-sim: join this Ray cluster (e.g. auto, ray://host:10001) instead of "
                        "starting a local one")


def parse_size(text: str, total: int) -> int:
    """'8G', '512MiB', '1.5e9', '30%' (of ``total``) → bytes; UserError when unreadable."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*(%|[kmgt]i?b?|b)?\s*", text.lower())
    if not match:
        raise UserError(f"--max-memory {text!r}: give bytes with an optional K/M/G/T suffix, or a "
                        "percentage")
    value, unit = float(match.group(1)), (match.group(2) or "")
    if unit == "%":
        size = total * value / 100
    else:
        size = value * 1024 ** "bkmgt".index(unit[0] if unit else "b")
    if size < 1:
        raise UserError(f"--max-memory {text!r}: must be positive")
    return int(size)


def _device_memory(device: str) -> int:
    import torch

    if torch.device(device).type == "cuda":
        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine's options from ``engine_args``; a UserError (one line) for a device that is
    not here, a bad size or worker count."""
    from hardware_sim.engine import DeviceError, resolve_device

    try:
        resolve_device(args.device)
    except DeviceError as err:
        raise UserError(f"--device: {err}") from None
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    total = _device_memory(args.device)
    budget = (parse_size(args.max_memory, total) if args.max_memory
              else int(total * _DEFAULT_MEMORY_FRACTION))
    return {"device": args.device, "max_memory_bytes": budget, "workers": args.workers,
            "ray_address": args.ray_address}


def run_engine(model: Any, x: Any, options: dict[str, Any], *, quiet: bool,
               record_spikes: Any = False, temporal: bool = False,
               timing: str = "zero-delay") -> tuple[Any, Any]:
    """loihi-sim on the data set ``x`` with ``engine_options``: (the integer inputs, the result
    with ``input_clipped`` set); the engine's own errors as UserErrors. ``temporal``: ``x``
    holds one input per step (``deploy.encode_inputs``); ``timing``: one of ``TIMINGS``."""
    from deploy import encode_inputs, get_backend
    from deploy.loihi_sim.sharded import RayUnavailable
    from hardware_sim.engine import batch_for_budget

    inputs, clipped = encode_inputs(model, x, temporal)
    try:  # a budget too small for one sample fails here, before the progress bar
        batch_for_budget(model.graph, inputs.shape[1], len(inputs), options["max_memory_bytes"],
                         device=options["device"], record_spikes=record_spikes, timing=timing)
        backend = get_backend("loihi-sim", record_spikes=record_spikes, timing=timing, **options)
        with progress(len(x), "loihi-sim", quiet) as bar:
            result = backend.run(model, inputs, on_progress=bar.update)
    except (RayUnavailable, MemoryError) as err:
        raise UserError(str(err)) from None
    result.input_clipped = clipped
    return inputs, result
