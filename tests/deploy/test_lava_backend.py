"""The ``lava`` backend's front and plumbing: CLI, progress, errors, environment, layout helpers."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dalif.cli import main as dalif_main
from deploy import BackendError, backend_names
from deploy.lava.backend import REPO_ROOT, LavaBackend, lava_python
from deploy.lava.compiler import lava_flat_order, lava_weights, plan_network, projection_matrix
from hardware_sim.engine import simulate
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
from hardware_sim.ir.nir import read_nir, write_nir

from . import lava_nets


def digits_convnet() -> QGraph:
    """A random conv net on the digits data set's (1, 8, 8) inputs (integers 0..16)."""
    rng = np.random.default_rng(3)

    def pop(name, shape, projections, readout=False, vth=(20, 80)):
        return IntPopulation(name=name, shape=shape, projections=projections,
                             dv=rng.integers(200, 3000, shape), du=np.full(shape, 4095),
                             vth=rng.integers(*vth, shape),
                             bias_mant=np.broadcast_to(rng.integers(-50, 100, (shape[0],) + (1,) * (
                                 len(shape) - 1)), shape).copy(),
                             bias_exp=2, v_scale=1e-3, readout=readout)

    c1 = Projection(INPUT, "conv", rng.integers(-128, 128, (4, 1, 3, 3)), (1, 8, 8), weight_exp=-2,
                    padding=1)
    p1 = pop("conv1", c1.output_shape, [c1])
    c2 = Projection("conv1", "conv", rng.integers(-128, 128, (6, 4, 3, 3)), p1.shape, weight_exp=0,
                    padding=1, pool=2)
    p2 = pop("conv2", c2.output_shape, [c2], vth=(50, 200))
    ro = Projection("conv2", "dense", rng.integers(-128, 128, (10, 6 * 2 * 2)), p2.shape, pool=2)
    return QGraph(input_shape=(1, 8, 8), populations=[p1, p2, pop("readout", (10,), [ro], True)],
                  output="readout", input_scale=1 / 16)


def test_lava_is_a_registered_backend():
    assert "lava" in backend_names()


def test_cli_simulate_with_lava_matches_loihi_sim(tmp_path, capsys):
    write_nir(digits_convnet(), tmp_path / "model.nir", timesteps=4)
    results = {}
    for backend in ("lava", "loihi-sim"):
        out = tmp_path / f"{backend}.json"
        code = dalif_main(["simulate", str(tmp_path / "model.nir"), "--backend", backend,
                           "--limit", "20", "--out", str(out), "--quiet"])
        assert code == 0, capsys.readouterr().err
        results[backend] = json.loads(out.read_text())
    lava, sim = results["lava"], results["loihi-sim"]
    for key in ("accuracy", "predictions", "layers", "totals", "overflow", "samples", "timesteps"):
        assert lava[key] == sim[key], key
    assert lava["totals"]["spikes"] > 500
    assert "lava: accuracy" in capsys.readouterr().out


def test_progress_counts_every_sample_once(tmp_path):
    graph = lava_nets.mlp()
    write_nir(graph, tmp_path / "model.nir", timesteps=3)
    model = read_nir(tmp_path / "model.nir")
    x = lava_nets.inputs_for(graph, 10, 3)
    calls: list[int] = []
    result = LavaBackend(chunk_steps=7).run(model, x, on_progress=calls.append)
    assert sum(calls) == 10 and len(calls) > 2 and min(calls) > 0
    np.testing.assert_array_equal(result.output, simulate(graph, x).output)


def test_missing_lava_environment_says_how_to_make_it(tmp_path):
    graph = lava_nets.mlp()
    write_nir(graph, tmp_path / "model.nir", timesteps=2)
    model = read_nir(tmp_path / "model.nir")
    with pytest.raises(BackendError, match="make lava-venv"):
        LavaBackend(venv=tmp_path / "no-such-venv").run(model, lava_nets.inputs_for(graph, 2, 2))


def test_runner_failure_is_a_backend_error(tmp_path):
    graph = lava_nets.mlp()
    write_nir(graph, tmp_path / "model.nir", timesteps=2)
    model = read_nir(tmp_path / "model.nir")
    with pytest.raises(BackendError, match="Lava runner failed"):
        LavaBackend(select_tag="no_such_tag").run(model, lava_nets.inputs_for(graph, 2, 2))


def test_a_failing_lava_process_ends_the_runner_instead_of_hanging(tmp_path):
    """Lava 0.10 alone would wait forever for the other processes (deploy.lava.compiler)."""
    graph = lava_nets.mlp()
    write_nir(graph, tmp_path / "model.nir", timesteps=2)
    code = f"""
import numpy as np
from deploy.lava.proc.dalif import models
from deploy.lava.runner import run_lava
update = models.PyDaLIFModelBitAcc.run_spk
def failing(self):
    if self.time_step == 3:
        raise RuntimeError("injected failure")
    update(self)
models.PyDaLIFModelBitAcc.run_spk = failing
run_lava({str(tmp_path / "model.nir")!r}, np.ones((3, 2, 20), dtype=np.int64))
"""
    run = subprocess.run([str(lava_python()), "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1
    assert "injected failure" in run.stderr


def test_lava_environment_is_python_310_without_torch():
    """What `make lava-venv` builds, and what deploy/lava* may import there (DESIGN §1, §6)."""
    code = ("import sys; import deploy, deploy.lava.backend, deploy.lava.compiler,"
            " deploy.lava.runner;"
            "import deploy.lava.proc.dalif.models, deploy.lava.proc.delay.models,"
            " deploy.lava.proc.recorder.models; import lava;"
            "assert sys.version_info[:2] == (3, 10), sys.version;"
            "assert 'torch' not in sys.modules, 'torch was imported'; print('ok')")
    run = subprocess.run([str(lava_python()), "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_each_lava_process_package_holds_only_its_process():
    """Lava's compiler executes every module beside a Process's module."""
    for package in ("dalif", "delay", "recorder"):
        folder = REPO_ROOT / "deploy" / "lava" / "proc" / package
        modules = sorted(p.name for p in folder.glob("*.py"))
        assert modules == ["__init__.py", "models.py", "process.py"], package


# --- the compiler's pure helpers (no Lava needed) ---------------------------------------------

@pytest.mark.parametrize("proj", [
    Projection(INPUT, "conv", np.arange(-60, 60).reshape(4, 3, 5, 2), (3, 7, 6), stride=2,
               padding=2),
    Projection(INPUT, "conv", np.arange(-27, 27).reshape(3, 2, 3, 3), (2, 7, 9), padding=1, pool=2),
    Projection(INPUT, "dense", np.arange(-30, 30).reshape(5, 12), (3, 5, 4), pool=2),
    Projection(INPUT, "dense", np.arange(-30, 30).reshape(6, 10), (10,)),
])
def test_projection_matrix_is_the_projection(proj):
    rng = np.random.default_rng(0)
    src = rng.integers(0, 4, proj.source_shape)
    x = torch.as_tensor(src, dtype=torch.float64)[None]
    if proj.pool > 1:
        x = F.avg_pool2d(x, proj.pool) * proj.pool ** 2
    w = torch.as_tensor(proj.weight, dtype=torch.float64)
    if proj.kind == "conv":
        want = F.conv2d(x, w, stride=proj.stride, padding=proj.padding)
    else:
        want = x.reshape(1, -1) @ w.T
    got = projection_matrix(proj) @ src.reshape(-1)
    np.testing.assert_array_equal(got, want.reshape(-1).round().numpy().astype(np.int64))


def test_lava_flat_order_maps_lava_positions_to_pytorch_indices():
    c, h, w = 2, 3, 4
    perm = lava_flat_order((c, h, w))
    lava = np.arange(c * h * w).reshape(c, h, w).transpose(2, 1, 0)  # (W, H, C)
    np.testing.assert_array_equal(perm, lava.reshape(-1))
    assert perm[1] == h * w  # Lava's C is fastest: the next position is the next channel


@pytest.mark.parametrize("w, e, want", [
    ([[-128, 127]], 0, ([[-256, 254]], -1, "MIXED")),
    ([[-128, 0]], 3, ([[-128, 0]], 3, "INHIBITORY")),
    ([[0, 127]], -2, ([[0, 127]], -2, "EXCITATORY")),
])
def test_lava_weights_survive_lavas_8_bit_rules(w, e, want):
    weights, exp, mode = lava_weights(np.array(w), e)
    assert (weights.tolist(), exp, mode) == want


def test_plan_balances_joins_and_resets_each_layer_when_its_sample_arrives():
    plan = plan_network(lava_nets.residual(), timesteps=8, samples=3)
    assert plan.depth == {"input": 0, "c1": 1, "c2": 2, "c3": 3, "d4": 4, "readout": 5}
    assert plan.reset_offset("c1") == 2 and plan.reset_offset("readout") == 6
    assert plan.total_steps == 3 * 8 + 5
    assert plan.samples_done(5 + 8) == 1 and plan.samples_done(4) == 0
