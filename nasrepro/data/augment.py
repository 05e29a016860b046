"""Batched CIFAR augmentation on device tensors (no per-sample Python loop).

All functions take a whole batch and an explicit torch.Generator on the batch's device, so
a seeded run is reproducible. Order used by `augment`: normalise, random crop with zero
padding (the padded border is black before normalisation, as torchvision's
RandomCrop(32, padding=4) does on PIL images), horizontal flip, then cutout (zeros after
normalisation = the mean colour, as in DeVries & Taylor's reference code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nasrepro.data.cifar import MEAN, STD


def normalize(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float, per-channel standardised with the train statistics."""
    mean = torch.tensor(MEAN, device=images.device, dtype=dtype).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=images.device, dtype=dtype).view(1, 3, 1, 1) * 255
    return (images.to(dtype) - mean) / std


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator,
                pad_value: torch.Tensor | None = None) -> torch.Tensor:
    """Pad each image by `padding` (per-channel `pad_value`, None = zeros) and cut a random
    H x W window per image, all in one gather. x: (B, C, H, W)."""
    b, c, h, w = x.shape
    if padding == 0:
        return x
    padded = F.pad(x, (padding,) * 4)                                  # (B, C, H+2p, W+2p)
    if pad_value is not None:
        border = torch.ones_like(padded[:1, :1])
        border[..., padding:padding + h, padding:padding + w] = 0
        padded = padded + border * pad_value.view(1, c, 1, 1)
    dy = torch.randint(0, 2 * padding + 1, (b,), device=x.device, generator=gen)
    dx = torch.randint(0, 2 * padding + 1, (b,), device=x.device, generator=gen)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[bi, ci, rows, cols]                                  # (B, C, H, W)


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device, generator=gen) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero one size x size square per image, centred anywhere (may be clipped at borders)."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), device=x.device, generator=gen)
    cx = torch.randint(0, w, (b,), device=x.device, generator=gen)
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    lo_y, lo_x = (cy - size // 2)[:, None], (cx - size // 2)[:, None]
    in_y = (ys[None, :] >= lo_y) & (ys[None, :] < lo_y + size)         # (B, H)
    in_x = (xs[None, :] >= lo_x) & (xs[None, :] < lo_x + size)         # (B, W)
    mask = (in_y[:, :, None] & in_x[:, None, :])[:, None]              # (B, 1, H, W)
    return x.masked_fill(mask, 0.0)


def augment(images: torch.Tensor, gen: torch.Generator, padding: int = 4, flip: bool = True,
            cutout_size: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 batch -> normalised, augmented float batch (crop+pad, flip, optional cutout)."""
    x = normalize(images, dtype)
    if padding:
        black = normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8, device=images.device),
                          dtype).view(3)
        x = random_crop(x, padding, gen, pad_value=black)
    if flip:
        x = random_flip(x, gen)
    if cutout_size:
        x = cutout(x, cutout_size, gen)
    return x
