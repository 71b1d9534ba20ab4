"""Heaviside step with a surrogate gradient.

The spike nonlinearity S = Θ(x) (with Θ(0) = 1) has a zero derivative almost
everywhere, so backpropagation through time would learn nothing. The forward pass
keeps the exact step (the hardware fires on exactly this condition); only the
backward pass substitutes the derivative of a smooth step of steepness ``k``:

    tanh:     dΘ/dx ≈ k/2 · (1 − tanh(k·x)²)          (smooth step (1 + tanh(k·x)) / 2)
    sigmoid:  dΘ/dx ≈ k · σ(k·x) · (1 − σ(k·x))      (smooth step σ(k·x))
    atan:     dΘ/dx ≈ k/2 / (1 + (π/2 · k · x)²)       (smooth step 1/2 + atan(π/2 · k · x) / π)

Each surrogate integrates to 1 over the real line, like the Dirac delta it
replaces, so the steepness changes the width of the gradient window, not its mass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from dalif.config import SURROGATE_NAMES


def _tanh_grad(x: Tensor, k: float) -> Tensor:
    return 0.5 * k * (1.0 - torch.tanh(k * x) ** 2)


def _sigmoid_grad(x: Tensor, k: float) -> Tensor:
    sig = torch.sigmoid(k * x)
    return k * sig * (1.0 - sig)


def _atan_grad(x: Tensor, k: float) -> Tensor:
    return 0.5 * k / (1.0 + (0.5 * math.pi * k * x) ** 2)


SURROGATES: dict[str, Callable[[Tensor, float], Tensor]] = dict(
    zip(SURROGATE_NAMES, (_tanh_grad, _sigmoid_grad, _atan_grad), strict=True))
"""Surrogate derivative of Θ by name: ``grad(x, steepness) -> Tensor``."""


class HeavisideSurrogate(torch.autograd.Function):
    """Θ(x) = 1 where x ≥ 0 forward; the named surrogate derivative backward."""

    @staticmethod
    def forward(ctx, x: Tensor, kind: str, steepness: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.kind = kind
        ctx.steepness = steepness
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * SURROGATES[ctx.kind](x, ctx.steepness), None, None


def spike_fn(x: Tensor, kind: str = "tanh", steepness: float = 3.0) -> Tensor:
    """Return Θ(x) (1.0 where ``x >= 0``), differentiable through the ``kind`` surrogate.

    The name is checked here rather than in the backward pass so that a typo fails at
    the first forward step, not after a whole epoch of forward computation.
    """
    if kind not in SURROGATES:
        raise ValueError(f"unknown surrogate {kind!r}; known: {sorted(SURROGATES)}")
    return HeavisideSurrogate.apply(x, kind, steepness)
