"""Values read from a NIR file, checked where they enter: every helper returns a clean array or
raises NIRFormatError naming the node and the field."""

from __future__ import annotations

from typing import Any

import numpy as np

from hardware_sim.ir.nir.format import NIRFormatError


def declared_shape(node: str, value: Any) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(value))
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 1):
        raise NIRFormatError(f"node {node!r}: shape must be a list of positive integers, got {arr.tolist()!r}")
    return tuple(int(d) for d in arr)


def finite(node: str, value: Any, field: str) -> np.ndarray:
    """A numeric float array with no NaN or infinity, else an error naming the node."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise NIRFormatError(f"node {node!r}: {field} must be numeric, not {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise NIRFormatError(f"node {node!r}: {field} has NaN or infinite values")
    return arr


def int_array(node: str, value: Any, field: str) -> np.ndarray:
    """Integer metadata as int64: numeric and integral, else an error naming the node."""
    arr = np.asarray(value)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.floating):
        raise NIRFormatError(f"node {node!r}: metadata {field} must be integers, not {arr.dtype}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)) or np.any(np.abs(arr) > 2**62):
        raise NIRFormatError(f"node {node!r}: metadata {field} must be integers")
    return arr.astype(np.int64)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def uniform_int(node: str, value: Any, field: str) -> int:
    arr = np.atleast_1d(np.asarray(value))
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) \
            or np.any(arr != arr.flat[0]) or arr.flat[0] != int(arr.flat[0]):
        raise NIRFormatError(f"node {node!r}: {field} must be one finite integer for all dimensions")
    return int(arr.flat[0])


def full(node: str, value: Any, shape: tuple[int, ...], field: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    try:
        out = np.broadcast_to(arr.reshape(arr.shape) if arr.size > 1 else arr, shape).astype(np.float64)
    except ValueError:
        if arr.size == int(np.prod(shape)):
            out = arr.reshape(shape)
        else:
            raise NIRFormatError(f"node {node!r}: {field} has shape {arr.shape}, layer has {shape}") from None
    if not np.all(np.isfinite(out) | (field == "tau")):
        raise NIRFormatError(f"node {node!r}: {field} has NaN or infinite values")
    return out
