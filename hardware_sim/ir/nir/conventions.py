"""How a foreign NIR file's float parameters are read: the units and conventions its producer
used, recognised from the file where they can be, and what the file cannot say (DESIGN §7).

NIR's neuron equations are continuous-time, τ dv/dt = (v_leak − v) + r·I, and a file does not
say the step dt it was exported for. Producers write τ in different units:

- snnTorch 1.0 (``export_to_nir``) writes τ = dt/(1 − β) in seconds with dt = 1e-4 fixed, and
  r = τ/dt (a CubaLIF also w_in = τ_syn/dt): recognised by r = τ/1e-4 on every neuron node.
  The NIR paper's files, rockpool and spyx use seconds too.
- norse 1.1 (``to_nir``) writes τ = dt/τ_inv, which is dt·τ (dt = 1e-3 by default), r = 1, and
  its LIFCell adds the input to the synaptic current unscaled, where NIR's CubaLIF scales it by
  w_in/τ_syn: recognised by r = 1, w_in = 1 and every τ below dt = 1e-3.
- rockpool 3.1 (``to_nir``) writes τ in seconds and r = τ·exp(−dt/τ)/dt: recognised by that
  relation holding for a round dt (1e-4, 1e-3 …) on every LIF and CubaLIF. Its neurons decay
  exactly (exp(−dt/τ) per step, not Euler's 1 − dt/τ): read so (``Reading.decay``), which a
  12-bit decay represents; by default they fire several spikes per step, and they subtract the
  threshold at the spike, before the next step's decay: warned about.
- sinabs and files written for dt = 1 give τ in timesteps (every τ ≥ 1).

Forward Euler over one step of dt then gives, per step (τ_s = τ in steps):
V[t] = (1 − 1/τ_s)·V[t−1] + v_leak/τ_s + (r/τ_s)·I[t] (the ``neurons`` module's mapping).

What no NIR file can say is the reset mode (NIR resets to v_reset; snnTorch's and sinabs'
default is to subtract the threshold) and whether an IF neuron may emit several spikes in one
step (sinabs' default MultiSpike): both change results, so they are warned about (and recorded
in RESULT.json) unless the user states them. Unstated, the run resets to zero (every Loihi);
stated ``--reset subtract``, every spiking population resets by subtraction (Loihi 2's
programmable neurons, ``hardware_sim.ir.neuron``). The hardware emits one spike per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import nir
import numpy as np

from hardware_sim.ir.graph import RESETS
from hardware_sim.ir.nir.format import NIRFormatError

SNNTORCH_DT = 1e-4
"""snnTorch 1.0's ``export_to_nir`` writes every τ and r for this dt (snntorch/export_nir.py)."""
NORSE_DT = 1e-3
"""norse 1.1's ``to_nir`` default dt (norse/torch/utils/export_nir.py), written as dt·τ."""

SUBTRACT_NOTE = ("reset by subtraction: the threshold comes off v on the step after a spike; "
                 "this needs a chip with programmable neurons (Loihi 2), Loihi 1 resets to zero")
"""What a run of a model that resets by subtraction records about it (RESULT.json, reading)."""

_SPIKING = (nir.LIF, nir.CubaLIF, nir.IF)
_LEAKY = (nir.LIF, nir.CubaLIF, nir.LI)


@dataclass(frozen=True)
class Reading:
    """What a foreign file was taken to mean: the producer convention, the step, and what the
    run assumes where the file is silent. Recorded in RESULT.json and the energy report.

    ``steps_per_tau``: timesteps per unit of the file's τ (1/dt for seconds, 1/dt² for norse's
    dt·τ, 1 for τ in timesteps). ``cuba_input``: "nir" (I gains w_in/τ_syn of the input per
    step) or "unscaled" (norse's LIFCell: I gains the input times w_in). ``decay``: "euler"
    (a step keeps 1 − 1/τ_s) or "exponential" (it keeps exp(−1/τ_s), as rockpool steps its
    modules; ``neurons`` gives each node kind's input gain).
    """

    producer: str
    dt: float | None
    steps_per_tau: float
    cuba_input: Literal["nir", "unscaled"] = "nir"
    decay: Literal["euler", "exponential"] = "euler"
    reset: str = "zero"
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def tau_steps(self, node: str, tau: np.ndarray, name: str = "tau") -> np.ndarray:
        """τ in timesteps; an error naming the node when it is below one step (Euler is
        unstable there and the hardware's decay cannot exceed one)."""
        steps = np.asarray(tau, dtype=np.float64) * self.steps_per_tau
        if self.decay == "exponential" and np.all(steps > 0):
            return steps  # exp(−1/τ_s) lies in (0, 1) for any τ_s > 0
        if np.any(~(steps >= 1 - 1e-9)):
            low = float(np.min(np.asarray(tau)))
            hint = ("in seconds? give --dt, the seconds per step the file was made for"
                    if self.dt is None else f"a step of {self.dt:g} s is longer; give a smaller --dt")
            raise NIRFormatError(f"node {node!r}: {name} must be >= 1 timestep, got {low:g} as read "
                                 f"({self.producer}): {hint}")
        return np.maximum(steps, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"producer": self.producer, "dt_s": self.dt, "tau_unit": self.tau_unit,
                "reset": self.reset, "multi_spike": False, "notes": list(self.notes),
                "warnings": list(self.warnings)}

    @property
    def tau_unit(self) -> str:
        if self.dt is None:
            return "timesteps"
        return "dt*tau seconds^2 (norse)" if self.cuba_input == "unscaled" else "seconds"


def recognise(g: nir.NIRGraph, dt: float | None = None, reset: str | None = None,
              extra_notes: tuple[str, ...] = (), recurrent: set[str] | frozenset = frozenset()
              ) -> Reading:
    """The reading of a foreign graph: its producer's convention where the file shows it, the
    user's ``dt`` (seconds per step) and ``reset`` where given; warnings for what it cannot say.
    ``recurrent``: the neuron nodes a recurrent edge feeds (snnTorch's RLeaky and RSynaptic).

    ``reset="subtract"`` makes every spiking population reset by subtraction (snnTorch's
    default ``Leaky``), which only a chip with programmable neurons (Loihi 2) runs: noted.
    """
    if dt is not None and not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise NIRFormatError(f"--dt must be a positive number of seconds, got {dt!r}")
    if reset is not None and reset not in RESETS:
        raise NIRFormatError(f"--reset must be one of {RESETS}, got {reset!r}")
    neurons = {name: node for name, node in g.nodes.items() if isinstance(node, (*_SPIKING, *_LEAKY, nir.I))}
    reading = _convention(neurons, dt)
    notes, warnings = list(extra_notes) + list(reading.notes), []
    spiking = sorted(name for name, node in neurons.items() if isinstance(node, _SPIKING))
    if spiking and reset is None and reading.cuba_input == "unscaled":
        notes.append("norse's cells reset to v_reset, as NIR says")
    elif spiking and reset is None and reading.decay == "euler":  # rockpool's: warned below
        warnings.append("reset mode: NIR cannot say it (it has no subtract reset); this run resets "
                        "v to 0 after a spike, as the hardware does, but snnTorch's and sinabs' "
                        "default is to subtract the threshold: results differ if the model was "
                        f"trained so (neurons {_names(spiking)}); state --reset zero if it was not, "
                        "--reset subtract (Loihi 2) if it was")
    if reset == "zero":
        notes.append("reset to zero (stated with --reset)")
    if reset == "subtract" and spiking:
        notes.append(f"{SUBTRACT_NOTE} (stated with --reset; neurons {_names(spiking)})")
    refractory = sorted(name for name, node in neurons.items()
                        if isinstance(node, nir.CubaLIF) or (name in recurrent and isinstance(node, nir.LIF)))
    if refractory and reading.producer.startswith("snnTorch"):
        warnings.append("snnTorch's Synaptic, RLeaky and RSynaptic (CubaLIF, or a LIF with a "
                        "recurrent edge, here) with reset_mechanism='zero' zero the whole membrane "
                        "on the step after a spike, input included (a refractory step NIR cannot "
                        "express); this run resets v at the spike and integrates the next step's "
                        f"input, so it fires more (neurons {_names(refractory)})")
    if reading.producer.startswith("rockpool") and spiking:
        warnings.append("multi-spike: rockpool's LIFTorch and LIFNeuronTorch fire floor(v/threshold) "
                        "spikes in one step by default (max_spikes_per_dt = 2^16), which NIR cannot "
                        "say; this run fires at most one, as a model built with max_spikes_per_dt=1 "
                        f"does (neurons {_names(spiking)})")
        warnings.append("reset mode: rockpool subtracts the threshold at the spike, so the next "
                        "step's decay takes it down too (beta*threshold off); NIR cannot say it and "
                        "no reset here is that: --reset subtract takes the threshold off undecayed "
                        "(Loihi 2), the default resets v to 0; spikes differ slightly "
                        f"(neurons {_names(spiking)})")
    leaky = sorted(name for name, node in neurons.items() if isinstance(node, _LEAKY))
    if leaky and reading.dt is None:
        warnings.append("integration: NIR cannot say how one step integrates tau; read with forward "
                        "Euler (decay 1 - 1/tau, input gain r/tau), as snnTorch and norse step, but "
                        "sinabs' LIF decays by exp(-1/tau) with input gain 1 - exp(-1/tau): its "
                        f"spikes differ (neurons {_names(leaky)})")
    integrate_fire = sorted(name for name, node in neurons.items() if isinstance(node, nir.IF))
    if integrate_fire:
        warnings.append("multi-spike: NIR's IF cannot say whether a neuron may fire several spikes "
                        "in one step (sinabs' default MultiSpike); this run fires at most one "
                        f"(neurons {_names(integrate_fire)})")
    return replace(reading, reset=reset or "zero", notes=tuple(notes), warnings=tuple(warnings))


def _convention(neurons: dict[str, nir.NIRNode], dt: float | None) -> Reading:
    """The producer, step and τ unit of a graph's neurons (module docstring), with a note saying
    which; τ < 1 with no recognised producer and no ``dt`` is refused."""
    leaky = [name for name, node in neurons.items() if isinstance(node, _LEAKY)]
    taus = [np.asarray(_tau(neurons[name]), dtype=np.float64) for name in leaky]
    given = " (given)" if dt is not None else ""
    if _is_snntorch(neurons):
        step = SNNTORCH_DT if dt is None else float(dt)
        return Reading("snnTorch (r = tau/dt, dt = 1e-4 s)", step, 1.0 / step, notes=(
            f"recognised snnTorch's convention: tau in seconds, dt = {step:g} s{given}",))
    if taus and _is_norse(neurons, taus):
        step = NORSE_DT if dt is None else float(dt)
        return Reading("norse (tau written as dt*tau)", step, 1.0 / (step * step), "unscaled", notes=(
            f"recognised norse's convention: tau written as dt*tau with dt = {step:g} s{given}, and "
            "a CubaLIF's input added to the current unscaled (norse LIFCell)",))
    if (rockpool_dt := _rockpool_dt(neurons)) is not None:
        step = rockpool_dt if dt is None else float(dt)
        return Reading("rockpool (r = tau*exp(-dt/tau)/dt)", step, 1.0 / step, decay="exponential",
                       notes=(f"recognised rockpool's convention: tau in seconds, dt = {step:g} s{given}, "
                              "each step decaying by exp(-dt/tau) as rockpool's modules do (12-bit "
                              "decays)",))
    if dt is not None:
        return Reading("NIR (tau in seconds)", float(dt), 1.0 / float(dt), notes=(
            f"tau read in seconds with the given dt = {float(dt):g} s",))
    short = [(float(np.min(t)), name) for name, t in zip(leaky, taus) if np.min(t) < 1]
    if short:
        low, name = min(short)
        raise NIRFormatError(f"node {name!r}: tau must be >= 1 timestep, got {low:g}: in seconds? "
                             "give --dt, the seconds per step the file was made for (snnTorch, "
                             "the NIR paper's files, rockpool and spyx: 1e-4)")
    return Reading("NIR (tau in timesteps)", None, 1.0, notes=(
        ("tau read in timesteps (dt = 1 step; give --dt if it is in seconds)",) if taus else ()))


def _names(names: list[str]) -> str:
    return ", ".join(names[:4]) + (" ..." if len(names) > 4 else "")


def _tau(node: nir.NIRNode) -> Any:
    return node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau


def _close(a: Any, b: Any) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    try:
        return bool(np.allclose(a, b, rtol=1e-4, atol=0))
    except ValueError:
        return False


def _is_snntorch(neurons: dict[str, nir.NIRNode]) -> bool:
    """r = τ/1e-4 on every LIF and CubaLIF (and w_in = τ_syn/1e-4), and there is one."""
    found = False
    for node in neurons.values():
        if isinstance(node, nir.LIF):
            ok = _close(node.r, np.asarray(node.tau) / SNNTORCH_DT)
        elif isinstance(node, nir.CubaLIF):
            ok = (_close(node.r, np.asarray(node.tau_mem) / SNNTORCH_DT)
                  and _close(node.w_in, np.asarray(node.tau_syn) / SNNTORCH_DT))
        else:
            continue
        if not ok:
            return False
        found = True
    return found


def _rockpool_dt(neurons: dict[str, nir.NIRNode]) -> float | None:
    """The dt of rockpool's ``to_nir``, r = τ·exp(−dt/τ)/dt, solved from the first leaky neuron
    (τ·exp(−dt/τ)/dt falls as dt grows: bisection), required to be a round step and to hold for
    every LIF, CubaLIF and LI (ExpSynTorch); else None."""
    leaky = [n for n in neurons.values() if isinstance(n, (nir.LIF, nir.CubaLIF, nir.LI))]
    if not leaky:
        return None
    tau = float(np.ravel(_tau(leaky[0]))[0])
    r = float(np.ravel(leaky[0].r)[0])
    if not (tau > 0 and r > 0):
        return None
    lo, hi = tau * 1e-9, tau * 50.0
    for _ in range(200):  # tau·exp(−dt/tau)/dt is decreasing in dt
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if tau * np.exp(-mid / tau) / mid > r else (lo, mid)
    dt = float(_round_significant(lo, 6))
    mantissa = dt / 10.0 ** np.floor(np.log10(dt))
    if not any(abs(mantissa - m) < 1e-6 for m in (1.0, 2.0, 5.0)):
        return None  # one node fits some dt: only a round step (1e-4, 5e-4, 1e-3 …) is a signature
    for node in leaky:
        t = np.asarray(_tau(node), dtype=np.float64)
        if not _close(node.r, t * np.exp(-dt / t) / dt):
            return None
        if isinstance(node, nir.CubaLIF) and not _close(node.w_in, 1.0):
            return None
    return dt


def _round_significant(x: float, digits: int) -> float:
    """x to ``digits`` significant digits (a dt solved numerically, 1.0000000002e-4 → 1e-4)."""
    return float(f"{x:.{digits}g}")


def _is_norse(neurons: dict[str, nir.NIRNode], taus: list[np.ndarray]) -> bool:
    """r = 1 (and w_in = 1) on every leaky neuron and every τ below norse's dt."""
    for node in neurons.values():
        if isinstance(node, _LEAKY) and not _close(node.r, 1.0):
            return False
        if isinstance(node, nir.CubaLIF) and not _close(node.w_in, 1.0):
            return False
    return all(float(t.max()) < NORSE_DT for t in taus)
