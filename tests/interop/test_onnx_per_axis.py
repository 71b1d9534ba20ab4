"""The ONNX step model on convolutions whose stride and padding differ per axis (Conv's
``strides`` (H, W), ``pads`` (H, W begins, then ends)): every spike, readout voltage and
synaptic event equal to the spec-literal loop of DESIGN §3."""

from __future__ import annotations

import onnx

from deploy.onnx.backend import build_step_model
from tests.hardware_sim import per_axis

from .test_onnx_exact import assert_equals_spec_loop


def test_per_axis_convs_equal_the_spec_loop():
    graph = per_axis.graph()
    convs = [n for n in build_step_model(graph, 4).graph.node if n.op_type == "Conv"]
    attrs = {tuple(onnx.helper.get_attribute_value(a)) for n in convs for a in n.attribute
             if a.name == "strides"}
    assert {(2, 1), (2, 4)} <= attrs  # c1 and c3; c2 with its pool 2 folded in
    assert_equals_spec_loop(graph, per_axis.inputs(graph, 3, 4))
