"""What every analysis section receives: the runs, their one streamed extraction, the options,
the shared image selection and the folder to write into."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from infovit.analysis.extract import Extraction
from infovit.analysis.store import Store
from infovit.data.selection import ImageSelection
from infovit.model.capabilities import has_channel
from infovit.model.vit import InfoViT

__all__ = ["AnalysisOptions", "Context", "LoadedRun"]


@dataclass
class AnalysisOptions:
    """What to compute; defaults follow the paper where it says. ``only=None``: every section."""

    only: tuple[str, ...] | None = None
    passes: int = 1
    max_images: int | None = None
    batch_size: int = 64
    threshold: float = 1e-2  # nats: a head is active above this on some patch
    pairs: int = 1024  # repetition probe (image, patch) pairs
    extreme_heads: int = 3  # most active heads per model shown in extreme-patch figures
    maps_per_selection: int = 6
    seed: int = 0
    device: str = "cpu"
    progress: bool = True
    figures: bool = True  # draw figures from the saved tables
    nmi_images: int = 64  # first images of the shared selection whose patches NMI compares
    nmi_method: str = "bhattacharyya"  # mc | bhattacharyya | kl (see infovit.information)
    nmi_samples: int = 2000  # rows of the distance methods, or Monte Carlo draws
    nmi_heads: int = 12  # most informative active heads per run compared
    ablation_images: int = 512  # images of the shared selection the ablations are scored on
    geometry_embedding: str = "pca"  # 2-D embedding of α trajectories before k-means
    geometry_clusters: int = 3


@dataclass
class LoadedRun:
    """A model to analyse with its validation data and provenance."""

    name: str
    model: InfoViT
    dataset: Dataset
    label: str  # configuration label shared across seeds
    seed: Any = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    imagenet: bool = True  # images are ImageNet-normalised (display un-normalises them)


@dataclass
class Context:
    """The inputs of one ``analyze`` call, shared by its sections."""

    runs: list[LoadedRun]
    extractions: list[Extraction]
    options: AnalysisOptions
    selection: ImageSelection
    store: Store

    def pairs(self) -> list[tuple[Extraction, LoadedRun]]:
        return list(zip(self.extractions, self.runs, strict=True))

    def channel_pairs(self) -> list[tuple[Extraction, LoadedRun]]:
        """The runs whose heads write through a channel (the bottlenecked models)."""
        return [(e, r) for e, r in self.pairs() if has_channel(e)]

    def pixels(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The first run's input images of extraction rows ``rows``, keyed ``image_<index>``
        (all runs saw the same images), for figures to draw from a saved array file."""
        ext, run = self.extractions[0], self.runs[0]
        out: dict[str, np.ndarray] = {"imagenet": np.array(run.imagenet)}
        for r in rows:
            index = int(ext.indices[int(r)])
            image = run.dataset[index][0]
            out[f"image_{index}"] = (
                image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
            )
        return out


def pixels_of(arrays: dict[str, np.ndarray]) -> tuple[dict[int, np.ndarray], bool]:
    """Inverse of :meth:`Context.pixels`: ``{image index: [3, H, W]}`` and the ImageNet flag."""
    images = {int(k[len("image_") :]): v for k, v in arrays.items() if k.startswith("image_")}
    return images, bool(arrays.get("imagenet", np.array(True)))
