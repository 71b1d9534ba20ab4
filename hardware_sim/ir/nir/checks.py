"""Values read from a NIR file, checked where they enter: every helper returns a clean array or
raises NIRFormatError naming the node and the field."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from hardware_sim.ir.nir.format import NIRFormatError


def declared_shape(node: str, value: Any) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(value))
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 1):
        raise NIRFormatError(f"node {node!r}: shape must be a list of positive integers, got {arr.tolist()!r}")
    return tuple(int(d) for d in arr)


def finite(node: str, value: Any, field: str) -> np.ndarray:
    """A numeric real array with no NaN or infinity, as float64, else an error naming the node."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise NIRFormatError(f"node {node!r}: {field} must be real numbers, not {arr.dtype}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise NIRFormatError(f"node {node!r}: {field} must be numeric, not {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise NIRFormatError(f"node {node!r}: {field} has NaN or infinite values")
    return arr


INT64_RANGE = (-(1 << 63), (1 << 63) - 1)


def int_array(node: str, value: Any, field: str, lo: int | None = None, hi: int | None = None
              ) -> np.ndarray:
    """Integer metadata as int64: numeric, integral and within [lo, hi] (int64's range when not
    given) as stored, so a uint64 2^64 − 1 is out of range rather than −1; else an error
    naming the node."""
    arr = np.asarray(value)
    lo = INT64_RANGE[0] if lo is None else lo
    hi = INT64_RANGE[1] if hi is None else hi
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
            raise NIRFormatError(f"node {node!r}: metadata {field} must be integers")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise NIRFormatError(f"node {node!r}: metadata {field} must be integers, not {arr.dtype}")
    if arr.size:
        low, high = int(arr.min()), int(arr.max())
        if low < lo or high > hi:
            raise NIRFormatError(f"node {node!r}: metadata {field} outside [{lo}, {hi}] "
                                 f"(found {low}..{high})")
    return arr.astype(np.int64)


def int_scalar(node: str, value: Any, field: str, lo: int | None = None, hi: int | None = None) -> int:
    """One integer of metadata (a scalar, integral, within [lo, hi]): never truncated."""
    if isinstance(value, (str, bytes)) or np.ndim(value) != 0:
        raise NIRFormatError(f"node {node!r}: metadata {field} must be one integer, got {_show(value)}")
    return int(int_array(node, value, field, lo, hi))


def float_scalar(node: str, value: Any, field: str) -> float:
    """One positive, finite real number of metadata (its inverse finite too)."""
    arr = np.asarray(value)
    if arr.ndim != 0 or np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.integer)
                                                     or np.issubdtype(arr.dtype, np.floating)):
        raise NIRFormatError(f"node {node!r}: metadata {field} must be one real number, got {_show(value)}")
    number = float(arr)
    if not (np.isfinite(number) and number > 0 and np.isfinite(1.0 / number)):
        raise NIRFormatError(f"node {node!r}: metadata {field} must be a positive finite number, "
                             f"got {number!r}")
    return number


def json_text(node: str, value: Any, field: str) -> Any:
    """A metadata string holding JSON, parsed (deep nesting and bad text are errors)."""
    if not isinstance(value, str):
        raise NIRFormatError(f"node {node!r}: metadata {field} must be a JSON string, got {_show(value)}")
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise NIRFormatError(f"node {node!r}: metadata {field} is not valid JSON (or nested too "
                             f"deep)") from None


def _show(value: Any) -> str:
    arr = np.asarray(value)
    return f"{arr.dtype} of shape {arr.shape}" if arr.ndim else repr(value)[:40]


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def uniform_int(node: str, value: Any, field: str) -> int:
    arr = np.atleast_1d(np.asarray(value))
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) \
            or np.any(arr != arr.flat[0]) or arr.flat[0] != int(arr.flat[0]):
        raise NIRFormatError(f"node {node!r}: {field} must be one finite integer for all dimensions")
    return int(arr.flat[0])


def axis_ints(node: str, value: Any, field: str) -> tuple[int, int]:
    """A 2-d node's per-axis integers (rows, columns), as NIR's Conv2d stride and padding are:
    one value means both axes."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.size not in (1, 2) or not np.issubdtype(arr.dtype, np.number) \
            or not np.all(np.isfinite(arr)) or np.any(arr != np.trunc(arr)):
        raise NIRFormatError(f"node {node!r}: {field} must be one or two finite integers, "
                             f"got {_show(value)}")
    rows, cols = (arr.reshape(-1).tolist() * 2)[:2]
    return int(rows), int(cols)


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
