"""Bit-exact execution of a QGraph (DESIGN §3), batched over samples with torch.

Three timings are executed (``simulate(..., timing=...)``):
- "zero-delay": the reference. A layer at step t sees its sources' spikes of step
  t − d (d: the projection's delay; the float model's timing), every sample from zero
  state. Every other backend is compared with this form. A recurrent projection (from
  its own population or a later one, d ≥ 1) reads the history like any other; the
  "aligned" timing runs those from the population itself or one as deep, and refuses the
  others (``_refuse_recurrent_aligned``).
- "aligned": the pipeline of DESIGN §3 ("Alignment") as the Lava compiler builds it,
  planned by hardware_sim.ir.pipeline: every Dense/Conv hop delays one step, delay
  lines balance joins and carry d (masked on each sample's first d steps), each
  layer resets u and v every T steps at its own offset, and samples run back to back,
  T steps apart (several streams of them side by side). ``run_aligned`` returns every
  population's record of every hardware step, equal to Lava's step for step; after
  the per-layer shift (each layer's window) spikes, readout values and counters equal
  the zero-delay run's.
- "pipelined": SANA-FE's timing, a naive pipeline, labelled so wherever it is
  reported: one step of synaptic delay per hop, every layer starting from zero state
  at step 0, no per-layer resets and no balancing delays. On nets with a bias, or a
  join of paths of different length, it differs from the shifted zero-delay run.
  ``pipelined_reference`` attributes its synaptic work as SANA-FE does, for the cycle
  model.

Exact on every device (DESIGN §7): what computes in which type, and why it is exact.

- Synaptic input. The pooled source (1-bit spikes, or graded inputs up to
  2^input_bits − 1) times the int8 weights runs as a float convolution or matrix
  product, in float32 where every partial sum is provably below 2^24 (max input × k²
  × the largest Σ|W| over one target's synapses: any subset of the terms, in any
  order, stays below it, so every partial sum is an exact integer), in float64 below
  2^53, else ``OverflowError``. The weight exponent is applied in the same float
  (× 2^e, or floor(× 2^e) for e < 0: a power-of-two scaling and floor are exact), and
  the projections into one population are summed in float32 or float64 where the sum
  of their bounds allows, else in int64 after an exact conversion.
- Neuron update. ``hardware_sim.ir.neuron.int_step``, the one integer update, on int64
  tensors (its products |u|·(4096 − (du + 1)) and |v|·(4096 − dv) reach 2^35). The
  state between steps is stored narrower where a bound allows: v always fits int32
  (|v| ≤ 2^23 − 1 after the clip); u fits int32 when 2^23 + S·max(0, D − 2^24) < 2^31,
  D the bound of the drive |a << 6| and S the steps between resets (``_u_bound``
  proves it); u is not stored at all when every du is 4095 (DA-LIF: u[t] = a[t−1] << 6,
  the previous u is multiplied by 0). The input to ``int_step`` is int32 where
  |a| < 2^25 (so a << 6 fits).
- Counters. Spikes per step, wraps and clips accumulate in int64 tensors on the
  device and are read once per batch. Synaptic events do not depend on the weights:
  for "zero-delay" and "pipelined" they are counted after the run from the per-step
  sums of active sources (``synapses.arrivals``, the same box count), not per step.
- CPU: PyTorch runs float32 convolutions through oneDNN with ``convolution_direct``
  (no Winograd, which is never requested) and matrix products through BLAS; the float32
  matmul precision must be "highest" and mkldnn's fp32 precision "none"/"ieee" (no
  implicit bf16/tf32): ``exact_settings`` checks that on entry.
- CUDA: ``exact_settings`` turns cuDNN off for the engine's convolutions (its heuristics
  may pick FFT or Winograd algorithms, which transform the inputs, even with
  ``cudnn.deterministic``), so PyTorch's native im2col + cuBLAS GEMM runs them; TF32 off
  for cuBLAS and cuDNN, cudnn.deterministic on and cudnn.benchmark off; every setting
  is read back after it is set and restored on exit. The same integers as on the CPU
  (tested where CUDA exists).
- Compilation (``compile``): the neuron update (``int_step`` and its counters) can run
  as one fused kernel through ``torch.compile`` (integer arithmetic: nothing to round);
  by default only on the CPU, for runs large enough to repay the compile time.

Memory (DESIGN §7, "Budgets before bytes"): ``estimate_memory`` sizes the working set
from the graph before anything is allocated (state, spikes in flight and delay lines,
the largest step's temporaries, recorded spikes), and ``simulate(max_memory_bytes=...)``
picks the batch size that fits the budget.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from hardware_sim.ir import synapses
from hardware_sim.ir.graph import INPUT, GraphError, IntPopulation, Projection, QGraph, neuron_count
from hardware_sim.ir.neuron import (
    ALIGN_SHIFT,
    DU_NO_CURRENT_MEMORY,
    STATE_BITS,
    WRAP_BOUND,
    IntOps,
    NeuronParams,
    NeuronState,
    int_step,
)
from hardware_sim.ir.pipeline import NetworkPlan, ProjectionPlan, plan_network
from hardware_sim.record import StateRecorder
from hardware_sim.results import PopulationCounts, SimulationResult

_EXACT_FLOAT32 = 1 << 24  # float32 holds every integer up to 2^24 (24-bit significand)
_EXACT_FLOAT64 = 1 << 53
_INT32_MAX = (1 << 31) - 1


class DeviceError(ValueError):
    """The requested device does not exist here (the message says what is available)."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, or ``DeviceError`` with one line saying why it cannot run."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise DeviceError(f"unknown device {device!r}: {err}") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch is built without CUDA" if torch.version.cuda is None
                   else "no CUDA device is visible")
            raise DeviceError(f"device {device!r}: CUDA is not available ({why}, torch "
                              f"{torch.__version__})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r}: only {torch.cuda.device_count()} CUDA "
                              "device(s) here")
        return dev
    raise DeviceError(f"device {device!r}: the engine runs on 'cpu' or 'cuda[:N]'")


def _rtz(x, n: int):
    """sign(x)·(|x| >> n), the hardware's right shift rounding toward zero, without a division:
    negative values get 2^n − 1 added before the arithmetic shift (x >> (bits − 1) is −1 for
    them, 0 otherwise). Exact for |x| < 2^62 (int64); Python ints as the spec."""
    if not isinstance(x, torch.Tensor):
        return -((-x) >> n) if x < 0 else x >> n
    sign = x >> (x.element_size() * 8 - 1)
    return (x + (sign & ((1 << n) - 1))) >> n


def _where(mask, x, y):
    """x where mask, else y. ``torch.where`` with a scalar is slow on the CPU; the reset
    (x = 0) is a product with the negated mask, which is exact on integers."""
    if isinstance(x, int) and x == 0 and isinstance(y, torch.Tensor) and not y.is_floating_point():
        return y * mask.logical_not()
    return torch.where(mask, x, y)


TORCH_OPS = IntOps(rtz=_rtz, where=_where)
"""``int_step`` (hardware_sim.ir.neuron) on integer torch tensors, on any device."""


def exp_shift(acc: torch.Tensor, exp: int) -> torch.Tensor:
    """acc << exp for exp ≥ 0, arithmetic acc >> −exp (toward −∞) otherwise (integer tensors)."""
    if exp >= 0:
        return acc * (1 << exp)
    return torch.div(acc, 1 << -exp, rounding_mode="floor")


# --- exactness of the float kernels ------------------------------------------------------------

def _tf32(holder) -> bool:
    """Whether ``holder`` (torch.backends.cuda.matmul, torch.backends.cudnn.conv or
    torch.backends.cudnn) lets float32 run as TF32: torch's newer ``fp32_precision`` where it
    has it, the older ``allow_tf32`` otherwise."""
    precision = getattr(holder, "fp32_precision", None)
    if precision is not None and precision != "none":
        return precision == "tf32"
    return bool(getattr(holder, "allow_tf32", False))


def _read_settings(device: torch.device) -> dict[str, object]:
    """The backend settings that decide whether float kernels stay exact on ``device``."""
    b = torch.backends
    out: dict[str, object] = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    if device.type == "cpu":
        out["mkldnn.fp32_precision"] = getattr(b.mkldnn, "fp32_precision", "none")
        for sub in ("matmul", "conv"):
            mod = getattr(b.mkldnn, sub, None)
            if mod is not None and hasattr(mod, "fp32_precision"):
                out[f"mkldnn.{sub}.fp32_precision"] = mod.fp32_precision
    else:
        out["cuda.matmul.tf32"] = _tf32(b.cuda.matmul)
        out["cudnn.enabled"] = b.cudnn.enabled
        out["cudnn.tf32"] = _tf32(getattr(b.cudnn, "conv", b.cudnn))
        out["cudnn.deterministic"] = b.cudnn.deterministic
        out["cudnn.benchmark"] = b.cudnn.benchmark
    return out


_EXACT_VALUES: dict[str, tuple[object, ...]] = {
    "float32_matmul_precision": ("highest",),
    "mkldnn.fp32_precision": ("none", "ieee"),
    "mkldnn.matmul.fp32_precision": ("none", "ieee"),
    "mkldnn.conv.fp32_precision": ("none", "ieee"),
    "cuda.matmul.tf32": (False,),
    "cudnn.enabled": (False,),
    "cudnn.tf32": (False,),
    "cudnn.deterministic": (True,),
    "cudnn.benchmark": (False,),
}


def inexact_settings(device: str | torch.device) -> dict[str, object]:
    """The settings (of ``_read_settings``) that are not exact now on ``device``: empty when
    every float kernel of the engine computes exactly."""
    dev = torch.device(device)
    return {k: v for k, v in _read_settings(dev).items() if v not in _EXACT_VALUES[k]}


def _set(stack: contextlib.ExitStack, holder, name: str, value) -> None:
    """holder.name = value until ``stack`` closes."""
    stack.callback(setattr, holder, name, getattr(holder, name))
    setattr(holder, name, value)


@contextlib.contextmanager
def exact_settings(device: str | torch.device) -> Iterator[dict[str, object]]:
    """Run the body with the settings under which the engine's float kernels are exact on
    ``device`` (module docstring): set them, read them back (``RuntimeError`` naming any
    that did not take), and restore the previous values on exit. Yields the settings."""
    dev = torch.device(device)
    b = torch.backends
    saved_precision = torch.get_float32_matmul_precision()
    with contextlib.ExitStack() as stack:
        stack.callback(torch.set_float32_matmul_precision, saved_precision)
        torch.set_float32_matmul_precision("highest")
        if dev.type == "cuda":
            for holder in (b.cuda.matmul, getattr(b.cudnn, "conv", None)):
                if holder is not None and getattr(holder, "fp32_precision", None) not in (None, "none"):
                    _set(stack, holder, "fp32_precision", "ieee")  # torch's newer API
            if _tf32(b.cuda.matmul):
                _set(stack, b.cuda.matmul, "allow_tf32", False)
            _set(stack, b.cudnn, "enabled", False)  # no FFT or Winograd convolutions
            _set(stack, b.cudnn, "benchmark", False)
            _set(stack, b.cudnn, "deterministic", True)
            if _tf32(getattr(b.cudnn, "conv", b.cudnn)):
                _set(stack, b.cudnn, "allow_tf32", False)
        else:
            for holder in (b.mkldnn, getattr(b.mkldnn, "matmul", None), getattr(b.mkldnn, "conv", None)):
                if holder is not None and getattr(holder, "fp32_precision", "none") not in ("none", "ieee"):
                    _set(stack, holder, "fp32_precision", "none")
        wrong = inexact_settings(dev)
        if wrong:
            raise RuntimeError(f"cannot make the float kernels exact on {dev}: {wrong} "
                               f"(expected {[_EXACT_VALUES[k] for k in wrong]})")
        yield _read_settings(dev)


# --- prepared projections and populations ------------------------------------------------------

def _max_abs_fan_in_sum(proj: Projection, weight: np.ndarray) -> int:
    absw = np.abs(weight)
    if proj.kind == "dense":
        return int(absw.sum(axis=1).max(initial=0))
    return int(absw.reshape(absw.shape[0], -1).sum(axis=1).max(initial=0))


def _scaled_bound(bound: int, exp: int) -> int:
    """max |acc << e| (or |floor(acc / 2^−e)|) for |acc| ≤ bound."""
    return bound << exp if exp >= 0 else -((-bound) >> -exp)


def _float_for(bound: int) -> torch.dtype | None:
    if bound < _EXACT_FLOAT32:
        return torch.float32
    if bound < _EXACT_FLOAT64:
        return torch.float64
    return None


class _PreparedProjection:
    """A projection's weights as device tensors, and a dtype in which they compute exactly.

    The float weights are W·2^e (e: the weight exponent): a power-of-two scaling, so every
    partial sum is the exact integer one times 2^e, representable whenever the integer one
    is (``acc_bound`` below 2^24 or 2^53); acc·2^e is then exact, and for e < 0 one floor
    gives acc >> −e (rounding toward −∞, as the hardware's arithmetic shift)."""

    def __init__(self, proj: Projection, max_input: int, device: torch.device):
        self.proj = proj
        weight = np.asarray(proj.weight, dtype=np.int64)
        self.acc_bound = max_input * proj.pool * proj.pool * _max_abs_fan_in_sum(proj, weight)
        """Every partial sum of acc (and acc itself) is at most this in magnitude."""
        dtype = _float_for(self.acc_bound)
        if dtype is None:
            raise OverflowError(f"projection from {proj.source!r}: partial sums exceed 2^53")
        self.dtype = dtype
        self.a_bound = _scaled_bound(self.acc_bound, proj.weight_exp)
        """|a| = |acc after the weight exponent| is at most this."""
        self.floors = proj.weight_exp < 0
        """Whether ``scaled`` needs a floor to be an integer."""
        self.scaled_weight = torch.as_tensor(weight, dtype=self.dtype, device=device) * (2.0 ** proj.weight_exp)
        self.can_skip_silence = (device.type == "cpu" and proj.kind == "dense" and proj.pool == 1
                                 and weight.size >= _EVENT_DRIVEN_MIN_SYNAPSES)
        """Whether the event-driven form may run (a large dense projection, on the CPU)."""
        self.event_driven = False
        """Run the event-driven form now (set per batch from the source's last firing rate)."""
        self._scaled_weight_t = None
        self.events_box = None if proj.kind == "dense" else torch.ones(
            (1, 1, *weight.shape[2:]), dtype=torch.float64, device=device)

    def scaled(self, src: torch.Tensor) -> torch.Tensor:
        """acc·2^e in ``self.dtype``, exact; an integer after ``floor`` when ``floors``.
        Event-driven (``event_driven``): only the non-zero sources' weight columns are summed,
        a sparse (CSR) product; the same integers (sums below 2^24 or 2^53 in any order)."""
        if self.event_driven:
            if self._scaled_weight_t is None:
                self._scaled_weight_t = self.scaled_weight.T.contiguous()
            flat = src.to(self.dtype).reshape(src.shape[0], -1)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                sparse = flat.to_sparse_csr()
            return torch.sparse.mm(sparse, self._scaled_weight_t)
        return self._apply(src.to(self.dtype), self.scaled_weight)

    def events_summed(self, src: torch.Tensor) -> torch.Tensor:
        """Non-zero inputs arriving at each target neuron, summed over the batch, (*out_shape)
        int64: the torch form of ``synapses.arrivals`` (a box count of the source's non-zero
        values, summed over samples and input channels first: the count is linear in them)."""
        p = self.proj
        nz = (src != 0).sum(dim=0, keepdim=True).to(torch.float64)  # (1, *source_shape)
        nz = self._pooled(nz)
        if p.kind == "dense":
            return nz.sum().to(torch.int64).expand(p.weight.shape[0])
        box = F.conv2d(nz.sum(dim=1, keepdim=True), self.events_box, stride=p.stride,
                       padding=p.padding)[0]
        return box.to(torch.int64).expand(p.weight.shape[0], -1, -1)

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Sum pooling, kernel = stride = k (exact: a sum of at most k² values, no division),
        as k² strided views added (faster on the CPU than avg_pool2d for small k)."""
        k = self.proj.pool
        if k == 1:
            return x
        h, w = (x.shape[-2] // k) * k, (x.shape[-1] // k) * k
        views = [x[..., i:h:k, j:w:k] for i in range(k) for j in range(k)]
        return torch.stack(views).sum(dim=0) if k > 4 else sum(views[1:], views[0])

    def _apply(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        p = self.proj
        x = self._pooled(x)
        if p.kind == "dense":
            return x.reshape(x.shape[0], -1) @ weight.T
        return F.conv2d(x, weight, stride=p.stride, padding=p.padding)


_EVENT_DRIVEN_MIN_SYNAPSES = 1 << 17
_EVENT_DRIVEN_BELOW = 0.05
"""Event-driven dense projections: only where the layer has at least 2^17 synapses and its
source fired in fewer than 5 % of (sample, step, neuron) slots in the previous batch. The
crossover measured by benchmarks/bench_sim.py (``--sweep``): on this CPU the sparse product
of a 512 → 256 layer at batch 256 is faster below ≈ 8 % activity, of 2048 → 1024 below
≈ 15 %; for a 128 → 64 layer never."""


def _u_bound(drive_bound: int, steps: int) -> int:
    """A bound on |u| over ``steps`` updates from u = 0 with |drive| ≤ ``drive_bound``.

    Proof: |rtz(u·(4096 − (du + 1)), 12)| ≤ |u|, so x = that + drive has |x| ≤ |u| + D. The
    single wrap maps x > 2^23 to x − 2^24 ∈ (−2^23, x − 2^24] and x ≤ −2^23 to
    x + 2^24 ∈ [x + 2^24, 2^23], and leaves (−2^23, 2^23] alone, so
    |u'| ≤ max(2^23, |u| + D − 2^24); by induction |u_t| ≤ 2^23 + t·max(0, D − 2^24)."""
    return WRAP_BOUND + steps * max(0, drive_bound - (1 << STATE_BITS))


class _PreparedPopulation:
    """A population's parameters on the device, and how its step computes (module docstring)."""

    def __init__(self, pop: IntPopulation, graph: QGraph, device: torch.device, *,
                 steps_between_resets: int, narrow_state: bool, keep_u: bool = False):
        self.pop = pop
        self.name = pop.name
        max_in = (1 << graph.input_bits) - 1
        self.projections = [
            _PreparedProjection(p, max_in if p.source == INPUT else 1, device)
            for p in pop.projections
        ]
        a_bound = sum(p.a_bound for p in self.projections)
        self.a_dtype = _float_for(a_bound)
        """Float type in which the projections' a are summed exactly, or None: int64."""
        self.a_int = torch.int32 if (a_bound << ALIGN_SHIFT) <= _INT32_MAX else torch.int64
        du = np.asarray(pop.du, dtype=np.int64)
        self.keeps_u = keep_u or bool((du != DU_NO_CURRENT_MEMORY).any())
        """False when every du is 4095: u[t] = drive only, the previous u is never read (kept
        anyway, ``keep_u``, when u is recorded: with du = 4095 the kept u is multiplied by 0)."""
        fits = _u_bound(a_bound << ALIGN_SHIFT, steps_between_resets) <= _INT32_MAX
        self.u_dtype = torch.int32 if narrow_state and fits else torch.int64
        self.v_dtype = torch.int32 if narrow_state else torch.int64  # |v| ≤ 2^23 − 1 always
        self.params = NeuronParams.from_fields(
            du=pop.du, dv=pop.dv, vth=pop.vth, bias=pop.bias, gain=pop.gain, readout=pop.readout,
            subtract=pop.reset == "subtract",
        ).map(lambda _, arr: torch.as_tensor(arr, device=device))
        if not self.keeps_u:
            self.params = self.params._replace(u_keep=0)
        self.spike_dtype = torch.float32  # raised to float64 if a consumer computes in float64
        self.update: Callable = _neuron_update

    def zero_state(self, batch: int, device: torch.device) -> NeuronState:
        shape = (batch, *self.pop.shape)
        u = torch.zeros(shape, dtype=self.u_dtype, device=device) if self.keeps_u else 0
        return NeuronState(u, torch.zeros(shape, dtype=self.v_dtype, device=device))

    def synaptic_input(self, sources: list[torch.Tensor | None], batch: int,
                       device: torch.device) -> torch.Tensor:
        """This step's a (all projections summed) before its final floor: exact, in float or
        int64 (module docstring). With one projection the floor (e < 0) is left to the update."""
        parts = [(prep, src) for prep, src in zip(self.projections, sources) if src is not None]
        if not parts:  # nothing arrives (before the first step of a delay, or from a readout)
            return torch.zeros((batch, *self.pop.shape), dtype=self.a_int, device=device)
        if len(parts) == 1:
            return parts[0][0].scaled(parts[0][1])
        a = None
        for prep, src in parts:
            part = prep.scaled(src)
            if prep.floors:
                part = torch.floor(part)
            part = part.to(self.a_dtype) if self.a_dtype is not None else part.to(torch.int64)
            a = part if a is None else a + part
        return a

    def step(self, a: torch.Tensor, state: NeuronState):
        """``int_step`` and its counts: (state, spikes in ``spike_dtype`` or None for a
        readout, wraps, clips)."""
        return self.update(a, state.u, state.v, self.params, self.a_int, self.u_dtype,
                           self.v_dtype, self.spike_dtype, self.keeps_u, self.pop.readout)


def _neuron_update(a, u, v, params: NeuronParams, a_int: torch.dtype, u_dtype: torch.dtype,
                   v_dtype: torch.dtype, spike_dtype: torch.dtype, keeps_u: bool, readout: bool):
    """One ``int_step`` with what the engine keeps of it: the new state in its storage types,
    the spikes as the consumers' float (None for a readout), the number of wraps and of clips.
    No bool tensor leaves it and nothing is reduced over the batch (a compiled kernel writes
    bools and sums over the outer dimension slowly)."""
    if a.is_floating_point():
        a = torch.floor(a)  # exact: acc·2^e of one projection; a no-op on integers
    new = int_step(a.to(a_int), NeuronState(u, v), params, TORCH_OPS)
    state = NeuronState(new.u.to(u_dtype) if keeps_u else 0, new.v.to(v_dtype))
    spikes = None if readout else new.spikes.to(spike_dtype)
    return state, spikes, new.wrapped.sum(), new.clipped.sum()


_compiled_update: Callable | None = None


def _compiled_neuron_update() -> Callable:
    global _compiled_update
    if _compiled_update is None:
        _compiled_update = torch.compile(_neuron_update, dynamic=True)
    return _compiled_update


_COMPILE_WORTH = 2.5e8
"""Neuron updates (neurons × samples × T) above which "auto" compiles the update on the CPU: a
compile takes seconds, and saves a few ns per update."""


def _prepare(graph: QGraph, device: torch.device, timesteps: int, *, narrow_state: bool,
             compile_update: bool, keep_u: bool = False) -> list[_PreparedPopulation]:
    prepared = [_PreparedPopulation(p, graph, device, steps_between_resets=timesteps,
                                    narrow_state=narrow_state, keep_u=keep_u)
                for p in graph.populations]
    by_name = {pp.name: pp for pp in prepared}
    for pp in prepared:
        for prep in pp.projections:
            if prep.proj.source != INPUT and prep.dtype == torch.float64:
                by_name[prep.proj.source].spike_dtype = torch.float64
    if compile_update:
        update = _compiled_neuron_update()
        for pp in prepared:
            pp.update = update
    return prepared


def _input_dtype(prepared: list[_PreparedPopulation]) -> torch.dtype:
    wide = any(prep.dtype == torch.float64 for pp in prepared for prep in pp.projections
               if prep.proj.source == INPUT)
    return torch.float64 if wide else torch.float32


# --- memory ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryEstimate:
    """The engine's working set on its device: ``fixed`` bytes plus ``per_sample`` bytes for
    each sample of a batch. ``parts``: the per-sample bytes by what holds them."""

    per_sample: int
    fixed: int
    parts: dict[str, int]

    def bytes_for(self, batch: int) -> int:
        return self.fixed + batch * self.per_sample

    def batch_size(self, budget: int, *, at_most: int) -> int:
        """The largest batch (≤ ``at_most``) whose working set fits ``budget`` bytes;
        ``MemoryError`` when not even one sample fits."""
        room = budget - self.fixed
        batch = min(at_most, room // self.per_sample) if self.per_sample else at_most
        if batch < 1:
            raise MemoryError(f"one sample needs {self.bytes_for(1) / 2**20:.1f} MiB of working "
                              f"set, more than the budget of {budget / 2**20:.1f} MiB")
        return int(batch)


def estimate_memory(graph: QGraph, timesteps: int, *, timing: str = "zero-delay",
                    device: str | torch.device = "cpu", compile: bool = False) -> MemoryEstimate:
    """The working set of ``simulate`` on ``graph`` from its shapes alone (module docstring).

    Per sample: u and v in their storage types (no u where every du is 4095); the spikes in
    flight, each population's in its float type, times the history the delays need (the
    longest lag + 1 steps); the temporaries of the largest population step (the float
    conv output and a, twice, and the update's int64 intermediates: about 12 × 8 bytes per
    neuron eager, 3 × 8 compiled; on CUDA also the im2col buffer of its largest conv); the
    batch's inputs (int64 and float) and outputs. Fixed: the per-step sums (T × neurons,
    int64, twice), the parameters and the weights. Not included: recorded spikes (host
    memory, ``recording_bytes``) and the interpreter and libraries themselves."""
    dev = torch.device(device)
    hop = 1 if timing == "pipelined" else 0
    if timing == "aligned":
        _refuse_recurrent_aligned(graph)
        plan = plan_network(graph, timesteps, 1)
        history = max((pp.hw_delay for pp in plan.projections), default=0) + 1
    else:
        history = max((p.delay + hop for pop in graph.populations for p in pop.projections),
                      default=0) + 1
    prepared = _prepare(graph, torch.device("cpu"), timesteps, narrow_state=timing != "aligned",
                        compile_update=False)
    state = spikes_in_flight = step_temp = 0
    for pp in prepared:
        n = neuron_count(pp.pop)
        state += n * (pp.v_dtype.itemsize + (pp.u_dtype.itemsize if pp.keeps_u else 0))
        if not pp.pop.readout:
            spikes_in_flight += n * pp.spike_dtype.itemsize * history
        conv_out = max((n * prep.dtype.itemsize for prep in pp.projections), default=0)
        update = (3 if compile else 12) * 8 * n
        im2col = 0
        if dev.type == "cuda":
            for prep in pp.projections:
                if prep.proj.kind == "conv":
                    c_in, kh, kw = prep.proj.weight.shape[1:]
                    _, oh, ow = prep.proj.output_shape
                    im2col = max(im2col, int(c_in * kh * kw * oh * ow) * prep.dtype.itemsize)
        step_temp = max(step_temp, 2 * conv_out + 8 * n + update + im2col)
    input_size = int(np.prod(graph.input_shape))
    inputs = timesteps * input_size * (8 + _input_dtype(prepared).itemsize)
    outputs = 8 * 2 * int(np.prod(graph.output_population.shape))
    neurons = sum(neuron_count(p) for p in graph.populations)
    weights = sum(int(np.asarray(prep.proj.weight).size) * 2 * prep.dtype.itemsize
                  for pp in prepared for prep in pp.projections)
    fixed = 8 * 6 * neurons + weights + 8 * timesteps * (2 * neurons + input_size)
    parts = {"state": state, "spikes_in_flight": spikes_in_flight,
             "largest_step_temporaries": step_temp, "inputs": inputs, "outputs": outputs}
    return MemoryEstimate(per_sample=int(sum(parts.values())), fixed=int(fixed),
                          parts={k: int(v) for k, v in parts.items()})


def batch_for_budget(graph: QGraph, timesteps: int, samples: int, budget: int, *,
                     batch_size: int = 256, timing: str = "zero-delay",
                     device: str | torch.device = "cpu", record_spikes: SpikeRecording = False,
                     compile: bool | None = None) -> int:
    """The batch ``simulate`` runs under a working-set ``budget`` (bytes): the largest, up to
    ``batch_size``, whose ``estimate_memory`` fits next to the recorded spikes (host memory,
    counted against the budget on the CPU); ``MemoryError`` when one sample does not fit."""
    dev = torch.device(device)
    compiled = _should_compile(compile, dev, samples, graph, timesteps)
    if dev.type == "cpu":
        budget -= recording_bytes(graph, record_spikes, samples, timesteps)
    estimate = estimate_memory(graph, timesteps, timing=timing, device=dev, compile=compiled)
    return estimate.batch_size(budget, at_most=batch_size)


def recording_bytes(graph: QGraph, record_spikes: SpikeRecording, samples: int,
                    timesteps: int) -> int:
    """Host bytes of the spikes ``simulate`` records for ``samples`` samples (bool)."""
    return sum(timesteps * neuron_count(graph.population(name))
               * (samples if k is None else min(k, samples))
               for name, k in _recording(graph, record_spikes).items())


def _should_compile(compile: bool | None, device: torch.device, samples: int, graph: QGraph,
                    timesteps: int) -> bool:
    if compile is not None:
        return compile
    if device.type != "cpu":
        return False
    work = samples * timesteps * sum(neuron_count(p) for p in graph.populations)
    return work >= _COMPILE_WORTH and _compiler_works()


_COMPILER_WORKS: bool | None = None


def _compiler_works() -> bool:
    """Whether ``torch.compile`` builds kernels here (it needs a C++ compiler): tried once."""
    global _COMPILER_WORKS
    if _COMPILER_WORKS is None:
        try:
            probe = torch.compile(lambda x: (x >> 1) + 1, dynamic=False)
            _COMPILER_WORKS = bool(probe(torch.ones(4, dtype=torch.int64)).eq(1).all())
        except Exception:  # any failure to build: run eager
            _COMPILER_WORKS = False
    return _COMPILER_WORKS


# --- the run -----------------------------------------------------------------------------------

Timing = Literal["zero-delay", "pipelined", "aligned"]
TIMINGS: tuple[Timing, ...] = ("zero-delay", "pipelined", "aligned")
_HOP_DELAY = {"zero-delay": 0, "pipelined": 1}

SpikeRecording = bool | int | Mapping[str, int | None]
"""What ``simulate`` records of each sample's spikes (``SimulationResult.spikes``, per
population (T, samples recorded, *shape) bool, in host memory): False (nothing), True (every
sample of every population), an int k (the first k samples of every population), or a
mapping population → k (its first k samples) or None (every sample); populations left out of
the mapping are not recorded."""


def direct_encode(x_int: np.ndarray, timesteps: int) -> np.ndarray:
    """Direct encoding: the static input repeated over T steps, (N, T, *shape)."""
    return np.repeat(np.asarray(x_int)[:, None], timesteps, axis=1)


class AlignedRun(NamedTuple):
    """What ``run_aligned`` returns: Lava's run of the samples, step for step, and its result."""

    records: dict[str, np.ndarray]
    """Per population, every hardware step, (N·T + max depth, *shape), as Lava's recorders
    keep them: spikes (bool), or a readout's v (int64); the steps before the population's
    window and the drain after it included."""
    result: SimulationResult
    """The run in the reference's timing (each population's window): equal to
    ``simulate(timing="zero-delay")``."""
    plan: NetworkPlan


def simulate(
    graph: QGraph,
    inputs: np.ndarray,
    *,
    timing: Timing = "zero-delay",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    record_spikes: SpikeRecording = False,
    on_batch: Callable[[int], None] | None = None,
    max_memory_bytes: int | None = None,
    compile: bool | None = None,
    record_state: StateRecorder | None = None,
) -> SimulationResult:
    """Run ``graph`` on integer inputs of shape (N, T, *input_shape) in one of the three
    timings of the module docstring, and count what it does.

    "zero-delay" and "pipelined" run ``batch_size`` samples side by side, each from zero
    state. "aligned" runs up to ``batch_size`` streams side by side, each a block of
    consecutive samples back to back through the pipeline of hardware_sim.ir.pipeline
    (Lava's run of those samples), and returns what each population did in its window,
    in the reference's timing. ``on_batch(n)`` is called as n more samples are done.

    ``record_spikes``: see ``SpikeRecording``. ``max_memory_bytes``: the batch is cut to
    the largest that fits this budget (``estimate_memory``); ``MemoryError`` when one sample
    does not. ``compile``: run the neuron update through ``torch.compile`` (None: on the CPU
    when the run is large, see ``_COMPILE_WORTH``). Results do not depend on the batch size,
    the device or compilation. ``record_state`` ("zero-delay" only) receives every
    population's u, v and spikes after each step (``hardware_sim.record``).
    """
    return _simulate(graph, inputs, timing=timing, batch_size=batch_size, device=device,
                     record_spikes=record_spikes, on_batch=on_batch,
                     max_memory_bytes=max_memory_bytes, compile=compile,
                     record_state=record_state)[0]


def _recording(graph: QGraph, record_spikes: SpikeRecording) -> dict[str, int | None]:
    """population → samples recorded (None: all), for the populations recorded at all."""
    names = [p.name for p in graph.populations]
    if record_spikes is True:
        return {n: None for n in names}
    if record_spikes is False:
        return {}
    if isinstance(record_spikes, int):
        if record_spikes < 0:
            raise ValueError("record_spikes: the number of samples must be ≥ 0")
        return {n: record_spikes for n in names} if record_spikes else {}
    unknown = set(record_spikes) - set(names)
    if unknown:
        raise ValueError(f"record_spikes names unknown populations {sorted(unknown)}")
    if any(k is not None and k < 0 for k in record_spikes.values()):
        raise ValueError("record_spikes: the number of samples must be ≥ 0")
    return dict(record_spikes)  # k = 0 records an empty array (a shard that holds none of them)


def _simulate(graph, inputs, *, timing, batch_size, device, record_spikes, on_batch,
              max_memory_bytes, compile, record_state=None):
    """``simulate``, and the per-step activity of every source (for ``pipelined_reference``)."""
    inputs = _checked_inputs(graph, inputs)
    if timing not in TIMINGS:
        raise ValueError(f"timing must be one of {TIMINGS}, not {timing!r}")
    if record_state is not None and timing != "zero-delay":
        raise ValueError("record_state records the zero-delay timing")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    device = resolve_device(device)
    n, timesteps = inputs.shape[:2]
    recording = _recording(graph, record_spikes)
    compiled = _should_compile(compile, device, n, graph, timesteps)
    if max_memory_bytes is not None:
        batch_size = batch_for_budget(graph, timesteps, n, max_memory_bytes, batch_size=batch_size,
                                      timing=timing, device=device, record_spikes=record_spikes,
                                      compile=compiled)
    with contextlib.ExitStack() as stack:
        stack.enter_context(exact_settings(device))
        if compiled:  # one compiled update per population shape and layout
            stack.enter_context(torch._dynamo.config.patch(recompile_limit=64))
        if timing == "aligned":
            _refuse_recurrent_aligned(graph)
            prepared = _prepare(graph, device, timesteps, narrow_state=False,
                                compile_update=compiled)
            tally = _Tally(graph, timesteps, device)
            outputs, spikes = [], []
            for start, lanes, per_lane in _stream_blocks(n, batch_size):
                block = inputs[start:start + lanes * per_lane]
                streams = block.reshape(lanes, per_lane, *inputs.shape[1:])
                out, rec, _ = _run_streams(prepared, graph, streams, tally, device, bool(recording),
                                           record_steps=False, on_batch=on_batch)
                outputs.append(out)
                spikes.append(rec)
            result = tally.result(n, outputs, None)
            if recording:
                result.spikes = _trim_recording(
                    {k: torch.cat([s[k] for s in spikes], dim=1).numpy() for k in spikes[0]},
                    recording)
            return result, None
        prepared = _prepare(graph, device, timesteps, narrow_state=True, compile_update=compiled,
                            keep_u=record_state is not None and record_state.wants_u)
        tally = _Tally(graph, timesteps, device)
        recorder = _Recorder(graph, recording, n, timesteps)
        outputs = []
        in_dtype = _input_dtype(prepared)
        for start in range(0, n, batch_size):  # outputs and spikes leave the device per batch
            batch = torch.as_tensor(inputs[start:start + batch_size], device=device)
            out, rates = _run_batch(prepared, graph, batch, in_dtype, _HOP_DELAY[timing], tally,
                                    recorder, start, record_state)
            _choose_event_driven(prepared, rates)
            outputs.append(out.cpu())
            if on_batch is not None:
                on_batch(batch.shape[0])
        activity = tally.activity()
        tally.count_arrivals(activity, _HOP_DELAY[timing])
        result = tally.result(n, outputs, None)
        result.spikes = recorder.spikes()
        return result, activity


def _trim_recording(spikes: dict[str, np.ndarray], recording: dict[str, int | None]):
    return {k: v if recording.get(k) is None else v[:, :recording[k]]
            for k, v in spikes.items() if k in recording}


def run_aligned(graph: QGraph, inputs: np.ndarray, *, device: str | torch.device = "cpu",
                record_spikes: bool = False) -> AlignedRun:
    """The aligned pipeline as Lava runs it (deploy.lava): the N samples of ``inputs``
    (N, T, *input_shape) back to back in one stream, N·T + max depth hardware steps.

    Returns every population's record of every step (what the Lava backend brings back
    with ``keep_records``) and the SimulationResult of ``simulate(timing="aligned")``.
    """
    inputs = _checked_inputs(graph, inputs)
    _refuse_recurrent_aligned(graph)
    device = resolve_device(device)
    n, timesteps = inputs.shape[:2]
    with exact_settings(device):
        prepared = _prepare(graph, device, timesteps, narrow_state=False, compile_update=False)
        tally = _Tally(graph, timesteps, device)
        out, rec, records = _run_streams(prepared, graph, inputs[None], tally, device,
                                         record_spikes, record_steps=True, on_batch=None)
    assert records is not None
    result = tally.result(n, [out], None)
    if record_spikes:
        result.spikes = {k: v.numpy() for k, v in rec.items()}
    return AlignedRun(records={name: r[:, 0].cpu().numpy() for name, r in records.items()},
                      result=result, plan=plan_network(graph, timesteps, n))


def pipelined_reference(graph: QGraph, inputs: np.ndarray, **simulate_kwargs) -> SimulationResult:
    """The "pipelined" timing (SANA-FE's; not the aligned pipeline, see the module docstring)
    with its synaptic work attributed as SANA-FE does it, for the cycle model to cost.

    Spikes: ``simulate(..., timing="pipelined")``. Synaptic work: attributed to the step
    whose spikes (or inputs) cause it, as SANA-FE and the hardware do it (a message is
    processed in the step it is sent and integrated in the next one): the events of step t
    are the arrivals at step t + 1 of a run one step longer (input held), so the last
    step's spikes get their synaptic ops too. A plain "pipelined" run counts arrivals only
    and misses them (in the "zero-delay" timing the two coincide). The cycle model's
    active-update rule then sees step t + 1's arrivals at step t.

    Every hop delays a step (lag ≥ 1), so the arrivals at steps 1 … T come from the
    activity of steps 0 … T − 1 of the same run: one run serves both.
    """
    kwargs = {"batch_size": 256, "device": "cpu", "record_spikes": False, "on_batch": None,
              "max_memory_bytes": None, "compile": None, **simulate_kwargs}
    run, activity = _simulate(graph, inputs, timing="pipelined", **kwargs)
    events, ops = _arrivals(graph, activity, hop_delay=1, steps=range(1, run.timesteps + 1))
    run.synaptic_events_per_step = events
    for count in run.counts:
        count.synaptic_ops, count.input_macs = ops[count.name]
    return run


def _refuse_recurrent_aligned(graph: QGraph) -> None:
    """The aligned pipeline (``hardware_sim.ir.pipeline``) runs a recurrent projection only
    where its delay line is not negative: from the population itself, or from one k hops
    deeper with a delay d > k (the chip's hop is one step of the delay, the plan's mask zeroes
    it across samples). Otherwise it would need the spikes before they exist: refused, with
    the plan's reason (``NetworkPlan.refusal``, the Lava backend's too)."""
    reason = plan_network(graph, 1, 1).refusal()
    if reason is not None:
        raise GraphError(f"{reason} (use --timing zero-delay)")


def _checked_inputs(graph: QGraph, inputs: np.ndarray) -> np.ndarray:
    inputs = np.asarray(inputs)
    if inputs.ndim != 2 + len(graph.input_shape) or tuple(inputs.shape[2:]) != graph.input_shape:
        raise ValueError(f"inputs must have shape (N, T, {graph.input_shape}), got {inputs.shape}")
    hi = (1 << graph.input_bits) - 1
    if inputs.size and (not np.issubdtype(inputs.dtype, np.integer) or inputs.min() < 0
                        or inputs.max() > hi):
        raise ValueError(f"inputs must be integers in [0, {hi}]: quantize them with QGraph.quantize_input")
    return inputs


def _arrivals(graph: QGraph, activity: dict[str, np.ndarray], *, hop_delay: int, steps: range
              ) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]]:
    """Events arriving at every target neuron at each of ``steps``, from the per-step counts of
    non-zero source values summed over samples (``activity``: source → (T, *shape), zero
    before step 0 and missing for a silent readout), through ``synapses.arrivals``; and per
    population its (synaptic ops, input MACs)."""
    events, ops = {}, {}
    t = np.asarray(list(steps), dtype=np.int64)
    for pop in graph.populations:
        arrived = np.zeros((len(t), *pop.shape), np.int64)
        syn = macs = 0
        for proj in pop.projections:
            act = activity.get(proj.source)
            if act is None:
                continue
            src_t = t - (proj.delay + hop_delay)
            ok = (src_t >= 0) & (src_t < act.shape[0])
            if not ok.any():
                continue
            through = synapses.arrivals(proj, act[src_t[ok]])
            arrived[ok] += through
            total = int(through.sum())
            if proj.source == INPUT:
                macs += total
            else:
                syn += total
        events[pop.name] = arrived
        ops[pop.name] = (syn, macs)
    return events, ops


class _Tally:
    """A run's counters and per-step sums (device tensors), and the SimulationResult they make."""

    def __init__(self, graph: QGraph, timesteps: int, device: torch.device):
        self.graph = graph
        self.timesteps = timesteps
        self.device = device

        def zeros(shape: tuple[int, ...]) -> torch.Tensor:
            return torch.zeros((timesteps, *shape), dtype=torch.int64, device=device)

        self.per_step = {p.name: zeros(p.shape) for p in graph.populations}
        self.input_active = zeros(graph.input_shape)
        self.events: dict[str, torch.Tensor] | None = None  # live counts (aligned timing only)
        self.overflow = torch.zeros((len(graph.populations), 2), dtype=torch.int64, device=device)
        """Per population: (u wraps, v clips)."""
        self.synaptic = torch.zeros((len(graph.populations), 2), dtype=torch.int64, device=device)
        """Per population, when counted live: (synaptic ops, input MACs)."""
        self.arrivals: tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]] | None = None

    def add_overflow(self, found: list[tuple[int, torch.Tensor, torch.Tensor]]) -> None:
        """Add (population index, wraps, clips) counts, on the device (no host sync)."""
        if found:
            index = torch.as_tensor([i for i, _, _ in found], device=self.device)
            counts = torch.stack([torch.stack((w, c)) for _, w, c in found])
            self.overflow.index_add_(0, index, counts)

    def live_events(self) -> dict[str, torch.Tensor]:
        if self.events is None:
            self.events = {p.name: torch.zeros((self.timesteps, *p.shape), dtype=torch.int64,
                                               device=self.device) for p in self.graph.populations}
        return self.events

    def activity(self) -> dict[str, np.ndarray]:
        """Per source, non-zero values per step summed over samples (T, *shape): the input's,
        and every spiking population's spikes."""
        act = {INPUT: self.input_active.cpu().numpy()}
        for pop in self.graph.populations:
            if not pop.readout:
                act[pop.name] = self.per_step[pop.name].cpu().numpy()
        return act

    def count_arrivals(self, activity: dict[str, np.ndarray], hop_delay: int) -> None:
        self.arrivals = _arrivals(self.graph, activity, hop_delay=hop_delay,
                                  steps=range(self.timesteps))

    def result(self, n: int, outputs: list[torch.Tensor],
               spikes: dict[str, np.ndarray] | None) -> SimulationResult:
        graph = self.graph
        output = (torch.cat(outputs).cpu().numpy() if outputs
                  else np.zeros((0, *graph.output_population.shape), np.int64))
        per_step = {k: v.cpu().numpy() for k, v in self.per_step.items()}
        overflow = self.overflow.cpu().numpy()
        if self.arrivals is not None:
            events, ops = self.arrivals
        else:  # counted live (aligned timing)
            events = {k: v.cpu().numpy() for k, v in self.live_events().items()}
            syn = self.synaptic.cpu().numpy()
            ops = {p.name: (int(s), int(m)) for p, (s, m) in zip(graph.populations, syn)}
        counts = []
        for i, pop in enumerate(graph.populations):
            c = PopulationCounts(pop.name, neuron_count(pop))
            c.spikes = int(per_step[pop.name].sum())
            c.synaptic_ops, c.input_macs = ops[pop.name]
            c.neuron_updates = c.neurons * n * self.timesteps
            c.u_wraps, c.v_clips = int(overflow[i, 0]), int(overflow[i, 1])
            counts.append(c)
        return SimulationResult(
            output=output,
            predictions=output.reshape(n, -1).argmax(axis=1) if n else np.zeros(0, np.int64),
            counts=counts,
            samples=n,
            timesteps=self.timesteps,
            spikes=spikes,
            spikes_per_step=per_step,
            synaptic_events_per_step=events,
        )


class _Recorder:
    """Recorded spikes in host memory: per population, its first k samples (or all)."""

    def __init__(self, graph: QGraph, recording: dict[str, int | None], n: int, timesteps: int):
        self.keep = {name: n if k is None else min(k, n) for name, k in recording.items()}
        self.arrays = {name: np.zeros((timesteps, k, *graph.population(name).shape), bool)
                       for name, k in self.keep.items()}

    def wants(self, name: str, start: int) -> int:
        """How many samples of the batch that starts at sample ``start`` to record."""
        return max(0, self.keep.get(name, 0) - start)

    def record(self, name: str, t: int, start: int, spikes: torch.Tensor) -> None:
        k = self.wants(name, start)
        if k:
            part = spikes[:k]
            self.arrays[name][t, start:start + part.shape[0]] = (part != 0).cpu().numpy()

    def spikes(self) -> dict[str, np.ndarray] | None:
        return self.arrays or None


def _run_batch(prepared: list[_PreparedPopulation], graph: QGraph, batch: torch.Tensor,
               in_dtype: torch.dtype, hop_delay: int, tally: _Tally, recorder: _Recorder,
               start: int, record_state: StateRecorder | None = None) -> torch.Tensor:
    """The zero-delay (hop_delay 0) or naive pipelined (1) run of a batch (b, T, *input_shape)
    into ``tally`` (and ``recorder``): returns the outputs (b, *shape) and, where an
    event-driven projection could use it, each spiking population's firing rate."""
    b, timesteps = batch.shape[:2]
    device = batch.device
    tally.input_active += (batch != 0).sum(dim=0)
    batch = batch.to(in_dtype)
    states = [pp.zero_state(b, device) for pp in prepared]
    max_lag = max((p.delay for pop in graph.populations for p in pop.projections), default=0) + hop_delay
    history: deque[dict[str, torch.Tensor | None]] = deque(maxlen=max_lag + 1)
    out_index = [pp.name for pp in prepared].index(graph.output)
    out_pop = graph.output_population
    output_sum = None if out_pop.readout else torch.zeros((b, *out_pop.shape), dtype=torch.float32,
                                                          device=device)
    overflow: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    step_sums: dict[str, list[torch.Tensor]] = {pp.name: [] for pp in prepared}
    for t in range(timesteps):
        current: dict[str, torch.Tensor | None] = {INPUT: batch[:, t]}
        history.appendleft(current)
        for i, pp in enumerate(prepared):
            sources = []
            for prep in pp.projections:
                lag = prep.proj.delay + hop_delay
                sources.append(history[lag][prep.proj.source] if lag < len(history) else None)
            a = pp.synaptic_input(sources, b, device)
            states[i], spikes, wraps, clips = pp.step(a, states[i])
            overflow.append((i, wraps, clips))
            current[pp.name] = spikes
            if record_state is not None:
                record_state.record(pp.name, start, t, states[i].u, states[i].v, spikes)
            if spikes is None:
                continue
            step_sums[pp.name].append(spikes.sum(dim=0))  # exact: at most b ones
            if recorder.wants(pp.name, start):
                recorder.record(pp.name, t, start, spikes)
        if output_sum is not None:
            output_sum += current[out_pop.name]
    tally.add_overflow(overflow)
    spikes = {}
    for name, sums in step_sums.items():
        if sums:
            per_step = torch.stack(sums).to(torch.int64)
            tally.per_step[name] += per_step
            spikes[name] = per_step.sum()
    rates = {}
    if any(prep.can_skip_silence for pp in prepared for prep in pp.projections):
        for pp in prepared:  # one read per batch
            if pp.name in spikes:
                rates[pp.name] = float(spikes[pp.name]) / (b * timesteps * neuron_count(pp.pop))
    out = states[out_index].v.to(torch.int64) if output_sum is None else output_sum.to(torch.int64)
    return out, rates


def _choose_event_driven(prepared: list[_PreparedPopulation], rates: dict[str, float]) -> None:
    """Event-driven form for the next batch where the source fired sparsely in this one."""
    for pp in prepared:
        for prep in pp.projections:
            if prep.can_skip_silence:
                rate = rates.get(prep.proj.source)
                prep.event_driven = rate is not None and rate < _EVENT_DRIVEN_BELOW


def _stream_blocks(n: int, lanes: int):
    """How "aligned" deals n samples to at most ``lanes`` streams of equal length: (first
    sample, streams, samples per stream) per run; a second run takes what does not divide."""
    if n == 0:
        return
    lanes = min(lanes, n)
    per_lane = n // lanes
    yield 0, lanes, per_lane
    if n > lanes * per_lane:
        yield lanes * per_lane, n - lanes * per_lane, 1


def _run_streams(prepared: list[_PreparedPopulation], graph: QGraph, streams: np.ndarray,
                 tally: _Tally, device: torch.device, record_spikes: bool, *, record_steps: bool,
                 on_batch: Callable[[int], None] | None):
    """The aligned pipeline (hardware_sim.ir.pipeline) on B streams side by side.

    ``streams``: (B, K, T, *input_shape), each stream's K samples back to back; every
    stream runs K·T + max depth hardware steps exactly as Lava runs them. ``tally``
    receives what each population did in its window, at the reference's step (events
    counted live, as they arrive). Returns (outputs (B·K, *shape), spikes
    {name: (T, B·K, *shape)} when recorded, and with ``record_steps`` every population's
    spikes or readout v at every step, {name: (steps, B, *shape)}), sample b·K + k being
    stream b's k-th.
    """
    lanes, per_lane, timesteps = streams.shape[:3]
    plan = plan_network(graph, timesteps, per_lane)
    states = [pp.zero_state(lanes, device) for pp in prepared]
    plans = [plan.projections_into(pp.name) for pp in prepared]
    history: deque[dict[str, torch.Tensor | None]] = deque(
        maxlen=max(p.hw_delay for p in plan.projections) + 1)
    events = tally.live_events()
    in_dtype = _input_dtype(prepared)
    out_pop = graph.output_population
    output = torch.zeros((lanes, per_lane, *out_pop.shape), dtype=torch.int64, device=device)
    spikes_rec = ({pp.name: torch.zeros((timesteps, lanes, per_lane, *pp.pop.shape),
                                        dtype=torch.bool) for pp in prepared if not pp.pop.readout}
                  if record_spikes else None)  # recordings are kept in host memory
    records: dict[str, list[torch.Tensor]] | None = (
        {pp.name: [] for pp in prepared} if record_steps else None)
    chunk = None
    for step in range(1, plan.total_steps + 1):
        sent: dict[str, torch.Tensor | None] = {INPUT: None}  # None: nothing (zeros) this step
        sample, tau = divmod(step - 1, timesteps)
        if sample < per_lane:
            if tau == 0:
                raw = torch.as_tensor(streams[:, sample], device=device)
                chunk = raw.to(in_dtype)
            sent[INPUT] = chunk[:, tau]
        for i, (pp, proj_plans) in enumerate(zip(prepared, plans)):
            name = pp.name
            if plan.resets(name, step):
                states[i] = pp.zero_state(lanes, device)
            where = plan.reference_step(name, step)
            sources = [_arriving(history, plan, proj_plan, step) for proj_plan in proj_plans]
            a = pp.synaptic_input(sources, lanes, device)
            if where is not None:
                for prep, src in zip(pp.projections, sources):
                    if src is not None:
                        arrived = prep.events_summed(src)
                        events[name][where[1]] += arrived
                        tally.synaptic[i, 1 if prep.proj.source == INPUT else 0] += arrived.sum()
            states[i], spikes, wraps, clips = pp.step(a, states[i])
            sent[name] = spikes
            if records is not None:
                now = states[i].v.to(torch.int64) if pp.pop.readout else spikes != 0
                records[name].append(now.to("cpu", copy=True))
            if where is None:
                continue
            k, t = where
            tally.add_overflow([(i, wraps, clips)])
            if spikes is not None:
                tally.per_step[name][t] += spikes.sum(dim=0).to(torch.int64)
                if spikes_rec is not None:
                    spikes_rec[name][t, :, k] = (spikes != 0).cpu()
            if name == graph.output:
                if not pp.pop.readout:
                    output[:, k] += spikes.to(torch.int64)
                elif t == timesteps - 1:
                    output[:, k] = states[i].v.to(torch.int64)
        history.appendleft(sent)
        done = step - plan.max_depth
        if on_batch is not None and done > 0 and done % timesteps == 0:
            on_batch(lanes)
    n = lanes * per_lane
    spikes_out = None
    if spikes_rec is not None:
        spikes_out = {k: v.reshape(timesteps, n, *v.shape[3:]) for k, v in spikes_rec.items()}
        for pp in prepared:
            if pp.pop.readout:
                spikes_out[pp.name] = torch.zeros((timesteps, n, *pp.pop.shape), dtype=torch.bool)
    return (output.reshape(n, *out_pop.shape).cpu(), spikes_out,
            {k: torch.stack(v) for k, v in records.items()} if records is not None else None)


def _arriving(history, plan: NetworkPlan, proj_plan: ProjectionPlan, step: int):
    """What reaches the target through ``proj_plan`` at hardware ``step``: the source's
    message of ``plan.source_step``, or None for zeros (nothing sent yet, masked, the
    input after its last sample, or a readout source, which is silent)."""
    sent_at = plan.source_step(proj_plan, step)
    if sent_at < 1 or plan.masked(proj_plan, step):
        return None
    return history[step - 1 - sent_at][proj_plan.source]
