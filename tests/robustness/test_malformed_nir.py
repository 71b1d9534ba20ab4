"""A corpus of malformed NIR files: each ends in NIRFormatError naming what is wrong.

One row per case: how the file is made, and a fragment its error message must carry.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Callable

import h5py
import nir
import numpy as np
import pytest

from hardware_sim.ir.nir import NIRFormatError, ReadLimits, read_nir

from .conftest import foreign_graph


def lif(n, tau=2.0, threshold=1.0, shape=None):
    shape = shape or (n,)
    return nir.LIF(tau=np.full(shape, tau), r=np.full(shape, tau), v_leak=np.zeros(shape),
                   v_threshold=np.full(shape, threshold), v_reset=np.zeros(shape))


def foreign(**overrides) -> Callable[[Path, Path], Path]:
    def make(tmp: Path, valid: Path) -> Path:
        path = tmp / "case.nir"
        nir.write(str(path), foreign_graph(**overrides))
        return path
    return make


def with_metadata(change: Callable[[dict], None]) -> Callable[[Path, Path], Path]:
    """The valid toolchain file with its dalif metadata edited by ``change``."""
    def make(tmp: Path, valid: Path) -> Path:
        g = nir.read(str(valid))
        md = copy.deepcopy(g.metadata)
        change(md["dalif"])
        path = tmp / "case.nir"
        nir.write(str(path), nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=md))
        return path
    return make


def raw_bytes(content: Callable[[bytes], bytes]) -> Callable[[Path, Path], Path]:
    def make(tmp: Path, valid: Path) -> Path:
        path = tmp / "case.nir"
        path.write_bytes(content(valid.read_bytes()))
        return path
    return make


def edited_hdf5(edit: Callable[[h5py.File], None]) -> Callable[[Path, Path], Path]:
    """A copy of a valid foreign file edited with h5py (to write what nir.write refuses)."""
    def make(tmp: Path, valid: Path) -> Path:
        path = tmp / "case.nir"
        nir.write(str(path), foreign_graph())
        with h5py.File(path, "r+") as f:
            edit(f["node"])
        return path
    return make


def replace_dataset(node: str, field: str, value) -> Callable[[h5py.Group], None]:
    def edit(nodes: h5py.Group) -> None:
        del nodes["nodes"][node][field]
        nodes["nodes"][node][field] = value
    return edit


EDGES = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]


def set_edges(edges):
    def edit(nodes: h5py.Group) -> None:
        del nodes["edges"]
        nodes["edges"] = np.array(edges, dtype=object).astype("S")
    return edit


def huge_input(tmp: Path, valid: Path) -> Path:
    """10^10 input neurons declared (a 100000 × 100000 image pooled to one pixel): a few bytes of file."""
    side = 100_000
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([1, side, side])),
        "pool": nir.SumPool2d(kernel_size=np.array([side, side]), stride=np.array([side, side]),
                              padding=np.array([0, 0])),
        "conv": nir.Conv2d(input_shape=np.array([1, 1]), weight=np.ones((1, 1, 1, 1), np.float32),
                           stride=np.array([1, 1]), padding=np.array([0, 0]), dilation=np.array([1, 1]),
                           groups=1, bias=np.zeros(1, np.float32)),
        "lif": lif(0, shape=(1, 1, 1)),
        "output": nir.Output(output_type=np.array([1, 1, 1])),
    }, edges=[("input", "pool"), ("pool", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False)
    path = tmp / "case.nir"
    nir.write(str(path), g)
    return path


def set_pop(name, field, value):
    def change(md):
        md["populations"][name][field] = value
    return change


def set_weight(value):
    def change(md):
        md["populations"]["d3"]["projections"]["0"]["weight"] = value
    return change


CYCLE = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output"),
         ("lif2", "back"), ("back", "lif1")]
BACK = nir.Affine(weight=np.ones((3, 2), np.float32), bias=np.zeros(3, np.float32))

DELAYED = [("input", "d"), ("d", "fc1")] + EDGES[1:]


def delayed(steps: float) -> Callable[[Path, Path], Path]:
    """The foreign graph with a Delay of ``steps`` between the input and fc1."""
    return foreign(d=nir.Delay(delay=np.full(4, steps)), edges=DELAYED)


# (id, make(tmp, valid) -> path, read_nir keyword arguments, fragments of the message)
CASES = [
    ("unknown-node-type", foreign(lif2=nir.Threshold(threshold=np.ones(2))), {"timesteps": 2},
     ["'lif2'", "unsupported node type Threshold"]),
    ("edge-to-missing-node", edited_hdf5(set_edges(EDGES[:-1] + [("lif2", "ghost")])), {"timesteps": 2},
     ["not a readable NIR file", "'ghost'"]),
    ("two-inputs", foreign(input2=nir.Input(input_type=np.array([4]))), {"timesteps": 2},
     ["exactly one Input"]),
    ("two-outputs", foreign(output2=nir.Output(output_type=np.array([3])), edges=EDGES + [("lif1", "output2")]),
     {"timesteps": 2}, ["exactly one Input and one Output", "'output2'"]),
    ("dense-weight-shape-mismatch",
     foreign(fc2=nir.Affine(weight=np.ones((2, 5), np.float32), bias=np.zeros(2, np.float32))),
     {"timesteps": 2}, ["type mismatch", "fc2.input"]),
    ("conv-weight-channel-mismatch", edited_hdf5(lambda n: None), {"timesteps": 2}, None),  # replaced below
    ("tau-below-one", foreign(lif1=lif(3, tau=0.5)), {"timesteps": 2}, ["'lif1'", "tau must be >= 1"]),
    ("negative-threshold", foreign(lif1=lif(3, threshold=-1.0)), {"timesteps": 2},
     ["'lif1'", "v_threshold must be positive"]),
    ("nan-weight", edited_hdf5(replace_dataset("fc1", "weight", np.full((3, 4), np.nan, np.float32))),
     {"timesteps": 2}, ["'fc1'", "weight has NaN"]),
    ("inf-bias", edited_hdf5(replace_dataset("fc2", "bias", np.array([np.inf, 0], np.float32))),
     {"timesteps": 2}, ["'fc2'", "bias has NaN or infinite"]),
    ("string-weight", edited_hdf5(replace_dataset("fc1", "weight", np.array([b"a"] * 12).reshape(3, 4))),
     {"timesteps": 2}, ["'fc1'", "weight must be numeric"]),
    ("threshold-wrong-shape", edited_hdf5(replace_dataset("lif1", "v_threshold", np.ones(5))),
     {"timesteps": 2}, ["not a readable NIR file", "same shape"]),
    ("negative-input-shape", edited_hdf5(replace_dataset("input", "shape", np.array([-4]))),
     {"timesteps": 2}, ["type mismatch", "input.output"]),
    ("foreign-without-timesteps", foreign(), {}, ["give the number of timesteps"]),
    ("declares-1e10-neurons", huge_input, {"timesteps": 2}, ["more than 10000000 neurons"]),
    ("over-a-lowered-synapse-limit", foreign(), {"timesteps": 2, "limits": ReadLimits(max_synapses=10)},
     ["more than 10 synapses"]),
    ("over-a-lowered-neuron-limit", foreign(), {"timesteps": 2, "limits": ReadLimits(max_neurons=8)},
     ["'lif2'", "more than 8 neurons"]),
    ("metadata-dv-above-4095", with_metadata(set_pop("c2", "dv", np.full((4, 3, 3), 5000, np.int32))), {},
     ["'c2'", "dv outside [0, 4095]"]),
    ("metadata-weight-300", with_metadata(set_weight(np.full((7, 36), 300, np.int32))), {},
     ["'d3'", "weight from c2 outside [-128, 127]"]),
    ("metadata-wrong-version", with_metadata(lambda md: md.update(format_version=99)), {},
     ["unsupported format", "99"]),
    ("metadata-wrong-format", with_metadata(lambda md: md.update(format="other")), {},
     ["unsupported format 'other'"]),
    ("metadata-population-missing", with_metadata(lambda md: md["populations"].pop("d3")), {},
     ["'d3'", "no population entry"]),
    ("metadata-dv-wrong-shape", with_metadata(set_pop("c1", "dv", np.zeros(5, np.int32))), {},
     ["'c1'", "dv has shape (5,)"]),
    ("metadata-dv-fractional", with_metadata(set_pop("c1", "vth", np.full((3, 3, 3), 1.5))), {},
     ["'c1'", "vth must be integers"]),
    ("metadata-vth-text", with_metadata(set_pop("c1", "vth", "many")), {},
     ["'c1'", "vth must be integers"]),
    ("metadata-gain-above-12-bits", with_metadata(set_pop("c1", "gain", np.full((3, 3, 3), 5000, np.int32))),
     {}, ["'c1'", "gain outside [0, 4095]"]),
    ("metadata-order-mismatch", with_metadata(lambda md: md.update(order='["c1", "c2", "d3"]')), {},
     ["do not match the graph's neuron nodes"]),
    ("metadata-unknown-source",
     with_metadata(lambda md: md["populations"]["d3"]["projections"]["0"].update(source="nowhere")), {},
     ["'d3'", "source 'nowhere'"]),
    ("infinite-delay", delayed(np.inf), {"timesteps": 2}, ["'d'", "delay must be one finite integer"]),
    ("fractional-delay", delayed(1.5), {"timesteps": 2}, ["'d'", "delay must be one finite integer"]),
    ("delay-of-1e12-steps", delayed(1e12), {"timesteps": 2},
     ["'lif1'", "1000000000000-step delay", "longer than 4096 steps", "--max-delay"]),
    ("over-a-lowered-delay-limit", delayed(3), {"timesteps": 2, "limits": ReadLimits(max_delay=2)},
     ["'lif1'", "3-step delay from 'input' is longer than 2 steps"]),
    ("empty-file", raw_bytes(lambda valid: b""), {}, ["not a readable NIR file"]),
    ("random-bytes", raw_bytes(lambda valid: np.random.default_rng(1).bytes(4096)), {},
     ["not a readable NIR file"]),
    ("truncated-hdf5", raw_bytes(lambda valid: valid[: len(valid) // 2]), {}, ["not a readable NIR file"]),
    ("hdf5-header-only", raw_bytes(lambda valid: valid[:512]), {}, ["not a readable NIR file"]),
    ("a-directory", lambda tmp, valid: tmp, {}, ["no such file"]),
]


def conv_mismatch(tmp: Path, valid: Path) -> Path:
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([2, 6, 6])),
        "conv": nir.Conv2d(input_shape=np.array([6, 6]), weight=np.ones((3, 5, 3, 3), np.float32),
                           stride=np.array([1, 1]), padding=np.array([1, 1]), dilation=np.array([1, 1]),
                           groups=1, bias=np.zeros(3, np.float32)),
        "lif": lif(0, shape=(3, 6, 6)),
        "output": nir.Output(output_type=np.array([3, 6, 6])),
    }, edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False)
    path = tmp / "case.nir"
    nir.write(str(path), g)
    return path


CASES[[c[0] for c in CASES].index("conv-weight-channel-mismatch")] = (
    "conv-weight-channel-mismatch", conv_mismatch, {"timesteps": 2},
    ["type mismatch", "conv.input"])


@pytest.mark.parametrize("make, kwargs, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_nir_is_a_format_error(make, kwargs, fragments, tmp_path, valid_nir):
    path = make(tmp_path, valid_nir)
    start = time.monotonic()
    with pytest.raises(NIRFormatError) as exc:
        read_nir(path, **kwargs)
    assert time.monotonic() - start < 5, "a bad file must fail fast"
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_valid_file_reads_and_a_raised_limit_admits_it(valid_nir):
    model = read_nir(valid_nir, limits=ReadLimits(max_neurons=10**12, max_synapses=10**15))
    assert [p.name for p in model.graph.populations] == ["c1", "c2", "d3", "readout"]


@pytest.mark.parametrize("delay", [None, 1, 3])
def test_a_cycle_is_recurrence_with_the_delay_on_it(tmp_path, delay):
    """A cycle is recurrence (DESIGN §7): the edge that closes it takes a Delay node's d, or the
    chip's one step where the file has none, and the forward edges keep delay 0."""
    edges = CYCLE
    extra = {}
    if delay is not None:
        edges = [e for e in CYCLE if e != ("lif2", "back")] + [("lif2", "d"), ("d", "back")]
        extra["d"] = nir.Delay(delay=np.full(2, float(delay)))
    path = tmp_path / "rec.nir"
    nir.write(str(path), foreign_graph(back=BACK, edges=edges, **extra))
    graph = read_nir(path, timesteps=2).graph
    sources = {p.name: {(q.source, q.delay) for q in p.projections} for p in graph.populations}
    assert sources["lif1"] == {("input", 0), ("lif2", delay or 1)}
    assert sources["lif2"] == {("lif1", 0)}
