"""The energy report as one self-contained HTML page: ``render_html``.

One jinja2 template (``templates/report.html.j2``) renders the report dict (``report.build``)
alone; numbers are formatted by ``report.format``, as in the Markdown. The page needs no
server and nothing from the network: its style is inline, it runs no script, and every
figure is embedded as an SVG data URI, with links to the PNG, SVG and PDF files beside it.
The summary's headline numbers carry their exact values in ``data-value`` attributes, so a
test (or a script) can read them back from the page.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from hardware_sim.chips import EVENTS
from hardware_sim.report import format as fmt
from hardware_sim.report.build import total_firing_rate

TEMPLATES = Path(__file__).with_name("templates")
_LIST_SHOWN = 8  # a longer list in a table cell shows its ends and its length


def render_html(report: dict, figures: dict[str, dict[str, Path]]) -> str:
    """The page. ``figures``: figure stem → format (``png``, ``svg``, ``pdf``) → file; the SVG
    is embedded, every file linked by name (the files lie beside report.html)."""
    template = _environment().get_template("report.html.j2")
    shown = fmt.shown_cores(report)
    return template.render(
        report=report, sections=_sections(report), events=EVENTS,
        layer_rows=_layer_rows(report), figure=lambda stem: _figure(stem, figures),
        cores_caption=fmt.cores_caption(report, shown),
        core_rows=lambda rows: fmt.core_rows(rows, shown),
    )


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=False, lstrip_blocks=False)
    env.filters.update(
        joules=fmt.fmt_j, seconds=fmt.fmt_s, count=fmt.fmt_n, rate=fmt.fmt_rate,
        acc=fmt.fmt_acc, ratio=fmt.fmt_ratio, label=fmt.label, num=_num, cell=_cell,
        columns=_columns,
    )
    return env


def _sections(report: dict) -> list[tuple[str, str]]:
    """(id, title) of the page's sections, in order, those the report has."""
    sections = [("summary", "Summary"), ("assumptions", "Assumptions"), ("energy", "Energy"),
                ("layers", "Layers")]
    if "cycle" in report:
        sections.append(("latency-section", "Latency"))
    sections += [("mapping", "Mapping"), ("activity", "Activity")]
    if "neurobench" in report:
        sections.append(("neurobench", "NeuroBench"))
    sections += [("constants", "Constants"), ("notes", "Notes"), ("provenance", "Provenance"),
                 ("cite", "Cite")]
    return sections


def _layer_rows(report: dict) -> list[dict]:
    """Every layer and a total row, each with its share of the energy."""
    total_j = report["totals"]["per_inference"]["energy_j"]
    total = {**report["totals"], "name": "total", "spike_rate": total_firing_rate(report),
             "is_total": True}
    rows = [{**layer, "is_total": False} for layer in report["layers"]] + [total]
    for row in rows:
        row["share"] = row["per_inference"]["energy_j"] / total_j if total_j > 0 else 0.0
    return rows


def _figure(stem: str, figures: dict[str, dict[str, Path]]) -> str:
    """A figure: its SVG embedded, its caption, links to its files; nothing if absent
    (markup, marked safe for the template)."""
    from markupsafe import Markup, escape  # jinja2's, imported with it: only when rendering

    from hardware_sim.report.plots import FIGURES

    files = figures.get(stem)
    if not files:
        return Markup("")
    caption = next(spec.caption for spec in FIGURES if spec.stem == stem)
    svg = base64.b64encode(Path(files["svg"]).read_bytes()).decode()
    links = " · ".join(f'<a href="{escape(Path(path).name)}">{escape(kind.upper())}</a>'
                       for kind, path in files.items())
    return Markup(f'<figure id="figure-{escape(stem)}"><img alt="{escape(caption)}" '
                  f'src="data:image/svg+xml;base64,{svg}"><figcaption>{escape(caption)} '
                  f'Files: {links}</figcaption></figure>')


def _num(value: object) -> str:
    """A number exactly as JSON holds it (``repr``), for ``data-value``; empty for None."""
    return "" if value is None else repr(value)


def _columns(rows: list[dict]) -> list[str]:
    """Every key of ``rows`` in order of first appearance: a table that shows whatever fields
    the rows have (the mapping's populations gain fields without the template changing)."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return list(keys)


def _cell(value: object) -> str:
    """Any JSON value as table text: lists shortened, dicts as key: value, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt.fmt_n(value) if value.is_integer() else f"{value:.4g}"
    if isinstance(value, int):
        return fmt.fmt_n(value)
    if isinstance(value, list):
        items = [_cell(v) for v in value]
        if len(items) > _LIST_SHOWN:
            return f"{', '.join(items[:3])}, …, {items[-1]} ({len(items)})"
        return ", ".join(items)
    if isinstance(value, dict):
        return "; ".join(f"{fmt.label(str(k))}: {_cell(v)}" for k, v in value.items())
    text = str(value)
    return fmt.LIMIT_LABELS.get(text) or fmt.EVENT_LABELS.get(text) or text
