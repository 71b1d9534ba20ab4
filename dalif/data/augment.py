"""Training transforms for image batches, in torch, explicit and seeded.

:func:`load_dataset` never applies these: a training loop calls them on each batch,
with its own ``torch.Generator``, so a run is reproduced by its seed alone. They act
on (N, C, H, W) batches and on temporal batches (N, T, C, H, W), where one sample's
T frames get the same crop, flip and cutout.

Crop (zero padding), flip and cutout (zeros) only move values or set them to 0, so
their output is still an integer multiple of the data set's ``input_scale`` and can
be fed to the hardware exactly. Normalisation is different:

Normalisation is off for deployment. (x − mean) / std is not a multiple of
``input_scale``, so a model trained on normalised inputs would need the affine map
folded into its first layer. For the first convolution that fold is not exact: its
zero padding pads the *normalised* image, i.e. pads the raw image with the channel
mean, so the folded bias is right in the interior and wrong on the border pixels (a
per-neuron bias map would fix it; the exporter does not build one). We therefore keep
the exporter's contract simple — inputs are exact integers times ``input_scale`` —
and train deployable models on raw [0, 1] inputs: the batch norm right after the
first synapse re-centres and re-scales each feature map, which is what normalisation
buys in a conventional CNN. :func:`normalize` is here for float-only experiments
(accuracy comparisons with the literature), and must not be used for models that are
to be exported.

Statistics: per-channel mean and (population) standard deviation over the 50,000
training images, values in [0, 1]. Some code bases use std (0.2023, 0.1994, 0.2010)
for CIFAR-10; that is not the training set's per-channel std, and a model must be
evaluated with the statistics it was trained with.
"""

from __future__ import annotations

import torch
from torch import Tensor

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


def normalize(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """(x − mean[c]) / std[c] per channel c (the channel axis is -3). Breaks exact
    integer inputs: for float experiments only (module docstring)."""
    if len(mean) != x.shape[-3] or len(std) != x.shape[-3]:
        raise ValueError(f"{len(mean)} means and {len(std)} stds for {x.shape[-3]} channels")
    shape = (len(mean), 1, 1)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).reshape(shape)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).reshape(shape)
    return (x - m) / s


def random_crop(x: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Pad H and W with ``padding`` zeros on each side, then crop back to H×W at a
    uniformly drawn offset in [0, 2·padding] per sample."""
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    flat, restore = _as_images(x)
    n, _, h, w = flat.shape
    padded = torch.nn.functional.pad(flat, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(flat.shape[1], device=x.device)[None, :, None, None]
    return restore(padded[batch, channel, rows, cols])


def horizontal_flip(x: Tensor, generator: torch.Generator, p: float = 0.5) -> Tensor:
    """Mirror each sample left-right with probability ``p``."""
    flat, restore = _as_images(x)
    flip = torch.rand(flat.shape[0], generator=generator).to(x.device) < p
    return restore(torch.where(flip[:, None, None, None], flat.flip(-1), flat))


def cutout(x: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """Zero a ``size``×``size`` square per sample, centred on a uniformly drawn pixel and
    clipped at the border (DeVries & Taylor 2017, arXiv 1708.04552: 16 for CIFAR-10,
    8 for CIFAR-100)."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    flat, restore = _as_images(x)
    n, _, h, w = flat.shape
    cy = torch.randint(0, h, (n,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (n,), generator=generator).to(x.device)
    top, left = cy - size // 2, cx - size // 2
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_rows = (ys >= top[:, None]) & (ys < top[:, None] + size)  # (N, H)
    in_cols = (xs >= left[:, None]) & (xs < left[:, None] + size)  # (N, W)
    hole = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    return restore(flat.masked_fill(hole, 0))


def augment_batch(x: Tensor, generator: torch.Generator, crop_padding: int = 4,
                  flip: bool = True, cutout_size: int | None = None) -> Tensor:
    """The usual CIFAR training transforms in order: random crop (4-pixel padding),
    horizontal flip, then cutout when ``cutout_size`` is given. No normalisation."""
    if crop_padding:
        x = random_crop(x, crop_padding, generator)
    if flip:
        x = horizontal_flip(x, generator)
    if cutout_size:
        x = cutout(x, cutout_size, generator)
    return x


def _as_images(x: Tensor):
    """(N, C, H, W) as is; (N, T, C, H, W) as (N, T·C, H, W), so a sample's frames move
    together; with the function that restores the shape."""
    if x.ndim == 4:
        return x, lambda y: y
    if x.ndim == 5:
        return x.flatten(1, 2), lambda y: y.unflatten(1, x.shape[1:3])
    raise ValueError(f"expected a batch (N, C, H, W) or (N, T, C, H, W), got shape {tuple(x.shape)}")
