"""Backend ``loihi-sim``: hardware_sim's bit-exact integer engine (zero-delay timing)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from hardware_sim.ir.graph import DeployedModel
from hardware_sim.results import SimulationResult


class LoihiSimBackend:
    name = "loihi-sim"

    def __init__(self, device: str = "cpu", batch_size: int = 256):
        self.device = device
        self.batch_size = batch_size

    def run(self, model: DeployedModel, inputs: np.ndarray,
            on_progress: Callable[[int], None] | None = None) -> SimulationResult:
        from hardware_sim.engine import simulate

        return simulate(model.graph, inputs, batch_size=self.batch_size, device=self.device,
                        on_batch=on_progress)
