"""The energy report as one self-contained HTML page: ``render_html``."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from hardware_sim.report.markdown import render_markdown


def render_html(report: dict, pngs: dict[str, Path]) -> str:
    """One self-contained page: the markdown report as preformatted text and every plot
    embedded as a base64 PNG."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>"
             f"{html.escape(report['model'].get('name', 'network'))} on "
             f"{html.escape(report['chip']['name'])}</title></head><body>"]
    for name, path in pngs.items():
        data = base64.b64encode(Path(path).read_bytes()).decode()
        parts.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(name)}</figcaption></figure>")
    parts.append(f"<pre>{html.escape(render_markdown(report))}</pre></body></html>")
    return "\n".join(parts)
