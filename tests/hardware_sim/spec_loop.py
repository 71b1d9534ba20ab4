"""A slow, literal transcription of DESIGN §3 in plain Python integers, with the reset by
subtraction (a population's ``reset == "subtract"``: the step after a spike takes vth << 6 off
the decayed v before the clip; the v that crossed is kept) beside the reset to zero.

Independent of hardware_sim.engine: no torch, no vectorisation, explicit loops
over every synapse, so that the engine can be checked against it spike by spike.
"""

from __future__ import annotations

import numpy as np


def rtz(x: int, n: int) -> int:
    return -((-x) >> n) if x < 0 else x >> n


def shift(acc: int, e: int) -> int:
    return acc << e if e >= 0 else acc >> -e  # Python's >> on ints is arithmetic (toward -inf)


def _pooled(src: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return src
    c, h, w = src.shape
    out = np.zeros((c, h // k, w // k), dtype=object)
    for ci in range(c):
        for y in range(h // k):
            for x in range(w // k):
                out[ci, y, x] = sum(int(src[ci, y * k + i, x * k + j]) for i in range(k) for j in range(k))
    return out


def _acc(proj, src: np.ndarray) -> tuple[np.ndarray, int]:
    """The accumulation per target, and the synaptic events: every non-zero source
    value that reaches a synapse counts once per synapse it crosses."""
    pooled = _pooled(src, proj.pool)
    arrivals = _pooled((src != 0).astype(int), proj.pool)  # non-zero sources behind each pooled cell
    w = proj.weight
    if proj.kind == "dense":
        flat = [int(v) for v in pooled.reshape(-1)]
        ops = sum(int(v) for v in arrivals.reshape(-1)) * w.shape[0]
        return np.array([sum(int(w[i, j]) * flat[j] for j in range(len(flat))) for i in range(w.shape[0])],
                        dtype=object), ops
    c_out, c_in, kh, kw = w.shape
    _, h, wd = pooled.shape
    (sh, sw), (ph, pw) = proj.stride, proj.padding
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((c_out, oh, ow), dtype=object)
    ops = 0
    for o in range(c_out):
        for y in range(oh):
            for x in range(ow):
                total = 0
                for ci in range(c_in):
                    for i in range(kh):
                        for j in range(kw):
                            yy = y * sh - ph + i
                            xx = x * sw - pw + j
                            if 0 <= yy < h and 0 <= xx < wd:
                                total += int(w[o, ci, i, j]) * int(pooled[ci, yy, xx])
                                ops += int(arrivals[ci, yy, xx])
                out[o, y, x] = total
    return out, ops


def run_sample(graph, x: np.ndarray, hop_delay: int = 0) -> tuple[dict[str, list[np.ndarray]], dict[str, int]]:
    """Spikes per population and step for one sample x of shape (T, *input_shape)
    (for a readout population, its voltage per step instead), and the synaptic
    events arriving at each population over the run."""
    timesteps = x.shape[0]
    history: list[dict[str, np.ndarray]] = []
    u = {p.name: np.zeros(p.shape, dtype=object) for p in graph.populations}
    v = {p.name: np.zeros(p.shape, dtype=object) for p in graph.populations}
    trace: dict[str, list[np.ndarray]] = {p.name: [] for p in graph.populations}
    events = {p.name: 0 for p in graph.populations}
    for t in range(timesteps):
        now = {"input": x[t]}
        history.append(now)
        for pop in graph.populations:
            a = np.zeros(pop.shape, dtype=object)
            for proj in pop.projections:
                lag = proj.delay + hop_delay
                if t - lag >= 0:
                    src = history[t - lag][proj.source]
                else:
                    src = np.zeros(proj.source_shape, dtype=int)
                acc, ops = _acc(proj, src)
                events[pop.name] += ops
                a = a + np.vectorize(lambda z: shift(int(z), proj.weight_exp), otypes=[object])(acc)
            spikes = np.zeros(pop.shape, dtype=bool)
            for idx in np.ndindex(*pop.shape):
                drive = int(a[idx]) << 6
                if pop.gain is not None:
                    drive = rtz(drive * int(pop.gain[idx]), 12)
                un = rtz(int(u[pop.name][idx]) * (4096 - (int(pop.du[idx]) + 1)), 12) + drive
                if un > 2**23:
                    un -= 2**24
                elif un <= -(2**23):
                    un += 2**24
                u[pop.name][idx] = un
                v_prev, vth = int(v[pop.name][idx]), int(pop.vth[idx]) << 6
                vn = rtz(v_prev * (4096 - int(pop.dv[idx])), 12) + un
                vn += int(pop.bias_mant[idx]) << pop.bias_exp
                subtract = pop.reset == "subtract"
                if subtract and v_prev > vth:  # it spiked last step: the threshold comes off now
                    vn -= vth
                vn = max(-(2**23 - 1), min(2**23 - 1, vn))
                if not pop.readout and vn > vth:
                    spikes[idx] = True
                    if not subtract:
                        vn = 0
                v[pop.name][idx] = vn
            now[pop.name] = spikes.astype(int)
            trace[pop.name].append(v[pop.name].copy() if pop.readout else spikes)
    return trace, events


def assert_matches_spec(graph, x: np.ndarray, result, hop_delay: int = 0
                        ) -> tuple[dict[str, int], dict[str, int]]:
    """A run's ``result`` on ``x`` (N, T, *input_shape) against this loop, sample by sample:
    every spiking population's spikes at every step and a readout's final v (the run must
    have recorded its spikes). Returns (synaptic events, spikes) per population, summed over
    the samples, as this loop counts them, for the caller to hold the run's counters to."""
    events = {p.name: 0 for p in graph.populations}
    spikes = {p.name: 0 for p in graph.populations}
    for n in range(x.shape[0]):
        trace, sample_events = run_sample(graph, x[n], hop_delay=hop_delay)
        for name, ops in sample_events.items():
            events[name] += ops
        for pop in graph.populations:
            if pop.readout:
                np.testing.assert_array_equal(result.output[n],
                                              np.asarray(trace[pop.name][-1]).astype(np.int64))
            else:
                expected = np.stack(trace[pop.name])
                np.testing.assert_array_equal(result.spikes[pop.name][:, n], expected, err_msg=pop.name)
                spikes[pop.name] += int(expected.sum())
    return events, spikes
