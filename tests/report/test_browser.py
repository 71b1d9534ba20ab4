"""report.html in a real browser: headless Chromium takes a screenshot (the summary card must
sit above the fold of a 1280 × 800 window), logs no console message, and shows the summary's
numbers, equal to report.json's.

Chromium is driven directly (``--screenshot``, ``--dump-dom``, ``--enable-logging``): no
driver package, no browser download. Skipped, with the reason, where none is installed
(Debian/Ubuntu: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((path for path in map(shutil.which, BROWSERS) if path), None)
WINDOW = (1280, 800)
UNITS = {"pJ": 1e-12, "nJ": 1e-9, "µJ": 1e-6, "mJ": 1e-3, "J": 1.0,
         "ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0}

pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no headless Chromium installed (Debian/Ubuntu: apt-get install -y "
                            "chromium); the report's browser check needs one")

MEASURE = """<script>
document.body.setAttribute("data-summary-bottom",
    document.getElementById("summary").getBoundingClientRect().bottom);
</script>"""


def _chromium(url: str, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", "--enable-logging=stderr", "--v=0",
               *flags, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


class _Dom(HTMLParser):
    """Elements' text and attributes by id, and the body's attributes."""

    def __init__(self):
        super().__init__()
        self.by_id: dict[str, dict] = {}
        self.body: dict = {}
        self._open: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        element = {"attrs": attrs, "text": ""}
        if "id" in attrs:
            self.by_id[attrs["id"]] = element
        self._open.append(element)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data


def _dom(text: str) -> _Dom:
    dom = _Dom()
    dom.feed(text)
    return dom


def _shown(text: str) -> float:
    """The number a reader sees ("502 nJ", "33.83 µs", "29,557 /s", "91.67%") in SI units."""
    match = re.fullmatch(r"\s*([\d,.]+)\s*(%|/s|[pnµm]?[Js])?\s*", text)
    assert match, text
    value = float(match.group(1).replace(",", ""))
    unit = match.group(2)
    return value / 100 if unit == "%" else value * UNITS.get(unit, 1.0)


def test_the_summary_card_is_above_the_fold(energy_run, tmp_path):
    page = energy_run.out / "report.html"
    shot = energy_run.out.parent / "report_screenshot.png"
    run = _chromium(page.as_uri(), tmp_path / "profile", f"--screenshot={shot}")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == WINDOW
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10  # a rendered page, not a blank one
    # where the card ends, measured in a copy of the page with a script that reports it
    measured = tmp_path / "measure.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dump = _chromium(measured.as_uri(), tmp_path / "profile", "--dump-dom")
    bottom = float(_dom(dump.stdout).body["data-summary-bottom"])
    assert 0 < bottom <= WINDOW[1], f"the summary card ends at {bottom}px, below the fold"
    print(f"screenshot: {shot}")


def test_the_page_logs_nothing_and_shows_the_reports_numbers(energy_run, tmp_path):
    page = energy_run.out / "report.html"
    run = _chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    dom = _dom(run.stdout)
    report = json.loads((energy_run.out / "report.json").read_text())
    timing = report["timing"]
    expected = {
        "energy-per-inference": report["energy"]["total_j_per_inference"],
        "latency": timing["latency_s"],
        "latency-pipelined": timing["pipelined_latency_s"],
        "throughput": timing["throughput_inferences_per_s"],
        "baseline-ann": report["baseline_ann"]["energy_j_per_inference"],
        "accuracy-quantized": report["accuracy"]["quantized"],
        "samples": report["samples"],
        "timesteps": report["timesteps"],
    }
    for element_id, value in expected.items():
        element = dom.by_id[element_id]
        assert float(element["attrs"]["data-value"]) == value, element_id
        assert _shown(element["text"]) == pytest.approx(value, rel=5e-3), element_id
    assert dom.by_id["model-name"]["text"] == report["model"]["name"]
    nir_hash = hashlib.sha256(energy_run.nir.read_bytes()).hexdigest()
    assert nir_hash in run.stdout and report["provenance"]["created"] in run.stdout
