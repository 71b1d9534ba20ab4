"""The DA-LIF neuron: a pure step function and a module that loops it over time.

DA-LIF (dual adaptive leaky integrate-and-fire) scales the synaptic input by a
spatial decay α and the carried-over membrane by a temporal decay β, both learned:

    V[t] = β ⊙ H[t−1] + α ⊙ X[t]
    S[t] = Θ(V[t] − θ)          Θ(0) = 1: a neuron fires when V reaches θ
    H[t] = V[t] ⊙ (1 − S[t])    hard reset to 0;  H[−1] = 0

Plain LIF is the special case α = 1 with a fixed β, so the baseline is one flag.

Following norse, :func:`dalif_step` is the single definition of the update; the
module :class:`DALIF` only owns the learnable decays and loops the step over time.
The exporter and the tests call :func:`dalif_step` directly, so there is exactly one
place where the float semantics live.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from dalif.config import DECAY_FNS, GRANULARITIES, NEURON_KINDS
from dalif.surrogate import spike_fn

# tanh(|p|) reaches 0 at p = 0 and 1 in float32 for |p| ≳ 9; either end would switch
# a decay off for good (zero gradient), so it is kept inside the open interval.
_TANH_DECAY_EPS = 1e-4


class DALIFParameters(NamedTuple):
    """Decays and threshold of a DA-LIF population.

    ``alpha`` and ``beta`` broadcast against the neuron shape: a scalar per layer,
    (C, 1, 1) or (N,) per channel, or the full shape per neuron.
    """

    alpha: Tensor
    beta: Tensor
    threshold: float = 1.0


class DALIFState(NamedTuple):
    """Membrane potential after reset, H[t], carried to the next step."""

    h: Tensor


def dalif_step(
    x: Tensor,
    state: DALIFState,
    params: DALIFParameters,
    surrogate: str = "tanh",
    steepness: float = 3.0,
) -> tuple[Tensor, DALIFState]:
    """Advance a DA-LIF population by one timestep.

    Args:
        x: synaptic input X[t], shape (B, *neuron_shape).
        state: H[t−1] (zeros at the first step).
        params: decays α, β and threshold θ.
        surrogate, steepness: the surrogate gradient of Θ (see :mod:`dalif.surrogate`).

    Returns:
        The spikes S[t] (0.0 / 1.0, same shape as ``x``) and the new state H[t].
        The reset keeps its gradient path, so the surrogate also teaches a neuron
        what firing costs its membrane.
    """
    v = params.beta * state.h + params.alpha * x
    s = spike_fn(v - params.threshold, surrogate, steepness)
    return s, DALIFState(h=v * (1.0 - s))


def _decay(raw: Tensor, decay_fn: str) -> Tensor:
    if decay_fn == "sigmoid":
        return torch.sigmoid(raw)
    return torch.tanh(raw.abs()).clamp(_TANH_DECAY_EPS, 1.0 - _TANH_DECAY_EPS)


def _inverse_decay(value: Tensor, decay_fn: str) -> Tensor:
    if decay_fn == "sigmoid":
        return torch.logit(value)
    return torch.atanh(value)


class DALIF(nn.Module):
    """A population of DA-LIF (or plain LIF) neurons of a given shape.

    Args:
        shape: neuron shape without batch, (C, H, W) after a conv or (N,) after a linear.
        kind: "dalif" learns α = f(a) and β = f(b); "lif" fixes α = 1 and β = ``lif_beta``
            (stored as buffers, so the optimizer sees no decays).
        decay_fn: f, "sigmoid" or "tanh" (tanh(|p|) kept inside (0, 1)).
        granularity: one (a, b) pair per "layer", per "channel" (the first dim of
            ``shape``) or per "neuron" (the full shape).
        threshold: θ.
        lif_beta: β of the plain LIF baseline.
        alpha_init, beta_init: the decays the raw parameters start at.
        init_spread: per-channel / per-neuron decays start uniformly within
            ± ``init_spread`` of the init values, drawn from a generator seeded with
            ``seed``; this makes per-neuron paths of the exporter visible on a fresh
            model and breaks the symmetry between neurons of a channel deterministically.
        surrogate, steepness: surrogate gradient of the spike.
        seed: seed of the spread above.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        kind: str = "dalif",
        decay_fn: str = "sigmoid",
        granularity: str = "layer",
        threshold: float = 1.0,
        lif_beta: float = 0.5,
        alpha_init: float = 0.9,
        beta_init: float = 0.5,
        init_spread: float = 0.05,
        surrogate: str = "tanh",
        steepness: float = 3.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if kind not in NEURON_KINDS:
            raise ValueError(f"unknown neuron kind {kind!r}; known: {list(NEURON_KINDS)}")
        if decay_fn not in DECAY_FNS:
            raise ValueError(f"unknown decay_fn {decay_fn!r}; known: {list(DECAY_FNS)}")
        if granularity not in GRANULARITIES:
            raise ValueError(
                f"unknown granularity {granularity!r}; known: {list(GRANULARITIES)}"
            )
        for name, value in (("alpha_init", alpha_init), ("beta_init", beta_init)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must lie in (0, 1), got {value}")
        self.shape = tuple(int(d) for d in shape)
        self.kind = kind
        self.decay_fn = decay_fn
        self.granularity = granularity
        self.threshold = float(threshold)
        self.surrogate = surrogate
        self.steepness = float(steepness)

        if kind == "lif":
            self.register_buffer("alpha_fixed", torch.tensor(1.0))
            self.register_buffer("beta_fixed", torch.tensor(float(lif_beta)))
            return

        if granularity == "layer":
            param_shape: tuple[int, ...] = ()
        elif granularity == "channel":
            param_shape = (self.shape[0],) + (1,) * (len(self.shape) - 1)
        else:
            param_shape = self.shape
        generator = torch.Generator().manual_seed(seed)
        spread = init_spread if granularity != "layer" else 0.0

        def raw_init(value: float) -> Tensor:
            noise = (torch.rand(param_shape, generator=generator) * 2.0 - 1.0) * spread
            decay = (value + noise).clamp(0.01, 0.99)
            return _inverse_decay(decay, decay_fn)

        self.a = nn.Parameter(raw_init(alpha_init))
        self.b = nn.Parameter(raw_init(beta_init))

    def _compact_decays(self) -> tuple[Tensor, Tensor]:
        """α and β at their stored (broadcastable) shape."""
        if self.kind == "lif":
            return self.alpha_fixed, self.beta_fixed
        return _decay(self.a, self.decay_fn), _decay(self.b, self.decay_fn)

    def alpha(self) -> Tensor:
        """Spatial decay α of every neuron, shape ``self.shape``."""
        return self._compact_decays()[0].expand(self.shape).contiguous()

    def beta(self) -> Tensor:
        """Temporal decay β of every neuron, shape ``self.shape``."""
        return self._compact_decays()[1].expand(self.shape).contiguous()

    def parameters_for_step(self) -> DALIFParameters:
        """The :class:`DALIFParameters` this module feeds to :func:`dalif_step`."""
        alpha, beta = self._compact_decays()
        return DALIFParameters(alpha=alpha, beta=beta, threshold=self.threshold)

    def forward(self, x_seq: Tensor) -> Tensor:
        """Spikes (T, B, *shape) for the input currents ``x_seq`` (T, B, *shape).

        The state starts at zero on every call: a sample never sees its predecessor.
        """
        if tuple(x_seq.shape[2:]) != self.shape:
            raise ValueError(
                f"DALIF expects input (T, B, {', '.join(map(str, self.shape))}), "
                f"got {tuple(x_seq.shape)}"
            )
        params = self.parameters_for_step()
        state = DALIFState(h=torch.zeros_like(x_seq[0]))
        spikes = []
        for x in x_seq:
            s, state = dalif_step(x, state, params, self.surrogate, self.steepness)
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return (
            f"shape={self.shape}, kind={self.kind!r}, decay_fn={self.decay_fn!r}, "
            f"granularity={self.granularity!r}, threshold={self.threshold}"
        )
