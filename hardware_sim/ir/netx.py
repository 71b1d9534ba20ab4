"""lava-dl netx HDF5 (``.net``) ⇄ QGraph: ``dalif export --netx`` and ``dalif import``.

netx (lava-dl 0.6, ``lava.lib.dl.netx.hdf5.Network``) loads a chain of layers from
``/layer/0``, ``/layer/1``, …, each a group with ``type`` (``input``, ``conv``,
``flatten``, ``dense``), ``shape`` (C, H, W) or (N,), ``weight``, optional ``bias`` and a
``neuron`` group. For a ``CUBA`` neuron it builds Lava's LIF with

    du = iDecay − 1,  dv = vDecay,  vth = vThMant,  bias_mant = bias,  bias_exp = 6

so its arithmetic is DESIGN §3's with one du, dv and vth per layer, a bias that is a
multiple of 64, and synapses without a right shift: Lava's Conv applies the file's
kernel (O, C, kH, kW) as is (netx flips it for Lava's true convolution, so it acts
as PyTorch's cross-correlation) and netx's Dense reproduces the file's integer
weights exactly when they lie in Loihi's 8-bit-plus-sign range (``_dense_exact``).

Mapping decisions (docs/netx.md says the same for users):

- Input: the ``input`` layer carries only ``shape``, no neuron; the first synapse
  then takes the graded integers directly (``Network(input_message_bits=B)``), which
  is exactly the QGraph's graded input. A dense first layer takes the input flattened
  in PyTorch's (C, H, W) order. On import, also: an input layer *with* a neuron (the
  image fed as its bias, ``_input_neurons``), a file with no input layer, slayer's
  (N, 1, 1) dense shapes, ``/simulation/tSample`` as T, a neuron-less last dense layer
  as a readout (``_integrator``), and the first K layers only (netx's ``num_layers``).
- Readout: netx has no integrator node. Ours is written as the last ``dense`` layer
  with a CUBA neuron whose threshold is out of the 24-bit state range
  (vThMant = 2^18 − 1, as slayer writes non-spiking layers), dv = 0, iDecay = 4096:
  it never spikes and its v is our readout's v. On import, a last layer whose
  vThMant·64 exceeds the state range becomes a readout again.
- Pooling: netx loads no pool layer. Sum pooling k before a conv is folded into it
  (kernel taps repeated over the k×k cell, stride and padding × k); before a dense
  layer the weights are repeated over each cell. Both are exact on spikes.
- Flatten: netx flattens (W, H, C) as PyTorch's (C, H, W): dense weights keep
  PyTorch's column order.

Not every exported QGraph fits netx's fixed exponents. ``netx_graph`` makes the
nearest one that does (and says what it changed): a projection with e < 0 gets
its weights rounded to W·2^e (netx synapses cannot shift right); a dense projection
with e > 1 drops e − 1 bits of voltage resolution (netx's Dense holds 9-bit signed
weights at most), rounding vth and bias; every bias is rounded to a multiple of 64
(netx's bias_exp = 6). ``write_netx`` then writes that graph exactly, and
``read_netx`` of the file gives it back.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from typing import Any

import numpy as np

from hardware_sim.files import write_bytes
from hardware_sim.ir import synapses
from hardware_sim.ir.graph import (
    INPUT,
    WEIGHT_MAX,
    WEIGHT_MIN,
    GraphError,
    IntPopulation,
    Projection,
    QGraph,
)
from hardware_sim.ir.neuron import BIAS_MANT_MAX, DECAY_ONE, STATE_MAX, THRESHOLD_MAX
from hardware_sim.ir.nir.format import DEFAULT_LIMITS, INPUT_BITS_RANGE, ReadLimits
from hardware_sim.ir.nir.hdf5 import BudgetedHDF5, UnsafeHDF5, one_line

NETX_FORMAT = "dalif-netx"
NETX_FORMAT_VERSION = 1
NETX_BIAS_EXP = 6
"""netx builds every CUBA neuron with bias_exp = 6 (``Network.get_neuron_params``)."""
READOUT_VTH_MANT = (1 << 18) - 1
"""A threshold above the 24-bit state range: the neuron never spikes (slayer's choice too)."""
INPUT_LAYER = "input_layer"
"""The population an input layer with neurons (netx's image-as-bias ``Input``) becomes."""
_MAX_WEIGHT_EXP = 7
_VTH_MANT_MAX = (1 << 31) - 1


class NetxError(ValueError):
    """A network that netx cannot hold, or a netx file the QGraph cannot hold; names the layer."""


# ---------------------------------------------------------------------------------------------
# QGraph → the nearest netx-representable QGraph


def netx_graph(graph: QGraph) -> tuple[QGraph, dict[str, dict[str, int]]]:
    """The integer model that netx holds exactly, made from ``graph``, and per population
    what had to change: ``weights_rounded``, ``resolution_bits_dropped``, ``vth_rounded``,
    ``bias_rounded``, ``bias_clipped``. Raises NetxError for what netx cannot express at
    all (per-neuron or per-channel decays or thresholds, input gains, joins, delays)."""
    _check_structure(graph)
    populations, changes = [], {}
    for pop in graph.populations:
        proj = pop.projections[0]
        count = {"weights_rounded": 0, "resolution_bits_dropped": 0, "vth_rounded": 0,
                 "bias_rounded": 0, "bias_clipped": 0}
        weight, exp = proj.weight.astype(np.int64), proj.weight_exp
        if exp < 0:  # netx synapses have no right shift: round the weights instead
            scaled = np.rint(weight / 2.0 ** -exp).astype(np.int64)
            count["weights_rounded"] = int(np.count_nonzero(scaled * 2 ** -exp != weight))
            weight, exp = scaled, 0
        drop = exp - 1 if proj.kind == "dense" and exp > 1 else 0
        exp -= drop
        vth = pop.vth.astype(np.int64)
        if drop and not pop.readout:
            vth = np.rint(vth / 2.0 ** drop).astype(np.int64)
            count["vth_rounded"] = int(np.count_nonzero(vth * 2 ** drop != pop.vth))
        count["resolution_bits_dropped"] = drop
        bias = pop.bias.astype(np.float64) / 2.0 ** drop
        mant, bias_exp, rounded, clipped = _bias_for_netx(bias)
        count["bias_rounded"], count["bias_clipped"] = rounded, clipped
        populations.append(replace(
            pop, projections=[replace(proj, weight=weight, weight_exp=exp)], vth=vth,
            bias_mant=mant, bias_exp=bias_exp, v_scale=pop.v_scale * 2.0 ** drop))
        changes[pop.name] = count
    try:
        report = {name: {**graph.quantization_report.get(name, {}),
                         "netx_bias_clipped": changes[name]["bias_clipped"]} for name in changes}
        adapted = replace(graph, populations=populations, quantization_report=report)
    except GraphError as exc:
        raise NetxError(str(exc)) from None
    _check_exact(adapted)
    return adapted, changes


def _bias_for_netx(bias: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """A bias as (mant, exp) with exp ∈ {6, 7}: a multiple of 64 (of 128 where it needs 14
    bits), as netx's bias_exp = 6 requires; returns also the values rounded and clipped."""
    exact = np.rint(bias)
    for exp in (NETX_BIAS_EXP, NETX_BIAS_EXP + 1):
        mant = np.rint(bias / 2.0 ** exp)
        if np.abs(mant).max(initial=0) <= BIAS_MANT_MAX or exp == NETX_BIAS_EXP + 1:
            break
    clipped = int(np.count_nonzero((mant < -BIAS_MANT_MAX - 1) | (mant > BIAS_MANT_MAX)))
    mant = np.clip(mant, -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64)
    rounded = int(np.count_nonzero(mant * 2.0 ** exp != exact))
    return mant, exp, rounded, clipped


def _check_structure(graph: QGraph) -> None:
    """What netx's sequential CUBA format cannot express at all."""
    previous = INPUT
    for index, pop in enumerate(graph.populations):
        where = f"layer {pop.name!r}"
        if len(pop.projections) != 1:
            raise NetxError(f"{where}: {len(pop.projections)} inputs (a residual join); netx "
                            f"holds a chain of layers")
        proj = pop.projections[0]
        if proj.source != previous:
            raise NetxError(f"{where}: fed by {proj.source!r}, not by the layer before it; netx "
                            f"holds a chain of layers")
        if proj.delay:
            raise NetxError(f"{where}: synaptic delay {proj.delay} is not supported in netx export")
        for key in ("dv", "du", "vth"):
            values = np.unique(getattr(pop, key))
            if values.size != 1 and not (key == "vth" and pop.readout):
                raise NetxError(
                    f"{where}: {values.size} distinct {key} values; netx holds one {key} per "
                    f"layer (train with --granularity layer)")
        if pop.gain is not None:
            raise NetxError(f"{where}: per-neuron input gains (spatial decay varying within a "
                            f"channel) cannot be expressed in netx")
        if pop.readout and index != len(graph.populations) - 1:
            raise NetxError(f"{where}: a readout must be the last layer in netx")
        if proj.pool > 1:
            _, h, w = proj.source_shape
            if h % proj.pool or w % proj.pool:
                raise NetxError(f"{where}: pooling {proj.pool} does not tile its {h}x{w} input; "
                                f"netx has no pool layer to hold it")
        previous = pop.name
    if graph.output != previous:
        raise NetxError(f"output {graph.output!r} is not the last layer")


def _check_exact(graph: QGraph) -> None:
    """Everything ``write_netx`` writes must load in netx as exactly this integer model."""
    _check_structure(graph)
    for pop in graph.populations:
        proj = pop.projections[0]
        where = f"layer {pop.name!r}"
        if proj.weight_exp < 0:
            raise NetxError(f"{where}: weight exponent {proj.weight_exp} < 0; netx synapses "
                            f"cannot shift right (use netx_graph)")
        if pop.bias_exp < NETX_BIAS_EXP and np.any(pop.bias % (1 << NETX_BIAS_EXP)):
            raise NetxError(f"{where}: bias is not a multiple of 64 (netx's bias_exp is 6)")
        if proj.kind == "dense" and not _dense_exact(_expanded_dense(proj)):
            raise NetxError(f"{where}: dense weights x 2^{proj.weight_exp} exceed what netx's "
                            f"Dense holds exactly (8 bits plus sign)")


def _dense_exact(weight: np.ndarray) -> bool:
    """Whether netx's Dense (``optimize_weight_bits`` + Lava's 8-bit clip and truncation)
    reproduces these integer weights exactly: mixed signs within [−256, 254], one sign
    within 255, and not all-negative with a power-of-two minimum (which Lava clips to
    one step less; checked against lava-dl 0.6 by running it)."""
    if weight.size == 0:
        return True
    lo, hi = int(weight.min()), int(weight.max())
    if hi < 0:
        return lo >= -255 and (-lo) & (-lo - 1) != 0
    if lo >= 0:
        return hi <= 255
    return lo >= -256 and hi <= 254


# ---------------------------------------------------------------------------------------------
# Writing


def write_netx(graph: QGraph, path: str | os.PathLike, timesteps: int,
               info: dict[str, Any] | None = None) -> None:
    """Write ``graph`` (netx-representable: see ``netx_graph``) as a netx HDF5 file,
    atomically. A ``/dalif`` group (ignored by lava-dl) keeps what netx has no field for:
    population names, voltage scales, timesteps and the input's bits and scale. The file is
    built in memory and then written with plain I/O, so a full disk is one clean error (HDF5
    failing mid-write crashes the process)."""
    import h5py

    _check_exact(graph)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        layers = f.create_group("layer")

        def layer(kind: str, shape: tuple[int, ...]) -> Any:
            group = layers.create_group(str(len(layers)))
            group.create_dataset("type", (1,), "S10", [kind.encode("ascii")])
            group.create_dataset("shape", data=np.array(shape, dtype=np.int64))
            return group

        layer("input", graph.input_shape)
        for pop in graph.populations:
            proj = pop.projections[0]
            if proj.kind == "conv":
                group = layer("conv", pop.shape)
                _write_conv(group, pop, proj)
            else:
                if len(proj.source_shape) > 1:
                    layer("flatten", proj.source_shape)
                group = layer("dense", pop.shape)
                weight = _expanded_dense(proj)
                group.create_dataset("inFeatures", data=weight.shape[1])
                group.create_dataset("outFeatures", data=weight.shape[0])
                group.create_dataset("weight", data=weight.astype(np.int32))
                group.create_dataset("bias", data=_bias_in_file(pop).astype(np.int32))
            _write_neuron(group, pop)
        meta = f.create_group("dalif")
        meta.attrs.update({
            "format": NETX_FORMAT, "format_version": NETX_FORMAT_VERSION,
            "timesteps": int(timesteps), "input_bits": int(graph.input_bits),
            "input_scale": float(graph.input_scale), "output": graph.output,
            "names": json.dumps([p.name for p in graph.populations]),
            "v_scales": json.dumps([p.v_scale for p in graph.populations]),
            "info": json.dumps(info or {}, default=str),
        })
    write_bytes(path, buffer.getvalue())


def _write_conv(group: Any, pop: IntPopulation, proj: Projection) -> None:
    kernel = synapses.unpooled_weight(proj, proj.weight.astype(np.int64) * (1 << proj.weight_exp))
    stride, padding = synapses.unpooled_conv_geometry(proj)  # sum pooling folded in
    group.create_dataset("inChannels", data=kernel.shape[1])
    group.create_dataset("outChannels", data=kernel.shape[0])
    group.create_dataset("kernelSize", data=np.array(kernel.shape[2:], dtype=np.int64))
    group.create_dataset("stride", data=np.array(stride, dtype=np.int64))  # (H, W), as lava-dl reads
    group.create_dataset("padding", data=np.array(padding, dtype=np.int64))
    group.create_dataset("dilation", data=np.array([1, 1], dtype=np.int64))
    group.create_dataset("groups", data=1)
    group.create_dataset("weight", data=kernel.astype(np.int32))
    group.create_dataset("bias", data=_bias_in_file(pop).astype(np.int32))


def _write_neuron(group: Any, pop: IntPopulation) -> None:
    neuron = group.create_group("neuron")
    neuron.create_dataset("type", data="CUBA")
    neuron.create_dataset("iDecay", data=int(pop.du.flat[0]) + 1)
    neuron.create_dataset("vDecay", data=int(pop.dv.flat[0]))
    neuron.create_dataset("vThMant", data=READOUT_VTH_MANT if pop.readout else int(pop.vth.flat[0]))
    neuron.create_dataset("refDelay", data=1)
    neuron.create_dataset("gradedSpike", data=False)


def _bias_in_file(pop: IntPopulation) -> np.ndarray:
    """netx's bias mantissa (our bias / 64): per channel (C,) for a conv layer whose bias is
    uniform per channel, else per neuron, in Lava's (W, H, C) layout for conv layers."""
    bias = pop.bias // (1 << NETX_BIAS_EXP)
    if len(pop.shape) != 3:
        return bias
    per_channel = bias.reshape(bias.shape[0], -1)
    if np.all(per_channel == per_channel[:, :1]):
        return per_channel[:, 0]
    return np.ascontiguousarray(np.transpose(bias, (2, 1, 0)))


def _expanded_dense(proj: Projection) -> np.ndarray:
    """A dense projection's weights × 2^e over the unpooled source, PyTorch (C, H, W) column
    order (``synapses.unpooled_weight``)."""
    return synapses.unpooled_weight(proj, proj.weight.astype(np.int64) * (1 << max(proj.weight_exp, 0)))


# ---------------------------------------------------------------------------------------------
# Reading


def read_netx(path: str | os.PathLike, *, timesteps: int | None = None, input_bits: int = 8,
              input_scale: float = 1.0 / 255, limits: ReadLimits = DEFAULT_LIMITS,
              input_shape: tuple[int, ...] | None = None, layers: int | None = None
              ) -> tuple[QGraph, int]:
    """Load a netx file of CUBA layers (input, conv, flatten, dense) as a QGraph.

    Returns (graph, timesteps). Files written by ``write_netx`` carry their timesteps,
    input bits and scale, names and voltage scales; slayer's files carry T as
    ``/simulation/tSample``; for other files give ``timesteps`` (and the input's bits and
    float scale). ``input_shape`` (C, H, W) or (N,): for a file without an input layer whose
    first layer cannot tell it (a strided conv). ``layers``: load only the first ``layers``
    layers of the file (as netx's ``num_layers``; an input layer counts). The file is read
    under ``limits`` as a NIR file
    is (``hardware_sim.ir.nir.hdf5``): its regular-file status, links, storage, dtypes and
    declared sizes are checked before any data is read, and only the datasets the layers use
    are read. Weights, biases and neuron fields must be integers (lava-dl would truncate a
    fraction silently; here it is an error). Raises NetxError, naming the layer, for
    anything the QGraph cannot hold exactly.
    """
    _check_arguments(timesteps, input_bits, input_scale, limits, "")
    if layers is not None and (not _is_integer(layers) or layers < 1):
        raise NetxError(f"layers must be a positive integer, got {layers!r}")
    if input_shape is not None and (not 1 <= len(input_shape) <= 3 or min(input_shape) < 1):
        raise NetxError(f"input shape {input_shape} must be 1 to 3 positive integers")
    try:
        with BudgetedHDF5(path, limits.max_bytes, roots=("layer", "dalif", "simulation")) as h5:
            return _read_file(h5, path, timesteps, input_bits, input_scale, limits,
                              None if input_shape is None else tuple(int(d) for d in input_shape),
                              layers)
    except (UnsafeHDF5, NetxError) as exc:
        raise NetxError(f"{path}: {exc}") from None
    except (OSError, KeyError, TypeError, ValueError, ArithmeticError) as exc:  # h5py on a corrupt file
        raise NetxError(f"{path}: not a readable netx file ({type(exc).__name__}: {one_line(exc)})") from None


_META_KEYS = ("format", "format_version", "timesteps", "input_bits", "input_scale", "names", "v_scales")
_NEURON_FIELDS = ("iDecay", "vDecay", "vThMant")
_UNSUPPORTED = {"dense_rec": " (recurrent dense)", "dense_comp": " (complex-valued dense)",
                "pool": " (netx 0.6 loads none either)", "average": " (netx 0.6 loads none either)",
                "concat": " (netx 0.6 loads none either)"}
_LAYER_FIELDS = {"conv": ("shape", "weight", "bias", "groups", "stride", "padding", "dilation"),
                 "dense": ("shape", "weight", "bias"), "input": ("shape",), "flatten": ()}


def _check_arguments(timesteps: Any, input_bits: Any, input_scale: Any, limits: ReadLimits,
                     source: str) -> None:
    """T, the input's bits and its float scale, the caller's or the file's."""
    where = f"{source} " if source else ""
    if timesteps is not None:
        if not _is_integer(timesteps) or timesteps < 1:
            raise NetxError(f"{where}timesteps must be a positive integer, got {timesteps!r}")
        if timesteps > limits.max_timesteps:
            raise NetxError(f"{where}{timesteps} timesteps is more than {limits.max_timesteps} "
                            "(raise the limit: --max-timesteps)")
    lo, hi = INPUT_BITS_RANGE
    if not _is_integer(input_bits) or not lo <= input_bits <= hi:
        raise NetxError(f"{where}input bits must be an integer in {lo}..{hi}, got {input_bits!r}")
    scale = float(input_scale) if _is_real(input_scale) else float("nan")
    if not (np.isfinite(scale) and scale > 0 and np.isfinite(1.0 / scale)):
        raise NetxError(f"{where}input scale must be a positive finite number, got {input_scale!r}")


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _read_file(h5: BudgetedHDF5, path: Any, timesteps: int | None, input_bits: int,
               input_scale: float, limits: ReadLimits, input_shape: tuple[int, ...] | None,
               num_layers: int | None) -> tuple[QGraph, int]:
    if "layer" not in h5.groups:
        raise NetxError("no /layer group (not a netx network file)")
    meta = _read_meta(h5)
    if meta:
        timesteps = _meta_int(meta, "timesteps") if timesteps is None and "timesteps" in meta else timesteps
        input_bits = _meta_int(meta, "input_bits") if "input_bits" in meta else input_bits
        input_scale = _meta_real(meta, "input_scale") if "input_scale" in meta else input_scale
        _check_arguments(timesteps, input_bits, input_scale, limits, "/dalif")
    if timesteps is None and "simulation/tSample" in h5.datasets:
        timesteps = _t_sample(h5, limits)
    if timesteps is None:
        raise NetxError("the file does not say how many timesteps to run (no /simulation/tSample): "
                        "give them")
    keys = sorted(h5.groups["layer"], key=lambda k: int(k) if k.isdigit() and len(k) < 10 else -1)
    if not keys or keys != [str(i) for i in range(len(keys))]:
        raise NetxError("layers must be named 0, 1, 2, …")
    layers = _Layers(h5, keys)
    count = sum(1 for k in keys if layers.kind(k) in ("conv", "dense"))
    names = _meta_list(meta, "names", count, str)
    v_scales = _meta_list(meta, "v_scales", count, float)
    if names is not None and len(set(names)) != len(names):
        raise NetxError("/dalif names must be distinct")
    graph = _read_layers(layers, keys[:num_layers], names, v_scales, input_bits, input_scale, limits,
                         input_shape)
    neurons = sum(int(np.prod(p.shape)) for p in graph.populations) + int(np.prod(graph.input_shape))
    if timesteps * neurons * 8 > limits.max_bytes:
        raise NetxError(f"{timesteps} timesteps x {neurons} neurons of 8-byte counters is more than the "
                        f"budget of {limits.max_bytes} bytes (raise it: --max-bytes)")
    return graph, int(timesteps)


def _t_sample(h5: BudgetedHDF5, limits: ReadLimits) -> int:
    """slayer's ``/simulation/tSample`` (steps per sample at ``Ts`` = 1) as T."""
    value = np.asarray(h5.read("simulation/tSample"))
    if value.size != 1 or value.dtype.kind not in "iuf":
        raise NetxError(f"/simulation/tSample must be one number, got {value!r}")
    value = value.reshape(-1)[0]
    if "simulation/Ts" in h5.datasets:
        ts = np.asarray(h5.read("simulation/Ts")).reshape(-1)
        if ts.size != 1 or ts.dtype.kind not in "iuf" or float(ts[0]) != 1:
            raise NetxError(f"/simulation/Ts is {ts.tolist()}, not 1: tSample is not a step count")
    if not np.isfinite(value) or value != np.rint(value) or not 1 <= value <= limits.max_timesteps:
        raise NetxError(f"/simulation/tSample {value!r} is not a step count in 1..{limits.max_timesteps} "
                        f"(raise the limit: --max-timesteps)")
    return int(value)


def _read_meta(h5: BudgetedHDF5) -> dict[str, Any]:
    if "dalif" not in h5.groups:
        return {}
    attrs = h5.file["dalif"].attrs
    meta = {key: h5.read_attribute("dalif", key) for key in _META_KEYS if key in attrs}
    if "format" in meta and meta["format"] != NETX_FORMAT:
        raise NetxError(f"/dalif: unknown format {meta['format']!r}")
    if "format_version" in meta and _meta_int(meta, "format_version") != NETX_FORMAT_VERSION:
        raise NetxError(f"/dalif: unsupported format version {meta['format_version']!r}")
    return meta


def _meta_int(meta: dict[str, Any], key: str) -> int:
    value = meta[key]
    if isinstance(value, str) or not _is_real(value) or not np.isfinite(value) or value != np.rint(value) \
            or abs(value) > 2**62:
        raise NetxError(f"/dalif: {key} must be an integer, got {value!r}")
    return int(value)


def _meta_real(meta: dict[str, Any], key: str) -> float:
    value = meta[key]
    if isinstance(value, str) or not _is_real(value):
        raise NetxError(f"/dalif: {key} must be a number, got {value!r}")
    return float(value)


def _meta_list(meta: dict[str, Any], key: str, count: int, kind: type) -> list | None:
    if key not in meta:
        return None
    try:
        values = json.loads(meta[key]) if isinstance(meta[key], str) else None
    except (ValueError, RecursionError):
        values = None
    if not isinstance(values, list) or len(values) != count:
        raise NetxError(f"/dalif: {key} must be a JSON list of {count} entries, one per layer")
    for value in values:
        if kind is str and not isinstance(value, str):
            raise NetxError(f"/dalif: {key} must hold strings")
        if kind is float and (not _is_real(value) or not (np.isfinite(value) and value > 0)):
            raise NetxError(f"/dalif: {key} must hold positive finite numbers")
    return values


class _Layers:
    """The /layer groups of a budgeted file: each layer's type first, then (all sizes planned
    together) the fields its type uses."""

    def __init__(self, h5: BudgetedHDF5, keys: list[str]):
        self.h5 = h5
        self.kinds: dict[str, str] = {}
        for key in keys:
            group = f"layer/{key}"
            if group not in h5.groups:
                raise NetxError(f"layer {key}: not a group")
            self.kinds[key] = self._text(f"{group}/type")
            if self.has(key, "neuron") and f"{group}/neuron" in h5.groups:
                self.kinds[f"{key}/neuron"] = self._text(f"{group}/neuron/type")
        wanted = []
        for key in keys:
            group = f"layer/{key}"
            fields = [f for f in _LAYER_FIELDS.get(self.kinds[key], ()) if f"{group}/{f}" in h5.datasets]
            if f"{group}/neuron" in h5.groups:
                fields += [f"neuron/{f}" for f in _NEURON_FIELDS if f"{group}/neuron/{f}" in h5.datasets]
            wanted += [f"{group}/{f}" for f in fields]
        h5.plan(wanted)  # every declared size against the budget before reading any

    def kind(self, key: str) -> str:
        return self.kinds.get(key, "?")

    def has(self, key: str, field: str) -> bool:
        return self.h5.has(f"layer/{key}/{field}")

    def _text(self, path: str) -> str:
        if path not in self.h5.datasets:
            return "?"
        value = self.h5.read(path)
        if isinstance(value, np.ndarray):
            if value.size != 1 or value.dtype.kind not in "SUO":
                return "?"
            value = value.reshape(-1)[0]
        return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)

    def ints(self, key: str, field: str, where: str) -> np.ndarray:
        """An integer field as int64: numeric, finite and integral (lava-dl would truncate)."""
        path = f"layer/{key}/{field}"
        if path not in self.h5.datasets:
            raise NetxError(f"{where}: no {field} dataset")
        value = np.asarray(self.h5.read(path))
        if np.issubdtype(value.dtype, np.floating):
            if not np.all(np.isfinite(value)) or np.any(value != np.rint(value)):
                raise NetxError(f"{where}: {field} must hold integers (lava-dl would truncate "
                                f"fractions silently)")
        elif not np.issubdtype(value.dtype, np.integer):
            raise NetxError(f"{where}: {field} must hold integers, not {value.dtype}")
        if value.size and (int(value.min()) < -(1 << 62) or int(value.max()) > 1 << 62):
            raise NetxError(f"{where}: {field} holds integers beyond 62 bits")
        return value.astype(np.int64)

    def int_value(self, key: str, field: str, where: str) -> int:
        value = self.ints(key, field, where)
        if value.size != 1:
            raise NetxError(f"{where}: {field} must be one integer, got shape {value.shape}")
        return int(value.reshape(-1)[0])


def _read_layers(layers: _Layers, keys: list[str], names: list[str] | None,
                 v_scales: list[float] | None, input_bits: int, input_scale: float,
                 limits: ReadLimits, given_shape: tuple[int, ...] | None = None) -> QGraph:
    populations: list[IntPopulation] = []
    if layers.kind(keys[0]) == "input":
        input_shape = _shape(layers, keys[0], "layer 0 (input)", limits)
        if given_shape is not None and given_shape != input_shape:
            raise NetxError(f"the input shape given, {given_shape}, is not the input layer's {input_shape}")
        body = keys[1:]
        if layers.has(keys[0], "neuron"):
            populations.append(_input_neurons(layers, keys[0], input_shape, limits))
    elif layers.kind(keys[0]) in ("conv", "dense"):
        input_shape = given_shape or _inferred_input_shape(layers, keys[0])
        body = keys
    else:
        kind = layers.kind(keys[0])
        raise NetxError(f"layer 0: layer type {kind!r} is not supported{_UNSUPPORTED.get(kind, '')}; "
                        f"a network starts with an input, conv or dense layer")
    neurons = int(np.prod(input_shape)) + sum(int(np.prod(p.shape)) for p in populations)
    source, source_shape = (populations[0].name, input_shape) if populations else (INPUT, input_shape)
    flatten = False
    last_key = max((k for k in keys if layers.kind(k) in ("conv", "dense")), key=int, default=None)
    first = len(populations)  # /dalif names and v scales count the conv and dense layers
    for key in body:
        kind = layers.kind(key)
        where = f"layer {key} ({kind})"
        if kind == "flatten":
            flatten = True
            continue
        if kind == "input":
            raise NetxError(f"{where}: an input layer must be the first layer")
        if kind not in ("conv", "dense"):
            raise NetxError(f"{where}: layer type {kind!r} is not supported{_UNSUPPORTED.get(kind, '')}; "
                            f"these are: input, conv, flatten, dense")
        if layers.has(key, "delay"):
            raise NetxError(f"{where}: synaptic delays are not supported")
        index = len(populations) - first
        name = names[index] if names else f"{kind}{key}"
        shape = _shape(layers, key, where, limits)
        if kind == "dense":
            shape = (int(np.prod(shape)),)  # slayer writes (N, 1, 1); netx takes N
        neurons += int(np.prod(shape))
        if neurons > limits.max_neurons:
            raise NetxError(f"{where}: the network declares more than {limits.max_neurons} neurons "
                            "(raise the limit: --max-neurons)")
        if kind == "conv":
            proj = _read_conv(layers, key, where, source, source_shape, shape)
        else:
            if len(source_shape) > 1 and not flatten and source != INPUT:
                raise NetxError(f"{where}: a dense layer after a conv layer needs a flatten layer")
            proj = _read_dense(layers, key, where, source, source_shape, shape)
        flatten = False
        bias = _read_bias(layers, key, where, shape)
        if kind == "dense" and not layers.has(key, "neuron"):
            neuron = _integrator(where, bias, last=key == last_key)
        else:
            neuron = _read_neuron(layers, key, where, shape, readout_allowed=key == last_key)
        mant, bias_exp = _bias_mantissa(bias, where)
        if np.any(mant != 0) and int(neuron["du"].flat[0]) != DECAY_ONE - 1:
            raise NetxError(f"{where}: a bias with current memory (iDecay < 4096) has no NIR form")
        try:
            populations.append(IntPopulation(
                name=name, shape=shape, projections=[proj], bias_mant=mant, bias_exp=bias_exp,
                v_scale=float(v_scales[index]) if v_scales else 1.0, **neuron))
        except GraphError as exc:
            raise NetxError(f"{where}: {exc}") from None
        source, source_shape = name, shape
    if not populations:
        raise NetxError("the file has no conv or dense layer")
    try:
        return QGraph(input_shape=input_shape, populations=populations, output=source,
                      input_scale=input_scale, input_bits=input_bits)
    except GraphError as exc:
        raise NetxError(str(exc)) from None


def _input_neurons(layers: _Layers, key: str, shape: tuple[int, ...], limits: ReadLimits
                   ) -> IntPopulation:
    """An input layer with neurons: netx's ``Input`` block, a LIF whose bias is the image (the
    user sets ``bias_mant``; its synaptic input is never connected) and which sends 1-bit
    spikes. Held exactly as a population fed the image as graded input through a 1×1
    identity projection: with iDecay = 4096 (du = 4095) its u[t] is x << 6 each step, which
    is what the bias adds (bias_exp = 6), so v and the spikes are netx's; its u holds that
    drive where Lava's u stays 0. The file's input ``weight`` and ``bias`` are netx's
    ``transform``, which netx does not apply either: the input file holds the bias itself."""
    where = f"layer {key} (input)"
    neuron = _read_neuron(layers, key, where, shape, readout_allowed=False)
    if int(neuron["du"].flat[0]) != DECAY_ONE - 1:
        raise NetxError(f"{where}: an input layer with current memory (iDecay < 4096) accumulates its "
                        f"drive in u; the image-as-bias has no graded-input form for it")
    if len(shape) == 3:
        weight = np.eye(shape[0], dtype=np.int64)[:, :, None, None]
        proj = Projection(INPUT, "conv", weight, shape)
    elif len(shape) == 1:
        if shape[0] ** 2 > limits.max_synapses or shape[0] ** 2 * 8 > limits.max_bytes:
            raise NetxError(f"{where}: {shape[0]} input neurons take a {shape[0]}x{shape[0]} identity "
                            f"projection, more than the limits (--max-synapses, --max-bytes)")
        proj = Projection(INPUT, "dense", np.eye(shape[0], dtype=np.int64), shape)
    else:
        raise NetxError(f"{where}: an input layer of shape {shape} (give (C, H, W) or (N,))")
    try:
        return IntPopulation(name=INPUT_LAYER, shape=shape, projections=[proj],
                             bias_mant=np.zeros(shape, np.int64), bias_exp=NETX_BIAS_EXP, v_scale=1.0,
                             **neuron)
    except GraphError as exc:
        raise NetxError(f"{where}: {exc}") from None


def _inferred_input_shape(layers: _Layers, key: str) -> tuple[int, ...]:
    """The input of a file without an input layer, as netx infers it (a dense layer's
    inFeatures), or a stride-1 conv's, which its output shape fixes; else an error."""
    where = f"layer {key} ({layers.kind(key)})"
    weight = layers.ints(key, "weight", where)
    if layers.kind(key) == "dense":
        out = int(np.prod(layers.ints(key, "shape", where)))
        if weight.size % max(out, 1):
            raise NetxError(f"{where}: weight of shape {weight.shape} for {out} outputs")
        return (weight.size // out,)
    shape = tuple(int(d) for d in layers.ints(key, "shape", where).reshape(-1))
    stride, (ph, pw) = (_pair(layers, key, f, d, where) for f, d in (("stride", 1), ("padding", 0)))
    if weight.ndim < 4 or len(shape) != 3 or stride != (1, 1):
        raise NetxError(f"{where}: the file has no input layer and this conv does not fix its input "
                        f"size; give the input shape (C, H, W)")
    kh, kw = weight.shape[2:4]
    return (int(weight.shape[1]), shape[1] - 1 - 2 * ph + kh, shape[2] - 1 - 2 * pw + kw)


def _integrator(where: str, bias: np.ndarray, last: bool) -> dict[str, Any]:
    """A dense layer without a neuron group: netx gives it iDecay = 0, vDecay = 4096 and
    vThMant = 2^17 (u integrates for ever, v = u + bias, never spikes). With no bias that is
    our readout (du = 4095, dv = 0: v sums a << 6 directly), its v the same sum."""
    if not last:
        raise NetxError(f"{where}: no neuron group (netx makes a non-spiking integrator); only the "
                        f"last layer may be one")
    if np.any(bias != 0):
        raise NetxError(f"{where}: no neuron group and a bias: netx's integrator adds the bias to v "
                        f"once per step without accumulating it, which no QGraph readout does")
    shape = bias.shape
    return {"dv": np.zeros(shape, np.int64), "du": np.full(shape, DECAY_ONE - 1),
            "vth": np.full(shape, THRESHOLD_MAX), "readout": True}


def _shape(layers: _Layers, key: str, where: str, limits: ReadLimits) -> tuple[int, ...]:
    shape = layers.ints(key, "shape", where).reshape(-1)
    if shape.size == 0 or shape.size > 3 or np.any(shape < 1):
        raise NetxError(f"{where}: shape {shape.tolist()} must be 1 to 3 positive integers")
    if int(np.prod(shape, dtype=object)) > limits.max_neurons:
        raise NetxError(f"{where}: the network declares more than {limits.max_neurons} neurons "
                        "(raise the limit: --max-neurons)")
    return tuple(int(d) for d in shape)


def _pair(layers: _Layers, key: str, field: str, default: int, where: str) -> tuple[int, int]:
    """A conv's per-axis ``field`` as (H, W): netx files store PyTorch's order (lava-dl reverses
    it into Lava's (W, H)); one value means both axes."""
    if not layers.has(key, field):
        return default, default
    values = layers.ints(key, field, where).reshape(-1)
    if values.size not in (1, 2):
        raise NetxError(f"{where}: {field} {values.tolist()} must be one value or one per axis (H, W)")
    if values.min() < 0 or values.max() > 1 << 16:
        raise NetxError(f"{where}: {field} {values.tolist()} outside 0..65536")
    rows, cols = (values.tolist() * 2)[:2]
    return int(rows), int(cols)


def _split_exponent(weight: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """Integer weights as int8 × 2^e (the smallest e ≥ 0), exactly, or a NetxError."""
    for exp in range(_MAX_WEIGHT_EXP + 1):
        if np.any(weight % (1 << exp)):
            break
        scaled = weight >> exp
        if scaled.size == 0 or (scaled.min() >= WEIGHT_MIN and scaled.max() <= WEIGHT_MAX):
            return scaled, exp
    raise NetxError(f"{where}: weights {weight.min()}..{weight.max()} are not 8-bit integers "
                    f"times a power of two")


def _read_conv(layers: _Layers, key: str, where: str, source: str, source_shape: tuple[int, ...],
               shape: tuple[int, ...]) -> Projection:
    weight = layers.ints(key, "weight", where)
    if weight.ndim == 5 and weight.shape[4] == 1:
        weight = weight[..., 0]
    if weight.ndim != 4:
        raise NetxError(f"{where}: conv weight of shape {weight.shape}, expected (O, C, kH, kW)")
    groups = layers.int_value(key, "groups", where) if layers.has(key, "groups") else 1
    if _pair(layers, key, "dilation", 1, where) != (1, 1) or groups != 1:
        raise NetxError(f"{where}: dilation and groups other than 1 are not supported")
    if len(source_shape) != 3:
        raise NetxError(f"{where}: a conv layer needs a (C, H, W) input, got {source_shape}")
    w_int, exp = _split_exponent(weight, where)
    try:
        proj = Projection(source, "conv", w_int, source_shape, weight_exp=exp,
                          stride=_pair(layers, key, "stride", 1, where),
                          padding=_pair(layers, key, "padding", 0, where))
    except GraphError as exc:
        raise NetxError(f"{where}: {exc}") from None
    if shape != proj.output_shape:
        raise NetxError(f"{where}: shape {shape} does not match the convolution's output "
                        f"{proj.output_shape}")
    return proj


def _read_dense(layers: _Layers, key: str, where: str, source: str, source_shape: tuple[int, ...],
                shape: tuple[int, ...]) -> Projection:
    shape = (int(np.prod(shape)),)
    weight = layers.ints(key, "weight", where)
    if weight.ndim == 1 and weight.size % shape[0] == 0:
        weight = weight.reshape(shape[0], -1)
    if weight.ndim != 2:
        raise NetxError(f"{where}: dense weight of shape {weight.shape}, expected (out, in)")
    if not _dense_exact(weight):
        raise NetxError(f"{where}: lava-dl would not load these dense weights exactly "
                        f"({weight.min()}..{weight.max()})")
    w_int, exp = _split_exponent(weight, where)
    try:
        return Projection(source, "dense", w_int, source_shape, weight_exp=exp)
    except GraphError as exc:
        raise NetxError(f"{where}: {exc}") from None


def _read_neuron(layers: _Layers, key: str, where: str, shape: tuple[int, ...], readout_allowed: bool
                 ) -> dict[str, Any]:
    if not layers.has(key, "neuron"):
        raise NetxError(f"{where}: no neuron group")
    kind = layers.kind(f"{key}/neuron")
    if kind not in ("CUBA", "LOIHI"):
        what = {"SDNN": " (sigma-delta: graded messages of state changes)"}.get(kind, "")
        raise NetxError(f"{where}: neuron type {kind!r}{what} is not supported; the QGraph holds "
                        f"CUBA (LOIHI) LIF neurons")
    i_decay, v_decay, vth = (layers.int_value(key, f"neuron/{f}", where) for f in _NEURON_FIELDS)
    if not 1 <= i_decay <= DECAY_ONE:
        raise NetxError(f"{where}: iDecay {i_decay} outside 1..4096 (du = iDecay - 1 is 12-bit)")
    if not 0 <= v_decay < DECAY_ONE:
        raise NetxError(f"{where}: vDecay {v_decay} outside 0..4095")
    if vth < 0:
        raise NetxError(f"{where}: negative vThMant {vth}")
    if vth > _VTH_MANT_MAX:
        raise NetxError(f"{where}: vThMant {vth} beyond 31 bits")
    readout = vth << NETX_BIAS_EXP > STATE_MAX
    if readout and not readout_allowed:
        raise NetxError(f"{where}: vThMant {vth} never lets the layer spike; only the last layer "
                        f"may be a non-spiking readout")
    return {"dv": np.full(shape, v_decay), "du": np.full(shape, i_decay - 1),
            "vth": np.full(shape, THRESHOLD_MAX if readout else vth), "readout": readout}


def _read_bias(layers: _Layers, key: str, where: str, shape: tuple[int, ...]) -> np.ndarray:
    if not layers.has(key, "bias"):
        return np.zeros(shape, dtype=np.int64)
    bias = layers.ints(key, "bias", where)
    if len(shape) == 1 or bias.ndim == 0:
        try:
            return np.broadcast_to(bias.reshape(-1) if bias.ndim else bias, shape).astype(np.int64)
        except ValueError:
            raise NetxError(f"{where}: bias of shape {bias.shape} does not fit the layer's {shape}") from None
    c, h, w = shape
    if bias.shape == (w, h, c):  # per neuron, Lava's layout
        return np.transpose(bias, (2, 1, 0)).astype(np.int64)
    if bias.reshape(-1).shape == (c,):  # per channel
        return np.broadcast_to(bias.reshape(c, 1, 1), shape).astype(np.int64)
    raise NetxError(f"{where}: bias of shape {bias.shape} fits neither (C,) nor (W, H, C)")


def _bias_mantissa(bias: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """netx bias b adds b·64 to v: as (mant, exp) exactly, exp 6 or 7."""
    if np.abs(bias).max(initial=0) <= BIAS_MANT_MAX:
        return bias.astype(np.int64), NETX_BIAS_EXP
    if not np.any(bias % 2) and np.abs(bias // 2).max() <= BIAS_MANT_MAX:
        return (bias // 2).astype(np.int64), NETX_BIAS_EXP + 1
    raise NetxError(f"{where}: bias {bias.min()}..{bias.max()} does not fit a 13-bit mantissa "
                    f"with exponent 6 or 7")
