"""The energy report: one JSON-able dict, written as report.json, report.md, report.html
and plots.

- ``build_report`` (``report.build``): the dict, its keys listed in that module;
- ``write_energy_report`` (``report.write``): the files, rendered from the dict alone;
- ``render_markdown`` (``report.markdown``): the human report as text.

``report.html`` and ``report.plots`` hold the page and the plots.
"""

from hardware_sim.report.build import build_report
from hardware_sim.report.markdown import render_markdown
from hardware_sim.report.write import write_energy_report

__all__ = ["build_report", "render_markdown", "write_energy_report"]
