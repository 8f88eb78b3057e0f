"""Helpers shared by probes that re-run a model on chosen images: patch geometry and batching."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from infovit.model.vit import InfoViT

__all__ = ["dominant_dims", "load_images", "paste_patch", "patch_box"]


def patch_box(model: InfoViT, patch: int) -> tuple[int, int, int, int]:
    """Pixel box (y0, x0, height, width) of patch token ``patch`` (prefix tokens excluded)."""
    _, cols = model.grid_size
    ph, pw = model.patch_embed.patch_size
    return (patch // cols) * ph, (patch % cols) * pw, ph, pw


def paste_patch(model: InfoViT, image: Tensor, source: int, targets: list[int]) -> Tensor:
    """A copy of ``image`` [3, H, W] with patch ``source`` pasted over each of ``targets``."""
    y0, x0, ph, pw = patch_box(model, source)
    tile = image[:, y0 : y0 + ph, x0 : x0 + pw]  # [3, ph, pw]
    out = image.clone()
    for t in targets:
        y, x, _, _ = patch_box(model, t)
        out[:, y : y + ph, x : x + pw] = tile
    return out


def load_images(dataset: Dataset, indices: np.ndarray) -> Tensor:
    """Stack data set images by index: [M, 3, H, W]."""
    return torch.stack([dataset[int(i)][0] for i in indices])


def dominant_dims(kl_dim: np.ndarray) -> np.ndarray:
    """Each head's latent dimension with the largest mean KL: [L, H, r] → [L, H]."""
    return kl_dim.argmax(axis=-1)
