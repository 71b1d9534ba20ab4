"""report.json validates against the JSON schema shipped in the package, and the schema
rejects broken reports (each edit below breaks one promise a reader relies on)."""

from __future__ import annotations

import copy
import json

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (test extra)")

from hardware_sim.report.schema import ReportSchemaError, report_schema, validate_report  # noqa: E402
from tests.dict_edits import drop, set_to  # noqa: E402


@pytest.fixture(scope="module")
def report(energy_run) -> dict:
    return json.loads((energy_run.out / "report.json").read_text())


def test_the_shipped_schema_is_a_valid_schema():
    jsonschema.Draft202012Validator.check_schema(report_schema())


def test_a_real_report_validates(report):
    validate_report(report)


@pytest.mark.parametrize("edit, where", [
    (drop("provenance", "files", "nir", "sha256"), "provenance.files.nir"),
    (set_to("not-a-hash", "provenance", "files", "nir", "sha256"), "provenance.files.nir.sha256"),
    (drop("provenance", "command"), "provenance"),
    (set_to("yesterday", "provenance", "created"), "provenance.created"),
    (set_to(-1e-6, "energy", "total_j_per_inference"), "energy.total_j_per_inference"),
    (set_to("aligned-ish", "timing", "simulated"), "timing.simulated"),
    (set_to(1.5, "accuracy", "quantized"), "accuracy.quantized"),
    (set_to("", "model", "name"), "model.name"),
    (set_to("dalif-energy-report/2", "format"), "format"),
    (drop("assumptions"), "(top level)"),
    (set_to({"text": "x", "cite": None, "where": None, "value": None, "unit": None,
           "estimate": "no"}, "chip", "source_records", "energy_pj.synapse"),
     "chip.source_records.energy_pj.synapse.estimate"),
])
def test_the_schema_rejects_a_broken_report(report, edit, where):
    broken = copy.deepcopy(report)
    edit(broken)
    with pytest.raises(ReportSchemaError) as err:
        validate_report(broken)
    assert f"report.json: {where}:" in str(err.value) and "\n" not in str(err.value)
