"""What a report needs to be cited and reproduced: ``collect_provenance``.

A number in a paper must say where it came from: when it was computed, by which command,
with which versions of the toolchain and its dependencies, from which files (by content:
sha256, not path) and on which data. ``collect_provenance`` gathers exactly that into one
JSON-able dict, the report's ``provenance`` key, without importing any of the packages it
names (versions are read from the installed distributions' metadata).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shlex
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

TOOLCHAIN = "dalif-toolchain"
"""The distribution name of this toolchain (pyproject.toml)."""
DEPENDENCIES = ("numpy", "torch", "nir", "nirtorch", "h5py", "sanafe", "matplotlib", "jinja2")
"""The distributions whose versions can change a report's numbers or its rendering."""
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """The file's SHA-256 as hex, read in 1 MiB chunks (a checkpoint may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, None when it is not installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def file_record(path: str | Path) -> dict:
    """{path, name, bytes, sha256} of one input file."""
    p = Path(path)
    return {"path": str(p), "name": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)}


def _now() -> dt.datetime:
    """Now in UTC, or ``SOURCE_DATE_EPOCH`` where set (the reproducible-builds convention: two
    runs that must give the same bytes fix the date)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc)


def collect_provenance(
    command: Sequence[str],
    files: dict[str, str | Path | None],
    *,
    dataset: str | None,
    split: str,
    samples: int,
    limit: int | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """The report's ``provenance``: date (UTC, ISO 8601; ``SOURCE_DATE_EPOCH`` where set),
    command line, versions and inputs.

    ``command``: the argv of the command that made the report, program name first
    (``["dalif", "energy", ...]``); ``files``: role (``nir``, ``checkpoint``,
    ``chip_profile``) → path, None for a role the run did not have; ``samples``: how many
    samples of ``dataset``'s ``split`` were run (``limit``: the user's cap, if any).
    """
    now = now or _now()
    return {
        "created": now.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(command),
        "argv": list(command),
        "toolchain": {"name": TOOLCHAIN, "version": installed_version(TOOLCHAIN)},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: installed_version(name) for name in DEPENDENCIES},
        "files": {role: file_record(path) for role, path in files.items() if path is not None},
        "data": {"dataset": dataset, "split": split, "samples": samples, "limit": limit},
    }


def without_provenance(name: str, text: str) -> str:
    """A report file's text (``report.json`` or ``report.md``) less its provenance: what two
    runs on the same inputs must give byte for byte (the date and the command line differ;
    the Markdown ends with its Provenance section, the JSON holds it under one key)."""
    if name.endswith(".json"):
        from hardware_sim.report.build import to_json

        report = json.loads(text)
        report.pop("provenance", None)
        return to_json(report)
    if name.endswith(".md"):
        return text.split("\n## Provenance\n", 1)[0]
    raise ValueError(f"{name}: only report.json and report.md hold a provenance section")
