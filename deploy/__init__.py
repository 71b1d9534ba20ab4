"""NIR → backends. Reads only NIR files (DESIGN §1); never imports dalif/ or export/."""

from deploy.loihi_sim import LoihiSimBackend
from deploy.registry import BackendError, backend_names, describe_backends, get_backend, register_backend
from deploy.run import encode_inputs, run_backend, summarize

register_backend(LoihiSimBackend.name, LoihiSimBackend.description, LoihiSimBackend)

__all__ = ["BackendError", "backend_names", "describe_backends", "encode_inputs", "get_backend",
           "register_backend", "run_backend", "summarize"]
