"""The works a report cites, as BibTeX: ``cited_references``.

The entries live in ``hardware_sim/chips/references.bib`` (the chip profiles' ``cite``
keys name them, and ``dalif-toolchain`` is the toolchain itself). A report carries the
entries of the toolchain and of every source its chip profile cites, verbatim, so a reader
can paste them into a paper; a key the file does not hold (a user's own profile) is listed
without an entry.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from hardware_sim.chips import CHIPS_DIR

REFERENCES_FILE = CHIPS_DIR / "references.bib"
TOOLCHAIN_KEY = "dalif-toolchain"
DALIF_KEY = "zhang2025dalif"
"""The DA-LIF paper, cited when the model's neuron is DA-LIF."""
_ENTRY = re.compile(r"^@(\w+)\{([^,\s]+),", re.MULTILINE)
_TITLE = re.compile(r"^\s*title\s*=\s*\{(.*)\},?\s*$", re.MULTILINE)


@lru_cache(maxsize=1)
def bibtex_entries(path: Path = REFERENCES_FILE) -> dict[str, str]:
    """Citation key → its BibTeX entry as written in ``path`` (from ``@`` to the closing brace)."""
    text = path.read_text(encoding="utf-8")
    starts = list(_ENTRY.finditer(text))
    entries = {}
    for match, after in zip(starts, [*starts[1:], None]):
        block = text[match.start(): after.start() if after else len(text)]
        entries[match.group(2)] = block[: block.rindex("}") + 1]
    return entries


def entry_title(entry: str) -> str:
    """The title field of a BibTeX entry, without its protective braces."""
    match = _TITLE.search(entry)
    return match.group(1).replace("{", "").replace("}", "") if match else ""


def cited_references(source_records: dict[str, dict],
                     also: dict[str, list[str]] | None = None) -> list[dict]:
    """The toolchain first, then the works in ``also`` (key → what cites it, e.g. the model's
    neuron), then every work ``source_records`` cite, in order of first use:
    [{key, title, bibtex (None when references.bib lacks the key), cited_by: [what]}]."""
    entries = bibtex_entries()
    cited: dict[str, list[str]] = {TOOLCHAIN_KEY: [], **(also or {})}
    for constant, record in source_records.items():
        if record.get("cite"):
            cited.setdefault(record["cite"], []).append(constant)
    return [{"key": key, "title": entry_title(entries.get(key, "")), "bibtex": entries.get(key),
             "cited_by": constants} for key, constants in cited.items()]


def bibtex_block(references: list[dict]) -> str:
    """The BibTeX entries of ``references`` (those the file holds), one after another."""
    return "\n\n".join(r["bibtex"] for r in references if r["bibtex"]) + "\n"
