"""Checkpoint → folded float graph → quantized graph → NIR file (DESIGN §1, §4)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dalif.models import SpikingNet
from export.fold import fold_model
from hardware_sim.ir.graph import FloatGraph, QGraph
from hardware_sim.ir.nir import write_nir
from hardware_sim.ir.quantize import quantize_graph

EXPORTER_VERSION = "dalif-toolchain 0.1.0"


@dataclass
class ExportedModel:
    float_graph: FloatGraph
    graph: QGraph
    timesteps: int

    @property
    def clipped_values(self) -> int:
        return sum(sum(c.values()) for c in self.graph.quantization_report.values())


def export_model(model: SpikingNet, input_bits: int = 8) -> ExportedModel:
    """Fold and quantize ``model`` at its configured number of timesteps."""
    model.eval()
    float_graph = fold_model(model)
    timesteps = int(model.config.timesteps)
    return ExportedModel(float_graph, quantize_graph(float_graph, timesteps, input_bits), timesteps)


def write_exported(exported: ExportedModel, path: str | os.PathLike, info: dict) -> None:
    """Write the NIR file with the exporter's provenance in ``info``."""
    write_nir(exported.graph, path, exported.timesteps, {"exporter": EXPORTER_VERSION, **info})
