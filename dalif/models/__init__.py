"""The model zoo: graph-shaped spiking networks built from DA-LIF layers.

    spec   the graph a model is (nodes naming their sources), checked and counted, no torch
    zoo    the architectures (mlp, convnet, resnet19, resnet20, vgg11, dvsnet) as graphs,
           and the registry the command line takes its choices from, no torch
    net    the torch modules: SpikingLayer, SpikingNet, build_model

``from dalif.models import build_model`` imports torch on first use only, so that the
torch-free parts (``dalif.config`` takes the registry from ``zoo``) stay cheap.
"""

from dalif.models.spec import (
    INPUT,
    Conv,
    Dense,
    Flatten,
    Layer,
    ModelSpec,
    Pool,
    Readout,
    Shortcut,
    SpecError,
)
from dalif.models.zoo import ARCHITECTURES, ArchitectureError, build_spec

_NET = ("ShortcutPath", "SpikingLayer", "SpikingNet", "build_model")
_CONFIG = ("ModelConfig",)

__all__ = ["ARCHITECTURES", "INPUT", "ArchitectureError", "Conv", "Dense", "Flatten", "Layer",
           "ModelSpec", "Pool", "Readout", "Shortcut", "SpecError", "build_spec", *_NET, *_CONFIG]


def __getattr__(name: str):
    if name in _NET:
        from dalif.models import net

        return getattr(net, name)
    if name in _CONFIG:
        from dalif import config

        return getattr(config, name)
    raise AttributeError(f"module 'dalif.models' has no attribute {name!r}")
