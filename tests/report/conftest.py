"""One `dalif energy` run shared by the report's provenance, schema and browser checks: a small
digits-shaped network (conv → dense readout) on 12 digits samples, on the loihi2 profile (whose
constants are estimates, so every estimate caveat shows)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dalif.cli import main
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.nir import write_nir

NAME = "tiny-digits"
SAMPLES = 12


@dataclass
class EnergyRun:
    out: Path
    nir: Path
    argv: list[str]
    stdout: str


def digits_graph() -> QGraph:
    rng = np.random.default_rng(1)

    def pop(name, shape, projections, readout=False):
        return IntPopulation(name, shape, projections, dv=rng.integers(0, 4096, shape),
                             du=np.full(shape, 4095), vth=rng.integers(1, 30, shape),
                             bias_mant=np.zeros(shape, np.int64), bias_exp=0, v_scale=1.0,
                             readout=readout)

    conv = Projection(INPUT, "conv", rng.integers(-40, 120, (4, 1, 3, 3)), (1, 8, 8), padding=1,
                      weight_exp=-2)
    hidden = pop("conv1", conv.output_shape, [conv])
    dense = Projection("conv1", "dense", rng.integers(-128, 128, (10, 4 * 8 * 8)), hidden.shape)
    return QGraph(input_shape=(1, 8, 8), populations=[hidden, pop("readout", (10,), [dense], True)],
                  output="readout", input_bits=8, input_scale=1 / 255)


@pytest.fixture(scope="session")
def energy_run(tmp_path_factory) -> EnergyRun:
    root = tmp_path_factory.mktemp("report")
    nir_path = root / "model.nir"
    write_nir(digits_graph(), nir_path, timesteps=3, info={"note": "tests/report"})
    argv = ["energy", str(nir_path), "--dataset", "digits", "--limit", str(SAMPLES), "--chip",
            "loihi2", "--name", NAME, "--quiet", "--out", str(root / "energy")]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(argv) == 0
    return EnergyRun(root / "energy", nir_path, argv, stdout.getvalue())
