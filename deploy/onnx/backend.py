"""Backend ``onnx``: the quantized network's one-timestep update as an ONNX graph, run by ONNX Runtime.

``build_step_model(graph, timesteps)`` compiles a QGraph into one ONNX graph that
advances every population by one step (DESIGN §3, zero-delay timing: a layer at
step t sees its sources' values of step t); the backend feeds it T times, passing
the state outputs back in. ``write_onnx`` (``dalif export --onnx``) writes the same
graph, built by this function from the same QGraph, for use outside this toolchain.

Exact by construction, on every CPU. Synapses run as float32 ``MatMul`` / ``Conv``
on integer operands, where IEEE arithmetic is exact whatever the kernel: every
product w·x and every partial sum, in any order and with or without FMA, is an
integer of magnitude ≤ max_in·Σ|w| over a target's synapses, and the builder
proves that bound below 2^24 for every target (``digit_bits``). Where a graded
input is too wide for that, it is split into base-2^b digits, each digit's sum is
exact, and the digits are recombined in float64 (Cast right after each MatMul/Conv,
so no graph optimisation can fold the digit scale into the weights). Sum pooling is
folded into the synapses' weights (each tap repeated over the pool window). The
neuron update is ``hardware_sim.ir.neuron.int_step`` itself, run on symbolic tensors
that emit its nodes; it runs in float64 on integer values, where it is exact: every value
stays below 2^37 ≪ 2^53, the shifts are multiplications or divisions by powers of
two, and rtz(x, 12) = Sign(x/4096)·Floor(Abs(x/4096)); the arithmetic right shift of
a negative weight exponent is Floor(acc / 2^−e). No operator with an unspecified
integer rounding (Div on integers, Cast float → int of a non-integer) is used.

Why not ``MatMulInteger`` / ``ConvInteger`` (format version 1 used them): ONNX Runtime's
x86 uint8×int8 kernels on CPUs without VNNI multiply with VPMADDUBSW, which adds
adjacent products into int16 *with saturation* (255·127 + 255·127 > 2^15), so the
"int32" sums depend on the CPU: on an AVX2-only machine 233 of the 270 input sums of
a test graph saturated and 4 spikes differed. float64 ``Conv`` has no ONNX Runtime
CPU kernel, hence float32 with the proven bound.

Interface (also stored as JSON in the model's ``metadata_props["dalif"]``). ``B`` is
the batch, symbolic; every name is literal, with ``<P>`` a population's name:

    inputs   x              int64 (B, *input_shape)  integer input of this step, in [0, 2^input_bits)
             state.<P>.u    int64 (B, *shape)         current u[t−1]           (zeros at t = 0)
             state.<P>.v    int64 (B, *shape)         voltage v[t−1] after reset
             hist.<S>       uint8 (B, D, *shape_S)    only for a source S read through a delay:
                                                     S's values at t−1, …, t−D (D: its longest delay)
    outputs  next.<P>.u / next.<P>.v / next_hist.<S>  the same, after this step
             spikes.<P>     bool  (B, *shape)         s[t] (spiking populations only)
             counters.<P>   int64 (4,)                this step, summed over the batch: synaptic ops,
                                                     input MACs, u wraps, v clips (as hardware_sim counts)
             events.<P>     int64 (*shape)            non-zero inputs arriving at each neuron, batch-summed

The network's output is the readout's ``next.<P>.v`` after the last step (its
integer voltage), or the output population's spikes summed over the T steps.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import numpy as np

from deploy.registry import BackendError
from hardware_sim.files import atomic_path
from hardware_sim.ir import synapses
from hardware_sim.ir.graph import (
    INPUT,
    DeployedModel,
    IntPopulation,
    Projection,
    QGraph,
    neuron_count,
)
from hardware_sim.ir.neuron import IntOps, NeuronParams, NeuronState, int_step
from hardware_sim.results import PopulationCounts, SimulationResult

FORMAT_NAME = "dalif-onnx-step"
FORMAT_VERSION = 2  # 2: float32 synapses with a proven exactness bound (1: MatMulInteger)
OPSET = 17
INPUT_NAME = "x"
COUNTERS = ("synaptic_ops", "input_macs", "u_wraps", "v_clips")

_FLOAT32_EXACT = 1 << 24
"""Every integer of magnitude ≤ 2^24 is a float32; a sum whose partial sums stay below it is exact."""


class OnnxBackend:
    name = "onnx"

    def __init__(self, batch_size: int = 256, record_spikes: bool = False):
        self.batch_size = batch_size
        self.record_spikes = record_spikes

    def run(self, model: DeployedModel, inputs: np.ndarray,
            on_progress: Callable[[int], None] | None = None) -> SimulationResult:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise BackendError("onnx backend: onnxruntime is not installed (pip install onnxruntime)") from None
        step = build_step_model(model.graph, model.timesteps)
        return run_step_model(step.SerializeToString(), model.graph, np.asarray(inputs),
                              batch_size=self.batch_size, record_spikes=self.record_spikes,
                              on_progress=on_progress)


# ---------------------------------------------------------------------------------------------
# Building the graph


def state_names(pop_name: str) -> tuple[str, str, str, str]:
    """(u in, v in, u out, v out) tensor names of a population."""
    return (f"state.{pop_name}.u", f"state.{pop_name}.v", f"next.{pop_name}.u", f"next.{pop_name}.v")


def _delays(graph: QGraph) -> dict[str, int]:
    """Longest delay each source is read through (only sources with a delay)."""
    longest: dict[str, int] = {}
    for pop in graph.populations:
        for p in pop.projections:
            if p.delay:
                longest[p.source] = max(longest.get(p.source, 0), p.delay)
    return longest


def interface(graph: QGraph, timesteps: int) -> dict[str, Any]:
    """The JSON description stored with the model: names, shapes, how to run it."""
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "timesteps": int(timesteps),
        "input": {"name": INPUT_NAME, "shape": list(graph.input_shape), "dtype": "int64",
                  "input_scale": float(graph.input_scale), "input_bits": int(graph.input_bits)},
        "output": graph.output,
        "populations": [
            {"name": p.name, "shape": list(p.shape), "readout": bool(p.readout),
             "state": list(state_names(p.name)[:2]), "next": list(state_names(p.name)[2:]),
             "spikes": None if p.readout else f"spikes.{p.name}",
             "counters": f"counters.{p.name}", "counter_order": list(COUNTERS),
             "events": f"events.{p.name}"}
            for p in graph.populations
        ],
        "delay_buffers": [{"source": s, "steps": d, "state": f"hist.{s}", "next": f"next_hist.{s}"}
                          for s, d in _delays(graph).items()],
    }


class _Builder:
    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0
        self._consts: dict[tuple, str] = {}

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}#{self._count}"

    def const(self, value: Any, dtype: Any, hint: str = "c") -> str:
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes()) if arr.size <= 16 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.fresh(hint)
        self.initializers.append(self.numpy_helper.from_array(arr, name))
        if key is not None:
            self._consts[key] = name
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        output = output or self.fresh(op_type)
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], **attrs))
        return output

    def f64(self, value: float) -> str:
        return self.const(value, np.float64)

    def rtz(self, x: str, n: int) -> str:
        """sign(x)·(|x| >> n) for integer-valued float64 x: Sign(q)·Floor(Abs(q)), q = x/2^n."""
        q = self.op("Mul", [x, self.f64(2.0 ** -n)])
        return self.op("Mul", [self.op("Sign", [q]), self.op("Floor", [self.op("Abs", [q])])])

    def count(self, mask: str) -> str:
        """Number of true entries of a bool tensor, as a float64 scalar."""
        return self.op("ReduceSum", [self.op("Cast", [mask], to=_DOUBLE)], keepdims=0)


class _Symbol:
    """A float64 (or bool) tensor of the graph being built, by name, whose operators emit its
    nodes: ``int_step`` (hardware_sim.ir.neuron) runs on it unchanged and writes the neuron
    update into the graph. Python numbers become float64 constants. Every value is an
    integer below 2^53 and every scale a power of two, so the arithmetic is exact."""

    def __init__(self, b: _Builder, name: str) -> None:
        self.b, self.name = b, name

    def _ref(self, x: _Symbol | float) -> str:
        return x.name if isinstance(x, _Symbol) else self.b.f64(float(x))

    def op(self, op_type: str, *args: _Symbol | float) -> _Symbol:
        return _Symbol(self.b, self.b.op(op_type, [self._ref(x) for x in args]))

    def __add__(self, other: _Symbol | float) -> _Symbol:
        return self.op("Add", self, other)

    def __sub__(self, other: _Symbol | float) -> _Symbol:
        return self.op("Sub", self, other)

    def __mul__(self, other: _Symbol | float) -> _Symbol:
        return self.op("Mul", self, other)

    def __lshift__(self, n: int) -> _Symbol:
        return self.op("Mul", self, 2.0 ** n)

    def __gt__(self, other: _Symbol | float) -> _Symbol:
        return self.op("Greater", self, other)

    def __lt__(self, other: _Symbol | float) -> _Symbol:
        return self.op("Less", self, other)

    def __le__(self, other: _Symbol | float) -> _Symbol:
        return self.op("LessOrEqual", self, other)

    def __or__(self, other: _Symbol) -> _Symbol:
        return self.op("Or", self, other)


def _onnx_ops(b: _Builder) -> IntOps:
    """``int_step``'s ops on ``_Symbol``s: rtz as Sign·Floor(Abs(x/2^n)), where as Where."""
    return IntOps(rtz=lambda x, n: _Symbol(b, b.rtz(x.name, n)),
                  where=lambda mask, x, y: mask.op("Where", mask, x, y))


_DOUBLE = 11  # onnx.TensorProto.DOUBLE
_FLOAT = 1
_INT64 = 7
_UINT8 = 2
_BOOL = 9


def digit_bits(input_bits: int, weight: np.ndarray) -> int:
    """Widest digit b ≤ ``input_bits`` for which a float32 sum over one target's synapses is exact.

    A target's partial sums are bounded by (2^b − 1)·Σ|w| over its synapses, whatever the
    order of summation; exactness needs that bound < 2^24. ``input_bits`` inputs are then
    fed as ⌈input_bits / b⌉ digits of b bits. Raises BackendError when not even 1-bit
    digits fit (a target with Σ|w| ≥ 2^24).
    """
    l1 = int(np.abs(np.asarray(weight, dtype=np.int64)).reshape(weight.shape[0], -1).sum(axis=1).max(initial=0))
    for bits in range(input_bits, 0, -1):
        if ((1 << bits) - 1) * l1 < _FLOAT32_EXACT:
            return bits
    raise BackendError(f"a target sums |w| = {l1} over its synapses, beyond the 2^24 that float32 "
                       f"holds exactly")


def build_step_model(graph: QGraph, timesteps: int):
    """The ONNX ModelProto of one timestep of ``graph`` (see the module doc for its interface)."""
    from onnx import TensorProto, checker, helper

    if graph.input_bits > 8:
        raise BackendError(f"onnx backend: inputs of {graph.input_bits} bits do not fit the step model's "
                           f"uint8 input and delay buffers (8 at most)")
    b = _Builder()
    batch = "batch"
    inputs = [helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT64, [batch, *graph.input_shape])]
    outputs = []
    shapes = {INPUT: graph.input_shape, **{p.name: p.shape for p in graph.populations}}
    delays = _delays(graph)
    current: dict[str, str] = {INPUT: b.op("Cast", [INPUT_NAME], to=_UINT8)}
    history: dict[str, str] = {}
    for source, depth in delays.items():
        name = f"hist.{source}"
        inputs.append(helper.make_tensor_value_info(name, TensorProto.UINT8,
                                                    [batch, depth, *shapes[source]]))
        history[source] = name

    def read(source: str, delay: int) -> str:
        if delay == 0:
            return current[source]
        sliced = b.op("Slice", [history[source], b.const([delay - 1], np.int64),
                                b.const([delay], np.int64), b.const([1], np.int64)])
        return b.op("Squeeze", [sliced, b.const([1], np.int64)])

    for pop in graph.populations:
        u_in, v_in, u_out, v_out = state_names(pop.name)
        for name in (u_in, v_in):
            inputs.append(helper.make_tensor_value_info(name, TensorProto.INT64, [batch, *pop.shape]))
        a = None
        synaptic_ops, input_macs, events = b.f64(0.0), b.f64(0.0), None
        for proj in pop.projections:
            src = read(proj.source, proj.delay)
            acc, ev = _synapses(b, pop, proj, src, graph.input_bits if proj.source == INPUT else 1)
            if proj.weight_exp >= 0:
                shifted = b.op("Mul", [acc, b.f64(2.0 ** proj.weight_exp)])
            else:
                shifted = b.op("Floor", [b.op("Mul", [acc, b.f64(2.0 ** proj.weight_exp)])])
            a = shifted if a is None else b.op("Add", [a, shifted])
            fan_out = b.const(synapses.fan_out(proj).astype(np.float64), np.float64, "fan_out")
            nonzero = b.op("Cast", [b.op("Greater", [src, b.const(0, np.uint8)])], to=_DOUBLE)
            ops = b.op("ReduceSum", [b.op("Mul", [nonzero, fan_out])], keepdims=0)
            if proj.source == INPUT:
                input_macs = b.op("Add", [input_macs, ops])
            else:
                synaptic_ops = b.op("Add", [synaptic_ops, ops])
            ev = b.op("Cast", [b.op("ReduceSum", [ev, b.const([0], np.int64)], keepdims=0)], to=_INT64)
            events = ev if events is None else b.op("Add", [events, ev])
        # The neuron update: int_step on symbolic float64 tensors (exact, see the module doc).
        params = NeuronParams.from_fields(
            du=pop.du, dv=pop.dv, vth=pop.vth, bias=pop.bias, gain=pop.gain, readout=pop.readout,
            subtract=pop.reset == "subtract",
        ).map(lambda name, arr: _Symbol(b, b.const(arr.astype(np.float64), np.float64, name)))
        state = NeuronState(_Symbol(b, b.op("Cast", [u_in], to=_DOUBLE)),
                            _Symbol(b, b.op("Cast", [v_in], to=_DOUBLE)))
        new = int_step(_Symbol(b, a), state, params, _onnx_ops(b))
        wraps, clips = b.count(new.wrapped.name), b.count(new.clipped.name)
        if not pop.readout:
            spikes = b.op("Identity", [new.spikes.name], f"spikes.{pop.name}")
            outputs.append(helper.make_tensor_value_info(spikes, TensorProto.BOOL, [batch, *pop.shape]))
        current[pop.name] = b.op("Cast", [new.spikes.name], to=_UINT8)  # a readout's: all zero
        b.op("Cast", [new.u.name], u_out, to=_INT64)
        b.op("Cast", [new.v.name], v_out, to=_INT64)
        counters = b.op("Cast", [b.op("Concat", [b.op("Reshape", [c, b.const([1], np.int64)])
                                                 for c in (synaptic_ops, input_macs, wraps, clips)],
                                      axis=0)], f"counters.{pop.name}", to=_INT64)
        b.op("Identity", [events], f"events.{pop.name}")
        outputs += [helper.make_tensor_value_info(u_out, TensorProto.INT64, [batch, *pop.shape]),
                    helper.make_tensor_value_info(v_out, TensorProto.INT64, [batch, *pop.shape]),
                    helper.make_tensor_value_info(counters, TensorProto.INT64, [len(COUNTERS)]),
                    helper.make_tensor_value_info(f"events.{pop.name}", TensorProto.INT64,
                                                  list(pop.shape))]
    for source, depth in delays.items():
        now = b.op("Unsqueeze", [current[source], b.const([1], np.int64)])
        older = b.op("Slice", [history[source], b.const([0], np.int64), b.const([depth - 1], np.int64),
                               b.const([1], np.int64)])
        b.op("Concat", [now, older], f"next_hist.{source}", axis=1)
        outputs.append(helper.make_tensor_value_info(f"next_hist.{source}", TensorProto.UINT8,
                                                     [batch, depth, *shapes[source]]))
    onnx_graph = helper.make_graph(b.nodes, "dalif_step", inputs, outputs, initializer=b.initializers,
                                   doc_string=__doc__.split("\n\n")[0])
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="dalif-toolchain", doc_string=(__doc__ or "").strip())
    model.ir_version = min(model.ir_version, 9)  # readable by older runtimes
    helper.set_model_props(model, {"dalif": json.dumps(interface(graph, timesteps))})
    checker.check_model(model)
    return model


def _synapses(b: _Builder, pop: IntPopulation, proj: Projection, src: str, input_bits: int
              ) -> tuple[str, str]:
    """(acc, non-zero inputs per target) of one projection, both float64 and exact (module doc).

    ``src`` holds uint8 values of ``input_bits`` bits (1 for spikes)."""
    weight = synapses.unpooled_weight(proj).astype(np.int64)
    if proj.kind == "conv" and not synapses.conv_unpooled_exact(proj):
        raise BackendError(f"onnx backend: population {pop.name!r}: a padded conv after pooling "
                           f"needs a source divisible by the pool ({proj.source_shape})")
    ones = synapses.unpooled_weight(proj, np.ones_like(proj.weight))  # every synapse, as hardware_sim counts
    try:
        bits = digit_bits(input_bits, weight)
        digit_bits(1, ones)  # the event count's own bound
    except BackendError as err:
        raise BackendError(f"onnx backend: population {pop.name!r}, projection from {proj.source!r}: "
                           f"{err}") from None
    if proj.kind == "dense":
        w_const = b.const(weight.T.astype(np.float32), np.float32, "weight")
        ones_const = b.const(ones.T.astype(np.float32), np.float32, "ones")

        def synapse_sum(x: str, w: str) -> str:
            return b.op("MatMul", [b.op("Flatten", [x], axis=1), w])
    else:
        w_const = b.const(weight.astype(np.float32), np.float32, "weight")
        ones_const = b.const(ones.astype(np.float32), np.float32, "ones")
        stride, padding = synapses.unpooled_conv_geometry(proj)
        attrs = {"strides": list(stride), "pads": [*padding, *padding]}  # (H, W) begins, then ends

        def synapse_sum(x: str, w: str) -> str:
            return b.op("Conv", [x, w], **attrs)

    x = b.op("Cast", [src], to=_FLOAT)
    acc = None
    for i in range(-(-input_bits // bits)):
        digit = x if bits >= input_bits else b.op("Sub", [
            b.op("Floor", [b.op("Mul", [x, b.const(2.0 ** (-bits * i), np.float32)])]),
            b.op("Mul", [b.op("Floor", [b.op("Mul", [x, b.const(2.0 ** (-bits * (i + 1)), np.float32)])]),
                         b.const(2.0 ** bits, np.float32)])])
        part = b.op("Cast", [synapse_sum(digit, w_const)], to=_DOUBLE)
        if i:
            part = b.op("Mul", [part, b.f64(2.0 ** (bits * i))])
        acc = part if acc is None else b.op("Add", [acc, part])
    nonzero = b.op("Cast", [b.op("Greater", [src, b.const(0, np.uint8)])], to=_FLOAT)
    events = b.op("Cast", [synapse_sum(nonzero, ones_const)], to=_DOUBLE)
    return acc, events


def write_onnx(graph: QGraph, path: str | os.PathLike, timesteps: int,
               info: dict[str, Any] | None = None) -> None:
    """Write the one-step ONNX model of ``graph``, atomically."""
    import onnx
    from onnx import helper

    model = build_step_model(graph, timesteps)
    if info:
        props = {p.key: p.value for p in model.metadata_props}
        props["dalif_info"] = json.dumps(info, default=str)
        del model.metadata_props[:]
        helper.set_model_props(model, props)
    with atomic_path(path) as tmp:
        onnx.save(model, tmp)


# ---------------------------------------------------------------------------------------------
# Running it


def run_step_model(model_bytes: bytes, graph: QGraph, inputs: np.ndarray, *, batch_size: int = 256,
                   record_spikes: bool = False,
                   on_progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Run a step model (bytes of a ModelProto built for ``graph``) over the T steps of ``inputs``
    (N, T, *input_shape), every sample from zero state."""
    import onnxruntime as ort

    if inputs.ndim != 2 + len(graph.input_shape) or tuple(inputs.shape[2:]) != graph.input_shape:
        raise ValueError(f"inputs must have shape (N, T, {graph.input_shape}), got {inputs.shape}")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Exactness needs IEEE float32 sums (module doc): keep ARM's bfloat16 GEMM fast-math off.
    options.add_session_config_entry("mlas.enable_gemm_fastmath_arm64_bfloat16", "0")
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in session.get_outputs()]
    n, timesteps = inputs.shape[:2]
    counts = [PopulationCounts(p.name, neuron_count(p)) for p in graph.populations]
    spikes_per_step = {p.name: np.zeros((timesteps, *p.shape), np.int64) for p in graph.populations}
    events = {p.name: np.zeros((timesteps, *p.shape), np.int64) for p in graph.populations}
    recorded: dict[str, list[np.ndarray]] = {p.name: [] for p in graph.populations}
    outputs = []
    delays = _delays(graph)
    shapes = {INPUT: graph.input_shape, **{p.name: p.shape for p in graph.populations}}
    out_pop = graph.output_population
    for start in range(0, n, batch_size):
        x = np.asarray(inputs[start:start + batch_size], dtype=np.int64)
        nb = x.shape[0]
        feeds: dict[str, np.ndarray] = {}
        for p in graph.populations:
            for name in state_names(p.name)[:2]:
                feeds[name] = np.zeros((nb, *p.shape), np.int64)
        for source, depth in delays.items():
            feeds[f"hist.{source}"] = np.zeros((nb, depth, *shapes[source]), np.uint8)
        spike_sum = np.zeros((nb, *out_pop.shape), np.int64)
        batch_spikes = {p.name: [] for p in graph.populations}
        for t in range(timesteps):
            feeds[INPUT_NAME] = x[:, t]
            result = dict(zip(out_names, session.run(None, feeds)))
            for p, c in zip(graph.populations, counts):
                u_in, v_in, u_out, v_out = state_names(p.name)
                feeds[u_in], feeds[v_in] = result[u_out], result[v_out]
                ops, macs, wraps, clips = (int(v) for v in result[f"counters.{p.name}"])
                c.synaptic_ops += ops
                c.input_macs += macs
                c.u_wraps += wraps
                c.v_clips += clips
                events[p.name][t] += result[f"events.{p.name}"]
                s = result.get(f"spikes.{p.name}")
                if s is None:
                    s = np.zeros((nb, *p.shape), bool)
                c.spikes += int(s.sum())
                spikes_per_step[p.name][t] += s.sum(axis=0)
                if record_spikes:
                    batch_spikes[p.name].append(s)
            for source in delays:
                feeds[f"hist.{source}"] = result[f"next_hist.{source}"]
            if not out_pop.readout:
                spike_sum += result[f"spikes.{out_pop.name}"]
        outputs.append(feeds[state_names(out_pop.name)[1]] if out_pop.readout else spike_sum)
        if record_spikes:
            for name, steps in batch_spikes.items():
                recorded[name].append(np.stack(steps))
        if on_progress is not None:
            on_progress(nb)
    for c in counts:
        c.neuron_updates = c.neurons * n * timesteps
    output = np.concatenate(outputs) if outputs else np.zeros((0, *out_pop.shape), np.int64)
    return SimulationResult(
        output=output,
        predictions=output.reshape(n, -1).argmax(axis=1) if n else np.zeros(0, np.int64),
        counts=counts, samples=n, timesteps=timesteps,
        spikes={k: np.concatenate(v, axis=1) for k, v in recorded.items()} if record_spikes else None,
        spikes_per_step=spikes_per_step, synaptic_events_per_step=events,
    )
