"""The DA-LIF step, the module around it and the surrogate gradient, against hand-worked values."""

import math

import pytest
import torch

from dalif.neuron import DALIF, DALIFParameters, DALIFState, dalif_step
from dalif.surrogate import spike_fn


def test_dalif_step_matches_hand_worked_three_steps():
    # Two neurons, all numbers exact in binary floating point.
    # Neuron 0: α = 0.5, β = 0.5, X = 1.0, 1.5, 0.5
    #   t0: V = 0.5·0 + 0.5·1.0 = 0.5 → no spike, H = 0.5
    #   t1: V = 0.5·0.5 + 0.5·1.5 = 1.0 = θ → spike (Θ(0) = 1), H = 0
    #   t2: V = 0.5·0 + 0.5·0.5 = 0.25 → no spike, H = 0.25
    # Neuron 1: α = 1.0, β = 0.25, X = 3.0, -1.0, 2.0
    #   t0: V = 3.0 → spike, H = 0
    #   t1: V = 0 − 1.0 = −1.0 → no spike, H = −1.0
    #   t2: V = 0.25·(−1.0) + 2.0 = 1.75 → spike, H = 0
    params = DALIFParameters(
        alpha=torch.tensor([0.5, 1.0]), beta=torch.tensor([0.5, 0.25]), threshold=1.0
    )
    inputs = torch.tensor([[1.0, 3.0], [1.5, -1.0], [0.5, 2.0]]).unsqueeze(1)  # (T, B=1, 2)
    expected_spikes = [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    expected_h = [[0.5, 0.0], [0.0, -1.0], [0.25, 0.0]]

    state = DALIFState(h=torch.zeros(1, 2))
    for t in range(3):
        spikes, state = dalif_step(inputs[t], state, params)
        assert spikes.tolist() == [expected_spikes[t]]
        assert state.h.tolist() == [expected_h[t]]


def test_dalif_step_threshold_is_a_parameter():
    params = DALIFParameters(alpha=torch.tensor(1.0), beta=torch.tensor(0.5), threshold=2.0)
    spikes, state = dalif_step(torch.tensor([1.9, 2.0]), DALIFState(torch.zeros(2)), params)
    assert spikes.tolist() == [0.0, 1.0]
    assert state.h.tolist() == [pytest.approx(1.9), 0.0]


def _explicit_loop(x_seq, alpha, beta, threshold):
    """The DA-LIF equations written out without the library's step function."""
    h = torch.zeros_like(x_seq[0])
    out = []
    for x in x_seq:
        v = beta * h + alpha * x
        s = (v >= threshold).float()
        h = v * (1 - s)
        out.append(s)
    return torch.stack(out)


@pytest.mark.parametrize("granularity", ["layer", "channel", "neuron"])
@pytest.mark.parametrize("decay_fn", ["sigmoid", "tanh"])
def test_module_matches_explicit_loop(granularity, decay_fn):
    shape = (3, 4, 5)
    neuron = DALIF(shape, decay_fn=decay_fn, granularity=granularity, threshold=0.8)
    if decay_fn == "sigmoid":
        alpha, beta = torch.sigmoid(neuron.a), torch.sigmoid(neuron.b)
    else:
        alpha, beta = torch.tanh(neuron.a.abs()), torch.tanh(neuron.b.abs())
    x_seq = torch.randn(6, 2, *shape, generator=torch.Generator().manual_seed(1)) * 1.5
    expected = _explicit_loop(x_seq, alpha.detach(), beta.detach(), 0.8)
    spikes = neuron(x_seq)
    assert spikes.shape == (6, 2, *shape)
    assert torch.equal(spikes, expected)
    assert 0 < spikes.mean() < 1  # the comparison exercised both outcomes
    assert torch.equal(neuron(x_seq), spikes)  # no state survives between calls


def test_parameter_shapes_per_granularity():
    shape = (4, 3, 3)
    assert DALIF(shape, granularity="layer").a.shape == ()
    assert DALIF(shape, granularity="channel").a.shape == (4, 1, 1)
    assert DALIF(shape, granularity="neuron").a.shape == shape
    assert DALIF((7,), granularity="channel").b.shape == (7,)


def test_neuron_granularity_gives_full_shape_distinct_decays():
    shape = (2, 3, 3)
    neuron = DALIF(shape, granularity="neuron", alpha_init=0.9, beta_init=0.5)
    alpha, beta = neuron.alpha(), neuron.beta()
    assert alpha.shape == shape and beta.shape == shape
    assert alpha.dtype == torch.float32
    assert alpha.unique().numel() == alpha.numel()
    assert (alpha - 0.9).abs().max() <= 0.05 + 1e-6
    assert (beta - 0.5).abs().max() <= 0.05 + 1e-6


def test_channel_granularity_is_constant_within_a_channel():
    neuron = DALIF((3, 4, 4), granularity="channel")
    alpha = neuron.alpha()
    assert alpha.shape == (3, 4, 4)
    per_channel = alpha[:, 0, 0]
    assert torch.equal(alpha, per_channel[:, None, None].expand(3, 4, 4))
    assert per_channel.unique().numel() == 3


def test_layer_granularity_starts_at_init_values():
    neuron = DALIF((5,), granularity="layer", alpha_init=0.7, beta_init=0.2)
    assert torch.allclose(neuron.alpha(), torch.full((5,), 0.7))
    assert torch.allclose(neuron.beta(), torch.full((5,), 0.2))


def test_tanh_decay_stays_inside_open_interval():
    neuron = DALIF((3,), decay_fn="tanh", granularity="neuron")
    with torch.no_grad():
        neuron.a.copy_(torch.tensor([0.0, -0.5, 50.0]))
    alpha = neuron.alpha().tolist()
    assert alpha[0] == pytest.approx(1e-4)
    assert alpha[1] == pytest.approx(math.tanh(0.5))
    assert alpha[2] == pytest.approx(1 - 1e-4)


def test_lif_has_unit_alpha_fixed_beta_and_nothing_to_learn():
    neuron = DALIF((2, 3, 3), kind="lif", lif_beta=0.75, granularity="neuron")
    assert list(neuron.parameters()) == []
    assert torch.equal(neuron.alpha(), torch.ones(2, 3, 3))
    assert torch.equal(neuron.beta(), torch.full((2, 3, 3), 0.75))
    x_seq = torch.rand(4, 2, 2, 3, 3) * 2
    assert torch.equal(neuron(x_seq), _explicit_loop(x_seq, 1.0, 0.75, 1.0))


def test_gradient_reaches_the_decays():
    neuron = DALIF((8,), granularity="neuron")
    x_seq = torch.linspace(0.2, 1.8, 8).expand(5, 3, 8)
    neuron(x_seq).sum().backward()
    assert neuron.a.grad is not None and neuron.a.grad.abs().sum() > 0
    assert neuron.b.grad is not None and neuron.b.grad.abs().sum() > 0


def test_wrong_input_shape_is_rejected():
    with pytest.raises(ValueError, match="expects input"):
        DALIF((4,))(torch.zeros(2, 3, 5))


@pytest.mark.parametrize(
    "option", [{"kind": "alif"}, {"decay_fn": "relu"}, {"granularity": "synapse"}]
)
def test_unknown_options_are_rejected(option):
    with pytest.raises(ValueError, match="unknown"):
        DALIF((4,), **option)


# --- surrogate gradient -------------------------------------------------------------

POINTS = [-1.0, -0.2, 0.0, 0.3, 2.0]


def _analytic(kind, x, k):
    if kind == "tanh":
        return k / 2 * (1 - math.tanh(k * x) ** 2)
    if kind == "sigmoid":
        s = 1 / (1 + math.exp(-k * x))
        return k * s * (1 - s)
    return k / 2 / (1 + (math.pi / 2 * k * x) ** 2)


def _smooth_step(kind, x, k):
    if kind == "tanh":
        return (1 + math.tanh(k * x)) / 2
    if kind == "sigmoid":
        return 1 / (1 + math.exp(-k * x))
    return 0.5 + math.atan(math.pi / 2 * k * x) / math.pi


@pytest.mark.parametrize("kind", ["tanh", "sigmoid", "atan"])
@pytest.mark.parametrize("k", [3.0, 5.0])
def test_surrogate_gradient_is_the_smooth_steps_derivative(kind, k):
    x = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    spikes = spike_fn(x, kind, k)
    assert spikes.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]  # exact Θ, with Θ(0) = 1
    spikes.sum().backward()
    eps = 1e-6
    for point, grad in zip(POINTS, x.grad.tolist()):
        assert grad == pytest.approx(_analytic(kind, point, k), rel=1e-9)
        numeric = (_smooth_step(kind, point + eps, k) - _smooth_step(kind, point - eps, k)) / (
            2 * eps
        )
        assert grad == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_default_surrogate_is_tanh_with_steepness_3_peaking_at_k_over_2():
    x = torch.zeros(1, requires_grad=True)
    spike_fn(x).backward()
    assert x.grad.item() == pytest.approx(1.5)


def test_unknown_surrogate_is_rejected():
    with pytest.raises(ValueError, match="unknown surrogate"):
        spike_fn(torch.zeros(2), kind="triangle")
