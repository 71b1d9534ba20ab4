"""The in-memory network every backend executes: a graph of neuron populations.

A network is a list of populations in topological order of its forward projections; a
recurrent projection (from its own population or a later one) carries a delay ≥ 1, the
chip's one step of synaptic delay (DESIGN §7), so it closes no zero-delay cycle. Each population is a
layer of neurons (DESIGN §2/§3) fed by one or more projections; a projection is
the synaptic path from one source (the input or another population) into it:

    source spikes ──[delay d]──[sum-pool k]──[flatten]──[dense W | conv W]──► acc

Two projections into one population sum (a residual join). The same structure
carries the float model (``FloatGraph``: folded float weights, decays,
thresholds) and the integer model (``QGraph``: the fixed-point truth of
DESIGN §3), so the quantizer maps one onto the other field by field.

Shapes: a population's ``shape`` is (C, H, W) for conv layers or (N,) for dense
ones, and every per-neuron array has exactly that shape. Dense weights are
(out_features, in_features); conv weights are (C_out, C_in, kH, kW) applied as a
PyTorch-style cross-correlation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hardware_sim.ir import synapses
from hardware_sim.ir.neuron import BIAS_EXP_MAX, BIAS_MANT_MAX, DECAY_ONE, GAIN_MAX, THRESHOLD_MAX

INPUT = "input"
"""The reserved source name of the network's input."""

RESETS = ("zero", "subtract")
"""A population's reset modes: v to 0 after a spike, or the threshold subtracted (IntPopulation)."""

WEIGHT_BITS = 8
WEIGHT_MIN, WEIGHT_MAX = -(1 << (WEIGHT_BITS - 1)), (1 << (WEIGHT_BITS - 1)) - 1


class GraphError(ValueError):
    """A network that is not well formed; the message names the node at fault."""


@dataclass
class Projection:
    """Synapses from ``source`` into one population.

    acc = W · flatten(sumpool_k(s_source[t - delay]))   (dense)
    acc = W ⋆ sumpool_k(s_source[t - delay])            (conv, stride/padding)
    a   = acc << weight_exp  (or >> -weight_exp, rounding toward −∞)

    ``weight`` holds floats in a FloatGraph and int8-valued integers in a QGraph;
    ``weight_exp`` is used only by the QGraph. A conv's ``stride`` and ``padding`` are
    (rows, columns) pairs, as PyTorch's and NIR's are, since a file may stride or pad its axes
    differently (lava-dl's PilotNet: stride (2, 1), padding (1, 0)); a plain int means both
    axes and is stored as the pair.
    """

    source: str
    kind: Literal["dense", "conv"]
    weight: np.ndarray
    source_shape: tuple[int, ...]
    weight_exp: int = 0
    stride: tuple[int, int] | int = 1
    padding: tuple[int, int] | int = 0
    pool: int = 1
    delay: int = 0

    def __post_init__(self) -> None:
        self.source_shape = tuple(int(d) for d in self.source_shape)
        if self.kind not in ("dense", "conv"):
            raise GraphError(f"projection from {self.source!r}: unknown kind {self.kind!r}")
        self.stride = _axis_pair(self.source, "stride", self.stride)
        self.padding = _axis_pair(self.source, "padding", self.padding)
        if self.pool < 1 or min(self.stride) < 1 or min(self.padding) < 0 or self.delay < 0:
            raise GraphError(f"projection from {self.source!r}: pool, stride >= 1, padding, delay >= 0")
        if self.pool > 1 and len(self.source_shape) != 3:
            raise GraphError(f"projection from {self.source!r}: pooling needs a (C, H, W) source")
        if self.kind == "dense":
            if self.weight.ndim != 2 or self.weight.shape[1] != self.pooled_size:
                raise GraphError(
                    f"projection from {self.source!r}: dense weight {self.weight.shape} does not "
                    f"take {self.pooled_size} inputs"
                )
        else:
            if self.weight.ndim != 4 or len(self.source_shape) != 3:
                raise GraphError(f"projection from {self.source!r}: conv needs a 4-d weight and (C, H, W) source")
            if self.weight.shape[1] != self.source_shape[0]:
                raise GraphError(
                    f"projection from {self.source!r}: conv weight takes {self.weight.shape[1]} channels, "
                    f"source has {self.source_shape[0]}"
                )

    @property
    def pooled_shape(self) -> tuple[int, ...]:
        """Shape of the source after sum pooling (kernel = stride = ``pool``)."""
        if self.pool == 1:
            return self.source_shape
        c, h, w = self.source_shape
        return (c, h // self.pool, w // self.pool)

    @property
    def pooled_size(self) -> int:
        return int(np.prod(self.pooled_shape))

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.kind == "dense":
            return (int(self.weight.shape[0]),)
        _, h, w = self.pooled_shape
        c_out, _, kh, kw = self.weight.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        return (int(c_out), (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)

    @property
    def synapses(self) -> int:
        """Number of synapses (connections) this projection stores in hardware
        (``synapses.synapse_count``)."""
        return synapses.synapse_count(self)


def _axis_pair(source: str, field: str, value: Any) -> tuple[int, int]:
    """``value`` as a (rows, columns) pair of ints: an int means both axes."""
    values = np.asarray(value).reshape(-1)
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2 or values.dtype.kind not in "iu":
        raise GraphError(f"projection from {source!r}: {field} {value!r} must be an int or two ints")
    return int(values[0]), int(values[1])


@dataclass
class FloatPopulation:
    """A layer of DA-LIF neurons with α and BN already folded into its projections.

    V[t] = β ⊙ H[t−1] + g ⊙ Σ_p X_p[t] + b;  S = Θ(V − θ), Θ(0) = 1;  H = V ⊙ (1 − S)

    ``gain`` g (per neuron) is the spatial decay that could not be folded into
    shared conv kernels, relative to its channel's folded value; None when α
    folded completely. ``readout`` marks a non-spiking integrator (β = 1,
    no threshold) whose final V is the network's output.

    ``current_decay`` β_I (per neuron, in [0, 1)) gives the layer a synaptic current
    with memory (NIR CubaLIF, forward Euler at dt = 1, V seeing this step's current):

        I[t] = β_I ⊙ I[t−1] + g ⊙ Σ_p X_p[t];   V[t] = β ⊙ H[t−1] + I[t] + b

    None (the DA-LIF case) is β_I = 0: I[t] is this step's drive and the equation above.
    It quantizes to du = round(4096·(1 − β_I)) − 1 (DESIGN §3's u: factor 1 − (du+1)/4096).
    """

    name: str
    shape: tuple[int, ...]
    projections: list[Projection]
    beta: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    gain: np.ndarray | None = None
    readout: bool = False
    current_decay: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)
        _check_full_shape(self.name, self.shape, beta=self.beta, threshold=self.threshold,
                          bias=self.bias, gain=self.gain, current_decay=self.current_decay)
        if self.current_decay is not None and not np.all((self.current_decay >= 0)
                                                         & (self.current_decay < 1)):
            raise GraphError(f"population {self.name!r}: current_decay must lie in [0, 1)")


@dataclass
class IntPopulation:
    """A layer of fixed-point neurons, DESIGN §3 (Lava's bit-accurate LIF per neuron).

    u[t] = rtz(u[t−1]·(4096 − (du+1)), 12) + [rtz((a << 6)·g, 12) | a << 6], wrapped to 24 bits
    v[t] = clip(rtz(v[t−1]·(4096 − dv), 12) + u[t] + (bias_mant << bias_exp), ±(2^23 − 1))
    s[t] = v[t] > (vth << 6);  v[t] = 0 where s[t]

    ``reset``: "zero" (above; every Loihi) or "subtract" (Loihi 2's programmable neurons,
    snnTorch's default): the step after a spike takes vth << 6 off the decayed v instead
    (``hardware_sim.ir.neuron``). A readout never spikes, so it resets to "zero" only.

    ``v_scale`` converts the integer voltage back to the float model's units
    (V_float ≈ v_scale · v); it is what ties the integer truth to the float NIR
    parameters and to the float reference backends.
    """

    name: str
    shape: tuple[int, ...]
    projections: list[Projection]
    dv: np.ndarray
    du: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: int
    v_scale: float
    gain: np.ndarray | None = None
    readout: bool = False
    reset: Literal["zero", "subtract"] = "zero"

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)
        if self.reset not in RESETS:
            raise GraphError(f"population {self.name!r}: reset must be one of {RESETS}, got {self.reset!r}")
        if self.readout and self.reset != "zero":
            raise GraphError(f"population {self.name!r}: a readout never spikes, so it cannot reset "
                             "by subtraction")
        _check_full_shape(self.name, self.shape, dv=self.dv, du=self.du, vth=self.vth,
                          bias_mant=self.bias_mant, gain=self.gain)
        _check_int_range(self.name, "dv", self.dv, 0, DECAY_ONE - 1)
        _check_int_range(self.name, "du", self.du, 0, DECAY_ONE - 1)
        _check_int_range(self.name, "vth", self.vth, 0, THRESHOLD_MAX)
        _check_int_range(self.name, "bias_mant", self.bias_mant, -BIAS_MANT_MAX - 1, BIAS_MANT_MAX)
        _check_int_range(self.name, "bias_exp", np.asarray(self.bias_exp), 0, BIAS_EXP_MAX)
        if self.gain is not None:
            _check_int_range(self.name, "gain", self.gain, 0, GAIN_MAX)
        for p in self.projections:
            _check_int_range(self.name, f"weight from {p.source}", p.weight, WEIGHT_MIN, WEIGHT_MAX)
        if not (np.isfinite(self.v_scale) and self.v_scale > 0):
            raise GraphError(f"population {self.name!r}: v_scale must be a positive number")

    @property
    def bias(self) -> np.ndarray:
        """The bias added to v each step, bias_mant << bias_exp."""
        return self.bias_mant.astype(np.int64) << self.bias_exp


class _Graph:
    """Checks and look-ups shared by the float and the integer graph."""

    input_shape: tuple[int, ...]
    populations: list
    output: str

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        shapes: dict[str, tuple[int, ...]] = {INPUT: self.input_shape}
        for pop in self.populations:
            if pop.name in shapes:
                raise GraphError(f"population {pop.name!r}: duplicate name")
            shapes[pop.name] = pop.shape
        earlier = {INPUT}
        for pop in self.populations:
            if not pop.projections:
                raise GraphError(f"population {pop.name!r}: has no input")
            for p in pop.projections:
                if p.source not in earlier and not (p.source in shapes and p.delay >= 1):
                    raise GraphError(
                        f"population {pop.name!r}: source {p.source!r} is not an earlier population "
                        "(a recurrent projection, from itself or a later one, needs a delay >= 1)"
                    )
                if p.source_shape != shapes[p.source]:
                    raise GraphError(
                        f"population {pop.name!r}: projection expects {p.source_shape} from "
                        f"{p.source!r}, which has shape {shapes[p.source]}"
                    )
                if p.output_shape != pop.shape:
                    raise GraphError(
                        f"population {pop.name!r}: projection from {p.source!r} produces "
                        f"{p.output_shape}, population has shape {pop.shape}"
                    )
            earlier.add(pop.name)
        if self.output not in shapes or self.output == INPUT:
            raise GraphError(f"output {self.output!r} is not a population")

    @property
    def recurrent(self) -> bool:
        """Whether a projection comes from its own population or a later one (with a delay)."""
        seen = {INPUT}
        for pop in self.populations:
            seen.add(pop.name)
            if any(p.source not in seen or p.source == pop.name for p in pop.projections):
                return True
        return False

    def population(self, name: str):
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise KeyError(name)

    @property
    def output_population(self):
        return self.population(self.output)


@dataclass(kw_only=True)
class FloatGraph(_Graph):
    """The folded float model: what the quantizer reads."""

    input_shape: tuple[int, ...]
    populations: list[FloatPopulation]
    output: str
    input_scale: float = 1.0


@dataclass(kw_only=True)
class QGraph(_Graph):
    """The quantized network: the integer truth every backend executes.

    Inputs are unsigned integers: a float input x becomes round(x / input_scale),
    clipped to ``input_bits``; they enter the first layer as graded spikes.
    ``quantization_report`` counts, per population, the values that were clipped
    or saturated while quantizing (never silent).
    """

    input_shape: tuple[int, ...]
    populations: list[IntPopulation]
    output: str
    input_scale: float = 1.0
    input_bits: int = 8
    quantization_report: dict[str, dict[str, int]] = field(default_factory=dict)

    def quantize_input(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Float inputs → integer graded spikes; returns (ints, number clipped)."""
        q = np.rint(np.asarray(x, dtype=np.float64) / self.input_scale)
        hi = (1 << self.input_bits) - 1
        clipped = int(np.count_nonzero((q < 0) | (q > hi)))
        return np.clip(q, 0, hi).astype(np.int64), clipped


def neuron_count(pop: FloatPopulation | IntPopulation) -> int:
    return int(np.prod(pop.shape))


def _check_full_shape(name: str, shape: tuple[int, ...], **arrays: np.ndarray | None) -> None:
    for key, arr in arrays.items():
        if arr is not None and tuple(arr.shape) != shape:
            raise GraphError(f"population {name!r}: {key} has shape {tuple(arr.shape)}, expected {shape}")


def _check_int_range(name: str, key: str, arr: np.ndarray, lo: int, hi: int) -> None:
    arr = np.asarray(arr)
    if arr.size == 0:
        return
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.rint(arr)):
            raise GraphError(f"population {name!r}: {key} must hold integers")
    if arr.min() < lo or arr.max() > hi:
        raise GraphError(
            f"population {name!r}: {key} outside [{lo}, {hi}] (found {arr.min()}..{arr.max()})"
        )


@dataclass(frozen=True)
class DeployedModel:
    """A network as loaded for running: the integer graph plus what its file says about it.

    ``timesteps`` is T per sample; ``info`` the producer's metadata; ``foreign`` whether
    the graph was quantized at load time (a NIR file without our metadata). ``nir_graph``
    is the file's ``nir.NIRGraph`` as read (float parameters), for backends that run the
    file's float semantics (norse); None when the model was not read from a NIR file.
    ``reading``: for a foreign file, what it was taken to mean (producer convention, dt,
    reset mode, notes and warnings; ``hardware_sim.ir.nir.conventions.Reading.to_dict``),
    which every RESULT.json and report records; None otherwise.
    """

    graph: QGraph
    timesteps: int
    info: dict[str, Any]
    foreign: bool
    nir_graph: Any = None
    reading: dict[str, Any] | None = None
