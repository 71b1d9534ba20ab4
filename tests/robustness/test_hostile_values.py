"""Hostile chip profiles through ``dalif energy --chip``, under a 4 GB memory cap: numbers out of
any chip's range, numbers no float holds, JSON nested 100,000 deep, oversized files and FIFOs,
each one line and exit code 2 within 10 s, writing no report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dalif.cli import main
from hardware_sim.chips import CHIPS_DIR, ChipProfileError, load_chip

from .hostile import assert_one_line_exit_2, make_fifo, nested_json, run_capped

LOIHI = json.loads((CHIPS_DIR / "loihi.json").read_text())


def profile(edit) -> callable:
    """The loihi profile with ``edit(dict)`` applied, written as JSON."""
    def make(path: Path) -> Path:
        data = json.loads(json.dumps(LOIHI))
        edit(data)
        path.write_text(json.dumps(data))
        return path
    return make


def text(content: str):
    def make(path: Path) -> Path:
        path.write_text(content)
        return path
    return make


def raw_value(key_path: tuple[str, ...], literal: str):
    """The profile with one value replaced by a JSON literal Python's json.dumps cannot write."""
    def make(path: Path) -> Path:
        data = json.loads(json.dumps(LOIHI))
        entry = data
        for key in key_path[:-1]:
            entry = entry[key]
        entry[key_path[-1]] = "@@"
        path.write_text(json.dumps(data).replace('"@@"', literal))
        return path
    return make


def setter(*keys, value):
    def edit(data):
        entry = data
        for key in keys[:-1]:
            entry = entry[key]
        entry[keys[-1]] = value
    return edit


CASES = [
    ("energy-constant-1e308", profile(setter("energy_pj", "synapse", "value", value=1e308)),
     ["energy_pj.synapse.value", "must lie in [0, 1e+15]"]),
    ("energy-constant-10^400", raw_value(("energy_pj", "synapse", "value"), "1" + "0" * 400),
     ["energy_pj.synapse.value", "must lie in [0, 1e+15]"]),
    ("time-constant-1e300", profile(setter("time_ns", list(LOIHI["time_ns"])[0], "value", value=1e300)),
     ["must lie in [0, 1e+15]"]),
    ("integer-of-5000-digits", raw_value(("energy_pj", "synapse", "value"), "9" * 5000), ["cannot read as JSON"]),
    ("nan-constant", raw_value(("energy_pj", "synapse", "value"), "NaN"), ["must be a finite number >= 0"]),
    ("infinite-constant", raw_value(("energy_pj", "synapse", "value"), "Infinity"), ["must be a finite number >= 0"]),
    ("negative-constant", profile(setter("energy_pj", "synapse", "value", value=-1.0)), ["finite number >= 0"]),
    ("neurons-per-core-2^40", profile(setter("neurons_per_core", "value", value=2**40)),
     ["neurons_per_core.value", "must be an integer in [1, 2147483647]"]),
    ("mesh-tiles-1e15", profile(setter("mesh", "tiles_x", "value", value=1e15)),
     ["mesh.tiles_x.value", "must be an integer in [1, 2147483647]"]),
    ("fractional-core-count", profile(setter("mesh", "cores_per_tile", "value", value=2.5)), ["must be an integer"]),
    ("barrier-key-of-20-digits", profile(lambda d: d["barrier_sync_ns"].update(
        {"tiles_" + "9" * 20: {"value": 1.0, "source": "x"}})), ["keys must be tiles_<n>"]),
    ("barrier-key-unicode-digit", profile(lambda d: d["barrier_sync_ns"].update(
        {"tiles_\u00b2": {"value": 1.0, "source": "x"}})), ["keys must be tiles_<n>"]),
    ("json-nested-100000-deep", text(nested_json(100_000)), ["cannot read as JSON (nested too deep)"]),
    ("object-nested-100000-deep", text('{"a":' * 100_000 + "1" + "}" * 100_000), ["nested too deep"]),
    ("profile-of-2MiB", text(json.dumps({**LOIHI, "description": "x" * (2 << 20)})),
     ["a chip profile is at most 1048576 bytes"]),
    ("string-where-a-number-goes", profile(setter("energy_pj", "synapse", "value", value="35.5")),
     ["must be a finite number >= 0"]),
]


@pytest.fixture(scope="module")
def capped_results(tmp_path_factory, valid_nir):
    tmp = tmp_path_factory.mktemp("hostile_chips")
    argvs = []
    for name, make, _ in CASES:
        chip = make(tmp / f"{name}.json")
        argvs.append(["energy", str(valid_nir), "--quiet", "--limit", "2", "--chip", str(chip),
                      "--out", str(tmp / f"{name}-report")])
    fifo = make_fifo(tmp / "fifo.json")
    argvs.append(["energy", str(valid_nir), "--quiet", "--chip", str(fifo), "--out", str(tmp / "fifo-report")])
    argvs.append(["energy", str(valid_nir), "--quiet", "--chip", "/dev/zero", "--out", str(tmp / "zero-report")])
    results = run_capped(argvs)
    return dict(zip([c[0] for c in CASES] + ["chip-is-a-fifo", "chip-is-dev-zero"], results)), tmp


@pytest.mark.parametrize("name, fragments", [(c[0], c[2]) for c in CASES] +
                         [("chip-is-a-fifo", ["unknown chip", "fifo.json"]),
                          ("chip-is-dev-zero", ["unknown chip '/dev/zero'"])])
def test_hostile_chip_profile_is_one_line_exit_2(capped_results, name, fragments):
    results, tmp = capped_results
    assert_one_line_exit_2(results[name], fragments)
    assert not list(tmp.glob("*-report")), "a refused profile writes no report"


def test_a_fifo_profile_is_refused_without_opening_it(tmp_path):
    fifo = make_fifo(tmp_path / "chip.json")
    with pytest.raises(ChipProfileError, match="unknown chip"):
        load_chip(fifo)


def test_bundled_profiles_are_within_the_new_bounds():
    for name in ("loihi", "loihi-davies2018", "loihi2"):
        chip = load_chip(name)
        assert all(0 <= v <= 1e15 for v in chip.constants().values())


def test_a_foreign_file_takes_no_checkpoint(tmp_path, capsys, valid_nir, valid_checkpoint):
    """`energy --checkpoint` must be the one the NIR file was exported from: a file this version
    did not export records no hash, so the pairing cannot be checked and is refused."""
    code = main(["energy", str(valid_nir), "--quiet", "--limit", "2", "--out", str(tmp_path / "r"),
                 "--checkpoint", str(valid_checkpoint)])
    assert code == 2
    assert "records no checkpoint hash" in capsys.readouterr().err
