"""KL maps (paper Fig. 2): per-patch nats summed over heads, laid out on the image grid.

Images are chosen by a stated rule, never by hand: ``random`` correct ones, the top 10% by JSD
between the no-attention and unmodified-ViT endpoints (the paper's rule), or ``misclassified``.
"""

from __future__ import annotations

import numpy as np

from infovit.analysis.extract import Extraction
from infovit.analysis.jsd import jsd, top_fraction
from infovit.analysis.tables import Row
from infovit.model.capabilities import has_attention, has_channel

__all__ = ["SELECTIONS", "kl_map", "kl_map_table", "select_images"]

SELECTIONS = ("random", "jsd", "misclassified")


def kl_map(ext: Extraction, row: int) -> np.ndarray:
    """Per-patch KL of one image on the patch grid: [P] → [rows, cols] (nats)."""
    return ext.kl_patch[row].reshape(ext.grid)  # [rows, cols]


def select_images(exts: list[Extraction], rule: str, count: int = 6, seed: int = 0) -> np.ndarray:
    """Row indices (shared by all models, which saw the same images) picked by ``rule``.

    ``random``: correct for every model; ``jsd``: random among the top 10% JSD between the
    first no-attention and first unmodified-ViT model (falls back to first vs last model);
    ``misclassified``: wrong for the last model (the least restricted one, by convention).
    """
    if rule not in SELECTIONS:
        raise ValueError(f"rule must be one of {SELECTIONS}, got {rule!r}")
    rng = np.random.default_rng(seed)
    n = len(exts[0].labels)
    preds = [e.probs.argmax(axis=1) == e.labels for e in exts]
    if rule == "random":
        pool = np.flatnonzero(np.logical_and.reduce(preds))
    elif rule == "misclassified":
        pool = np.flatnonzero(~preds[-1])
    else:
        a = next((e for e in exts if not has_attention(e)), exts[0])
        b = next((e for e in exts if has_attention(e) and not has_channel(e)), exts[-1])
        pool = top_fraction(jsd(a.probs, b.probs), 0.1) if n else np.zeros(0, int)
    if len(pool) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(pool, size=min(count, len(pool)), replace=False))


def kl_map_table(exts: list[Extraction], rows: np.ndarray, rule: str) -> list[Row]:
    """Long table of the selected maps: model, image, patch position, KL; plots draw from it."""
    out = []
    for ext in exts:
        for r in rows:
            grid = kl_map(ext, int(r))
            for (y, x), v in np.ndenumerate(grid):
                out.append(
                    {
                        "selection": rule,
                        "model": ext.name,
                        "image": int(ext.indices[r]),
                        "label": int(ext.labels[r]),
                        "pred": int(ext.probs[r].argmax()),
                        "row": y,
                        "col": x,
                        "kl": float(v),
                    }
                )
    return out
