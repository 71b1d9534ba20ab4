"""Backend ``lava``: the model run in Intel's Lava (lava-nc 0.10), bit-accurate, in .venv-lava.

Lava runs on Python 3.10 only (DESIGN §6), so this front, in the main environment,
writes the model and the inputs to a temporary directory, runs
``python -m deploy.lava.runner`` with the Lava environment's interpreter, turns
its progress lines into ``on_progress`` calls and reads its results back into the
SimulationResult every backend returns, in the zero-delay timing of loihi-sim. With
``keep_records`` it also brings back what Lava's recorders kept at every Lava step
(``last_records``), untrimmed: hardware_sim.engine.run_aligned's ``records``.
No torch and no Lava here: numpy and the standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from deploy.registry import BackendError
from hardware_sim.ir.graph import DeployedModel
from hardware_sim.ir.nir import write_nir
from hardware_sim.ir.pipeline import plan_network
from hardware_sim.results import PopulationCounts, SimulationResult

REPO_ROOT = Path(__file__).resolve().parents[2]
LAVA_VENV = REPO_ROOT / ".venv-lava"
PROGRESS_PREFIX = "lava-progress"  # = deploy.lava.runner.PROGRESS_PREFIX (that module imports Lava)


def lava_python(venv: str | os.PathLike | None = None) -> Path:
    """The Lava environment's interpreter; a BackendError that says how to make it if missing."""
    venv = Path(venv or os.environ.get("DALIF_LAVA_VENV") or LAVA_VENV)
    python = venv / "bin" / "python"
    if not python.exists():
        raise BackendError(f"the lava backend needs its Python 3.10 environment {venv}, which does "
                           f"not exist: run `make lava-venv` in {REPO_ROOT}")
    return python


class LavaBackend:
    name = "lava"

    def __init__(self, venv: str | os.PathLike | None = None, select_tag: str = "fixed_pt",
                 chunk_steps: int | None = None, keep_records: bool = False):
        self.venv = venv
        self.select_tag = select_tag
        self.chunk_steps = chunk_steps
        self.keep_records = keep_records
        self.last_summary: dict | None = None
        """The runner's summary of the last run (depths, delay lines, Lava timings)."""
        self.last_records: dict[str, np.ndarray] | None = None
        """With ``keep_records``: per population, the last run's record of every Lava step,
        (N·T + max depth, *shape), spikes (bool) or a readout's v, in PyTorch's layout."""

    def run(self, model: DeployedModel, inputs: np.ndarray,
            on_progress: Callable[[int], None] | None = None) -> SimulationResult:
        python = lava_python(self.venv)
        inputs = np.asarray(inputs)
        graph = model.graph
        if tuple(inputs.shape[2:]) != graph.input_shape or inputs.ndim < 2:
            raise BackendError(f"inputs must have shape (N, T, {graph.input_shape}), "
                               f"got {inputs.shape}")
        refusal = plan_network(graph, 1, 1).refusal()  # Lava runs the aligned pipeline only
        if refusal is not None:
            raise BackendError(f"{refusal}: the lava backend runs that pipeline only; use --backend "
                               "loihi-sim --timing zero-delay")
        subtracting = [pop.name for pop in graph.populations if pop.reset == "subtract"]
        if subtracting:  # our DaLIF process steps through Lava's own LIF arithmetic, which zeroes v
            raise BackendError(f"the lava backend runs Lava's bit-accurate LIF, which resets v to 0; "
                               f"populations {', '.join(subtracting)} reset by subtraction: use "
                               "--backend loihi-sim or onnx")
        with tempfile.TemporaryDirectory(prefix="dalif-lava-") as tmp:
            work = Path(tmp)
            write_nir(graph, work / "model.nir", model.timesteps, model.info)
            np.savez(work / "inputs.npz", inputs=inputs.astype(np.int64))
            command = [str(python), "-m", "deploy.lava.runner", str(work / "model.nir"),
                       str(work / "inputs.npz"), "--out", str(work / "result.npz"), "--progress",
                       "--select-tag", self.select_tag, "--workdir", str(work)]
            if self.chunk_steps:
                command += ["--chunk-steps", str(self.chunk_steps)]
            if self.keep_records:
                command.append("--records")
            _run_runner(command, on_progress)
            with np.load(work / "result.npz") as data:
                arrays = {key: data[key] for key in data.files}
        summary = json.loads(str(arrays.pop("summary")))
        self.last_summary = summary
        self.last_records = ({name: arrays.pop(f"record_{i}")
                              for i, name in enumerate(summary["populations"])}
                             if self.keep_records else None)
        return _to_result(summary, arrays)


def _run_runner(command: list[str], on_progress: Callable[[int], None] | None) -> None:
    env = dict(os.environ)
    # the runner imports this very source tree, whatever the Lava venv was installed from
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    tail: deque[str] = deque(maxlen=40)
    reported = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, cwd=REPO_ROOT) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(PROGRESS_PREFIX):
                done = int(line.split()[1])
                if on_progress is not None and done > reported:
                    on_progress(done - reported)
                reported = max(reported, done)
            else:
                tail.append(line.rstrip("\n"))
        code = proc.wait()
    if code != 0:
        details = "\n".join(tail)
        raise BackendError(f"the Lava runner failed (exit code {code}):\n{details}")


def _to_result(summary: dict, arrays: dict[str, np.ndarray]) -> SimulationResult:
    names = summary["populations"]
    counts = [PopulationCounts(**c) for c in summary["counts"]]
    return SimulationResult(
        output=arrays["output"],
        predictions=arrays["predictions"],
        counts=counts,
        samples=int(summary["samples"]),
        timesteps=int(summary["timesteps"]),
        spikes={name: arrays[f"spikes_{i}"] for i, name in enumerate(names)},
        spikes_per_step={name: arrays[f"spikes_per_step_{i}"] for i, name in enumerate(names)},
        synaptic_events_per_step={name: arrays[f"synaptic_events_per_step_{i}"]
                                  for i, name in enumerate(names)},
    )
