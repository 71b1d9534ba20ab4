"""Hostile NIR files and careless arguments, through ``dalif simulate`` under a 4 GB memory cap:
each ends in one line and exit code 2 within 10 s, having read no declared giant, followed no
link out of the file and opened no FIFO (``hostile.run_capped``).

Bases: ``F``, a foreign file (no metadata; digits-sized input, so a loadable one runs), and
``E``, a file written by ``dalif export`` (its ``dalif`` metadata edited with h5py).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from dalif.cli import main
from hardware_sim.ir.nir import NIRFormatError, ReadLimits, read_nir

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
    run_cli_capped,
    virtual,
)

DALIF = "node/metadata/dalif"
FC1 = f"{DALIF}/populations/fc1"


def digits_graph() -> nir.NIRGraph:
    """input 64 → Affine → LIF 3 → Affine → LIF 2 → output: runs on the digits data set."""
    def lif(n):
        return nir.LIF(tau=np.full(n, 2.0), r=np.full(n, 2.0), v_leak=np.zeros(n),
                       v_threshold=np.ones(n), v_reset=np.zeros(n))
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([64])),
        "fc1": nir.Affine(weight=np.full((3, 64), 0.1, np.float32), bias=np.zeros(3, np.float32)),
        "lif1": lif(3),
        "fc2": nir.Affine(weight=np.full((2, 3), 0.5, np.float32), bias=np.zeros(2, np.float32)),
        "lif2": lif(2),
        "output": nir.Output(output_type=np.array([2])),
    }, edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")])


def dataset(name: str, make):
    """Replace dataset ``name`` by what ``make`` builds (given the case's directory)."""
    def edit(tmp: Path):
        return lambda f: replace(f, name, make(tmp) if _takes_tmp(make) else make)
    return edit


def _takes_tmp(make) -> bool:
    return getattr(make, "needs_tmp", False)


def with_tmp(factory):
    factory.needs_tmp = True
    return factory


def nested_groups(depth: int):
    def edit(tmp: Path):
        def apply(f):
            group = f["node/nodes/fc1"].create_group("metadata")
            for _ in range(depth):
                group = group.create_group("a")
        return apply
    return edit


def node_link(target):
    """Replace the node group ``fc1`` by a link."""
    def edit(tmp: Path):
        def apply(f):
            del f["node/nodes/fc1"]
            f["node/nodes/fc1"] = target(tmp)
        return apply
    return edit


def root_link(target):
    def edit(tmp: Path):
        def apply(f):
            del f["node"]
            f["node"] = target(tmp)
        return apply
    return edit


def raw(edit_function):
    return lambda tmp: edit_function


@with_tmp
def secret_file(tmp: Path):
    (tmp / "secret.txt").write_text("password=hunter2\n" * 64)
    return external(str(tmp / "secret.txt"))


@with_tmp
def fifo_storage(tmp: Path):
    return external(str(make_fifo(tmp / "pipe")))


@with_tmp
def virtual_weight(tmp: Path):
    return virtual(tmp / "other.h5", (3, 64))


def other_file(tmp: Path) -> h5py.ExternalLink:
    nir.write(str(tmp / "other.nir"), digits_graph())
    return h5py.ExternalLink(str(tmp / "other.nir"), "/node/nodes/fc1")


def fifo_link(tmp: Path) -> h5py.ExternalLink:
    return h5py.ExternalLink(str(make_fifo(tmp / "pipe.h5")), "/node")


ALIAS = link(lambda f: f["node/nodes/fc1/bias"])
CYCLE = raw(lambda f: f["node/nodes/fc1"].create_group("metadata").__setitem__("loop", f["node/nodes"]))
SIMULATE_F = ["--timesteps", "2"]

# (id, base "F" or "E", edit(tmp) -> edit(h5py.File) or None, extra argv, fragments of the one line)
CASES = [
    # Reading before checking: declared giants are refused from their headers
    ("fill-value-3GiB-weight", "F", dataset("node/nodes/fc1/weight", fill_only(3 * GIB)), SIMULATE_F,
     ["budget of 1073741824 bytes", "node/nodes/fc1/weight", "--max-bytes"]),
    ("gzip-chunks-3GiB-weight", "F", dataset("node/nodes/fc1/weight", fill_only(3 * GIB, compression="gzip")),
     SIMULATE_F, ["budget", "node/nodes/fc1/weight"]),
    ("fill-value-3GiB-in-dalif-metadata", "E", dataset(f"{DALIF}/junk", fill_only(3 * GIB)), [],
     ["budget", f"{DALIF}/junk"]),
    ("unknown-3GiB-field-in-a-node", "F", dataset("node/nodes/fc1/junk", fill_only(3 * GIB)), SIMULATE_F,
     ["'fc1'", "unexpected field 'junk'"]),
    ("deflate-bomb-512MiB-in-a-48-byte-chunk", "F",
     dataset("node/nodes/fc2/weight", deflate_bomb((2, 3), 512 << 20)), SIMULATE_F,
     ["node/nodes/fc2/weight", "decompression bomb"]),
    # Following a file out of itself
    ("external-storage-on-dev-zero", "F",
     dataset("node/nodes/fc1/weight", external("/dev/zero", (3 * GIB // 4,))), SIMULATE_F,
     ["node/nodes/fc1/weight", "external file ('/dev/zero')"]),
    ("external-storage-in-a-text-file", "F", dataset("node/nodes/fc1/weight", secret_file), SIMULATE_F,
     ["external file", "secret.txt"]),
    ("external-storage-on-a-fifo", "F", dataset("node/nodes/fc1/weight", fifo_storage), SIMULATE_F,
     ["external file", "pipe"]),
    ("external-link-node", "F", node_link(other_file), SIMULATE_F, ["node/nodes/fc1", "external link", "other.nir"]),
    ("external-link-to-a-fifo", "F", root_link(fifo_link), SIMULATE_F, ["external link", "pipe.h5"]),
    ("soft-link", "F", dataset("node/nodes/fc2/weight", link(h5py.SoftLink("/node/nodes/fc1/weight"))),
     SIMULATE_F, ["node/nodes/fc2/weight", "soft link"]),
    ("hard-link-alias", "F", dataset("node/nodes/fc2/bias", ALIAS), SIMULATE_F, ["reached by 2 links"]),
    ("group-cycle", "F", CYCLE, SIMULATE_F, ["reached by 2 links"]),
    ("virtual-dataset", "F", dataset("node/nodes/fc1/weight", virtual_weight), SIMULATE_F,
     ["node/nodes/fc1/weight", "virtual dataset"]),
    # Non-numeric, complex and odd storage
    ("complex-weights", "F", dataset("node/nodes/fc1/weight", data(np.full((3, 64), 1 + 2j, np.complex64))),
     SIMULATE_F, ["node/nodes/fc1/weight", "complex"]),
    ("compound-weights", "F",
     dataset("node/nodes/fc1/weight", data(np.zeros((3, 64), dtype=[("a", "f4"), ("b", "i4")]))),
     SIMULATE_F, ["neither numeric nor a string"]),
    ("lzf-filter", "F", dataset("node/nodes/fc1/weight", data(np.ones((3, 64), np.float32), compression="lzf")),
     SIMULATE_F, ["filter 32000", "deflate, shuffle and fletcher32 only"]),
    ("null-dataspace", "F", dataset("node/nodes/fc1/weight", data(h5py.Empty("f4"))), SIMULATE_F,
     ["null dataspace"]),
    ("groups-40-deep", "F", nested_groups(40), SIMULATE_F, ["nested more than 32 deep"]),
    # Unvalidated values in the metadata
    ("timesteps-1e9", "E", dataset(f"{DALIF}/timesteps", data(10**9)), [],
     ["1000000000 timesteps is more than 100000", "--max-timesteps"]),
    ("timesteps-zero", "E", dataset(f"{DALIF}/timesteps", data(0)), [], ["timesteps outside [1, "]),
    ("timesteps-minus-3", "E", dataset(f"{DALIF}/timesteps", data(-3)), [], ["timesteps outside [1, "]),
    ("timesteps-fractional", "E", dataset(f"{DALIF}/timesteps", data(2.5)), [], ["timesteps must be integers"]),
    ("timesteps-text", "E", dataset(f"{DALIF}/timesteps", data("many")), [], ["timesteps must be one integer"]),
    ("input-bits-minus-1", "E", dataset(f"{DALIF}/input_bits", data(-1)), [], ["input_bits outside [1, 16]"]),
    ("input-bits-62", "E", dataset(f"{DALIF}/input_bits", data(62)), [], ["input_bits outside [1, 16]"]),
    ("input-scale-zero", "E", dataset(f"{DALIF}/input_scale", data(0.0)), [],
     ["input_scale must be a positive finite number"]),
    ("input-scale-nan", "E", dataset(f"{DALIF}/input_scale", data(np.nan)), [],
     ["input_scale must be a positive finite number"]),
    ("weight-exp-1000", "E", dataset(f"{FC1}/projections/0/weight_exp", data(1000)), [],
     ["'fc1'", "weight_exp from input outside [-8, 7]"]),
    ("weight-exp-fractional", "E", dataset(f"{FC1}/projections/0/weight_exp", data(1.5)), [],
     ["weight_exp from input must be integers"]),
    ("bias-exp-fractional", "E", dataset(f"{FC1}/bias_exp", data(2.5)), [], ["bias_exp must be integers"]),
    ("format-version-fractional", "E", dataset(f"{DALIF}/format_version", data(1.5)), [],
     ["unsupported format", "1.5"]),
    ("uint64-weight-2^64-1", "E",
     dataset(f"{FC1}/projections/0/weight", data(np.full((128, 64), 2**64 - 1, np.uint64))), [],
     ["weight from input outside [-128, 127]", "18446744073709551615"]),
    ("uint64-bias-mant-2^64-1", "E", dataset(f"{FC1}/bias_mant", data(np.full(128, 2**64 - 1, np.uint64))), [],
     ["bias_mant outside [-4096, 4095]"]),
    ("readout-7", "E", dataset(f"{FC1}/readout", data(7)), [], ["readout outside [0, 1]"]),
    ("v-scale-nan", "E", dataset(f"{FC1}/v_scale", data(np.nan)), [], ["v_scale must be a positive finite"]),
    ("delay-fractional", "E", dataset(f"{FC1}/projections/0/delay", data(0.5)), [], ["delay from input must be"]),
    ("quantization-report-nested-100000-deep", "E",
     dataset(f"{DALIF}/quantization_report", data(nested_json(100_000))), [],
     ["quantization_report is not valid JSON"]),
    ("info-nested-100000-deep", "E", dataset(f"{DALIF}/info", data(nested_json(100_000))), [],
     ["info is not valid JSON"]),
    ("complex-metadata-weight", "E",
     dataset(f"{FC1}/projections/0/weight", data(np.ones((128, 64), np.complex128))), [], ["complex"]),
    # Careless arguments
    ("timesteps-argument-1e12", "F", None, ["--timesteps", str(10**12)],
     ["1000000000000 timesteps is more than 100000", "--max-timesteps"]),
    ("timesteps-argument-zero", "F", None, ["--timesteps", "0"], ["timesteps must be a positive integer"]),
    ("timesteps-argument-minus-3", "F", None, ["--timesteps", "-3"], ["timesteps must be a positive integer"]),
    ("input-scale-argument-nan", "F", None, ["--timesteps", "2", "--input-scale", "nan"],
     ["input scale must be a positive finite number"]),
    ("input-scale-argument-zero", "F", None, ["--timesteps", "2", "--input-scale", "0"],
     ["input scale must be a positive finite number"]),
    ("input-scale-argument-inf", "F", None, ["--timesteps", "2", "--input-scale", "inf"],
     ["input scale must be a positive finite number"]),
    ("timesteps-x-neurons-over-the-budget", "F", None, ["--timesteps", "100", "--max-bytes", "20000"],
     ["100 timesteps x 69 neurons", "budget of 20000 bytes", "--max-bytes"]),
    ("over-a-lowered-timestep-limit", "F", None, ["--timesteps", "50", "--max-timesteps", "10"],
     ["50 timesteps is more than 10"]),
    ("max-bytes-zero", "F", None, ["--timesteps", "2", "--max-bytes", "0"], ["--max-bytes must be at least 1"]),
]

# Files read by nir.read before: now never read, so they load (exit 0) in little memory
UNREAD = [
    ("fill-value-3GiB-in-node-metadata", dataset("node/nodes/fc1/metadata/junk", fill_only(3 * GIB))),
    ("fill-value-3GiB-in-another-namespace", dataset("node/metadata/other/junk", fill_only(3 * GIB))),
]


@pytest.fixture(scope="module")
def bases(tmp_path_factory, valid_checkpoint):
    tmp = tmp_path_factory.mktemp("bases")
    foreign = tmp / "foreign.nir"
    nir.write(str(foreign), digits_graph())
    exported = tmp / "exported.nir"
    assert main(["export", str(valid_checkpoint), "--out", str(exported)]) == 0
    return {"F": foreign, "E": exported}


@pytest.fixture(scope="module")
def capped_results(bases, tmp_path_factory):
    """Every case (and two special paths) in one capped interpreter."""
    tmp = tmp_path_factory.mktemp("hostile_nir")
    argvs, expected = [], []
    for name, base, edit, extra, fragments in CASES:
        path = build_case(tmp / name, bases[base], edit, "case.nir")
        argvs.append(["simulate", str(path), "--quiet", "--limit", "2", *extra])
        expected.append((name, fragments + ([str(path)] if edit is not None else [])))
    fifo = make_fifo(tmp / "model-fifo.nir")
    argvs.append(["simulate", str(fifo), "--quiet", "--timesteps", "2"])
    expected.append(("the-nir-file-is-a-fifo", ["model-fifo.nir", "FIFO, not a regular file"]))
    argvs.append(["simulate", "/dev/zero", "--quiet", "--timesteps", "2"])
    expected.append(("the-nir-file-is-dev-zero", ["/dev/zero", "device, not a regular file"]))
    for name, edit in UNREAD:
        path = build_case(tmp / name, bases["F"], edit, "case.nir")
        argvs.append(["simulate", str(path), "--quiet", "--limit", "2", "--timesteps", "2"])
        expected.append((name, None))
    results = run_capped(argvs)
    return dict(zip([n for n, _ in expected], zip(results, [f for _, f in expected])))


@pytest.mark.parametrize("name", [c[0] for c in CASES] + ["the-nir-file-is-a-fifo", "the-nir-file-is-dev-zero"])
def test_hostile_nir_is_one_line_exit_2_under_the_memory_cap(capped_results, name):
    result, fragments = capped_results[name]
    assert_one_line_exit_2(result, fragments)


@pytest.mark.parametrize("name", [n for n, _ in UNREAD])
def test_giants_where_nothing_is_read_load_without_reading_them(capped_results, name):
    result, _ = capped_results[name]
    assert result["code"] == 0, result
    assert "accuracy" not in result["stderr"]


def test_the_whole_corpus_stayed_small(capped_results):
    """Peak RSS of the interpreter that ran every case: no declared giant was read (a 3 GiB
    fill value, or the 512 MiB bomb, would show here even where the case then failed)."""
    peak = max(result["maxrss"] for result, _ in capped_results.values())
    assert peak < 768 << 20, f"peak RSS {peak / GIB:.2f} GiB"


def test_corpus_is_large_enough():
    assert len(CASES) >= 45


@pytest.mark.parametrize("name", ["fill-value-3GiB-weight", "external-storage-on-a-fifo"])
def test_a_real_process_exits_2_in_one_line(bases, tmp_path, name):
    """The driver calls ``dalif.cli.main``; here the console command itself, capped."""
    _, base, edit, extra, fragments = next(c for c in CASES if c[0] == name)
    path = build_case(tmp_path / name, bases[base], edit, "case.nir")
    proc = run_cli_capped(["simulate", str(path), "--quiet", "--limit", "2", *extra], timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(f in lines[0] for f in fragments), lines[0]


def test_read_nir_reads_only_what_it_uses(bases, tmp_path):
    """A 1 GiB raise of the budget still refuses a 3 GiB dataset the reader uses; the same size
    under per-node metadata is never read."""
    used = build_case(tmp_path / "used", bases["F"], dataset("node/nodes/fc1/weight", fill_only(3 * GIB)), "case.nir")
    with pytest.raises(NIRFormatError, match="budget of 2147483648 bytes"):
        read_nir(used, timesteps=2, limits=ReadLimits(max_bytes=2 * GIB))
    unused = build_case(tmp_path / "unused", bases["F"], dataset("node/nodes/fc1/metadata/junk", fill_only(3 * GIB)), "case.nir")
    model = read_nir(unused, timesteps=2)
    assert [p.name for p in model.graph.populations] == ["lif1", "lif2"]


def test_a_budget_big_enough_admits_the_exported_file(bases):
    model = read_nir(bases["E"], limits=ReadLimits(max_bytes=256 << 10))
    assert model.timesteps == 2 and model.info["checkpoint_sha256"]
    with pytest.raises(NIRFormatError, match="budget of 1000 bytes"):
        read_nir(bases["E"], limits=ReadLimits(max_bytes=1000))
