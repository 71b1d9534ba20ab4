"""Shared pieces of the netx tests: the lava-dl environment and running a .net file in it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NETX_VENV = Path(os.environ.get("DALIF_NETX_VENV", REPO_ROOT / ".venv-netx"))
RUNNER = Path(__file__).with_name("netx_lava_runner.py")


def netx_python() -> Path:
    """lava-dl's interpreter, or a skip that says how to build it (`make netx-venv`)."""
    python = NETX_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"lava-dl's environment {NETX_VENV} is absent: build it with `make netx-venv` "
                    f"(~5.6 GB: torch 2.3.1, lava-nc 0.10, lava-dl 0.6; DESIGN §6)")
    return python


def lava_layout_inputs(inputs: np.ndarray, first_layer_dense: bool) -> np.ndarray:
    """(N, T, C, H, W) → Lava's (N, T, W, H, C); flattened in PyTorch order for a dense first
    layer (netx feeds the input straight into its synapse)."""
    if inputs.ndim == 5 and first_layer_dense:
        return inputs.reshape(*inputs.shape[:2], -1)
    if inputs.ndim == 5:
        return np.swapaxes(inputs, -1, -3)
    return inputs


def run_lava_dl(net_path: Path, inputs: np.ndarray, input_bits: int, first_layer_dense: bool,
                tmp_path: Path) -> dict[str, np.ndarray]:
    """Run ``net_path`` with lava-dl's netx loader in Lava fixed_pt (a subprocess in
    .venv-netx); spikes per layer (T, N, *shape) in PyTorch's layout, and the last layer's v."""
    python = netx_python()
    np.savez(tmp_path / "inputs.npz", inputs=lava_layout_inputs(inputs, first_layer_dense),
             input_bits=input_bits)
    subprocess.run([str(python), str(RUNNER), str(net_path), str(tmp_path / "inputs.npz"),
                    str(tmp_path / "out.npz")], check=True, cwd=REPO_ROOT,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=600)
    with np.load(tmp_path / "out.npz") as data:
        out = {k: data[k] for k in data.files}
    for key in list(out):
        if key.startswith("spikes_") and out[key].ndim == 5:
            out[key] = np.swapaxes(out[key], -1, -3)  # (W, H, C) → (C, H, W)
        if key == "v_last" and out[key].ndim == 5:
            out[key] = np.swapaxes(out[key], -1, -3)
    return out


DATA = REPO_ROOT / "tests" / "data" / "netx"
TRACE_RUNNER = Path(__file__).with_name("netx_lava_trace_runner.py")


def lava_dl_file(name: str, tmp_path: Path) -> Path:
    """A netx file shipped from lava-dl (tests/data/netx/README.md), unzipped into ``tmp_path``."""
    import gzip

    path = tmp_path / name
    path.write_bytes(gzip.decompress((DATA / f"{name}.gz").read_bytes()))
    return path


def run_lava_dl_traces(net_path: Path, bias_whc: np.ndarray, timesteps: int, tmp_path: Path,
                       layers: list[int] | None = None) -> dict[str, np.ndarray]:
    """lava-dl's loader runs ``net_path`` with ``bias_whc`` as its input layer's bias
    (netx_lava_trace_runner.py, .venv-netx): the u and v of every layer, or of ``layers``
    (netx indices; recording is what costs), at every Lava step."""
    python = netx_python()
    np.save(tmp_path / "bias.npy", bias_whc)
    subprocess.run([str(python), str(TRACE_RUNNER), str(net_path), str(tmp_path / "bias.npy"),
                    str(timesteps), str(tmp_path / "traces.npz"),
                    ",".join(str(i) for i in layers or [])], check=True, cwd=REPO_ROOT,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=600)
    with np.load(tmp_path / "traces.npz") as data:
        return {k: data[k] for k in data.files}
