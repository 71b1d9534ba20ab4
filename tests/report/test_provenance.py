"""A report can be cited: date, command, versions, input hashes, data, the model's name,
structured sources with BibTeX, CITATION.cff; and the console states its caveats."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shlex
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from hardware_sim.chips import CHIPS_DIR, ChipProfileError, available_chips, load_chip
from hardware_sim.report.provenance import collect_provenance, sha256_file, without_provenance
from hardware_sim.report.references import TOOLCHAIN_KEY, bibtex_entries
from tests.report.conftest import NAME, SAMPLES

ROOT = Path(__file__).resolve().parents[2]


def _hash(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_the_report_records_how_it_was_made(energy_run):
    report = json.loads((energy_run.out / "report.json").read_text())
    p = report["provenance"]
    # the command as typed where dalif.cli.main records it (args.argv), else this process's
    assert p["argv"] in (["dalif", *energy_run.argv], sys.argv)
    assert p["command"] == shlex.join(p["argv"])
    files = p["files"]
    assert files["nir"]["sha256"] == _hash(energy_run.nir)
    assert files["nir"]["bytes"] == energy_run.nir.stat().st_size
    assert files["chip_profile"]["sha256"] == _hash(CHIPS_DIR / "loihi2.json")
    assert p["data"] == {"dataset": "digits", "split": "test", "samples": SAMPLES, "limit": SAMPLES}
    assert p["toolchain"]["version"] == version("dalif-toolchain")
    assert p["versions"]["numpy"] == version("numpy") and p["versions"]["nir"] == version("nir")
    created = dt.datetime.fromisoformat(p["created"])
    assert abs(dt.datetime.now(dt.timezone.utc) - created) < dt.timedelta(hours=1)
    assert report["model"]["name"] == NAME and report["timing"]["simulated"] == "zero-delay"
    md = (energy_run.out / "report.md").read_text()
    html = (energy_run.out / "report.html").read_text()
    for text in (md, html):
        assert files["nir"]["sha256"] in text and p["created"] in text and NAME in text
        assert "@software{dalif-toolchain" in text and "@article{boyle2025sanafe" in text


def test_the_console_marks_estimates_and_states_the_assumptions(energy_run):
    lines = energy_run.stdout.splitlines()
    energy_line = next(line for line in lines if line.startswith("energy on loihi2"))
    assert "ESTIMATE" in energy_line and "arithmetic only" in energy_line
    assert any("zero-delay" in line and "ESTIMATE" in line for line in lines)
    assert any(line.startswith("pipelined on hardware") for line in lines)
    assert any("no memory access" in line for line in lines)


def test_provenance_hashes_files_and_honours_source_date_epoch(tmp_path, monkeypatch):
    data = tmp_path / "blob.bin"
    data.write_bytes(bytes(range(256)) * 5000)  # over one read chunk
    assert sha256_file(data) == hashlib.sha256(data.read_bytes()).hexdigest()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    p = collect_provenance(["dalif", "energy", "a b.nir"], {"nir": data, "checkpoint": None},
                           dataset="digits", split="test", samples=3)
    assert p["created"] == "2023-11-14T22:13:20+00:00"
    assert p["command"] == "dalif energy 'a b.nir'"  # quoted so it can be pasted back
    assert set(p["files"]) == {"nir"}


def test_every_bundled_constant_cites_a_bibtex_entry_with_its_value():
    entries = bibtex_entries()
    for name in available_chips():
        chip = load_chip(name)
        for key, record in chip.source_records().items():
            assert record["cite"] in entries, (name, key, record["cite"])
            assert record["where"] and record["unit"], (name, key)
            assert record["value"] == chip.constants()[key], (name, key)
    assert all(entries[k].startswith("@") and entries[k].endswith("}") for k in entries)
    assert TOOLCHAIN_KEY in entries


def _profile(tmp_path, edit) -> Path:
    data = json.loads((CHIPS_DIR / "loihi.json").read_text())
    edit(data)
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    return path


def test_a_structured_source_is_checked(tmp_path):
    def drift(d):
        d["energy_pj"]["synapse"]["value"] = 30.0  # the source still states 35.5

    with pytest.raises(ChipProfileError, match=r"energy_pj\.synapse\.source\.value"):
        load_chip(_profile(tmp_path, drift))

    def typo(d):
        d["energy_pj"]["synapse"]["source"]["page"] = 3

    with pytest.raises(ChipProfileError, match=r"energy_pj\.synapse\.source: unknown field"):
        load_chip(_profile(tmp_path, typo))

    def free_text(d):
        d["energy_pj"]["synapse"] = {"value": 30.0, "source": "ESTIMATE: my bench measurement"}

    record = load_chip(_profile(tmp_path, free_text)).source_records()["energy_pj.synapse"]
    assert record["cite"] is None and record["estimate"] and record["text"].endswith("measurement")


def test_citation_cff_names_this_version():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors", "version", "license"} <= set(cff)
    assert cff["version"] == version("dalif-toolchain")
    assert f"version = {{{version('dalif-toolchain')}}}" in bibtex_entries()[TOOLCHAIN_KEY]
    dois = {ref.get("doi") for ref in cff["references"]}
    entries = "".join(bibtex_entries().values())
    assert all(doi in entries for doi in dois if doi)  # the same works as references.bib
    assert any("2502.10422" in json.dumps(ref) for ref in cff["references"])


def test_without_provenance_leaves_what_two_runs_share(energy_run):
    report = json.loads((energy_run.out / "report.json").read_text())
    json_text = (energy_run.out / "report.json").read_text()
    md = (energy_run.out / "report.md").read_text()
    other = {**report, "provenance": {**report["provenance"], "created": "2000-01-01T00:00:00+00:00"}}
    assert without_provenance("report.json", json.dumps(other)) == \
        without_provenance("report.json", json_text)
    assert "provenance" not in json.loads(without_provenance("report.json", json_text))
    kept = without_provenance("report.md", md)
    assert report["provenance"]["created"] in md and report["provenance"]["created"] not in kept
    assert "@software{dalif-toolchain" in kept and kept.startswith("# Energy report")
