"""Figure output shared by all plots: PNG and PDF written atomically, headless backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from infovit.atomic import atomic_path

__all__ = ["display_image", "plt", "save_figure"]


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf``; close it; return both paths."""
    paths = []
    for ext in ("png", "pdf"):
        path = Path(f"{stem}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=130, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


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
