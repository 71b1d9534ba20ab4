"""The energy report: one JSON-able dict, written as report.json, report.md, report.html
and figures (PNG, SVG, PDF).

- ``build_report`` (``report.build``): the dict, its keys listed in that module;
- ``collect_provenance`` (``report.provenance``): date, command, versions, input hashes;
- ``write_energy_report`` (``report.write``): the files, rendered from the dict alone;
- ``render_markdown`` / ``render_html``: the human report as text / as one page;
- ``console_lines`` (``report.assumptions``): the headline numbers with their caveats;
- ``validate_report`` (``report.schema``): report.json against the shipped JSON schema.

``report.plots`` draws the figures, ``report.format`` writes numbers and names,
``report.references`` the BibTeX of the cited works.
"""

from hardware_sim.report.assumptions import console_lines
from hardware_sim.report.build import build_report
from hardware_sim.report.html import render_html
from hardware_sim.report.markdown import render_markdown
from hardware_sim.report.provenance import collect_provenance
from hardware_sim.report.schema import validate_report
from hardware_sim.report.write import write_energy_report

__all__ = ["build_report", "collect_provenance", "console_lines", "render_html",
           "render_markdown", "validate_report", "write_energy_report"]
