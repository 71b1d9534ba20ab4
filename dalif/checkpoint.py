"""Checkpoints: one torch file holding config, weights and metrics, read without trust.

Layout (a dict, loadable with ``torch.load(path, weights_only=True)``):

    format      "dalif-checkpoint"
    version     1
    config      ModelConfig.to_dict(): JSON-able primitives only
    state_dict  SpikingNet.state_dict()
    metrics     dict of JSON-able primitives (accuracies, history, ...)

Loading never unpickles arbitrary objects (``weights_only=True`` only), and checks
everything the model will rely on before building it, so that a damaged or foreign
file fails with one line naming the file and the key at fault instead of a stack
trace from deep inside torch.
"""

from __future__ import annotations

import numbers
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import torch

from dalif.models import ModelConfig, SpikingNet, build_model

FORMAT = "dalif-checkpoint"
VERSION = 1
TOP_KEYS = ("format", "version", "config", "state_dict", "metrics")


class CheckpointError(ValueError):
    """A checkpoint cannot be read or is not a valid DA-LIF checkpoint (one-line message)."""


def save_checkpoint(
    path: str | os.PathLike, model: SpikingNet, config: ModelConfig, metrics: dict
) -> None:
    """Write ``model``, ``config`` and ``metrics`` to ``path`` atomically.

    The file is written to a temporary name in the same directory and renamed over
    ``path``, so a crash mid-write leaves either the old checkpoint or the new one,
    never half of one. ``metrics`` is converted to plain Python values (numpy
    scalars become floats/ints) because the restricted unpickler of ``weights_only``
    loading refuses anything else.

    Raises:
        ValueError: a metric is not a number, string, bool, None, list or str-keyed dict.
    """
    path = os.fspath(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "state_dict": model.state_dict(),
        "metrics": _plain(metrics, "metrics"),
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def _plain(value: Any, key: str) -> Any:
    """``value`` rebuilt from Python primitives only; ``key`` names it in errors."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{key}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise ValueError(f"{key}: keys must be strings, got {k!r}")
        return {k: _plain(v, f"{key}.{k}") for k, v in value.items()}
    raise ValueError(f"{key}: cannot store a {type(value).__name__} in a checkpoint")


def load_checkpoint(path: str | os.PathLike) -> tuple[SpikingNet, ModelConfig, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        The model (in eval mode, weights loaded), its config and the metrics.

    Raises:
        CheckpointError: for any problem, with a one-line message naming the file and
            the key at fault.
    """
    path = os.fspath(path)

    def fail(message: str) -> CheckpointError:
        return CheckpointError(f"{path}: {message}")

    if not os.path.isfile(path):
        raise fail("no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise fail(f"unpickling refused, nothing loaded ({_unpickler_reason(exc)})") from None
    except Exception as exc:  # torch reports a foreign or damaged file in many ways
        reason = f"{type(exc).__name__}: {_first_line(exc)}"
        raise fail(f"not a readable torch checkpoint ({reason})") from None

    if not isinstance(payload, dict):
        raise fail(f"top level is a {type(payload).__name__}, expected a dict")
    # Identity first: a foreign file is reported as foreign, not by its missing keys.
    if payload.get("format") != FORMAT:
        found = repr(payload["format"]) if "format" in payload else "none"
        raise fail(f"key 'format': expected {FORMAT!r}, found {found}")
    if payload.get("version") != VERSION:
        found = repr(payload["version"]) if "version" in payload else "none"
        raise fail(f"key 'version': unsupported version {found} (this reader supports {VERSION})")
    _check_keys(payload, TOP_KEYS, "", fail)
    if not isinstance(payload["metrics"], dict):
        raise fail(f"key 'metrics': expected a dict, got {type(payload['metrics']).__name__}")

    config_dict = payload["config"]
    if not isinstance(config_dict, dict):
        raise fail(f"key 'config': expected a dict, got {type(config_dict).__name__}")
    _check_keys(config_dict, tuple(f.name for f in fields(ModelConfig)), "config.", fail)
    try:
        config = ModelConfig.from_dict(config_dict)
    except ValueError as exc:  # ModelConfig says "config.<field>: <reason>"
        field, _, reason = _first_line(exc).partition(": ")
        raise fail(f"key '{field}': {reason}") from None

    state_dict = payload["state_dict"]
    if not isinstance(state_dict, dict):
        raise fail(f"key 'state_dict': expected a dict, got {type(state_dict).__name__}")
    model = build_model(config)
    expected = model.state_dict()
    _check_keys(state_dict, tuple(expected), "state_dict.", fail)
    for name, reference in expected.items():
        tensor = state_dict[name]
        key = f"key 'state_dict.{name}'"
        if not isinstance(tensor, torch.Tensor):
            raise fail(f"{key}: expected a tensor, got {type(tensor).__name__}")
        if tensor.shape != reference.shape:
            raise fail(
                f"{key}: shape {tuple(tensor.shape)} does not match the model's "
                f"{tuple(reference.shape)}"
            )
        if tensor.dtype != reference.dtype:
            raise fail(f"{key}: dtype {tensor.dtype}, expected {reference.dtype}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise fail(f"{key}: contains NaN or Inf")
    model.load_state_dict(state_dict)
    model.eval()
    return model, config, payload["metrics"]


def _check_keys(
    data: dict,
    expected: tuple[str, ...],
    prefix: str,
    fail: Callable[[str], CheckpointError],
) -> None:
    for key in expected:
        if key not in data:
            raise fail(f"key '{prefix}{key}': missing")
    for key in data:
        if key not in expected:
            raise fail(f"key '{prefix}{key}': unexpected")


def _unpickler_reason(exc: BaseException) -> str:
    """The line of torch's multi-paragraph weights-only refusal that says what was refused."""
    _, marker, rest = str(exc).partition("WeightsUnpickler error:")
    reasons = [line.strip() for line in rest.splitlines() if line.strip()]
    if not marker or not reasons:
        return _first_line(exc)
    # Drop torch's advice to allowlist the global: it is the opposite of what we want.
    return reasons[0].split(". Please use", 1)[0]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
