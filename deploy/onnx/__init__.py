"""Backend ``onnx``: the one-step update as an ONNX graph in ONNX Runtime."""

from deploy.onnx.backend import OnnxBackend, write_onnx

__all__ = ["OnnxBackend", "write_onnx"]
