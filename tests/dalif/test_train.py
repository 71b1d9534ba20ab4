"""Training: it learns, it is reproducible, and evaluation counts correctly."""

import pytest
import torch

from dalif.data import load_dataset
from dalif.models import ModelConfig, build_model
from dalif.train import evaluate, train

TINY = ModelConfig(model="mlp", hidden=[32], timesteps=2, granularity="neuron")


@pytest.fixture(scope="module")
def digits():
    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    return x_train, y_train, x_test, y_test


def _run(digits, seed=0, epochs=2, config=TINY):
    x_train, y_train, x_test, y_test = digits
    return train(
        config, x_train[:300], y_train[:300], epochs=epochs, batch_size=32,
        seed=seed, progress=False, x_val=x_test[:100], y_val=y_test[:100],
    )


def test_training_decreases_the_loss_and_records_history(digits):
    x_train, y_train, _, _ = digits
    model, history = _run(digits)
    assert [record["epoch"] for record in history] == [1, 2]
    assert set(history[0]) == {"epoch", "loss", "train_acc", "val_acc", "lr"}
    assert history[1]["loss"] < history[0]["loss"]
    assert 0 <= history[1]["val_acc"] <= 1
    assert history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine schedule ran out
    # Independently of the history: the trained model beats a fresh one on its data.
    fresh = build_model(TINY).eval()
    with torch.no_grad():
        fresh_loss = torch.nn.functional.cross_entropy(fresh(x_train[:300]), y_train[:300])
        trained_loss = torch.nn.functional.cross_entropy(model(x_train[:300]), y_train[:300])
    assert trained_loss < fresh_loss
    assert not model.training


def test_training_is_deterministic_for_a_seed(digits):
    first, first_history = _run(digits, seed=1)
    second, second_history = _run(digits, seed=1)
    other, _ = _run(digits, seed=2)
    a, b, c = first.state_dict(), second.state_dict(), other.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first_history == second_history
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the seed does matter


def test_training_leaves_the_global_determinism_flag_as_it_was(digits):
    before = torch.are_deterministic_algorithms_enabled()
    _run(digits, epochs=1)
    assert torch.are_deterministic_algorithms_enabled() == before


def test_evaluate_counts_argmax_hits_and_keeps_the_mode(digits):
    _, _, x_test, y_test = digits
    model = build_model(TINY)
    model.train()
    with torch.no_grad():
        model.eval()
        predictions = model(x_test).argmax(1)
        model.train()
    expected = sum(int(p == y) for p, y in zip(predictions.tolist(), y_test.tolist())) / 360
    assert evaluate(model, x_test, y_test, batch_size=50) == pytest.approx(expected)
    assert model.training
    assert evaluate(model, x_test[:4], predictions[:4]) == 1.0


def test_bad_arguments_are_rejected(digits):
    x_train, y_train, _, _ = digits
    with pytest.raises(ValueError, match="labels"):
        train(TINY, x_train[:10], y_train[:9], epochs=1, progress=False)
    with pytest.raises(ValueError, match="x_val"):
        train(TINY, x_train[:10], y_train[:10], epochs=1, progress=False, x_val=x_train)


def test_convnet_learns_digits(digits):
    """A short version of the reference run (30 epochs, ~98.5 %): enough to catch regressions."""
    x_train, y_train, x_test, y_test = digits
    config = ModelConfig(model="convnet", timesteps=4, granularity="neuron")
    model, _ = train(config, x_train, y_train, epochs=10, progress=False)
    assert evaluate(model, x_test, y_test) >= 0.95
    alpha = model.layers[0].neuron.alpha()
    assert alpha.unique().numel() > 0.9 * alpha.numel()  # per-neuron decays stay distinct
    assert alpha.std() > 0.01
