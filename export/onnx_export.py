"""Quantized graph → ONNX file of its one-timestep update (``dalif export --onnx``).

The graph is compiled by ``deploy.onnx_backend.build_step_model``, the function the
``onnx`` backend runs, so the file written here is the very graph that backend
executes for the NIR file exported alongside (the tests check the bytes). Its
interface (input, state and output names) is documented there and stored as JSON
in the file's ``metadata_props["dalif"]``, with the exporter's provenance in
``metadata_props["dalif_info"]``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hardware_sim.files import atomic_path
from hardware_sim.graph import QGraph


def write_onnx(graph: QGraph, path: str | os.PathLike, timesteps: int,
               info: dict[str, Any] | None = None) -> None:
    """Write the one-step ONNX model of ``graph``, atomically."""
    import onnx
    from onnx import helper

    from deploy.onnx_backend import build_step_model

    model = build_step_model(graph, timesteps)
    if info:
        props = {p.key: p.value for p in model.metadata_props}
        props["dalif_info"] = json.dumps(info, default=str)
        del model.metadata_props[:]
        helper.set_model_props(model, props)
    with atomic_path(path) as tmp:
        onnx.save(model, tmp)
