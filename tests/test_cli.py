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
