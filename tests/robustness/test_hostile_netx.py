"""Hostile netx files and careless ``dalif import`` arguments, under a 4 GB memory cap: each ends
in one line and exit code 2 within 10 s, and writes no NIR file.

Bases: ``H``, a netx file in lava-dl's layout written with h5py alone (no ``/dalif`` group:
``--timesteps 4`` given), and ``X``, one written by ``dalif export --netx`` (``/dalif``
attributes carry T, the input's bits and scale, names and voltage scales).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from dalif.cli import main
from hardware_sim.ir.netx import NetxError, read_netx
from hardware_sim.ir.nir import ReadLimits
from tests.netx.test_netx_lava import write_handmade_net

from .hostile import (
    GIB,
    assert_one_line_exit_2,
    build_case,
    data,
    deflate_bomb,
    external,
    fill_only,
    link,
    make_fifo,
    nested_json,
    replace,
    run_capped,
)

T = ["--timesteps", "4"]


def dataset(name: str, make):
    return lambda tmp: (lambda f: replace(f, name, make(tmp) if getattr(make, "needs_tmp", False) else make))


def attribute(name: str, value):
    return lambda tmp: (lambda f: f["dalif"].attrs.__setitem__(name, value))


def needs_tmp(factory):
    factory.needs_tmp = True
    return factory


@needs_tmp
def secret_weight(tmp: Path):
    """The conv weight's raw storage is a local text file (it was copied into the NIR file)."""
    (tmp / "secret.txt").write_text("password=hunter2\n" * 128)
    return external(str(tmp / "secret.txt"), (4, 2, 3, 3), "i8")


@needs_tmp
def fifo_weight(tmp: Path):
    return external(str(make_fifo(tmp / "pipe")), (4, 2, 3, 3), "i8")


def other_layer(tmp: Path):
    write_handmade_net(tmp / "other.net")
    return h5py.ExternalLink(str(tmp / "other.net"), "/layer/1")


def layer_link(make):
    def edit(tmp: Path):
        def apply(f):
            del f["layer/1"]
            f["layer/1"] = make(tmp)
        return apply
    return edit


CASES = [
    ("weight-stored-in-a-local-text-file", "H", dataset("layer/1/weight", secret_weight), T,
     ["layer/1/weight", "external file", "secret.txt"]),
    ("weight-stored-on-dev-zero", "H", dataset("layer/1/weight", external("/dev/zero", (3 * GIB // 8,), "i8")), T,
     ["external file ('/dev/zero')"]),
    ("weight-stored-on-a-fifo", "H", dataset("layer/1/weight", fifo_weight), T, ["external file", "pipe"]),
    ("weight-fill-value-3GiB", "H", dataset("layer/1/weight", fill_only(3 * GIB, "i8")), T,
     ["budget of 1073741824 bytes", "layer/1/weight"]),
    ("weight-gzip-3GiB", "H", dataset("layer/4/weight", fill_only(3 * GIB, "i8", compression="gzip")), T,
     ["budget"]),
    ("weight-deflate-bomb", "H", dataset("layer/4/weight", deflate_bomb((6, 20), 256 << 20)), T,
     ["layer/4/weight", "decompression bomb"]),
    ("layer-external-link", "H", layer_link(other_layer), T, ["layer/1", "external link", "other.net"]),
    ("weight-soft-link", "H", dataset("layer/4/bias", link(h5py.SoftLink("/layer/1/bias"))), T, ["soft link"]),
    ("weight-hard-link-alias", "H", dataset("layer/4/bias", link(lambda f: f["layer/1/bias"])), T,
     ["reached by 2 links"]),
    ("complex-weight", "H", dataset("layer/4/weight", data(np.ones((6, 20), np.complex64))), T, ["complex"]),
    ("fractional-weight", "H", dataset("layer/4/weight", data(np.full((6, 20), 0.5))), T,
     ["layer 4 (dense)", "weight must hold integers", "truncate"]),
    ("nan-weight", "H", dataset("layer/4/weight", data(np.full((6, 20), np.nan))), T,
     ["weight must hold integers"]),
    ("string-weight", "H", dataset("layer/4/weight", data(np.array([b"w"] * 120).reshape(6, 20))), T,
     ["weight must hold integers, not |S1"]),
    ("fractional-iDecay", "H", dataset("layer/1/neuron/iDecay", data(4095.5)), T, ["iDecay must hold integers"]),
    ("vThMant-2^40", "H", dataset("layer/4/neuron/vThMant", data(2**40)), T, ["vThMant 1099511627776 beyond 31 bits"]),
    ("input-declares-1e10-neurons", "H", dataset("layer/0/shape", data(np.array([10**10]))), T,
     ["more than 10000000 neurons"]),
    ("file-input-bits-99", "X", attribute("input_bits", 99), [], ["input bits must be an integer in 1..16, got 99"]),
    ("file-input-bits-fractional", "X", attribute("input_bits", 7.5), [], ["input_bits must be an integer"]),
    ("file-input-scale-nan", "X", attribute("input_scale", np.nan), [], ["input scale must be a positive finite"]),
    ("file-input-scale-zero", "X", attribute("input_scale", 0.0), [], ["input scale must be a positive finite"]),
    ("file-timesteps-fractional", "X", attribute("timesteps", 2.5), [], ["timesteps must be an integer"]),
    ("file-timesteps-1e12", "X", attribute("timesteps", 10**12), [], ["1000000000000 timesteps is more than 100000"]),
    ("file-names-nested-100000-deep", "X", attribute("names", nested_json(100_000)), [],
     ["names must be a JSON list"]),
    ("file-v-scales-nan", "X", attribute("v_scales", "[NaN, 1.0, 1.0]"), [], ["v_scales must hold positive finite"]),
    ("file-complex-attribute", "X", attribute("input_scale", np.complex128(1 + 1j)), [], ["complex"]),
    ("argument-input-scale-nan", "H", None, [*T, "--input-scale", "nan"],
     ["--input-scale must be a positive finite number"]),
    ("argument-input-scale-zero", "H", None, [*T, "--input-scale", "0"], ["--input-scale must be a positive finite"]),
    ("argument-input-bits-99", "H", None, [*T, "--input-bits", "99"], ["--input-bits must lie in 1..16"]),
    ("argument-timesteps-1e12", "H", None, ["--timesteps", str(10**12)], ["--timesteps must lie in 1..100000"]),
    ("argument-timesteps-zero", "H", None, ["--timesteps", "0"], ["--timesteps must lie in 1..100000"]),
    ("argument-timesteps-x-neurons-over-budget", "H", None, ["--timesteps", "1000", "--max-bytes", "100000"],
     ["1000 timesteps x", "--max-bytes"]),
]


@pytest.fixture(scope="module")
def bases(tmp_path_factory, valid_checkpoint):
    tmp = tmp_path_factory.mktemp("netx_bases")
    handmade = tmp / "handmade.net"
    write_handmade_net(handmade)
    exported = tmp / "exported.net"
    assert main(["export", str(valid_checkpoint), "--out", str(tmp / "exported.nir"), "--netx", str(exported)]) == 0
    return {"H": handmade, "X": exported}


@pytest.fixture(scope="module")
def capped_results(bases, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile_netx")
    argvs, names = [], []
    for name, base, edit, extra, _ in CASES:
        path = build_case(tmp / name, bases[base], edit, "case.net")
        argvs.append(["import", str(path), "--out", str(tmp / name / "out.nir"), *extra])
        names.append(name)
    fifo = make_fifo(tmp / "model-fifo.net")
    argvs.append(["import", str(fifo), "--out", str(tmp / "fifo-out.nir"), *T])
    names.append("the-net-file-is-a-fifo")
    return dict(zip(names, run_capped(argvs))), tmp


@pytest.mark.parametrize("name, fragments", [(c[0], c[4]) for c in CASES] +
                         [("the-net-file-is-a-fifo", ["model-fifo.net", "FIFO, not a regular file"])])
def test_hostile_netx_is_one_line_exit_2_under_the_memory_cap(capped_results, name, fragments):
    results, tmp = capped_results
    assert_one_line_exit_2(results[name], fragments)
    assert not list(tmp.rglob("*out.nir")) and not list(tmp.rglob(".*.tmp")), "nothing may be written"


def test_no_byte_of_a_linked_file_reaches_the_output(capped_results):
    """The text file named as the weight's storage: refused, so nothing of it is copied anywhere."""
    results, tmp = capped_results
    assert "hunter2" not in results["weight-stored-in-a-local-text-file"]["stderr"]
    assert max(r["maxrss"] for r in results.values()) < 768 << 20


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_read_netx_budget_and_limits(bases):
    graph, timesteps = read_netx(bases["X"])
    assert timesteps == 2 and [p.name for p in graph.populations] == ["fc1", "fc2", "readout"]
    with pytest.raises(NetxError, match="budget of 100 bytes"):
        read_netx(bases["X"], limits=ReadLimits(max_bytes=100))
    with pytest.raises(NetxError, match="more than 50 neurons"):
        read_netx(bases["H"], timesteps=4, limits=ReadLimits(max_neurons=50))
    with pytest.raises(NetxError, match="input bits must be an integer in 1..16"):
        read_netx(bases["H"], timesteps=4, input_bits=True)
