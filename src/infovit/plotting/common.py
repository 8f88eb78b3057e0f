"""Helpers shared by the figures: image display and (re-exported) the one save helper.

Importing this module changes no matplotlib state: no backend switch, no rcParams, no pyplot.
"""

from __future__ import annotations

import numpy as np

from infovit.plotting.style import save_figure

__all__ = ["display_image", "save_figure"]


def display_image(pixels: np.ndarray, imagenet: bool) -> np.ndarray:
    """[3, H, W] normalised tensor → [H, W, 3] in [0, 1] for imshow.

    ImageNet-normalised inputs are un-normalised with timm's mean/std; synthetic images (already
    roughly centred) are min-max scaled.
    """
    x = np.asarray(pixels, dtype=np.float32)
    if imagenet:
        from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

        mean = np.asarray(IMAGENET_DEFAULT_MEAN, dtype=np.float32)[:, None, None]
        std = np.asarray(IMAGENET_DEFAULT_STD, dtype=np.float32)[:, None, None]
        x = np.clip(x * std + mean, 0.0, 1.0)
    else:
        x = (x - x.min()) / max(float(x.max() - x.min()), 1e-8)
    return x.transpose(1, 2, 0)  # [H, W, 3]
