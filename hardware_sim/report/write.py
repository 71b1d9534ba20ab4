"""The report's files: ``write_energy_report`` renders a report dict into a directory.

Files: report.json, report.md, report.html (one self-contained page, figures embedded as
SVG), and every figure of ``report.plots.FIGURES`` the report has, each as PNG, SVG and PDF.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Callable

from hardware_sim.files import atomic_directory, atomic_path
from hardware_sim.report.build import to_json
from hardware_sim.report.html import render_html
from hardware_sim.report.markdown import render_markdown
from hardware_sim.report.plots import FIGURES, FORMATS

REPORT_FILES = ("report.json", "report.md", "report.html",
                *(f"{spec.stem}.{kind}" for spec in FIGURES for kind in FORMATS))
"""Every file a report may hold (a report writes those its content calls for)."""

_PNG_DPI = 150
_DETERMINISTIC = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}
"""No time stamps inside the figures: the same report renders the same bytes (tested)."""


def write_energy_report(out_dir: str | Path, report: dict) -> dict[str, Path]:
    """Write report.json, report.md, report.html and the figures into ``out_dir`` as one set.

    The files are written into a staging directory beside ``out_dir`` and moved into place
    together (``files.atomic_directory``): an error or an interrupt leaves the previous
    report whole, never a mix of two runs. Returns file name → final path.
    """
    out = Path(out_dir)
    with atomic_directory(out, replaces=REPORT_FILES) as staging:
        staged = _write_files(staging, report)
    return {name: out / path.name for name, path in staged.items()}


def _write_files(out: Path, report: dict) -> dict[str, Path]:
    paths = {name: out / name for name in ("report.json", "report.md")}
    json_text = to_json(report)
    _atomic_write(paths["report.json"], lambda f: f.write(json_text.encode()))
    markdown = render_markdown(report)
    _atomic_write(paths["report.md"], lambda f: f.write(markdown.encode()))
    figures: dict[str, dict[str, Path]] = {}
    for spec in FIGURES:
        if spec.present(report):
            figures[spec.stem] = _save_figure(out, spec.stem, spec.draw(report))
            paths.update({path.name: path for path in figures[spec.stem].values()})
    paths["report.html"] = out / "report.html"
    page = render_html(report, figures)
    _atomic_write(paths["report.html"], lambda f: f.write(page.encode()))
    return paths


def _save_figure(out: Path, stem: str, figure) -> dict[str, Path]:
    """One figure as PNG, SVG and PDF: format → path. The SVG's element ids are salted with a
    constant (matplotlib's ``svg.hashsalt``) instead of random ones."""
    from matplotlib import rc_context

    paths = {}
    with rc_context({"svg.hashsalt": stem}):
        for kind in FORMATS:
            paths[kind] = out / f"{stem}.{kind}"
            _atomic_write(paths[kind], lambda f, kind=kind: figure.savefig(
                f, format=kind, dpi=_PNG_DPI, metadata=_DETERMINISTIC[kind]))
    return paths


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
