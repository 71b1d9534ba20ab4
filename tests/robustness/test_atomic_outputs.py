"""Interrupted writes leave no partial file: an exception inside atomic_path, or a SIGKILL
of the writing process, leaves neither the target nor a temporary file."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from hardware_sim.files import atomic_path


def test_exception_inside_atomic_path_leaves_nothing(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as f:
                f.write("half of a")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_the_previous_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            open(tmp, "w").write("new, unfinished")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


WRITER = """
import sys, time
from hardware_sim.files import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "w") as f:
        f.write("partial")
        f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def test_sigkilled_writer_leaves_no_target(tmp_path):
    target = tmp_path / "out.nir"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not target.exists()
    # a kill leaves the hidden temporary (nothing can run after SIGKILL); it never carries the name
    assert all(p.name.startswith(".out.nir.") and p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_an_interrupted_energy_report_keeps_the_previous_set(tmp_path, monkeypatch):
    """The report's files move into place together: Ctrl-C after the new report.json is
    written (here: while the Markdown is rendered) leaves the old set whole, never a new
    report.json beside old plots."""
    from hardware_sim.report import write as report_write

    out = tmp_path / "energy"
    out.mkdir()
    for name in ("report.json", "report.md", "activity.png"):
        (out / name).write_text(f"old {name}")

    def interrupted(report):
        raise KeyboardInterrupt

    monkeypatch.setattr(report_write, "render_markdown", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report_write.write_energy_report(out, {"format": "test"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["energy"]  # no staging directory left
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        name: f"old {name}" for name in ("report.json", "report.md", "activity.png")}
