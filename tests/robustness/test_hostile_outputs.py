"""Outputs that never destroy: an output naming an input, another output, a device or FIFO, or
an unwritable place is refused before any work, in one line with exit code 2 (under the 4 GB
cap), and the input is byte for byte what it was; a write failure is one line, with no file
left behind; signals remove temporary files; a command's files appear as one set."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import nir
import pytest

from dalif.cli import main
from hardware_sim.files import (
    FileError,
    atomic_directory,
    atomic_path,
    check_outputs,
    output_set,
    write_text,
)
from tests.netx.test_netx_lava import write_handmade_net

from .hostile import REPO_ROOT, assert_one_line_exit_2, make_fifo, run_capped, run_cli_capped
from .test_hostile_nir import digits_graph


@pytest.fixture(scope="module")
def originals(tmp_path_factory, valid_checkpoint):
    """A checkpoint, the NIR file exported from it, another model's checkpoint, a foreign NIR
    file and a netx file, to copy into each case's directory."""
    from dalif.checkpoint import save_checkpoint
    from dalif.models import ModelConfig, build_model

    tmp = tmp_path_factory.mktemp("outputs")
    model = tmp / "m.nir"
    assert main(["export", str(valid_checkpoint), "--out", str(model)]) == 0
    config = ModelConfig(model="mlp", input_shape=(1, 8, 8), num_classes=10, timesteps=2,
                         granularity="layer", input_scale=1 / 16, seed=1)
    other = tmp / "other.pt"
    save_checkpoint(other, build_model(config), config, {"test_accuracy": 0.08, "dataset": "digits"})
    foreign = tmp / "foreign.nir"
    nir.write(str(foreign), digits_graph())
    net = tmp / "h.net"
    write_handmade_net(net)
    return {"m.pt": valid_checkpoint, "m.nir": model, "other.pt": other, "foreign.nir": foreign, "h.net": net}


def setup(*names):
    """Copy the named originals into the case's directory."""
    def copy(d: Path, originals: dict) -> None:
        for name in names:
            (d / name).write_bytes(originals[name].read_bytes())
    return copy


def symlink(name: str, target: str):
    return lambda d, o: os.symlink(d / target, d / name)


def hardlink(name: str, target: str):
    return lambda d, o: os.link(d / target, d / name)


def fifo(name: str):
    return lambda d, o: make_fifo(d / name)


def both(*steps):
    def run(d: Path, o: dict) -> None:
        for step in steps:
            step(d, o)
    return run


E = ["energy", "{d}/m.nir", "--quiet", "--limit", "2"]

# (id, prepare(directory, originals), argv with {d}, fragments of the one line)
CASES = [
    ("export-out-is-the-checkpoint", setup("m.pt"), ["export", "{d}/m.pt", "--out", "{d}/m.pt"],
     ["--out", "is the input", "m.pt"]),
    ("export-json-is-the-checkpoint", setup("m.pt"),
     ["export", "{d}/m.pt", "--out", "{d}/x.nir", "--json", "{d}/m.pt"], ["--json", "is the input"]),
    ("export-onnx-is-the-checkpoint", setup("m.pt"),
     ["export", "{d}/m.pt", "--out", "{d}/x.nir", "--onnx", "{d}/m.pt"], ["--onnx", "is the input"]),
    ("export-netx-is-the-checkpoint", setup("m.pt"),
     ["export", "{d}/m.pt", "--out", "{d}/x.nir", "--netx", "{d}/m.pt"], ["--netx", "is the input"]),
    ("export-json-is-the-out", setup("m.pt"), ["export", "{d}/m.pt", "--out", "{d}/a.nir", "--json", "{d}/a.nir"],
     ["--out and --json name the same file"]),
    ("export-onnx-is-the-out", setup("m.pt"), ["export", "{d}/m.pt", "--out", "{d}/a.nir", "--onnx", "{d}/a.nir"],
     ["--out and --onnx name the same file"]),
    ("export-out-symlinks-to-the-checkpoint", both(setup("m.pt"), symlink("link.nir", "m.pt")),
     ["export", "{d}/m.pt", "--out", "{d}/link.nir"], ["is the input"]),
    ("export-out-hardlinks-to-the-checkpoint", both(setup("m.pt"), hardlink("hard.nir", "m.pt")),
     ["export", "{d}/m.pt", "--out", "{d}/hard.nir"], ["is the input"]),
    ("export-out-is-a-fifo", both(setup("m.pt"), fifo("pipe.nir")), ["export", "{d}/m.pt", "--out", "{d}/pipe.nir"],
     ["pipe.nir", "is a FIFO, not a regular file; refusing to replace it"]),
    ("export-out-symlinks-to-a-fifo", both(setup("m.pt"), fifo("pipe"), symlink("out.nir", "pipe")),
     ["export", "{d}/m.pt", "--out", "{d}/out.nir"], ["is a FIFO"]),
    ("export-json-into-a-missing-directory", setup("m.pt"),
     ["export", "{d}/m.pt", "--out", "{d}/x.nir", "--json", "{d}/missing/x.json"],
     ["missing: output directory does not exist"]),
    ("export-out-is-a-directory", setup("m.pt"), ["export", "{d}/m.pt", "--out", "{d}"], ["is a directory"]),
    ("export-checkpoint-is-a-fifo", fifo("m.pt"), ["export", "{d}/m.pt", "--out", "{d}/x.nir"],
     ["m.pt", "is a FIFO, not a regular file"]),
    ("simulate-out-is-the-model", setup("m.nir"), ["simulate", "{d}/m.nir", "--quiet", "--out", "{d}/m.nir"],
     ["--out", "is the input"]),
    ("simulate-out-is-a-fifo", both(setup("m.nir"), fifo("r.json")),
     ["simulate", "{d}/m.nir", "--quiet", "--out", "{d}/r.json"], ["is a FIFO"]),
    ("import-out-is-the-net-file", setup("h.net"), ["import", "{d}/h.net", "--out", "{d}/h.net", "--timesteps", "4"],
     ["is the input"]),
    ("energy-report-file-is-the-model", lambda d, o: (d / "report.json").write_bytes(o["m.nir"].read_bytes()),
     ["energy", "{d}/report.json", "--quiet", "--limit", "2", "--out", "{d}"], ["report.json", "is the input"]),
    ("energy-report-file-is-a-fifo", both(setup("m.nir"), lambda d, o: (d / "report").mkdir(),
                                          lambda d, o: make_fifo(d / "report" / "report.md")),
     [*E, "--out", "{d}/report"], ["report.md", "is a FIFO"]),
    ("energy-out-under-a-file", both(setup("m.nir"), lambda d, o: (d / "file").write_text("x")),
     [*E, "--out", "{d}/file/report"], ["is not a directory, so nothing can be written under it"]),
    ("energy-out-is-a-file", both(setup("m.nir"), lambda d, o: (d / "file").write_text("x")),
     [*E, "--out", "{d}/file"], ["exists and is not a directory"]),
    ("energy-checkpoint-of-another-model", setup("m.nir", "other.pt"),
     [*E, "--out", "{d}/report", "--checkpoint", "{d}/other.pt"], ["is not the checkpoint", "was exported from"]),
    ("energy-checkpoint-for-a-foreign-file", setup("foreign.nir", "m.pt"),
     ["energy", "{d}/foreign.nir", "--quiet", "--limit", "2", "--timesteps", "2", "--out", "{d}/report",
      "--checkpoint", "{d}/m.pt"], ["records no checkpoint hash"]),
    ("energy-checkpoint-missing", setup("m.nir"), [*E, "--out", "{d}/report", "--checkpoint", "{d}/none.pt"],
     ["none.pt: no such file"]),
]


@pytest.fixture(scope="module")
def capped_results(originals, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_outputs")
    argvs, snapshots = [], {}
    for name, prepare, argv, _ in CASES:
        d = tmp / name
        d.mkdir()
        prepare(d, originals)
        snapshots[name] = _snapshot(d)
        argvs.append([a.format(d=d) for a in argv])
    results = run_capped(argvs)
    return {name: (result, tmp / name, snapshots[name]) for (name, *_), result in zip(CASES, results)}


def _snapshot(d: Path) -> dict[str, object]:
    """Every entry under ``d``: a FIFO as "fifo", a symlink as its target, a file as its bytes."""
    out: dict[str, object] = {}
    for p in sorted(d.rglob("*")):
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out[str(p)] = ("link", os.readlink(p))
        elif stat.S_ISFIFO(st.st_mode):
            out[str(p)] = "fifo"
        elif stat.S_ISDIR(st.st_mode):
            out[str(p)] = "dir"
        else:
            out[str(p)] = p.read_bytes()
    return out


@pytest.mark.parametrize("name, fragments", [(c[0], c[3]) for c in CASES])
def test_destructive_or_careless_output_is_refused_and_nothing_changes(capped_results, name, fragments):
    result, d, before = capped_results[name]
    assert_one_line_exit_2(result, fragments)
    assert _snapshot(d) == before, "a refused command must leave every file as it was"


def test_unwritable_directory_is_one_line(originals, tmp_path, capsys):
    """Refused before any work where the permissions say so; as root (who may write anywhere)
    the failure comes when the file is created, still as one line."""
    if os.geteuid() == 0:
        if not Path("/sys").is_dir():
            pytest.skip("no /sys to fail to write in")
        assert main(["export", str(originals["m.pt"]), "--out", "/sys/dalif-test.nir"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("not writable" in err[0] or "cannot create a file in /sys" in err[0]), err
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["export", str(originals["m.pt"]), "--out", str(locked / "x.nir")]) == 2
        assert "output directory is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_write_failure_is_one_line_and_leaves_nothing(originals, tmp_path):
    """`prlimit --fsize=20000 dalif export …`: the NIR file does not fit (EFBIG): one line, exit
    2, no temporary file, and the old output untouched (it used to end in a segfault)."""
    out = tmp_path / "big.nir"
    out.write_text("old")
    proc = run_cli_capped(["export", str(originals["m.pt"]), "--out", str(out), "--json", str(tmp_path / "e.json")],
                          extra_limits=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.nir"] and out.read_text() == "old"


def test_energy_refuses_another_models_checkpoint_but_takes_its_own(originals, tmp_path, capsys):
    report = tmp_path / "report"
    assert main(["energy", str(originals["m.nir"]), "--quiet", "--limit", "4", "--out", str(report),
                 "--checkpoint", str(originals["m.pt"])]) == 0
    assert (report / "report.json").exists()


# ---------------------------------------------------------------------------------------------
# Signals and sets (hardware_sim.files)

WRITER = """
import sys, time
from hardware_sim.files import output_set, write_text, atomic_path
target = sys.argv[1]
with output_set():
    write_text(target + ".first", "new")
    with atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("partial")
        print("writing", flush=True)
        time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["TERM", "HUP", "INT"])
def test_a_signal_while_writing_a_set_removes_every_temporary_and_keeps_the_old_set(tmp_path, signum):
    target = tmp_path / "out.nir"
    target.write_text("old")
    (tmp_path / "out.nir.first").write_text("old")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signum)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signum  # the signal's own ending (Ctrl-C: after KeyboardInterrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nir", "out.nir.first"]
    assert target.read_text() == "old" and (tmp_path / "out.nir.first").read_text() == "old"


def test_output_set_is_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text("old a")
    with pytest.raises(KeyboardInterrupt):
        with output_set():
            write_text(a, "new a")
            assert a.read_text() == "old a"  # nothing is visible before the set completes
            raise KeyboardInterrupt
    assert a.read_text() == "old a" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    with output_set():
        write_text(a, "new a")
        write_text(b, "new b")
    assert (a.read_text(), b.read_text()) == ("new a", "new b")


def test_signal_handlers_are_installed_only_while_a_temporary_exists(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with atomic_path(tmp_path / "x") as tmp:
        assert signal.getsignal(signal.SIGTERM) is not before
        Path(tmp).write_text("x")
    assert signal.getsignal(signal.SIGTERM) is before


def test_atomic_directory_replaces_a_set_and_keeps_other_files(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    for name, text in (("report.json", "old"), ("report.md", "old"), ("raster.png", "old"), ("mine.txt", "keep")):
        (report / name).write_text(text)
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(report, replaces=("report.json", "report.md", "raster.png")) as staging:
            write_text(staging / "report.json", "new")
            raise KeyboardInterrupt
    assert {p.name: p.read_text() for p in report.iterdir()} == {
        "report.json": "old", "report.md": "old", "raster.png": "old", "mine.txt": "keep"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    with atomic_directory(report, replaces=("report.json", "report.md", "raster.png")) as staging:
        write_text(staging / "report.json", "new")
        write_text(staging / "report.md", "new")
    assert {p.name: p.read_text() for p in report.iterdir()} == {
        "report.json": "new", "report.md": "new", "mine.txt": "keep"}
    fresh = tmp_path / "fresh" / "report"
    with atomic_directory(fresh) as staging:
        write_text(staging / "report.json", "new")
    assert [p.name for p in fresh.iterdir()] == ["report.json"]


def test_check_outputs_refuses_a_device(tmp_path):
    with pytest.raises(FileError, match="is a device, not a regular file"):
        check_outputs({"--out": "/dev/null"})
    with pytest.raises(FileError, match="is a device"):
        with atomic_path("/dev/null"):
            pass
    os.symlink("/dev/null", tmp_path / "null.nir")
    with pytest.raises(FileError, match="is a device"):
        check_outputs({"--out": tmp_path / "null.nir"})
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
