"""The backend registry: every backend joins it the same way and runs the same inputs.

A backend takes the loaded model (the one QGraph every backend starts from) and
integer inputs (N, T, *input_shape) and returns a SimulationResult, so accuracy,
spike counts and synaptic ops are comparable across backends field by field.
Backends that need another environment (Lava) register a thin front that runs
their work in a subprocess; importing the registry never imports a heavy library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from hardware_sim.ir.graph import DeployedModel
from hardware_sim.results import SimulationResult


class BackendError(RuntimeError):
    """A backend that cannot run here or failed; the message says what to do."""


class Backend(Protocol):
    name: str
    description: str

    def run(self, model: DeployedModel, inputs: np.ndarray,
            on_progress: Callable[[int], None] | None = None) -> SimulationResult: ...


@dataclass
class _Entry:
    description: str
    factory: str | Callable[..., Backend]
    """"package.module:Class" (imported only when the backend is made) or a callable."""


_BACKENDS: dict[str, _Entry] = {}


def register_backend(name: str, description: str, factory: str | Callable[..., Backend]) -> None:
    """Add a backend. ``factory`` is "package.module:Class", imported only when the backend is
    made, or a callable; either may import heavy libraries, registering never does."""
    if name in _BACKENDS:
        raise ValueError(f"backend {name!r} is already registered")
    _BACKENDS[name] = _Entry(description, factory)


def backend_names() -> list[str]:
    return list(_BACKENDS)


def describe_backends() -> dict[str, str]:
    return {name: entry.description for name, entry in _BACKENDS.items()}


def get_backend(name: str, **options: Any) -> Backend:
    """A new backend ``name`` made with ``options`` (its constructor's keyword arguments)."""
    if name not in _BACKENDS:
        raise BackendError(f"unknown backend {name!r}; known: {', '.join(_BACKENDS)}")
    factory = _BACKENDS[name].factory
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**options)
