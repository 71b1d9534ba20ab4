"""Training transforms: each against a per-sample loop written out by hand, and seeded."""

import pytest
import torch

from dalif.data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    augment_batch,
    cutout,
    horizontal_flip,
    normalize,
    random_crop,
)


def _batch(n=6, c=3, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g).float() / 255


def test_random_crop_is_a_shifted_window_of_the_zero_padded_image():
    x = _batch()
    out = random_crop(x, 2, torch.Generator().manual_seed(7))
    # the offsets the function drew, drawn again in the same order
    g = torch.Generator().manual_seed(7)
    dy, dx = torch.randint(0, 5, (6,), generator=g), torch.randint(0, 5, (6,), generator=g)
    for n in range(6):
        padded = torch.zeros(3, 12, 12)
        padded[:, 2:10, 2:10] = x[n]
        assert torch.equal(out[n], padded[:, dy[n]:dy[n] + 8, dx[n]:dx[n] + 8])
    assert len({(int(a), int(b)) for a, b in zip(dy, dx)}) > 1
    assert torch.equal(random_crop(x, 0, torch.Generator()), x)


def test_horizontal_flip_mirrors_the_drawn_samples():
    x = _batch(n=32)
    out = horizontal_flip(x, torch.Generator().manual_seed(3))
    flipped = torch.rand(32, generator=torch.Generator().manual_seed(3)) < 0.5
    for n in range(32):
        expected = x[n].flip(-1) if flipped[n] else x[n]
        assert torch.equal(out[n], expected)
    assert 0 < int(flipped.sum()) < 32


def test_cutout_zeroes_one_clipped_square_per_sample():
    x = _batch(n=16) + 1  # no zeros before cutout
    out = cutout(x, 4, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    cy, cx = torch.randint(0, 8, (16,), generator=g), torch.randint(0, 8, (16,), generator=g)
    for n in range(16):
        expected = x[n].clone()
        for row in range(8):
            for col in range(8):
                if cy[n] - 2 <= row < cy[n] + 2 and cx[n] - 2 <= col < cx[n] + 2:
                    expected[:, row, col] = 0
        assert torch.equal(out[n], expected)


def test_transforms_keep_inputs_on_the_integer_grid_and_normalisation_does_not():
    x = _batch(n=20)
    out = augment_batch(x, torch.Generator().manual_seed(0), cutout_size=4)
    assert torch.equal(out * 255, (out * 255).round())
    assert out.shape == x.shape and not torch.equal(out, x)
    normed = normalize(x, CIFAR10_MEAN, CIFAR10_STD)
    assert torch.allclose(normed[:, 1], (x[:, 1] - 0.4822) / 0.2435)
    assert not torch.equal(normed * 255, (normed * 255).round())
    with pytest.raises(ValueError, match="3 means"):
        normalize(x[:, :2], CIFAR10_MEAN, CIFAR10_STD)


def test_same_seed_same_batch_and_frames_of_a_sample_move_together():
    x = _batch(n=8)
    a = augment_batch(x, torch.Generator().manual_seed(11), cutout_size=3)
    b = augment_batch(x, torch.Generator().manual_seed(11), cutout_size=3)
    c = augment_batch(x, torch.Generator().manual_seed(12), cutout_size=3)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # temporal batches (N, T, C, H, W): one draw per sample, applied to all T frames
    frames = x[:, None].expand(8, 4, 3, 8, 8).contiguous()
    out = augment_batch(frames, torch.Generator().manual_seed(11), cutout_size=3)
    assert out.shape == frames.shape
    for t in range(4):
        assert torch.equal(out[:, t], a)
    with pytest.raises(ValueError, match="expected a batch"):
        random_crop(x[0], 4, torch.Generator())
