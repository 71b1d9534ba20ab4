"""Probes: every population's u, v and spikes at every step, written to one HDF5 file
(`dalif simulate --record u,v,s`), to compare with the traces Lava or Loihi record.

Layout of the file::

    /u/<population>   (N, T, *shape) int32   current after the step's update
    /v/<population>   (N, T, *shape) int32   voltage after the step's update and reset
    /s/<population>   (N, T, *shape) uint8   spikes (a readout's are all 0)
    attrs: format = "dalif-record", format_version, timing = "zero-delay", fields, populations

Steps are the zero-delay reference's (``hardware_sim.engine``): on hardware, in Lava or in
the engine's aligned timing, population P computes step τ of sample k at hardware step
k·T + τ + L(P) + 1 (``hardware_sim.ir.pipeline``), so a Lava or Loihi trace of P is this
one shifted by L(P) + 1 steps (its ``to_reference``). u and v are DESIGN §3's state, u
after its wrap and v after the reset, as Lava's ``LIF.u`` / ``LIF.v`` hold them after a step.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hardware_sim.ir.graph import QGraph

RECORD_FIELDS = ("u", "v", "s")
RECORD_FORMAT = "dalif-record"
RECORD_FORMAT_VERSION = 1
_BYTES = {"u": 4, "v": 4, "s": 1}


def record_bytes(graph: QGraph, fields: tuple[str, ...], samples: int, timesteps: int) -> int:
    """Host memory a recording of ``fields`` takes (checked against the budget before a run)."""
    neurons = sum(int(np.prod(p.shape)) for p in graph.populations)
    return samples * timesteps * neurons * sum(_BYTES[f] for f in fields)


class StateRecorder:
    """Collects, per population, the state of every sample at every step (``engine.simulate``
    calls ``record`` after each population's update)."""

    def __init__(self, graph: QGraph, fields: tuple[str, ...], samples: int, timesteps: int):
        unknown = set(fields) - set(RECORD_FIELDS)
        if unknown or not fields:
            raise ValueError(f"fields must be a non-empty subset of {RECORD_FIELDS}, got {fields}")
        self.fields = tuple(fields)
        self.wants_u = "u" in fields
        dtypes = {"u": np.int32, "v": np.int32, "s": np.uint8}
        self.arrays = {f: {p.name: np.zeros((samples, timesteps, *p.shape), dtypes[f])
                           for p in graph.populations} for f in self.fields}

    def record(self, name: str, start: int, step: int, u: Any, v: Any, spikes: Any) -> None:
        """The batch starting at sample ``start``, population ``name``, after step ``step``:
        u and v (tensors or arrays, (b, *shape)), spikes (or None for a readout)."""
        for field, value in (("u", u), ("v", v), ("s", spikes)):
            if field not in self.arrays:
                continue
            target = self.arrays[field][name]
            if value is None:
                continue  # a readout sends no spikes: its row stays 0
            array = value.cpu().numpy() if hasattr(value, "cpu") else np.asarray(value)
            target[start:start + array.shape[0], step] = array


def write_record(path: str | os.PathLike, recorder: StateRecorder, graph: QGraph) -> None:
    """Write the recording atomically (``hardware_sim.files.atomic_path``)."""
    import h5py

    from hardware_sim.files import atomic_path

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": RECORD_FORMAT, "format_version": RECORD_FORMAT_VERSION,
                        "timing": "zero-delay", "fields": ",".join(recorder.fields),
                        "populations": ",".join(p.name for p in graph.populations)})
        for field, per_pop in recorder.arrays.items():
            group = f.create_group(field)
            for name, array in per_pop.items():
                group.create_dataset(name, data=array, compression="gzip", compression_opts=1)


__all__ = ["RECORD_FIELDS", "StateRecorder", "record_bytes", "write_record"]
