"""A file of the wrong kind is named as what it is, with the command that takes it; messages
name the flag to use; every command prints the paths it wrote."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dalif.cli import main
from hardware_sim.ir.graph import INPUT, IntPopulation, Projection, QGraph


def one_line_error(capsys, *argv: str) -> str:
    """Run ``dalif argv`` in this process: it must end in exit code 2 and one line on stderr."""
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One file of each kind: our NIR file, a netx file, a torch zip, a JSON file, a foreign NIR
    file (no dalif metadata) and bytes of no known kind."""
    import nir

    from hardware_sim.ir.netx import netx_graph, write_netx
    from hardware_sim.ir.nir import write_nir

    tmp = tmp_path_factory.mktemp("kinds")
    pop = IntPopulation(name="fc", shape=(10,),
                        projections=[Projection(INPUT, "dense", np.full((10, 64), 3), (64,))],
                        dv=np.full(10, 100), du=np.full(10, 4095), vth=np.full(10, 100),
                        bias_mant=np.zeros(10, int), bias_exp=6, v_scale=1.0)
    graph = QGraph(input_shape=(64,), populations=[pop], output="fc", input_scale=1 / 16)
    paths = {"nir": tmp / "model.nir", "netx": tmp / "model.net", "checkpoint": tmp / "model.pt",
             "json": tmp / "result.json", "foreign": tmp / "foreign.nir", "unknown": tmp / "noise.bin"}
    write_nir(graph, paths["nir"], 4)
    write_netx(netx_graph(graph)[0], paths["netx"], 4)
    torch.save({"weights": torch.zeros(3)}, paths["checkpoint"])
    paths["json"].write_text(json.dumps({"accuracy": 1.0}))
    nir.write(str(paths["foreign"]), nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([4])),
               "fc": nir.Affine(weight=np.ones((3, 4), np.float32), bias=np.zeros(3, np.float32)),
               "lif": nir.LIF(tau=np.full(3, 2.0), r=np.full(3, 2.0), v_leak=np.zeros(3),
                              v_threshold=np.ones(3)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")]))
    paths["unknown"].write_bytes(bytes(range(7, 200)))
    return paths


CASES = [
    # (command, given, fragments of the one line)
    (["export", "{nir}", "--out", "{tmp}/x.nir"], "nir",
     ["this is a NIR file, not a PyTorch checkpoint", "dalif simulate"]),
    (["export", "{netx}", "--out", "{tmp}/x.nir"], "netx",
     ["this is a lava-dl netx file", "dalif import"]),
    (["simulate", "{checkpoint}", "--quiet"], "checkpoint",
     ["this is a PyTorch checkpoint (zip), not a NIR file", "dalif export"]),
    (["energy", "{checkpoint}", "--out", "{tmp}/e", "--quiet"], "checkpoint",
     ["this is a PyTorch checkpoint (zip), not a NIR file", "dalif export"]),
    (["simulate", "{netx}", "--quiet"], "netx", ["this is a lava-dl netx file, not a NIR file", "dalif import"]),
    (["compare", "{json}", "--quiet"], "json", ["this is a JSON file, not a NIR file"]),
    (["import", "{nir}", "--out", "{tmp}/x.nir"], "nir", ["this is a NIR file, not a lava-dl netx file"]),
    (["energy", "{nir}", "--checkpoint", "{nir}", "--out", "{tmp}/e", "--quiet"], "nir",
     ["--checkpoint", "this is a NIR file, not a PyTorch checkpoint"]),
]


@pytest.mark.parametrize("argv, given, fragments", CASES,
                         ids=[f"{c[0][0]}-{c[1]}" + ("-as-checkpoint" if "--checkpoint" in c[0] else "")
                              for c in CASES])
def test_a_file_of_the_wrong_kind_is_named(files, tmp_path, capsys, argv, given, fragments):
    names = {**{k: str(v) for k, v in files.items()}, "tmp": str(tmp_path)}
    err = one_line_error(capsys, *[a.format(**names) for a in argv])
    for fragment in (str(files[given]), *fragments):
        assert fragment in err, err
    assert not (tmp_path / "x.nir").exists() and not (tmp_path / "e").exists()


def test_a_file_of_no_known_kind_keeps_the_readers_message(files, capsys):
    err = one_line_error(capsys, "simulate", str(files["unknown"]), "--quiet")
    assert "noise.bin: not a readable NIR file" in err


def test_a_foreign_file_without_timesteps_names_the_flag(files, capsys):
    err = one_line_error(capsys, "simulate", str(files["foreign"]), "--quiet")
    assert "foreign.nir" in err and "give the number of timesteps (--timesteps T)" in err


def test_train_export_and_simulate_print_what_they_wrote(files, tmp_path, capsys):
    ckpt, nir_out, summary, onnx = (tmp_path / name for name in ("m.pt", "m.nir", "m.json", "m.onnx"))
    assert main(["train", "--model", "mlp", "--epochs", "1", "--limit-train", "32", "--quiet",
                 "--out", str(ckpt)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"-> {ckpt}")
    assert main(["export", str(ckpt), "--out", str(nir_out), "--json", str(summary),
                 "--onnx", str(onnx)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {nir_out}, {onnx}, {summary}"
    out = tmp_path / "r.json"
    assert main(["simulate", str(files["nir"]), "--limit", "3", "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {out}"


def test_energy_shows_its_phases_and_lists_what_it_wrote(files, tmp_path, capsys):
    """The phases without a sample count (cost model, report and plots) are named on stderr
    with their wall time; the report directory's files are listed at the end."""
    out = tmp_path / "energy"
    assert main(["energy", str(files["nir"]), "--limit", "3", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    for phase in ("cost model", "writing the report and its plots"):
        assert f"  {phase}" in captured.err and " s\n" in captured.err.split(phase, 1)[1]
    last = captured.out.splitlines()[-1]
    assert last.startswith(f"wrote {out}/: ")
    assert last.split(": ", 1)[1].split(", ") == sorted(p.name for p in out.iterdir())
