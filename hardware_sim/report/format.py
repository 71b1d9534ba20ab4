"""How the report writes numbers and names, shared by the Markdown, the HTML, the plots and
the console, so that the same quantity reads the same everywhere.

Event names are the energy model's keys (``hardware_sim.chips.EVENTS``); people read
``EVENT_LABELS`` instead.
"""

from __future__ import annotations

EVENT_LABELS = {
    "synaptic_op": "synaptic ops (1-bit spikes)",
    "graded_input_op": "graded input ops",
    "neuron_update_active": "neuron updates (active)",
    "neuron_update_inactive": "neuron updates (idle)",
    "spike": "spikes fired",
    "message": "spike messages between cores",
    "hop_east_west": "mesh hops east-west",
    "hop_north_south": "mesh hops north-south",
}
"""A reader's name for every event of the energy model."""

LIMIT_LABELS = {
    "neurons": "neurons",
    "synaptic_memory": "synaptic memory",
    "axons_in": "input axons",
    "axons_out": "output axons",
}


def energy_scale(joules: float) -> tuple[float, str]:
    """(scale, unit) to show ``joules`` in: J, mJ, µJ, nJ or pJ."""
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")):
        if joules >= scale:
            return scale, unit
    return 1e-12, "pJ"


def time_scale(seconds: float) -> tuple[float, str]:
    """(scale, unit) to show ``seconds`` in: s, ms, µs or ns."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return scale, unit
    return 1e-9, "ns"


def fmt_j(joules: float | None) -> str:
    """An energy with three significant digits in a readable unit (``7.68 µJ``)."""
    if joules is None:
        return "n/a"
    scale, unit = energy_scale(abs(joules))
    return f"{joules / scale:.3g} {unit}"


def fmt_s(seconds: float | None) -> str:
    """A duration with four significant digits in a readable unit (``424.7 µs``)."""
    if seconds is None:
        return "n/a"
    scale, unit = time_scale(abs(seconds))
    return f"{seconds / scale:.4g} {unit}"


def fmt_n(n: float | None) -> str:
    """A count: thousands separated; a fractional mean below 100 with three digits."""
    if n is None:
        return "n/a"
    return f"{n:,.0f}" if float(n).is_integer() or abs(n) >= 100 else f"{n:.3g}"


def fmt_rate(rate: float | None) -> str:
    """A throughput in inferences per second."""
    if rate is None:
        return "n/a"
    return f"{rate:,.0f} inferences/s" if rate >= 1000 else f"{rate:.4g} inferences/s"


def fmt_acc(value: object) -> str:
    """An accuracy (a fraction) as a percentage; n/a when unknown."""
    if value is None:
        return "n/a"
    return f"{value:.2%}" if isinstance(value, float) else str(value)


def fmt_ratio(value: float | None) -> str:
    """A ratio such as "relative to the chip" (``0.0361×``)."""
    return "n/a" if value is None else f"{value:.3g}×"


def label(name: str) -> str:
    """A code name (``hop_east_west``, ``synaptic_memory``) as words."""
    return EVENT_LABELS.get(name) or LIMIT_LABELS.get(name) or name.replace("_", " ")


CORE_ROWS = 64
"""The most cores a per-core table or the per-core load figure shows one by one: a map of a
ResNet-19 on Loihi has ~128,000 cores, which no reader scans (and a figure with a row each
would not fit in memory). report.json keeps every core."""


def shown_cores(report: dict) -> list[int]:
    """The cores the per-core tables show, in core order: all of them up to ``CORE_ROWS``, else
    the ``CORE_ROWS`` busiest by the cycle model's work per inference (by neurons where the
    report has no cycle model)."""
    cycle = report.get("cycle")
    rows = cycle["per_core"] if cycle else report["mapping"].get("core_usage", [])
    if len(rows) <= CORE_ROWS:
        return sorted(row["core"] for row in rows)
    key = "work_ns_per_inference" if cycle else "neurons"
    busiest = sorted(rows, key=lambda row: (-row[key], row["core"]))[:CORE_ROWS]
    return sorted(row["core"] for row in busiest)


def core_rows(rows: list[dict], shown: list[int]) -> list[dict]:
    """The rows of a per-core table (each with a ``core``) for the cores ``shown``."""
    keep = set(shown)
    return [row for row in rows if row["core"] in keep]


def cores_caption(report: dict, shown: list[int]) -> str:
    """What a per-core table holds: every core, or the busiest of how many."""
    total = report["mapping"]["cores"]
    if len(shown) >= total:
        return f"all {total} cores"
    return (f"the {len(shown)} busiest of {total:,} cores (by work per inference); "
            "report.json lists every core")
