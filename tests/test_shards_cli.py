"""The engine's command-line options (``dalif simulate|energy``): sharding over Ray workers
gives byte-identical RESULT.json and report.json; an absent device and a budget too small are
one-line errors; a budget gives the same bytes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dalif.cli import main
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.nir import write_nir
from hardware_sim.report.provenance import without_provenance


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A digits-shaped (1, 8, 8) conv net whose second conv and readout read sum-pooled spikes
    (NeuroBench needs those per sample) and whose first conv has per-neuron gains."""
    rng = np.random.default_rng(0)

    def pop(name, shape, projections, readout=False, gain=False):
        return IntPopulation(name, shape, projections, dv=rng.integers(0, 4096, shape),
                             du=np.full(shape, 4095), vth=rng.integers(1, 40, shape),
                             bias_mant=np.zeros(shape, np.int64), bias_exp=0, v_scale=1.0,
                             gain=rng.integers(2000, 4096, shape) if gain else None,
                             readout=readout)

    c1 = Projection(INPUT, "conv", rng.integers(-60, 120, (4, 1, 3, 3)), (1, 8, 8), padding=1,
                    weight_exp=-2)
    p1 = pop("conv1", c1.output_shape, [c1], gain=True)
    c2 = Projection("conv1", "conv", rng.integers(-80, 128, (6, 4, 3, 3)), p1.shape, padding=1,
                    pool=2)
    p2 = pop("conv2", c2.output_shape, [c2])
    ro = Projection("conv2", "dense", rng.integers(-128, 128, (10, 6 * 2 * 2)), p2.shape, pool=2)
    graph = QGraph(input_shape=(1, 8, 8), populations=[p1, p2, pop("readout", (10,), [ro], True)],
                   output="readout", input_bits=8, input_scale=1 / 255)
    path = tmp_path_factory.mktemp("model") / "model.nir"
    write_nir(graph, path, timesteps=3, info={"note": "tests/test_shards_cli.py"})
    return path


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="ray is not installed (the optional 'ray' extra: "
                                            "pip install 'dalif-toolchain[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_one_worker_and_many_give_byte_identical_outputs(digits_model, tmp_path, ray_cluster):
    """A local two-worker Ray cluster: RESULT.json and report.json (every number of the energy
    report, NeuroBench and the raster included) are byte for byte those of one process."""
    common = [str(digits_model), "--quiet", "--limit", "37"]
    for workers in ("1", "2", "5"):
        assert main(["simulate", *common, "--workers", workers,
                     "--out", str(tmp_path / f"r{workers}.json")]) == 0
        assert main(["energy", *common, "--workers", workers, "--out", str(tmp_path / f"e{workers}")]) == 0
    one = (tmp_path / "r1.json").read_bytes()
    assert b'"samples": 37' in one

    def report(workers: str, name: str) -> str:  # less its provenance (date, command line)
        return without_provenance(name, (tmp_path / f"e{workers}" / name).read_text())

    for workers in ("2", "5"):
        assert (tmp_path / f"r{workers}.json").read_bytes() == one
        for name in ("report.json", "report.md"):
            assert report(workers, name) == report("1", name)


def test_a_memory_budget_changes_no_byte(digits_model, tmp_path):
    common = [str(digits_model), "--quiet", "--limit", "30"]
    assert main(["energy", *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["energy", *common, "--max-memory", "2M", "--out", str(tmp_path / "b")]) == 0
    assert without_provenance("report.json", (tmp_path / "a" / "report.json").read_text()) == \
        without_provenance("report.json", (tmp_path / "b" / "report.json").read_text())


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dalif.cli", *args], capture_output=True,
                          text=True, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_engine_options_are_checked_in_one_line(digits_model, tmp_path):
    import torch

    if not torch.cuda.is_available():
        _one_line_error(_cli("simulate", str(digits_model), "--device", "cuda"),
                        "--device", "CUDA is not available")
    _one_line_error(_cli("energy", str(digits_model), "--out", str(tmp_path / "e"), "--device", "tpu"),
                    "--device")
    _one_line_error(_cli("simulate", str(digits_model), "--max-memory", "lots"), "--max-memory")
    _one_line_error(_cli("simulate", str(digits_model), "--max-memory", "1K"), "one sample needs")
    _one_line_error(_cli("simulate", str(digits_model), "--workers", "0"), "--workers")
    _one_line_error(_cli("simulate", str(digits_model), "--backend", "onnx", "--workers", "2"),
                    "loihi-sim")
