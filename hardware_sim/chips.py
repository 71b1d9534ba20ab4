"""Chip profiles: the per-event energies, latencies and geometry of a neuromorphic chip.

A profile is a JSON data file (bundled ones live in ``hardware_sim/chips/``); every
number in it carries the source it was taken from::

    {"name": "loihi", "description": "...",
     "neurons_per_core": {"value": 1024, "source": "..."},
     "mesh":          {"tiles_x": {...}, "tiles_y": {...}, "cores_per_tile": {...}},
     "energy_pj":     {"<constant>": {"value": 35.5, "source": "..."}, ...},
     "time_ns":       {"<constant>": {"value": 3.8, "source": "..."}, ...},
     "cost_model":    {"<event>": {"sum_of": ["<energy_pj constant>", ...], "note": "..."}, ...},
     "baseline_45nm": {"fp32_mac": {...}, "fp32_add": {...}, "int8_mac": {...}, "int8_add": {...}}}

``energy_pj`` holds the constants as their source names them; ``cost_model`` says
how each event the energy model counts (``EVENTS``) is costed: the sum of the
named constants (an empty sum costs nothing, the note says why). So one energy
model serves profiles whose sources break the work down differently:

    E[event] = Σ_{k ∈ cost_model[event].sum_of} energy_pj[k]            (pJ)

Optional sections (a user's file may leave any of them out):

     "limits":        {"synaptic_memory_bits_per_core": {...}, "axons_in_per_core": {...},
                       "axons_out_per_core": {...}},           (mapping.py checks them)
     "power":         {"static_w": {...}, "max_w": {...}},      (static_w: cycle.py adds
                                                                static_w × time to the energy)
     "features":      {"shared_conv_weights": {...}, "graded_spikes": {...},
                       "subtract_reset": {...}},              (0 or 1;
                                                                mapping.py, FEATURES)
     "cycle_model":   {"<time event>": {"sum_of": ["<time_ns constant>", ...], "note": ...}},
     "barrier_sync_ns": {"tiles_<n>": {"value": ns, "source": ...}, ...}

``cycle_model`` prices the work of a core in time, as ``cost_model`` does in energy
(``TIME_EVENTS``, see ``hardware_sim.cost.cycle``):

    t[event] = Σ_{k ∈ cycle_model[event].sum_of} time_ns[k]            (ns)

A ``source`` is free text, or structured so that a report can cite it::

    {"text": "Davies et al., IEEE Micro 2018, Table 2: ...", "cite": "davies2018loihi",
     "where": "Table 2", "value": 23.6, "unit": "pJ", "estimate": false}

``cite`` is a key of ``chips/references.bib``; ``value`` and ``unit`` are the figure as the
source states it (the value must equal the constant's); ``estimate`` marks a value that is
not the source's figure for this chip (``ChipProfile.source_records``).

``barrier_sync_ns`` is a table of the end-of-timestep barrier time by the number of
tiles in use, interpolated linearly between its points and held flat beyond them.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hardware_sim.ir.graph import QGraph

CHIPS_DIR = Path(__file__).with_name("chips")
"""Where the bundled profiles live."""

EVENTS = (
    "synaptic_op",
    "graded_input_op",
    "neuron_update_active",
    "neuron_update_inactive",
    "spike",
    "message",
    "hop_east_west",
    "hop_north_south",
)
"""The events the energy model counts; every profile's ``cost_model`` prices each one.

- ``synaptic_op``: a 1-bit spike arriving at one synapse (spikes × fan-out);
- ``graded_input_op``: a non-zero graded input value arriving at one synapse;
- ``neuron_update_active`` / ``neuron_update_inactive``: one neuron, one timestep;
- ``spike``: a neuron firing;
- ``message``: a spike message from the firing neuron's core to one destination core;
- ``hop_east_west`` / ``hop_north_south``: a message crossing one tile boundary.
"""

TIME_EVENTS = (
    "synaptic_op",
    "graded_input_op",
    "neuron_update_active",
    "neuron_update_inactive",
    "spike",
    "message_out",
    "message_in",
    "hop_east_west",
    "hop_north_south",
)
"""The events the cycle model times (``cycle_model`` section): the energy events, with a
message split into its sending (``message_out``, on the source core) and receiving
(``message_in``, on the destination core) halves."""

LIMITS = ("synaptic_memory_bits_per_core", "axons_in_per_core", "axons_out_per_core")
"""Per-core resource limits the mapping checks, besides ``neurons_per_core``."""

POWER = ("static_w", "max_w")

FEATURES = ("shared_conv_weights", "graded_spikes", "subtract_reset")
"""What a chip can do beyond Loihi 1's defaults (each 0 or 1, absent = 0):
``shared_conv_weights``: conv kernels stored once per core (``cost.mapping``);
``graded_spikes``: multi-bit spike payloads between cores (a split fan-in's join, ``cost.split``);
``subtract_reset``: neurons that reset by subtracting the threshold (``IntPopulation.reset``;
a model with such populations is refused on a chip without it, ``require_features``)."""

_SOURCE_FIELDS = ("text", "cite", "where", "value", "unit", "estimate")
"""The fields of a structured source (``_Reader.source``)."""

BASELINE_OPS = ("fp32_mac", "fp32_add", "int8_mac", "int8_add")
"""The 45 nm CMOS operations every profile carries for the non-neuromorphic baselines."""


PROFILE_MAX_BYTES = 1 << 20
"""A profile file is read only up to this size (the bundled ones are under 10 KB)."""
NUMBER_MAX = 1e15
"""The largest constant a profile may hold (pJ, ns, W, bits): far above any chip's, and small
enough that counts × constants stay finite in float64."""
COUNT_MAX = (1 << 31) - 1
"""The largest core size, mesh side or per-core limit a profile may give."""


class ChipProfileError(ValueError):
    """A chip profile that is missing a key or holds an invalid value; one line naming the key."""


@dataclass(frozen=True)
class ChipProfile:
    """One chip's constants, loaded from a checked profile file (see module docstring).

    The chip is a ``tiles_x`` × ``tiles_y`` mesh of tiles with ``cores_per_tile``
    cores each, and every core holds up to ``neurons_per_core`` neurons.
    """

    name: str
    description: str
    neurons_per_core: int
    tiles_x: int
    tiles_y: int
    cores_per_tile: int
    energy_pj: dict[str, float]
    time_ns: dict[str, float]
    cost_model: dict[str, tuple[str, ...]]
    cost_notes: dict[str, str]
    baseline_45nm_pj: dict[str, float]
    path: str | None = None
    _sources: dict[str, str] = field(default_factory=dict, repr=False)
    _source_records: dict[str, dict] = field(default_factory=dict, repr=False)
    limits: dict[str, float] = field(default_factory=dict)
    power_w: dict[str, float] = field(default_factory=dict)
    time_model: dict[str, tuple[str, ...]] = field(default_factory=dict)
    time_notes: dict[str, str] = field(default_factory=dict)
    barrier_sync_ns: tuple[tuple[int, float], ...] = ()
    features: dict[str, bool] = field(default_factory=dict)

    @property
    def has_cycle_model(self) -> bool:
        return bool(self.time_model)

    def event_time_ns(self, event: str) -> float:
        """Time one ``event`` (one of ``TIME_EVENTS``) takes, in ns: the sum its cycle model names."""
        if not self.time_model:
            raise ChipProfileError(f"chip {self.name!r}: the profile has no cycle_model section")
        return float(sum(self.time_ns[k] for k in self.time_model[event]))

    def barrier_ns(self, tiles: int) -> float:
        """Barrier synchronisation time with ``tiles`` tiles in use (linear in the table)."""
        if not self.barrier_sync_ns:
            return 0.0
        xs = [float(n) for n, _ in self.barrier_sync_ns]
        ys = [ns for _, ns in self.barrier_sync_ns]
        return float(np.interp(float(tiles), xs, ys))

    @property
    def cores_per_chip(self) -> int:
        return self.tiles_x * self.tiles_y * self.cores_per_tile

    def event_energy_pj(self, event: str) -> float:
        """Energy of one ``event`` (one of ``EVENTS``) in pJ: the sum its cost model names."""
        return float(sum(self.energy_pj[k] for k in self.cost_model[event]))

    def sources(self) -> dict[str, str]:
        """Every constant (dotted key, e.g. ``energy_pj.synapse``) → where its value comes from."""
        return dict(self._sources)

    def source_records(self) -> dict[str, dict]:
        """Every constant (dotted key) → its structured source: ``text`` (as ``sources``),
        ``cite`` (a key of ``chips/references.bib``, or None), ``where`` (table, figure or
        file in it), ``value`` and ``unit`` as the source states them, and ``estimate``
        (True where the value is not the source's figure for this chip)."""
        return {k: dict(v) for k, v in self._source_records.items()}

    def constants(self) -> dict[str, float]:
        """Every constant (same dotted keys as ``sources``) → its value."""
        values: dict[str, float] = {
            "neurons_per_core": self.neurons_per_core,
            "mesh.tiles_x": self.tiles_x,
            "mesh.tiles_y": self.tiles_y,
            "mesh.cores_per_tile": self.cores_per_tile,
        }
        values.update({f"energy_pj.{k}": v for k, v in self.energy_pj.items()})
        values.update({f"time_ns.{k}": v for k, v in self.time_ns.items()})
        values.update({f"baseline_45nm.{k}": v for k, v in self.baseline_45nm_pj.items()})
        values.update({f"limits.{k}": v for k, v in self.limits.items()})
        values.update({f"power.{k}": v for k, v in self.power_w.items()})
        values.update({f"features.{k}": float(v) for k, v in self.features.items()})
        values.update({f"barrier_sync_ns.tiles_{n}": v for n, v in self.barrier_sync_ns})
        return values

    def to_dict(self) -> dict:
        """A JSON-able summary: name, geometry, constants, cost model and sources."""
        return {
            "name": self.name,
            "description": self.description,
            "path": self.path,
            "neurons_per_core": self.neurons_per_core,
            "mesh": {"tiles_x": self.tiles_x, "tiles_y": self.tiles_y,
                     "cores_per_tile": self.cores_per_tile, "cores_per_chip": self.cores_per_chip},
            "constants": self.constants(),
            "cost_model": {
                e: {"sum_of": list(self.cost_model[e]), "energy_pj": self.event_energy_pj(e),
                    "note": self.cost_notes.get(e, "")}
                for e in EVENTS
            },
            "limits": dict(self.limits),
            "power_w": dict(self.power_w),
            "features": dict(self.features),
            "cycle_model": {
                e: {"sum_of": list(self.time_model[e]), "time_ns": self.event_time_ns(e),
                    "note": self.time_notes.get(e, "")}
                for e in TIME_EVENTS
            } if self.time_model else {},
            "barrier_sync_ns": [[n, v] for n, v in self.barrier_sync_ns],
            "sources": self.sources(),
        }


def available_chips() -> list[str]:
    """Names of the bundled chip profiles."""
    return sorted(p.stem for p in CHIPS_DIR.glob("*.json"))


class ChipFeatureError(ValueError):
    """A model that needs what a chip cannot do; one line naming the chip, the feature and the
    bundled chips that can."""


def require_features(chip: ChipProfile, graph: QGraph) -> None:
    """Raise ``ChipFeatureError`` when ``graph`` needs a feature ``chip`` lacks: a
    population that resets by subtraction needs ``subtract_reset`` (programmable neurons), since
    costing it on a chip whose neurons reset to zero would price a network that chip cannot run."""
    subtracting = [pop.name for pop in graph.populations if pop.reset == "subtract"]
    if not subtracting or chip.features.get("subtract_reset", False):
        return
    able = [name for name in available_chips() if load_chip(name).features.get("subtract_reset", False)]
    instead = f"use --chip {' or --chip '.join(able)}" if able else "no bundled chip can"
    raise ChipFeatureError(
        f"{chip.name} cannot run populations that reset by subtraction ({', '.join(subtracting)}): "
        f"its neurons reset to zero (features.subtract_reset = 0); {instead}, or run it with "
        "--reset zero if the model was trained so")


def load_chip(name_or_path: str | Path) -> ChipProfile:
    """A bundled profile by name (``"loihi"``), or a user's profile file by path.

    Raises ``ChipProfileError`` (one line, naming the key at fault) when the file
    is missing a key, holds a number that is not finite and ≥ 0, or a constant
    without a source.
    """
    text = str(name_or_path)
    bundled = CHIPS_DIR / f"{text}.json"
    if isinstance(name_or_path, str) and "/" not in text and os.sep not in text \
            and not text.endswith(".json") and bundled.is_file():
        path = bundled
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ChipProfileError(
                f"unknown chip {text!r}: not a bundled chip ({', '.join(available_chips())}) "
                "and no such profile file"
            )
    return parse_chip(_read_profile(path), origin=str(path))


def derive_chip(name_or_path: str | Path, *, neurons_per_core: int | None = None,
                cores_per_tile: int | None = None, tiles_x: int | None = None,
                tiles_y: int | None = None, limits: dict[str, float] | None = None,
                power: dict[str, float] | None = None,
                features: dict[str, float] | None = None) -> ChipProfile:
    """A profile with its core size or mesh replaced, for what-if studies (a layer spread
    over many small cores) and hand-sized tests; checked as any profile file is.

    ``limits``, ``power`` and ``features`` (name → value) replace the whole section when
    given, so ``limits={}`` lifts every per-core limit but the neuron count.
    """
    origin = load_chip(name_or_path)
    data = _read_profile(Path(origin.path))
    for section, key, value in ((None, "neurons_per_core", neurons_per_core),
                                ("mesh", "cores_per_tile", cores_per_tile),
                                ("mesh", "tiles_x", tiles_x), ("mesh", "tiles_y", tiles_y)):
        if value is not None:
            (data[section] if section else data)[key] = {"value": value,
                                                         "source": "derive_chip override"}
    for section, values in (("limits", limits), ("power", power), ("features", features)):
        if values is not None:
            data[section] = {k: {"value": v, "source": "derive_chip override"}
                             for k, v in values.items()}
    return parse_chip(data, origin=f"<{origin.name}, derived>")


def _read_profile(path: Path) -> dict:
    """A profile file's JSON: a regular file of at most PROFILE_MAX_BYTES (checked before
    reading), not nested beyond what the parser handles."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise ChipProfileError(f"{path}: cannot read ({err.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ChipProfileError(f"{path}: not a regular file; refusing to read it")
    if st.st_size > PROFILE_MAX_BYTES:
        raise ChipProfileError(f"{path}: {st.st_size} bytes; a chip profile is at most "
                               f"{PROFILE_MAX_BYTES} bytes")
    try:
        with open(path, "rb") as f:
            text = f.read(PROFILE_MAX_BYTES + 1)
        if len(text) > PROFILE_MAX_BYTES:
            raise ChipProfileError(f"{path}: a chip profile is at most {PROFILE_MAX_BYTES} bytes")
        return json.loads(text.decode("utf-8"))
    except RecursionError:
        raise ChipProfileError(f"{path}: cannot read as JSON (nested too deep)") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:  # ValueError: JSON, or an int of 5000 digits
        raise ChipProfileError(f"{path}: cannot read as JSON ({err})".replace("\n", " ")) from None


def parse_chip(data: dict, origin: str = "<chip profile>") -> ChipProfile:
    """Check a profile already read into a dict and build the ChipProfile."""
    reader = _Reader(origin)
    if not isinstance(data, dict):
        raise ChipProfileError(f"{origin}: a chip profile must be a JSON object")
    name = reader.text(data, "name")
    description = reader.text(data, "description")
    neurons_per_core = reader.count(data, "neurons_per_core")
    mesh = reader.section(data, "mesh")
    tiles_x = reader.count(mesh, "tiles_x", "mesh.")
    tiles_y = reader.count(mesh, "tiles_y", "mesh.")
    cores_per_tile = reader.count(mesh, "cores_per_tile", "mesh.")
    energy = reader.constants(reader.section(data, "energy_pj"), "energy_pj.")
    time = reader.constants(reader.section(data, "time_ns", required=False), "time_ns.")
    baseline_section = reader.section(data, "baseline_45nm")
    baseline = {op: reader.number(baseline_section, op, "baseline_45nm.") for op in BASELINE_OPS}
    baseline.update(reader.constants(baseline_section, "baseline_45nm."))
    cost_model, cost_notes = _sum_model(reader.section(data, "cost_model"), EVENTS, energy,
                                        "cost_model", "energy_pj", origin)
    limits_section = reader.section(data, "limits", required=False)
    for key in limits_section:
        if key not in LIMITS:
            raise ChipProfileError(f"{origin}: limits.{key}: unknown limit (expected {', '.join(LIMITS)})")
    limits = {k: float(reader.count(limits_section, k, "limits.")) for k in limits_section}
    power_section = reader.section(data, "power", required=False)
    for key in power_section:
        if key not in POWER:
            raise ChipProfileError(f"{origin}: power.{key}: unknown entry (expected {', '.join(POWER)})")
    power = reader.constants(power_section, "power.")
    feature_section = reader.section(data, "features", required=False)
    features = {}
    for key in feature_section:
        if key not in FEATURES:
            raise ChipProfileError(f"{origin}: features.{key}: unknown feature (expected {', '.join(FEATURES)})")
        value = reader.number(feature_section, key, "features.")
        if value not in (0, 1):
            raise ChipProfileError(f"{origin}: features.{key}.value: must be 0 or 1, got {value:g}")
        features[key] = bool(value)
    time_model, time_notes = _sum_model(
        reader.section(data, "cycle_model", required=False), TIME_EVENTS, time, "cycle_model",
        "time_ns", origin, required=False)
    barrier = []
    for key in reader.section(data, "barrier_sync_ns", required=False):
        tiles = key.removeprefix("tiles_")
        if not key.startswith("tiles_") or not (tiles.isascii() and tiles.isdigit()) or len(tiles) > 9 or int(tiles) < 1:
            raise ChipProfileError(f"{origin}: barrier_sync_ns.{key}: keys must be tiles_<n>, n >= 1")
        barrier.append((int(tiles), reader.number(data["barrier_sync_ns"], key, "barrier_sync_ns.")))
    profile = ChipProfile(
        name=name, description=description, neurons_per_core=neurons_per_core,
        tiles_x=tiles_x, tiles_y=tiles_y, cores_per_tile=cores_per_tile,
        energy_pj=energy, time_ns=time, cost_model=cost_model, cost_notes=cost_notes,
        baseline_45nm_pj=baseline, path=None if origin.startswith("<") else origin,
        _sources=reader.sources, _source_records=reader.records, limits=limits, power_w=power, time_model=time_model,
        time_notes=time_notes, barrier_sync_ns=tuple(sorted(barrier)), features=features,
    )
    reader.check_stated_values(profile.constants())
    return profile


def _sum_model(section: dict, events: tuple[str, ...], constants: dict[str, float], key: str,
               constants_key: str, origin: str, required: bool = True
               ) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """Read a {event: {"sum_of": [constant, ...], "note"}} section (every event, or none)."""
    if not section and not required:
        return {}, {}
    model: dict[str, tuple[str, ...]] = {}
    notes: dict[str, str] = {}
    for event in section:
        if event not in events:
            raise ChipProfileError(
                f"{origin}: {key}.{event}: unknown event (expected {', '.join(events)})")
    for event in events:
        dotted = f"{key}.{event}"
        entry = section.get(event)
        if entry is None:
            raise ChipProfileError(f"{origin}: {dotted}: missing")
        if not isinstance(entry, dict) or not isinstance(entry.get("sum_of"), list):
            raise ChipProfileError(
                f"{origin}: {dotted}.sum_of: missing or not a list of {constants_key} constants")
        for k in entry["sum_of"]:
            if k not in constants:
                raise ChipProfileError(
                    f"{origin}: {dotted}.sum_of: {k!r} is not one of the {constants_key} constants")
        model[event] = tuple(entry["sum_of"])
        note = entry.get("note", "")
        if not isinstance(note, str):
            raise ChipProfileError(f"{origin}: {dotted}.note: must be a string")
        notes[event] = note
    return model, notes


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


class _Reader:
    """Reads {"value", "source"} entries, recording sources, failing with the dotted key."""

    def __init__(self, origin: str):
        self.origin = origin
        self.sources: dict[str, str] = {}
        self.records: dict[str, dict] = {}

    def fail(self, key: str, why: str) -> ChipProfileError:
        return ChipProfileError(f"{self.origin}: {key}: {why}")

    def text(self, data: dict, key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "missing or not a non-empty string")
        return value

    def section(self, data: dict, key: str, required: bool = True) -> dict:
        if key not in data and not required:
            return {}
        value = data.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "missing or not an object")
        return value

    def number(self, data: dict, key: str, prefix: str = "") -> float:
        dotted = prefix + key
        entry = data.get(key)
        if entry is None:
            raise self.fail(dotted, "missing")
        if not isinstance(entry, dict) or "value" not in entry:
            raise self.fail(dotted, 'must be {"value": <number>, "source": "<where from>"}')
        value = entry["value"]
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if is_number and isinstance(value, int) and not 0 <= value <= NUMBER_MAX:
            raise self.fail(f"{dotted}.value", f"must lie in [0, {NUMBER_MAX:g}], got {_short(value)}")
        if not is_number or not math.isfinite(value) or value < 0:
            raise self.fail(f"{dotted}.value", f"must be a finite number >= 0, got {_short(value)}")
        if value > NUMBER_MAX:
            raise self.fail(f"{dotted}.value", f"must lie in [0, {NUMBER_MAX:g}], got {value!r}")
        self.records[dotted] = self.source(entry.get("source"), f"{dotted}.source")
        self.sources[dotted] = self.records[dotted]["text"]
        return float(value)

    def source(self, source: object, dotted: str) -> dict:
        """A constant's source as a record (``ChipProfile.source_records``): free text, or
        {"text", "cite", "where", "value", "unit", "estimate"} of which only text is required
        (``check_stated_values`` compares the stated value with the constant's)."""
        if isinstance(source, str) and source.strip():
            return {"text": source, "cite": None, "where": None, "value": None, "unit": None,
                    "estimate": "ESTIMATE" in source}
        if not isinstance(source, dict):
            raise self.fail(dotted, "missing: every constant must name its source")
        unknown = set(source) - set(_SOURCE_FIELDS)
        if unknown:
            raise self.fail(dotted, f"unknown field(s) {', '.join(sorted(map(str, unknown)))} "
                                    f"(expected {', '.join(_SOURCE_FIELDS)})")
        record = {k: source.get(k) for k in _SOURCE_FIELDS}
        if not isinstance(record["text"], str) or not record["text"].strip():
            raise self.fail(f"{dotted}.text", "missing: every constant must name its source")
        for key in ("cite", "where", "unit"):
            if record[key] is not None and not isinstance(record[key], str):
                raise self.fail(f"{dotted}.{key}", "must be a string")
        record["estimate"] = bool(record["estimate"])
        return record

    def check_stated_values(self, constants: dict[str, float]) -> None:
        """A source's stated value must be its constant's (a source and its number cannot
        drift); checked once every constant has passed its own checks."""
        for key, record in self.records.items():
            stated = record["value"]
            if stated is not None and (isinstance(stated, bool)
                                       or not isinstance(stated, (int, float))
                                       or stated != constants[key]):
                raise self.fail(f"{key}.source.value", f"must equal the constant's value "
                                                       f"{constants[key]:g}, got {_short(stated)}")

    def count(self, data: dict, key: str, prefix: str = "") -> int:
        value = self.number(data, key, prefix)
        if value < 1 or value != int(value) or value > COUNT_MAX:
            raise self.fail(f"{prefix}{key}.value", f"must be an integer in [1, {COUNT_MAX}], got {value:g}")
        return int(value)

    def constants(self, section: dict, prefix: str) -> dict[str, float]:
        return {key: self.number(section, key, prefix) for key in section}
