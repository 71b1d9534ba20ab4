"""What a model is, without torch: the model configuration stored in checkpoints and the choices
each field admits. The command line builds its options from here (so ``dalif --help`` needs
no torch), the model zoo and the neuron module check against the same tuples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MODELS = ("mlp", "convnet")
NEURON_KINDS = ("dalif", "lif")
DECAY_FNS = ("sigmoid", "tanh")
GRANULARITIES = ("layer", "channel", "neuron")
SURROGATE_NAMES = ("tanh", "sigmoid", "atan")
"""Names of the surrogate derivatives of Θ (``dalif.surrogate`` holds the functions)."""


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; stored verbatim in checkpoints.

    ``input_scale`` is the quantum of the dataset's inputs (1/16 for digits, 1/255 for
    MNIST): every input is an integer multiple of it, which lets the exporter feed
    the hardware exact integers.
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
    hidden: tuple[int, ...] = (128, 64)
    channels: tuple[int, ...] = (16, 32)
    input_scale: float = 1.0 / 16.0
    seed: int = 0

    def __post_init__(self) -> None:
        # Type-check against each field's default, so that a hand-edited JSON file or a
        # damaged checkpoint fails here, naming the field, rather than deep inside torch.
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, str):
                ok = isinstance(value, str)
            elif isinstance(f.default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                value = float(value) if ok else value
            elif isinstance(f.default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                # Accept lists (JSON, the command line) but hold tuples, so that a config
                # compares equal to its own round trip through to_dict / from_dict.
                ok = isinstance(value, (list, tuple)) and all(
                    isinstance(d, int) and not isinstance(d, bool) for d in value
                )
                value = tuple(value) if ok else value
            if not ok:
                expected = (
                    "a list of ints" if isinstance(f.default, tuple) else type(f.default).__name__
                )
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
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"config.input_shape: expected (C, H, W), got {self.input_shape}")
        for name in ("hidden", "channels"):
            sizes = getattr(self, name)
            if not sizes or min(sizes) < 1:
                raise ValueError(f"config.{name}: expected positive sizes, got {list(sizes)}")
        for name in ("num_classes", "timesteps"):
            if getattr(self, name) < 1:
                raise ValueError(f"config.{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("threshold", "steepness", "input_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"config.{name}: must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.lif_beta < 1.0:
            raise ValueError(f"config.lif_beta: must lie in [0, 1), got {self.lif_beta}")
        if self.model == "convnet":
            _, height, width = self.input_shape
            reduction = 2 ** len(self.channels)
            if height < reduction or width < reduction:
                raise ValueError(
                    f"config.channels: {len(self.channels)} pooling stages need inputs of at "
                    f"least {reduction}x{reduction}, got {height}x{width}"
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; absent keys take their defaults, unknown keys fail."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"config.{key}: unknown key; known: {sorted(known)}")
        return cls(**data)
