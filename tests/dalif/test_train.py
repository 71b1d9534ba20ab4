"""Training: it learns, it is reproducible, it resumes, and evaluation counts correctly."""

import math
import shutil

import pytest
import torch
import torch.nn.functional as F

from dalif.checkpoint import load_checkpoint, read_checkpoint
from dalif.config import TrainConfig
from dalif.data import load_dataset
from dalif.models import ModelConfig, build_model
from dalif.train import TrainingError, _loss, _Schedule, evaluate, train

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
    alpha = model.layer("conv1").neuron.alpha()
    assert alpha.unique().numel() > 0.9 * alpha.numel()  # per-neuron decays stay distinct
    assert alpha.std() > 0.01


def test_tet_loss_is_the_papers_formula():
    """(1 − λ)·(1/T)·Σ_t CE(O[t], y) + λ·mean((O − φ)²), written out by hand."""
    gen = torch.Generator().manual_seed(0)
    readout = torch.randn(4, 5, 3, generator=gen)
    y = torch.tensor([0, 2, 1, 1, 0])
    options = TrainConfig(loss="tet", tet_lambda=0.25, tet_target=0.5)
    per_step = sum(F.cross_entropy(readout[t], y) for t in range(4)) / 4
    mse = ((readout - 0.5) ** 2).mean()
    torch.testing.assert_close(_loss(readout, y, options), 0.75 * per_step + 0.25 * mse)
    torch.testing.assert_close(_loss(readout, y, TrainConfig()), F.cross_entropy(readout.mean(0), y))


def test_schedule_warms_up_then_follows_the_cosine_down_to_zero():
    schedule = _Schedule(TrainConfig(epochs=3, lr=0.1, warmup_epochs=1), steps_per_epoch=4)
    warmup = [schedule.lr(k) for k in range(4)]
    assert warmup == pytest.approx([0.025, 0.05, 0.075, 0.1])
    cosine = [schedule.lr(k) for k in range(4, 13)]
    assert cosine == pytest.approx([0.05 * (1 + math.cos(math.pi * k / 8)) for k in range(9)])
    assert cosine[-1] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_tet_and_both_optimizers_train(digits, optimizer):
    x_train, y_train, _, _ = digits
    model, history = _run(digits, epochs=2, config=TINY) if optimizer == "adamw" else train(
        TINY, x_train[:300], y_train[:300], epochs=2, batch_size=32, lr=0.05, optimizer="sgd",
        weight_decay=5e-4, loss="tet", warmup_epochs=1, progress=False)
    assert history[1]["loss"] < history[0]["loss"]


def _resumable_run(digits, tmp_path, monkeypatch, **options):
    """A 3-epoch run writing its checkpoint every epoch, with the epoch-1 file kept aside."""
    import dalif.train as trainer

    save = trainer.save_checkpoint
    kept = tmp_path / "epoch1.pt"

    def save_and_keep(path, model, config, metrics, training=None):
        save(path, model, config, metrics, training)
        if training is not None and training["epoch"] == 1:
            shutil.copy(path, kept)

    monkeypatch.setattr(trainer, "save_checkpoint", save_and_keep)
    x_train, y_train, x_test, y_test = digits
    model, history = train(TINY, x_train[:200], y_train[:200], epochs=3, batch_size=32, seed=4,
                           progress=False, x_val=x_test[:60], y_val=y_test[:60],
                           checkpoint=tmp_path / "last.pt", best_checkpoint=tmp_path / "best.pt",
                           **options)
    monkeypatch.setattr(trainer, "save_checkpoint", save)
    return model, history, kept


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_a_resumed_run_ends_where_the_whole_run_ends(digits, tmp_path, monkeypatch, optimizer):
    whole, history, kept = _resumable_run(digits, tmp_path, monkeypatch, optimizer=optimizer,
                                          warmup_epochs=1)
    assert read_checkpoint(kept).training["epoch"] == 1
    x_train, y_train, x_test, y_test = digits
    resumed, resumed_history = train(TINY, x_train[:200], y_train[:200], epochs=3, batch_size=32,
                                     seed=4, progress=False, x_val=x_test[:60], y_val=y_test[:60],
                                     optimizer=optimizer, warmup_epochs=1, resume=kept)
    a, b = whole.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed_history == history
    # the last checkpoint holds the final model; the best one the epoch of highest val_acc
    last, _, metrics = load_checkpoint(tmp_path / "last.pt")
    assert all(torch.equal(last.state_dict()[k], a[k]) for k in a)
    assert metrics["epochs"] == 3 and metrics["test_accuracy"] == history[-1]["val_acc"]
    best_epoch = max(history, key=lambda r: r["val_acc"])["epoch"]
    _, _, best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_epoch"] == best_epoch and best["test_accuracy"] == history[best_epoch - 1]["val_acc"]
    with pytest.raises(TrainingError, match="lr"):
        train(TINY, x_train[:200], y_train[:200], epochs=3, batch_size=32, seed=4, lr=0.1,
              progress=False, optimizer=optimizer, warmup_epochs=1, resume=kept)


def test_sequences_train_one_row_per_step():
    """Sequential digits (N, 8, 1, 1, 8): the mlp learns from rows it sees one at a time."""
    x, y = load_dataset("seq_digits", "train")
    config = ModelConfig(model="mlp", input_shape=(1, 1, 8), hidden=[64], timesteps=8)
    model, history = train(config, x[:600], y[:600], epochs=3, batch_size=32, progress=False)
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["train_acc"] > 0.3  # well above chance: it remembers earlier rows


@pytest.mark.parametrize("options, message", [
    (dict(batch_size=0), "--batch-size must be at least 1"),
    (dict(lr=float("inf")), "--lr: expected a finite number"),
    (dict(lr=-1.0), "--lr must be a finite number > 0"),
    (dict(epochs=0), "--epochs must be at least 1"),
    (dict(optimizer="lamb"), "--optimizer: unknown value 'lamb'"),
    (dict(warmup_epochs=1), r"--warmup-epochs must lie in \[0, --epochs\)"),
    (dict(device="cuda"), "CUDA"),
])
def test_training_options_are_checked_where_they_enter(digits, options, message):
    x_train, y_train, _, _ = digits
    if options.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    arguments = {"epochs": 1, **options}
    with pytest.raises(TrainingError, match=message):
        train(TINY, x_train[:10], y_train[:10], progress=False, **arguments)


def test_a_diverging_run_is_stopped_and_saves_nothing(digits, tmp_path):
    x_train, y_train, _, _ = digits
    with pytest.raises(TrainingError, match="diverged") as info:
        train(TINY, x_train, y_train, epochs=1, lr=1e30, progress=False,
              checkpoint=tmp_path / "m.pt")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "m.pt").exists()


def test_augmentation_is_seeded_and_reaches_the_batches(digits, monkeypatch):
    """--augment/--cutout: the same seed gives the same weights; the batches the model sees
    are the crop/flip/cutout of the data (checked on what the forward pass receives)."""
    import dalif.train as train_module

    x, y = digits[0][:128], digits[1][:128]
    seen = []
    real = train_module.augment_batch

    def spy(batch, generator, **kwargs):
        out = real(batch, generator, **kwargs)
        seen.append((batch, out, kwargs))
        return out

    monkeypatch.setattr(train_module, "augment_batch", spy)
    a, _ = train(TINY, x, y, epochs=1, batch_size=64, progress=False, augment=True, cutout=2)
    assert len(seen) == 2 and seen[0][2] == {"crop_padding": 4, "flip": True, "cutout_size": 2}
    assert not torch.equal(seen[0][0], seen[0][1])  # the batch was changed
    b, _ = train(TINY, x, y, epochs=1, batch_size=64, progress=False, augment=True, cutout=2)
    plain, _ = train(TINY, x, y, epochs=1, batch_size=64, progress=False)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert any(not torch.equal(v, plain.state_dict()[k]) for k, v in a.state_dict().items())
