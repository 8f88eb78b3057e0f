"""Rank maps (paper Figs. 8–10): does each patch vote for what the image as a whole predicts?

Each patch's top class (argmax of its own logit ``head(norm(x_i))``) is located in the ranking of
classes by the image logit. Patches whose vote is the image's top class get category 0, those
whose vote ranks 2–5 category 1, 6–10 category 2, anything lower category 3. An independent-patch
model shows many patches voting for classes far down the image ranking; attention aligns them.

Ranks are 1-based; classes with equal image logits are ranked by class index (stable sort).
"""

from __future__ import annotations

import numpy as np

from infovit.analysis.extract import Extraction
from infovit.analysis.tables import Row

__all__ = [
    "RANK_CATEGORIES",
    "patch_ranks",
    "rank_categories",
    "rank_map_table",
    "rank_maps",
    "rank_share_table",
]

# (label, lowest rank, highest rank) of each category, in category order; the last is open.
RANK_CATEGORIES: tuple[tuple[str, int, int | None], ...] = (
    ("rank 1", 1, 1),
    ("ranks 2-5", 2, 5),
    ("ranks 6-10", 6, 10),
    ("other", 11, None),
)


def patch_ranks(patch_top: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """1-based rank of every patch's top class in its image's class ranking: [N, P] int64."""
    patch_top = np.asarray(patch_top)
    logits = np.asarray(logits, dtype=np.float32)
    if patch_top.ndim != 2 or logits.ndim != 2 or patch_top.shape[0] != logits.shape[0]:
        raise ValueError(
            f"expected patch_top [N, P] and logits [N, C], got {patch_top.shape}, {logits.shape}"
        )
    if patch_top.size and (patch_top.min() < 0 or patch_top.max() >= logits.shape[1]):
        raise ValueError(f"patch top classes must lie in [0, {logits.shape[1]})")
    order = np.argsort(-logits, axis=1, kind="stable")  # [N, C] classes, best first
    rank_of = np.empty_like(order)  # [N, C] rank (0-based) of each class
    np.put_along_axis(rank_of, order, np.arange(logits.shape[1])[None, :], axis=1)
    return np.take_along_axis(rank_of, patch_top.astype(np.int64), axis=1) + 1  # [N, P]


def rank_categories(ranks: np.ndarray) -> np.ndarray:
    """Category index (see RANK_CATEGORIES) of 1-based ranks: same shape, int8."""
    edges = [hi for _, _, hi in RANK_CATEGORIES if hi is not None]  # [1, 5, 10]
    return np.searchsorted(np.asarray(edges), np.asarray(ranks), side="left").astype(np.int8)


def rank_maps(patch_top: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, list[Row]]:
    """Rank categories [N, P] and a tidy table (image row, patch, top class, rank, category)."""
    ranks = patch_ranks(patch_top, logits)  # [N, P]
    cats = rank_categories(ranks)  # [N, P]
    rows: list[Row] = [
        {
            "row_index": int(n),
            "patch": int(p),
            "top_class": int(patch_top[n, p]),
            "rank": int(ranks[n, p]),
            "category": RANK_CATEGORIES[int(cats[n, p])][0],
        }
        for n, p in np.ndindex(*ranks.shape)
    ]
    return cats, rows


def rank_map_table(exts: list[Extraction], rows: np.ndarray, rule: str) -> list[Row]:
    """Long table of the selected images' rank maps per model, laid out on the patch grid."""
    out: list[Row] = []
    for ext in exts:
        chosen = np.asarray(rows, dtype=np.int64)
        _, table = rank_maps(ext.patch_top[chosen], ext.logits[chosen])
        cols = ext.grid[1]
        for r in table:
            n, p = chosen[r["row_index"]], r["patch"]
            out.append(
                {
                    "selection": rule,
                    "model": ext.name,
                    "image": int(ext.indices[n]),
                    "label": int(ext.labels[n]),
                    "pred": int(np.asarray(ext.logits[n], dtype=np.float32).argmax()),
                    "row": p // cols,
                    "col": p % cols,
                    "top_class": r["top_class"],
                    "rank": r["rank"],
                    "category": r["category"],
                }
            )
    return out


def rank_share_table(exts: list[Extraction]) -> list[Row]:
    """Per model: share of all validation patches in each rank category."""
    out: list[Row] = []
    for ext in exts:
        cats = rank_categories(patch_ranks(ext.patch_top, ext.logits))  # [N, P]
        counts = np.bincount(cats.ravel(), minlength=len(RANK_CATEGORIES))
        total = max(int(cats.size), 1)
        for (label, _, _), count in zip(RANK_CATEGORIES, counts, strict=True):
            out.append(
                {
                    "model": ext.name,
                    "category": label,
                    "patches": int(count),
                    "share": float(count) / total,
                }
            )
    return out
