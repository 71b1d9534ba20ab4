"""NIR → backends. Reads only NIR files (DESIGN §1); never imports dalif/ or export/."""

from deploy.lava_backend import LavaBackend
from deploy.loihi_sim import LoihiSimBackend
from deploy.norse_backend import NorseBackend
from deploy.onnx_backend import OnnxBackend
from deploy.registry import (
    BackendError,
    backend_names,
    describe_backends,
    get_backend,
    register_backend,
)
from deploy.run import encode_inputs, run_backend, summarize

register_backend(LoihiSimBackend.name, LoihiSimBackend.description, LoihiSimBackend)
register_backend(LavaBackend.name, LavaBackend.description, LavaBackend)
register_backend(NorseBackend.name, NorseBackend.description, NorseBackend)
register_backend(OnnxBackend.name, OnnxBackend.description, OnnxBackend)


def _sanafe_backend(**kwargs):
    """SANA-FE is optional (GPL-3.0): imported only when the backend is made."""
    from deploy.sanafe_backend import SanafeBackend

    return SanafeBackend(**kwargs)


register_backend("sanafe", "SANA-FE (optional, pip install sanafe): our mapping and constants, "
                 "its energy/timing", _sanafe_backend)

__all__ = ["BackendError", "backend_names", "describe_backends", "encode_inputs", "get_backend",
           "register_backend", "run_backend", "summarize"]
