"""A corpus of bad command lines: each ends in exit code 2 and one line on stderr
naming what is wrong, never a traceback, and writes no output file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nir
import pytest
import torch

from dalif.cli import main

from .conftest import foreign_graph


def write_foreign(tmp: Path) -> Path:
    path = tmp / "foreign.nir"
    nir.write(str(path), foreign_graph())
    return path


def checkpoint_bytes(content: bytes):
    def make(tmp: Path, files: dict) -> list[str]:
        path = tmp / "bad.pt"
        path.write_bytes(content)
        return ["export", str(path), "--out", str(tmp / "out.nir")]
    return make


def checkpoint_truncated(tmp: Path, files: dict) -> list[str]:
    path = tmp / "bad.pt"
    data = files["checkpoint"].read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return ["export", str(path), "--out", str(tmp / "out.nir")]


def checkpoint_payload(payload) -> object:
    def make(tmp: Path, files: dict) -> list[str]:
        path = tmp / "bad.pt"
        torch.save(payload, path)
        return ["export", str(path), "--out", str(tmp / "out.nir")]
    return make


def simulate(*extra: str, model: str = "nir"):
    def make(tmp: Path, files: dict) -> list[str]:
        path = write_foreign(tmp) if model == "foreign" else files["nir"]
        return ["simulate", str(path), "--quiet", *[e.format(tmp=tmp) for e in extra]]
    return make


def energy(*extra: str):
    def make(tmp: Path, files: dict) -> list[str]:
        return ["energy", str(files["nir"]), "--quiet", "--out", str(tmp / "report"), "--limit", "2",
                *[e.format(tmp=tmp) for e in extra]]
    return make


def bad_chip_json(tmp: Path, files: dict) -> list[str]:
    (tmp / "chip.json").write_text("{ not json")
    return energy("--chip", "{tmp}/chip.json")(tmp, files)


def chip_not_object(tmp: Path, files: dict) -> list[str]:
    (tmp / "chip.json").write_text("[1, 2]")
    return energy("--chip", "{tmp}/chip.json")(tmp, files)


def truncated_nir(tmp: Path, files: dict) -> list[str]:
    path = tmp / "cut.nir"
    data = files["nir"].read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return ["simulate", str(path), "--quiet"]


def energy_out_is_a_file(tmp: Path, files: dict) -> list[str]:
    (tmp / "report").write_text("")
    return ["energy", str(files["nir"]), "--quiet", "--out", str(tmp / "report")]


# (id, make(tmp, files) -> argv, fragments of the one error line)
CASES = [
    ("checkpoint-random-bytes", checkpoint_bytes(b"\x00\x01garbage" * 50), ["bad.pt", "unpickling refused"]),
    ("checkpoint-empty-file", checkpoint_bytes(b""), ["bad.pt"]),
    ("checkpoint-truncated", checkpoint_truncated, ["bad.pt", "not a readable"]),
    ("checkpoint-wrong-format", checkpoint_payload({"format": "other", "version": 1}), ["bad.pt", "'format'"]),
    ("checkpoint-a-list", checkpoint_payload([1, 2, 3]), ["bad.pt", "expected a dict"]),
    ("checkpoint-missing", lambda tmp, files: ["export", str(tmp / "none.pt"), "--out", str(tmp / "o.nir")],
     ["none.pt", "no such file"]),
    ("export-into-missing-directory",
     lambda tmp, files: ["export", str(files["checkpoint"]), "--out", str(tmp / "no" / "o.nir")],
     ["output directory does not exist"]),
    ("limit-zero", simulate("--limit", "0"), ["--limit must be at least 1"]),
    ("limit-negative", simulate("--limit", "-3"), ["--limit must be at least 1"]),
    ("simulate-out-into-missing-directory", simulate("--out", "{tmp}/missing/r.json"),
     ["output directory does not exist"]),
    ("simulate-out-is-a-directory", simulate("--out", "{tmp}"), ["is a directory"]),
    ("foreign-without-timesteps", simulate(model="foreign"), ["foreign.nir", "give the number of timesteps"]),
    ("nir-truncated", truncated_nir, ["cut.nir", "not a readable NIR file"]),
    ("nir-missing", lambda tmp, files: ["simulate", str(tmp / "absent.nir"), "--quiet"], ["no such file"]),
    ("max-neurons-exceeded", simulate("--max-neurons", "50"), ["more than 50 neurons", "--max-neurons"]),
    ("max-synapses-exceeded", simulate("--max-synapses", "100"), ["more than 100 synapses", "--max-synapses"]),
    ("max-neurons-zero", simulate("--max-neurons", "0"), ["--max-neurons must be at least 1"]),
    ("energy-max-neurons-exceeded", energy("--max-neurons", "50"), ["more than 50 neurons"]),
    ("max-delay-exceeded", simulate("--max-delay", "0"), ["1-step delay", "longer than 0 steps", "--max-delay"]),
    ("max-delay-negative", simulate("--max-delay", "-1"), ["--max-delay must be at least 0"]),
    ("unknown-chip", energy("--chip", "truenorth-9000"), ["unknown chip 'truenorth-9000'"]),
    ("bad-chip-json", bad_chip_json, ["chip.json", "cannot read as JSON"]),
    ("chip-json-not-an-object", chip_not_object, ["chip.json", "must be a JSON object"]),
    ("energy-out-is-a-file", energy_out_is_a_file, ["exists and is not a directory"]),
    ("mnist-without-data-dir", simulate("--dataset", "mnist"), ["mnist is not bundled"]),
    ("mnist-empty-directory", simulate("--dataset", "mnist", "--data-dir", "{tmp}"),
     ["mnist", "lacks", "t10k-images"]),
    ("train-zero-epochs", lambda tmp, files: ["train", "--epochs", "0", "--out", str(tmp / "m.pt"), "--quiet"],
     ["--epochs and --timesteps must be at least 1"]),
]


@pytest.fixture(scope="module")
def files(valid_nir, valid_checkpoint):
    return {"nir": valid_nir, "checkpoint": valid_checkpoint}


@pytest.mark.parametrize("make, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_command_line_is_one_line_exit_2(make, fragments, files, tmp_path, capsys):
    argv = make(tmp_path, files)
    before = set(tmp_path.rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("dalif: error: ")
    for fragment in fragments:
        assert fragment in err[0], err[0]
    assert set(tmp_path.rglob("*")) == before, "a failed command must write nothing"


def test_mnist_error_names_the_directory(files, tmp_path, capsys):
    assert main(["simulate", str(files["nir"]), "--quiet", "--dataset", "mnist", "--data-dir",
                 str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_one_line_error_holds_in_a_real_process(tmp_path):
    """The in-process corpus above, checked once end to end through the interpreter."""
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    proc = subprocess.run([sys.executable, "-m", "dalif.cli", "export", str(bad), "--out",
                           str(tmp_path / "o.nir")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.nir").exists()


def test_model_and_data_set_shapes_disagree(files, capsys):
    """The toolchain file takes (2, 6, 6) inputs; digits samples are (1, 8, 8)."""
    assert main(["simulate", str(files["nir"]), "--quiet", "--limit", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model takes inputs of shape (2, 6, 6)" in err[0], err


# -- training arguments and hostile checkpoints (graph-shaped models) -------------------------

def train_args(*extra: str):
    def make(tmp: Path, files: dict) -> list[str]:
        return ["train", "--model", "mlp", "--epochs", "1", "--out", str(tmp / "m.pt"), "--quiet",
                *[e.format(tmp=tmp) for e in extra]]
    return make


def checkpoint_mutated(mutate):
    def make(tmp: Path, files: dict) -> list[str]:
        payload = torch.load(files["checkpoint"], weights_only=True)
        mutate(payload)
        path = tmp / "bad.pt"
        torch.save(payload, path)
        return ["export", str(path), "--out", str(tmp / "out.nir")]
    return make


def checkpoint_deflated(tmp: Path, files: dict) -> list[str]:
    import zipfile

    path = tmp / "bad.pt"
    with zipfile.ZipFile(files["checkpoint"]) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return ["export", str(path), "--out", str(tmp / "out.nir")]


TRAIN_AND_CHECKPOINT_CASES = [
    ("train-lr-diverges", train_args("--lr", "1e30"), ["training diverged", "--lr 1e+30"]),
    ("train-lr-nan", train_args("--lr", "nan"), ["--lr: expected a finite number"]),
    ("train-lr-zero", train_args("--lr", "0"), ["--lr must be a finite number > 0"]),
    ("train-batch-size-zero", train_args("--batch-size", "0"), ["--batch-size must be at least 1"]),
    ("train-limit-train-zero", train_args("--limit-train", "0"), ["--limit-train must be at least 1"]),
    ("train-width-zero", train_args("--width", "0"), ["--width: must lie in (0, 16]"]),
    ("train-channels-not-ints", train_args("--model", "resnet20", "--channels", "16,x,64"),
     ["--channels: expected comma-separated integers"]),
    ("train-vgg-wrong-stages", train_args("--model", "vgg11", "--channels", "8,16"),
     ["--channels: vgg11 has 5 stages"]),
    ("train-resnet-on-rows", train_args("--model", "resnet20", "--dataset", "seq_digits"),
     ["global average pooling needs a square map"]),
    ("train-timesteps-vs-sequences", train_args("--dataset", "seq_digits", "--timesteps", "4"),
     ["seq_digits holds sequences of 8 steps"]),
    pytest.param(train_args("--device", "cuda"), ["--device cuda: no CUDA device"], id="train-cuda-absent",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")),
    ("train-resume-missing", train_args("--resume", "{tmp}/none.pt"), ["none.pt", "no such file"]),
    ("checkpoint-huge-hidden", checkpoint_mutated(lambda p: p["config"].update(hidden=[40000, 40000])),
     ["bad.pt", "'config.hidden': the mlp would hold", "over the budget"]),
    ("checkpoint-huge-channels", checkpoint_mutated(
        lambda p: p["config"].update(model="convnet", channels=[10**9, 32])),
     ["bad.pt", "'config.channels': sizes up to 65536"]),
    ("checkpoint-complex-weight", checkpoint_mutated(
        lambda p: p["state_dict"].update({"layers.1.synapse.weight": torch.zeros(
            p["state_dict"]["layers.1.synapse.weight"].shape, dtype=torch.complex64)})),
     ["bad.pt", "'state_dict.layers.1.synapse.weight': dtype torch.complex64"]),
    ("checkpoint-deflated", checkpoint_deflated, ["bad.pt", "(zip entry): compressed"]),
]


def _as_param(case):
    return case if hasattr(case, "values") else pytest.param(*case[1:], id=case[0])


@pytest.mark.parametrize("make, fragments", [_as_param(c) for c in TRAIN_AND_CHECKPOINT_CASES])
def test_bad_training_run_or_checkpoint_is_one_line_exit_2(make, fragments, files, tmp_path, capsys):
    argv = make(tmp_path, files)
    before = set(tmp_path.rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("dalif: error: ")
    for fragment in fragments:
        assert fragment in err[0], err[0]
    assert set(tmp_path.rglob("*")) == before, "a failed command must write nothing"
