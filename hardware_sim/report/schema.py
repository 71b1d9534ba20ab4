"""report.json's contract: ``REPORT_SCHEMA`` (``report.schema.json``, JSON Schema 2020-12)
and ``validate_report``.

The schema ships with the package so that anyone reading a report (a plotting script, a
paper's artefact check) can check it without this code; ``validate_report`` needs the
``jsonschema`` package, imported only when called.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA_FILE = Path(__file__).with_name("report.schema.json")


class ReportSchemaError(ValueError):
    """A report that does not match the schema; one line naming the first faulty key."""


@lru_cache(maxsize=1)
def report_schema() -> dict:
    """The JSON schema of report.json."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def validate_report(report: dict) -> None:
    """Raise ``ReportSchemaError`` (the faulty key's dotted path and why) unless ``report``
    matches the schema."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(k) for k in first.absolute_path) or "(top level)"
        raise ReportSchemaError(f"report.json: {where}: {first.message}"[:500])
