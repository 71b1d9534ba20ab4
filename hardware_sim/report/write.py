"""The report's files: ``write_energy_report`` renders a report dict into a directory.

Files: report.json, report.md, report.html (one self-contained page, plots embedded as
base64), energy_by_layer.png, activity.png, and, when the report has them,
core_load.png (per-core work per step, a heat map) and spike_raster.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Callable

from hardware_sim.files import atomic_directory, atomic_path
from hardware_sim.report.build import to_json
from hardware_sim.report.html import render_html
from hardware_sim.report.markdown import render_markdown
from hardware_sim.report.plots import (
    plot_activity,
    plot_core_load,
    plot_energy_by_layer,
    plot_raster,
)

REPORT_FILES = ("report.json", "report.md", "energy_by_layer.png", "activity.png")
"""The files every report has; ``report.html``, ``core_load.png`` and ``spike_raster.png``
come with them when the report holds what they show."""


_ALL_FILES = (*REPORT_FILES, "report.html", "core_load.png", "spike_raster.png")


def write_energy_report(out_dir: str | Path, report: dict) -> dict[str, Path]:
    """Write report.json, report.md, report.html and the plots into ``out_dir`` as one set.

    The files are written into a staging directory beside ``out_dir`` and moved into place
    together (``files.atomic_directory``): an error or an interrupt leaves the previous
    report whole, never a mix of two runs. Returns file name → final path.
    """
    out = Path(out_dir)
    with atomic_directory(out, replaces=_ALL_FILES) as staging:
        staged = _write_files(staging, report)
    return {name: out / path.name for name, path in staged.items()}


def _write_files(out: Path, report: dict) -> dict[str, Path]:
    paths = {name: out / name for name in REPORT_FILES}
    json_text = to_json(report)
    _atomic_write(paths["report.json"], lambda f: f.write(json_text.encode()))
    markdown = render_markdown(report)
    _atomic_write(paths["report.md"], lambda f: f.write(markdown.encode()))
    _atomic_write(paths["energy_by_layer.png"], lambda f: plot_energy_by_layer(report, f))
    _atomic_write(paths["activity.png"], lambda f: plot_activity(report, f))
    if "cycle" in report:
        paths["core_load.png"] = out / "core_load.png"
        _atomic_write(paths["core_load.png"], lambda f: plot_core_load(report, f))
    if "raster" in report:
        paths["spike_raster.png"] = out / "spike_raster.png"
        _atomic_write(paths["spike_raster.png"], lambda f: plot_raster(report, f))
    paths["report.html"] = out / "report.html"
    html = render_html(report, {k: v for k, v in paths.items() if k.endswith(".png")})
    _atomic_write(paths["report.html"], lambda f: f.write(html.encode()))
    return paths


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
