"""NIR → backends. Reads only NIR files (DESIGN §1); never imports dalif/ or export/.

Every backend is one package (``deploy.loihi_sim``, ``deploy.lava``, ``deploy.onnx``,
``deploy.norse``, ``deploy.sanafe``) registered here by name only: its package is imported
when the backend is made (``get_backend``), so importing ``deploy`` or one backend imports
no other, and the Lava environment (no torch) can import ``deploy.lava``.
"""

from deploy.registry import (
    BackendError,
    backend_names,
    describe_backends,
    get_backend,
    register_backend,
)
from deploy.run import encode_inputs, run_backend, summarize

register_backend("loihi-sim", "bit-exact Loihi-style integer simulator (hardware_sim), batched "
                 "torch, CPU or GPU", "deploy.loihi_sim:LoihiSimBackend")
register_backend("lava", "Intel Lava 0.10 (lava-nc), bit-accurate CPU simulation of the DA-LIF "
                 "process graph, run in .venv-lava (`make lava-venv`)", "deploy.lava:LavaBackend")
register_backend("norse", "float simulation of the NIR file's float parameters in norse "
                 "(nirtorch.nir_to_torch, explicit node map, float64)", "deploy.norse:NorseBackend")
register_backend("onnx", "the quantized network's one-step update as an ONNX graph (float32 "
                 "synapses proven exact, exact float64 neuron update), run T times by ONNX Runtime",
                 "deploy.onnx:OnnxBackend")
register_backend("sanafe", "SANA-FE (optional: pip install sanafe): the same mapped network and "
                 "profile constants, its own energy and timing model, float LIF", "deploy.sanafe:SanafeBackend")

__all__ = ["BackendError", "backend_names", "describe_backends", "encode_inputs", "get_backend",
           "register_backend", "run_backend", "summarize"]
