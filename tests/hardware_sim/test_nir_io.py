"""Writer/reader edge cases of hardware_sim.ir.nir that exported models do not reach."""

import re

import nir
import numpy as np
import pytest

from hardware_sim.ir.graph import INPUT, GraphError, IntPopulation, Projection, QGraph
from hardware_sim.ir.nir import read_nir, write_nir


def _dense_graph(dv: np.ndarray) -> QGraph:
    pop = IntPopulation(
        name="fc", shape=(3,), projections=[Projection(INPUT, "dense", np.array([[5, 0], [0, 7], [3, 3]]), (2,),
                                                       weight_exp=2)],
        dv=dv, du=np.full(3, 4095), vth=np.array([10, 20, 30]), bias_mant=np.array([1, -2, 0]), bias_exp=1,
        v_scale=1e-3,
    )
    return QGraph(input_shape=(2,), populations=[pop], output="fc")


def test_neurons_without_leak_round_trip_with_and_without_metadata(tmp_path):
    graph = _dense_graph(np.array([0, 1024, 0]))
    path = tmp_path / "m.nir"
    write_nir(graph, path, timesteps=4)
    lif = nir.read(str(path)).nodes["fc"]
    assert np.all(np.isfinite(lif.tau)) and np.all(np.isfinite(lif.r))
    np.testing.assert_array_equal(read_nir(path).graph.populations[0].dv, [0, 1024, 0])
    g = nir.read(str(path))
    g.metadata = {}
    nir.write(str(tmp_path / "f.nir"), g)
    foreign = read_nir(tmp_path / "f.nir", timesteps=4).graph.populations[0]
    np.testing.assert_array_equal(foreign.dv, [0, 1024, 0])  # 4096/τ = 0.25 quantizes to 0


def test_the_reset_mode_round_trips_and_a_zero_reset_file_is_unchanged(tmp_path):
    """A subtracting population keeps its mode through write/read (and a re-write); a zero-reset
    model's file carries no reset key at all, so files written before the mode existed read the same."""
    zero = _dense_graph(np.array([0, 1024, 0]))
    write_nir(zero, tmp_path / "z.nir", timesteps=4)
    assert "reset" not in nir.read(str(tmp_path / "z.nir")).metadata["dalif"]["populations"]["fc"]
    assert read_nir(tmp_path / "z.nir").graph.populations[0].reset == "zero"
    subtract = QGraph(input_shape=(2,), output="fc",
                      populations=[IntPopulation(**{**vars(zero.populations[0]), "reset": "subtract"})])
    write_nir(subtract, tmp_path / "s.nir", timesteps=4)
    again = read_nir(tmp_path / "s.nir")
    write_nir(again.graph, tmp_path / "s2.nir", timesteps=4)
    assert read_nir(tmp_path / "s2.nir").graph.populations[0].reset == "subtract"
    with pytest.raises(GraphError, match="reset must be one of"):
        IntPopulation(**{**vars(zero.populations[0]), "reset": "halve"})
    with pytest.raises(GraphError, match="readout never spikes"):
        IntPopulation(**{**vars(zero.populations[0]), "readout": True, "reset": "subtract"})


def test_per_neuron_conv_biases_are_refused_not_averaged(tmp_path):
    shape = (2, 3, 3)
    pop = IntPopulation(
        name="c", shape=shape,
        projections=[Projection(INPUT, "conv", np.ones((2, 1, 3, 3), dtype=int), (1, 3, 3), padding=1)],
        dv=np.full(shape, 100), du=np.full(shape, 4095), vth=np.full(shape, 5),
        bias_mant=np.arange(18).reshape(shape), bias_exp=0, v_scale=1.0,
    )
    with pytest.raises(GraphError, match="differ within a conv channel"):
        write_nir(QGraph(input_shape=(1, 3, 3), populations=[pop], output="c"), tmp_path / "c.nir", 2)
    assert not (tmp_path / "c.nir").exists()


def test_uniform_foreign_gain_above_one_folds_into_the_weights(tmp_path):
    """r/τ = 3 (a gain no 12-bit input gain can hold) becomes 3× the weights, nothing clipped."""
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2])),
               "w": nir.Affine(weight=np.array([[0.5, -0.25], [0.1, 0.2]], np.float32),
                               bias=np.zeros(2, np.float32)),
               "lif": nir.LIF(tau=np.full(2, 2.0), r=np.full(2, 6.0), v_leak=np.zeros(2),
                              v_threshold=np.ones(2), v_reset=np.zeros(2)),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    nir.write(str(tmp_path / "g.nir"), g)
    pop = read_nir(tmp_path / "g.nir", timesteps=4).graph.populations[0]
    assert pop.gain is None
    assert sum(read_nir(tmp_path / "g.nir", timesteps=4).graph.quantization_report["lif"].values()) == 0
    # effective float weight = W_int · v_scale · 2^(e+6) / input_scale must be 3 × the file's
    w = pop.projections[0].weight * pop.v_scale * 2.0 ** (pop.projections[0].weight_exp + 6) * 255
    half_lsb = 0.5 * 3 * 0.5 / 127  # int8 rounding of weights whose largest is 3 × 0.5
    np.testing.assert_allclose(w, 3 * np.array([[0.5, -0.25], [0.1, 0.2]]), rtol=0, atol=half_lsb + 1e-12)


def test_reader_reads_the_dalif_namespace_only_and_skips_node_metadata(tmp_path):
    """What nobody uses is never read: per-node metadata and other metadata namespaces."""
    import h5py

    path = tmp_path / "m.nir"
    write_nir(_dense_graph(np.array([0, 1024, 7])), path, timesteps=4, info={"note": "x"})
    with h5py.File(path, "r+") as f:
        f.create_dataset("node/metadata/other/huge", shape=(1 << 40,), dtype="f8")  # 8 TiB, never written
        f.create_dataset("node/nodes/fc/metadata/huge", shape=(1 << 40,), dtype="f8")
    model = read_nir(path)
    assert set(model.nir_graph.metadata) == {"dalif"} and model.nir_graph.nodes["fc"].metadata == {}
    np.testing.assert_array_equal(model.graph.populations[0].dv, [0, 1024, 7])
    assert model.info == {"note": "x"} and model.timesteps == 4


def test_read_nir_info_reads_the_producers_info(tmp_path):
    from hardware_sim.ir.nir import read_nir_info

    path = tmp_path / "m.nir"
    write_nir(_dense_graph(np.array([0, 1, 2])), path, timesteps=4, info={"checkpoint_sha256": "ab" * 32})
    assert read_nir_info(path) == {"checkpoint_sha256": "ab" * 32}
    g = nir.read(str(path))
    g.metadata = {}
    nir.write(str(tmp_path / "f.nir"), g)
    assert read_nir_info(tmp_path / "f.nir") == {}


def test_integer_metadata_is_checked_in_its_stored_dtype(tmp_path):
    """A uint64 2^64 − 1 is out of range, not −1; 3.0 is an integer, 2.5 is not (never truncated)."""
    import h5py

    from hardware_sim.ir.nir import NIRFormatError

    path = tmp_path / "m.nir"
    write_nir(_dense_graph(np.array([0, 1, 2])), path, timesteps=4)
    for value, fragment in ((np.uint64(2**64 - 1), "outside [0, 7] (found 18446744073709551615"),
                            (2.5, "bias_exp must be integers"), (np.float64(3.0), None)):
        with h5py.File(path, "r+") as f:
            del f["node/metadata/dalif/populations/fc/bias_exp"]
            f["node/metadata/dalif/populations/fc/bias_exp"] = value
        if fragment is None:
            assert read_nir(path).graph.populations[0].bias_exp == 3
        else:
            with pytest.raises(NIRFormatError, match=re.escape(fragment)):
                read_nir(path)


def test_writer_failure_is_one_file_error_and_leaves_nothing(tmp_path, monkeypatch):
    """The file is built in memory: a failing write (here ENOSPC) is one FileError, no temp."""
    import errno

    from hardware_sim import files

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(files.FileError, match="No space left on device"):
        write_nir(_dense_graph(np.array([0, 1, 2])), tmp_path / "m.nir", timesteps=4)
    assert list(tmp_path.iterdir()) == []
