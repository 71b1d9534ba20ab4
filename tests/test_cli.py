"""The command line: user mistakes end in one line on stderr and exit code 2."""

import subprocess
import sys

import nir
import numpy as np
import pytest
import torch

from dalif.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dalif.cli", *args], capture_output=True, text=True,
                          timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_checkpoint_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something-else", "version": 1}, bad)
    proc = run_cli("export", str(bad), "--out", str(tmp_path / "m.nir"))
    assert_one_line_error(proc, "bad.pt", "format")
    assert not (tmp_path / "m.nir").exists()


def test_unsupported_nir_node_is_a_one_line_error(tmp_path):
    path = tmp_path / "threshold.nir"
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([4])),
               "fc": nir.Affine(weight=np.ones((3, 4), np.float32), bias=np.zeros(3, np.float32)),
               "thr": nir.Threshold(threshold=np.ones(3)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "fc"), ("fc", "thr"), ("thr", "output")])
    nir.write(str(path), graph)
    proc = run_cli("simulate", str(path), "--timesteps", "4", "--limit", "5", "--quiet")
    assert_one_line_error(proc, "threshold.nir", "'thr'", "Threshold")


def test_missing_nir_file_is_a_one_line_error(tmp_path):
    proc = run_cli("simulate", str(tmp_path / "absent.nir"), "--quiet")
    assert_one_line_error(proc, "absent.nir", "no such file")


def test_unknown_backend_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "x.nir", "--backend", "nonsense"])
    assert exc.value.code == 2


def test_strict_turns_overflow_into_an_error(tmp_path):
    """A NIR file whose first layer saturates: counted without --strict, an error with it."""
    from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph
    from hardware_sim.ir.nir import write_nir

    # every digits pixel (up to 16) drives v down by 127·16·64·... until it clips at -(2^23 - 1)
    pop = IntPopulation(name="sat", shape=(10,),
                        projections=[Projection(INPUT, "dense", np.full((10, 64), -127), (64,), weight_exp=7)],
                        dv=np.zeros(10, int), du=np.full(10, 4095), vth=np.full(10, 100),
                        bias_mant=np.zeros(10, int), bias_exp=0, v_scale=1.0)
    path = tmp_path / "sat.nir"
    write_nir(QGraph(input_shape=(64,), populations=[pop], output="sat", input_scale=1 / 16), path, 4)
    out = tmp_path / "r.json"
    assert main(["simulate", str(path), "--limit", "5", "--quiet", "--out", str(out)]) == 0
    import json
    overflow = json.loads(out.read_text())["overflow"]
    assert overflow["v_clips"] > 0 or overflow["u_wraps"] > 0
    for command in (["simulate", str(path)], ["energy", str(path), "--out", str(tmp_path / "e")]):
        proc = run_cli(*command, "--limit", "5", "--quiet", "--strict")
        assert_one_line_error(proc, "--strict", "overflow events")
    assert not (tmp_path / "e").exists()


def test_a_temporal_task_trains_exports_and_runs_one_frame_per_step(tmp_path):
    """sequential digits (one row of the 8×8 image per step): every command feeds step t its
    own row; loihi-sim and the ONNX graph agree on every prediction of the same frames."""
    import json

    ckpt, model = tmp_path / "seq.pt", tmp_path / "seq.nir"
    assert main(["train", "--model", "mlp", "--dataset", "seq_digits", "--timesteps", "8", "--epochs", "1",
                 "--limit-train", "128", "--out", str(ckpt), "--quiet"]) == 0
    assert main(["export", str(ckpt), "--out", str(model)]) == 0
    runs = {}
    for backend in ("loihi-sim", "onnx"):
        out = tmp_path / f"{backend}.json"
        assert main(["simulate", str(model), "--dataset", "seq_digits", "--backend", backend,
                     "--limit", "40", "--out", str(out), "--quiet"]) == 0
        runs[backend] = json.loads(out.read_text())
    assert runs["loihi-sim"]["timesteps"] == 8
    assert runs["loihi-sim"]["predictions"] == runs["onnx"]["predictions"]
    assert runs["loihi-sim"]["layers"] == runs["onnx"]["layers"]
