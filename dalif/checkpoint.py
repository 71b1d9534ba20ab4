"""Checkpoints: one torch file holding config, graph, weights and metrics, read without trust.

Layout (a dict, loadable with ``torch.load(path, weights_only=True)``), version 2:

    format      "dalif-checkpoint"
    version     2
    config      ModelConfig.to_dict(): JSON-able primitives only
    graph       ModelSpec.to_dict(): the model's graph (dalif.models.spec), which must be the
                graph the config's architecture builds
    state_dict  SpikingNet.state_dict()
    metrics     dict of JSON-able primitives (accuracies, history, ...)
    training    (optional) what resuming needs: the training options, epochs and steps
                done, the optimizer's state, the shuffling generator's state, the history
                and the best validation accuracy so far

Version 1 (the mlp and the convnet; no graph, no training state, no width or depth in
the config) is still read: its state-dict keys are those of version 2.

Loading never unpickles arbitrary objects (``weights_only=True`` only), and checks every
size before it is allocated, so that a damaged or hostile file fails with one line naming
the file and the key at fault instead of a stack trace from deep inside torch, or a swap
storm:

1. The zip container is inspected with ``zipfile`` before torch reads it: every entry must
   be stored uncompressed (as ``torch.save`` writes them), so that no entry can declare
   more bytes than the file holds (a 2 MB deflated entry inflating to 2 GiB is refused
   here). A pre-1.6 (non-zip) torch file, whose storages torch allocates at their declared
   size before reading them, is refused.
2. torch reads the pickle with its storages memory-mapped from the file: nothing of their
   size is allocated.
3. The configuration is checked, sizes against the budgets of ``dalif.config`` included,
   before any model is built; the expected tensors come from a model built on torch's
   ``meta`` device (shapes and dtypes only, no memory).
4. Every tensor must be a dense (strided) tensor of the expected dtype (real floating, or
   BN's int64 counter) and shape, no larger a storage than its shape needs, and finite.
"""

from __future__ import annotations

import numbers
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from dalif.config import VERSION_1_KEYS, ModelConfig, TrainConfig
from dalif.models.net import SpikingNet, build_model
from dalif.models.spec import ModelSpec, SpecError
from dalif.models.zoo import build_spec

FORMAT = "dalif-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
TOP_KEYS = ("format", "version", "config", "graph", "state_dict", "metrics")
OPTIONAL_TOP_KEYS = ("training",)
VERSION_1_TOP_KEYS = ("format", "version", "config", "state_dict", "metrics")
VERSION_1_MODELS = ("mlp", "convnet")
TRAINING_KEYS = ("options", "epoch", "step", "optimizer", "shuffle_state", "history", "best_val_acc")

MAX_ZIP_ENTRIES = 100_000
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The number a pre-1.6 torch file pickles first (``torch.serialization.MAGIC_NUMBER``)."""


class CheckpointError(ValueError):
    """A checkpoint cannot be read or is not a valid DA-LIF checkpoint (one-line message)."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds, checked: the model (eval mode), its config, the metrics,
    and the training state (None when the file has none)."""

    model: SpikingNet
    config: ModelConfig
    metrics: dict
    training: dict | None


def save_checkpoint(
    path: str | os.PathLike, model: SpikingNet, config: ModelConfig, metrics: dict,
    training: dict | None = None,
) -> None:
    """Write ``model``, ``config``, ``metrics`` (and ``training``, to resume) to ``path``
    atomically.

    The file is written to a temporary name in the same directory and renamed over
    ``path``, so a crash mid-write leaves either the old checkpoint or the new one,
    never half of one. ``metrics`` is converted to plain Python values (numpy
    scalars become floats/ints) because the restricted unpickler of ``weights_only``
    loading refuses anything else.

    Raises:
        CheckpointError: a weight (or optimizer state) holds NaN or Inf: such a model is
            refused here rather than written for every later step to fail on.
        ValueError: a metric is not a number, string, bool, None, list or str-keyed dict.
    """
    path = os.fspath(path)
    state_dict = model.state_dict()
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: refusing to save: key 'state_dict.{name}' contains NaN "
                                  f"or Inf (the training diverged)")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "graph": model.spec.to_dict(),
        "state_dict": state_dict,
        "metrics": _plain(metrics, "metrics"),
    }
    if training is not None:
        for key, tensor in _optimizer_tensors(training.get("optimizer", {})):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise CheckpointError(f"{path}: refusing to save: key 'training.optimizer.{key}' "
                                      f"contains NaN or Inf")
        payload["training"] = {**training, "history": _plain(training.get("history", []),
                                                             "training.history")}
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
    """Read a checkpoint written by :func:`save_checkpoint` (or by version 1).

    Returns:
        The model (in eval mode, weights loaded), its config and the metrics.

    Raises:
        CheckpointError: for any problem, with a one-line message naming the file and
            the key at fault.
    """
    checkpoint = read_checkpoint(path)
    return checkpoint.model, checkpoint.config, checkpoint.metrics


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Everything :func:`load_checkpoint` returns, and the training state (checked against
    the model: the optimizer's tensors have its parameters' shapes)."""
    path = os.fspath(path)

    def fail(message: str) -> CheckpointError:
        return CheckpointError(f"{path}: {message}")

    if not os.path.isfile(path):
        raise fail("no such file")
    is_zip = _check_container(path, fail)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
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
    version = payload.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        found = repr(version) if "version" in payload else "none"
        raise fail(f"key 'version': unsupported version {found} (this reader supports "
                   f"{', '.join(map(str, READABLE_VERSIONS))})")
    if version == 1:
        _check_keys(payload, VERSION_1_TOP_KEYS, "", fail)
    else:
        _check_keys(payload, TOP_KEYS, "", fail, optional=OPTIONAL_TOP_KEYS)
    if not isinstance(payload["metrics"], dict):
        raise fail(f"key 'metrics': expected a dict, got {type(payload['metrics']).__name__}")

    config = _read_config(payload["config"], version, fail)
    spec = build_spec(config)
    if version >= 2:
        try:
            stored = ModelSpec.from_dict(payload["graph"])
        except SpecError as exc:
            raise fail(f"key 'graph': {_first_line(exc)}") from None
        if stored != spec:
            raise fail(f"key 'graph': is not the graph of the configured {config.model}")

    state_dict = payload["state_dict"]
    if not isinstance(state_dict, dict):
        raise fail(f"key 'state_dict': expected a dict, got {type(state_dict).__name__}")
    with torch.device("meta"):  # shapes and dtypes, no memory
        expected = build_model(config, spec).state_dict()
    _check_keys(state_dict, tuple(expected), "state_dict.", fail)
    for name, reference in expected.items():
        _check_tensor(state_dict[name], f"state_dict.{name}", reference.shape, reference.dtype, fail)
    model = build_model(config, spec)
    model.load_state_dict(state_dict)
    model.eval()
    training = None
    if payload.get("training") is not None:
        training = _check_training(payload["training"], model, fail)
    return Checkpoint(model, config, payload["metrics"], training)


def _check_container(path: str, fail: Callable[[str], CheckpointError]) -> bool:
    """Inspect the file's zip entries before torch reads any; True for a zip checkpoint."""
    size = os.path.getsize(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(16)
        # pickle protocol 2: PROTO 2, LONG1 with 10 bytes, the magic number little-endian
        if head[:4] == b"\x80\x02\x8a\x0a" and int.from_bytes(head[4:14], "little") == _LEGACY_MAGIC:
            raise fail("a pre-1.6 torch file (not a zip archive): its storages would be "
                       "allocated at their declared sizes before reading; re-save it with a "
                       "current torch.save")
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise fail(f"not a readable torch checkpoint (zip: {_first_line(exc)})") from None
    if len(entries) > MAX_ZIP_ENTRIES:
        raise fail(f"the zip archive holds {len(entries)} entries (at most {MAX_ZIP_ENTRIES})")
    declared = 0
    for entry in entries:
        if entry.compress_type != zipfile.ZIP_STORED:
            raise fail(f"key '{entry.filename}' (zip entry): compressed, declaring "
                       f"{entry.file_size} bytes in a {size}-byte file; torch.save stores "
                       f"entries uncompressed")
        declared += entry.file_size
        if entry.file_size != entry.compress_size or declared > size:
            raise fail(f"key '{entry.filename}' (zip entry): declares {entry.file_size} bytes, "
                       f"more than the {size}-byte file holds")
    return True


def _read_config(config_dict: Any, version: int, fail: Callable[[str], CheckpointError]) -> ModelConfig:
    if not isinstance(config_dict, dict):
        raise fail(f"key 'config': expected a dict, got {type(config_dict).__name__}")
    if version == 1:
        _check_keys(config_dict, VERSION_1_KEYS, "config.", fail)
        if config_dict.get("model") not in VERSION_1_MODELS:
            raise fail(f"key 'config.model': unknown value {config_dict.get('model')!r} for a "
                       f"version-1 checkpoint; known: {list(VERSION_1_MODELS)}")
    else:
        optional = tuple(k for k in ModelConfig.__dataclass_fields__ if k not in VERSION_1_KEYS)
        _check_keys(config_dict, VERSION_1_KEYS, "config.", fail, optional=optional)
    try:
        return ModelConfig.from_dict(config_dict)
    except ValueError as exc:  # ModelConfig says "config.<field>: <reason>"
        field, _, reason = _first_line(exc).partition(": ")
        raise fail(f"key '{field}': {reason}") from None


def _check_tensor(tensor: Any, key: str, shape: torch.Size | tuple, dtype: torch.dtype | None,
                  fail: Callable[[str], CheckpointError]) -> None:
    """A dense tensor of ``dtype`` (None: any real floating dtype) and ``shape``, holding no
    more storage than its shape needs, finite."""
    where = f"key '{key}'"
    if not isinstance(tensor, torch.Tensor):
        raise fail(f"{where}: expected a tensor, got {type(tensor).__name__}")
    if tensor.layout != torch.strided:
        raise fail(f"{where}: layout {tensor.layout}, expected a dense (strided) tensor")
    if tensor.is_complex() or (dtype is None and not tensor.is_floating_point()):
        raise fail(f"{where}: dtype {tensor.dtype}, expected a real floating dtype")
    if tuple(tensor.shape) != tuple(shape):
        raise fail(f"{where}: shape {tuple(tensor.shape)} does not match the model's {tuple(shape)}")
    if dtype is not None and tensor.dtype != dtype:
        raise fail(f"{where}: dtype {tensor.dtype}, expected {dtype}")
    needed = tensor.numel() * tensor.element_size()
    stored = tensor.untyped_storage().nbytes()
    if stored > needed:
        raise fail(f"{where}: its storage holds {stored} bytes, its shape needs {needed}")
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise fail(f"{where}: contains NaN or Inf")


def _optimizer_tensors(optimizer_state: Any):
    """(key, tensor) of every tensor in an optimizer state dict's per-parameter state."""
    state = optimizer_state.get("state", {}) if isinstance(optimizer_state, dict) else {}
    for index, entry in state.items() if isinstance(state, dict) else ():
        for name, value in entry.items() if isinstance(entry, dict) else ():
            if isinstance(value, torch.Tensor):
                yield f"state.{index}.{name}", value


def _check_training(training: Any, model: SpikingNet, fail: Callable[[str], CheckpointError]) -> dict:
    """The training state, its optimizer tensors checked against the model's parameters."""
    if not isinstance(training, dict):
        raise fail(f"key 'training': expected a dict, got {type(training).__name__}")
    _check_keys(training, TRAINING_KEYS, "training.", fail)
    try:
        options = TrainConfig.from_dict(training["options"]) if isinstance(training["options"], dict) \
            else None
    except (TypeError, ValueError) as exc:
        raise fail(f"key 'training.options': {_first_line(exc)}") from None
    if options is None:
        raise fail("key 'training.options': expected a dict")
    for key, lowest, highest in (("epoch", 1, options.epochs), ("step", 0, None)):
        value = training[key]
        if type(value) is not int or value < lowest or (highest is not None and value > highest):
            raise fail(f"key 'training.{key}': expected an integer in [{lowest}, "
                       f"{highest if highest is not None else '...'}], got {value!r}")
    shuffle = training["shuffle_state"]
    if not isinstance(shuffle, torch.Tensor) or shuffle.dtype != torch.uint8 or shuffle.dim() != 1 \
            or shuffle.layout != torch.strided or shuffle.numel() > 1 << 16:
        raise fail("key 'training.shuffle_state': expected a generator state (a uint8 vector)")
    if not isinstance(training["history"], list):
        raise fail("key 'training.history': expected a list")
    best = training["best_val_acc"]
    if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))):
        raise fail(f"key 'training.best_val_acc': expected a number or None, got {best!r}")
    optimizer = training["optimizer"]
    if not isinstance(optimizer, dict) or set(optimizer) != {"state", "param_groups"} \
            or not isinstance(optimizer["state"], dict) or not isinstance(optimizer["param_groups"], list):
        raise fail("key 'training.optimizer': expected an optimizer state dict")
    parameters = list(model.parameters())
    for index, entry in optimizer["state"].items():
        if type(index) is not int or not 0 <= index < len(parameters) or not isinstance(entry, dict):
            raise fail(f"key 'training.optimizer.state.{index}': not a parameter of the model")
        for name, value in entry.items():
            key = f"training.optimizer.state.{index}.{name}"
            if value is None:
                continue
            shape = () if name == "step" else parameters[index].shape
            _check_tensor(value, key, shape, None, fail)
            entry[name] = value.clone()  # off the file's memory map
    return {**training, "options": options, "shuffle_state": shuffle.clone()}


def _check_keys(
    data: dict,
    expected: tuple[str, ...],
    prefix: str,
    fail: Callable[[str], CheckpointError],
    optional: tuple[str, ...] = (),
) -> None:
    for key in expected:
        if key not in data:
            raise fail(f"key '{prefix}{key}': missing")
    for key in data:
        if key not in expected and key not in optional:
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
