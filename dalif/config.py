"""What a model and a training run are, without torch: the model configuration stored in
checkpoints, the training options, and the choices each field admits. The command line builds
its options from here (so ``dalif --help`` needs no torch); the model zoo, the neuron module
and the trainer check against the same tuples.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from dalif.models.zoo import ARCHITECTURES, ArchitectureError, build_spec

MODELS = tuple(ARCHITECTURES)
"""Architecture names, from the zoo's registry (``dalif.models.zoo.ARCHITECTURES``)."""
NEURON_KINDS = ("dalif", "lif")
DECAY_FNS = ("sigmoid", "tanh")
GRANULARITIES = ("layer", "channel", "neuron")
SURROGATE_NAMES = ("tanh", "sigmoid", "atan")
"""Names of the surrogate derivatives of Θ (``dalif.surrogate`` holds the functions)."""
LOSSES = ("ce", "tet")
"""ce: cross-entropy on the T-averaged readout; tet: TET (Deng et al., ICLR 2022)."""
OPTIMIZERS = ("adamw", "sgd")
DEVICES = ("cpu", "cuda")

# Budgets a configuration must respect before anything is built: a damaged or hostile
# checkpoint declaring channels of 10^9 fails here, not by swapping. ResNet-19 at full width
# on CIFAR holds 12.6 M parameters and 1.4 M neurons; VGG-11 on 128×128 DVS frames 60 M.
PARAMETER_BUDGET = 200_000_000
NEURON_BUDGET = 50_000_000
MAX_SIZE = 65_536
"""Largest channel count, hidden size or input dimension (after the width multiplier)."""
MAX_ENTRIES = 64
"""Longest ``channels`` / ``hidden`` list."""
MAX_MULTIPLIER = 16.0
"""Largest width or depth multiplier."""
MAX_TIMESTEPS = 65_536

_ADDED_IN_VERSION_2 = ("width", "depth")
"""Fields written by :meth:`ModelConfig.to_dict` only where they differ from their defaults, so
that a version-1 configuration (and every file that records it, such as an exported NIR
file's provenance) reads back exactly as it was written."""
_INT_LISTS = ("input_shape", "hidden", "channels")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; stored verbatim in checkpoints.

    ``model`` names an architecture of the zoo (:mod:`dalif.models.zoo`); ``channels`` and
    ``hidden`` are its sizes at full width (None: the architecture's defaults, filled in
    here), ``width`` and ``depth`` its multipliers. ``input_scale`` is the quantum of the
    dataset's inputs (1/16 for digits, 1/255 for MNIST): every input is an integer multiple
    of it, which lets the exporter feed the hardware exact integers.
    """

    model: str = "convnet"
    input_shape: tuple[int, ...] = (1, 8, 8)
    num_classes: int = 10
    timesteps: int = 4
    neuron: str = "dalif"
    decay_fn: str = "sigmoid"
    granularity: str = "neuron"
    threshold: float = 1.0
    surrogate: str = "tanh"
    steepness: float = 3.0
    lif_beta: float = 0.5
    hidden: tuple[int, ...] | None = None
    channels: tuple[int, ...] | None = None
    input_scale: float = 1.0 / 16.0
    seed: int = 0
    width: float = 1.0
    depth: float = 1.0

    def __post_init__(self) -> None:
        # Type-check against each field's default, so that a hand-edited JSON file or a
        # damaged checkpoint fails here, naming the field, rather than deep inside torch.
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _INT_LISTS:
                if value is None and f.default is None:
                    continue
                # Accept lists (JSON, the command line) but hold tuples, so that a config
                # compares equal to its own round trip through to_dict / from_dict.
                ok = isinstance(value, (list, tuple)) and all(
                    isinstance(d, int) and not isinstance(d, bool) for d in value
                )
                value = tuple(value) if ok else value
                expected = "a list of ints"
            elif isinstance(f.default, str):
                ok, expected = isinstance(value, str), "str"
            elif isinstance(f.default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                value = float(value) if ok else value
                ok = ok and math.isfinite(value)
                expected = "a finite float"
            else:
                ok = isinstance(value, int) and not isinstance(value, bool)
                expected = "int"
            if not ok:
                raise ValueError(f"config.{f.name}: expected {expected}, got {value!r}")
            setattr(self, f.name, value)
        for name, value, known in (
            ("model", self.model, MODELS),
            ("neuron", self.neuron, NEURON_KINDS),
            ("decay_fn", self.decay_fn, DECAY_FNS),
            ("granularity", self.granularity, GRANULARITIES),
            ("surrogate", self.surrogate, SURROGATE_NAMES),
        ):
            if value not in known:
                raise ValueError(f"config.{name}: unknown value {value!r}; known: {list(known)}")
        arch = ARCHITECTURES[self.model]
        if self.channels is None:
            self.channels = arch.channels
        if self.hidden is None:
            self.hidden = arch.hidden
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"config.input_shape: expected (C, H, W), got {self.input_shape}")
        for name in ("hidden", "channels"):
            sizes = getattr(self, name)
            if sizes and min(sizes) < 1:
                raise ValueError(f"config.{name}: expected positive sizes, got {list(sizes)}")
            if len(sizes) > MAX_ENTRIES:
                raise ValueError(f"config.{name}: at most {MAX_ENTRIES} entries, got {len(sizes)}")
        for name in ("num_classes", "timesteps"):
            if getattr(self, name) < 1:
                raise ValueError(f"config.{name}: must be >= 1, got {getattr(self, name)}")
        if self.timesteps > MAX_TIMESTEPS:
            raise ValueError(f"config.timesteps: at most {MAX_TIMESTEPS}, got {self.timesteps}")
        for name in ("threshold", "steepness", "input_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"config.{name}: must be > 0, got {getattr(self, name)}")
        for name in ("width", "depth"):
            if not 0 < getattr(self, name) <= MAX_MULTIPLIER:
                raise ValueError(f"config.{name}: must lie in (0, {MAX_MULTIPLIER:g}], "
                                 f"got {getattr(self, name)}")
        if not 0.0 <= self.lif_beta < 1.0:
            raise ValueError(f"config.lif_beta: must lie in [0, 1), got {self.lif_beta}")
        for name, sizes in (("input_shape", self.input_shape), ("num_classes", (self.num_classes,)),
                            ("channels", [s * self.width for s in self.channels]),
                            ("hidden", [s * self.width for s in self.hidden])):
            if max(sizes, default=0) > MAX_SIZE:
                raise ValueError(f"config.{name}: sizes up to {MAX_SIZE} (after the width "
                                 f"multiplier), got {max(sizes):g}")
        self._check_budget()

    def _check_budget(self) -> None:
        try:
            spec = build_spec(self)
        except ArchitectureError as exc:
            raise ValueError(f"config.{exc.field}: {exc}") from None
        parameters = spec.parameter_count(self.neuron, self.granularity)
        neurons = spec.neuron_count()
        if parameters > PARAMETER_BUDGET:
            raise ValueError(f"config.{_largest_field(spec, 'parameters', self.granularity)}: the {self.model} would "
                             f"hold {parameters:,} parameters, over the budget of "
                             f"{PARAMETER_BUDGET:,}")
        if neurons > NEURON_BUDGET:
            raise ValueError(f"config.{_largest_field(spec, 'neurons')}: the {self.model} would "
                             f"hold {neurons:,} neurons, over the budget of {NEURON_BUDGET:,}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists); ``width`` and ``depth`` only where not 1."""
        defaults = {f.name: f.default for f in fields(self)}
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
            if key not in _ADDED_IN_VERSION_2 or value != defaults[key]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; absent keys take their defaults, unknown keys fail."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"config.{key}: unknown key; known: {sorted(known)}")
        return cls(**data)


VERSION_1_KEYS = tuple(f.name for f in fields(ModelConfig) if f.name not in _ADDED_IN_VERSION_2)
"""The keys of a version-1 configuration (all present in every version-1 checkpoint)."""


def _largest_field(spec: Any, what: str, granularity: str = "neuron") -> str:
    """The config field that sizes most of the ``what`` ("parameters" or "neurons") a graph
    holds: channels (conv weights), hidden (dense layers), num_classes (the readout), or
    input_shape (the maps: conv neurons, and their per-neuron decays)."""
    from dalif.models.spec import Dense, Layer, Readout

    share = {"input_shape": 0, "channels": 0, "hidden": 0, "num_classes": 0}
    for node in spec.nodes:
        if not isinstance(node, (Layer, Readout)):
            continue
        neurons, fan_in = math.prod(spec.shape(node.name)), math.prod(spec.shape(node.source))
        dense = isinstance(node, Readout) or isinstance(node.synapse, Dense)
        if what == "neurons":
            share["hidden" if dense else "input_shape"] += neurons
        elif isinstance(node, Readout):
            share["num_classes"] += (fan_in + 1) * node.features
        elif dense:
            share["hidden"] += (fan_in + 2 * (granularity == "neuron")) * neurons
        else:
            share["channels"] += spec.shape(node.source)[0] * node.synapse.channels \
                * node.synapse.kernel ** 2
            share["input_shape"] += 2 * neurons * (granularity == "neuron")
    return max(share, key=share.__getitem__)


@dataclass
class TrainConfig:
    """How a network is trained (``dalif.train.train``); stored in a checkpoint to resume.

    Cosine learning-rate schedule stepped per batch from ``lr`` down to 0 at the end of
    ``epochs``, after a linear warm-up over the first ``warmup_epochs`` (from lr/steps up).
    ``loss``: "ce" is cross-entropy on the readout averaged over T; "tet" is TET's
    (1 − λ)·mean_t CE(O[t], y) + λ·MSE(O, φ) with λ = ``tet_lambda``, φ = ``tet_target``
    (Deng et al. 2022; λ = 1e-3 and φ = 1 are the defaults of their code).
    ``batch_size`` is the global batch: with several processes each takes an equal share.
    ``amp`` (mixed precision) applies on CUDA only; None: on for CUDA.
    ``qat``: quantization-aware training, the exported integer network in the forward pass
    (``dalif.qat``; on the CPU, one process, batch norm frozen at its running statistics).
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 5e-3
    optimizer: str = "adamw"
    momentum: float = 0.9
    weight_decay: float = 0.0
    warmup_epochs: int = 0
    loss: str = "ce"
    tet_lambda: float = 1e-3
    tet_target: float = 1.0
    seed: int = 0
    device: str = "cpu"
    amp: bool | None = None
    augment: bool = False
    cutout: int = 0
    qat: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "warmup_epochs", "seed", "cutout"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{_option(name)}: expected an integer, got {value!r}")
        for name in ("lr", "momentum", "weight_decay", "tet_lambda", "tet_target"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{_option(name)}: expected a finite number, got {value!r}")
            setattr(self, name, float(value))
        if self.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be a finite number > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum must lie in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"--warmup-epochs must lie in [0, --epochs), got {self.warmup_epochs}")
        if not 0 <= self.tet_lambda <= 1:
            raise ValueError(f"--tet-lambda must lie in [0, 1], got {self.tet_lambda}")
        for name, value, known in (("--optimizer", self.optimizer, OPTIMIZERS),
                                   ("--loss", self.loss, LOSSES), ("--device", self.device, DEVICES)):
            if value not in known:
                raise ValueError(f"{name}: unknown value {value!r}; known: {list(known)}")
        if self.cutout < 0:
            raise ValueError(f"--cutout must be >= 0 pixels, got {self.cutout}")
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment: expected True or False, got {self.augment!r}")
        if not isinstance(self.qat, bool):
            raise ValueError(f"qat: expected True or False, got {self.qat!r}")
        if self.qat and self.device != "cpu":
            raise ValueError("--qat runs on the CPU (the integer network's exact run): use --device cpu")
        if self.amp is not None and not isinstance(self.amp, bool):
            raise ValueError(f"amp: expected True, False or None, got {self.amp!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"training option {key!r}: unknown; known: {sorted(known)}")
        return cls(**data)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")
