"""Rank maps (Figs. 8–10): known answers for ranks and categories, tables and the figure."""

from __future__ import annotations

import numpy as np
import pytest

from infovit.analysis.extract import Extraction
from infovit.analysis.rank_maps import (
    RANK_CATEGORIES,
    patch_ranks,
    rank_categories,
    rank_map_table,
    rank_maps,
    rank_share_table,
)
from infovit.plotting import plot_rank_maps

# 12 classes; image 0 ranks classes 11, 10, ..., 0 (class c has rank 12 - c);
# image 1 ranks them 0, 1, ..., 11 (class c has rank c + 1).
LOGITS = np.stack([np.arange(12.0), -np.arange(12.0)]).astype(np.float16)  # [2, 12]
TOP = np.array([[11, 10, 7, 6, 1, 0], [0, 4, 5, 9, 10, 11]])  # [2, 6]
RANKS = np.array([[1, 2, 5, 6, 11, 12], [1, 5, 6, 10, 11, 12]])
CATS = np.array([[0, 1, 1, 2, 3, 3], [0, 1, 2, 2, 3, 3]])


def test_ranks_and_categories_known_answer():
    np.testing.assert_array_equal(patch_ranks(TOP, LOGITS), RANKS)
    np.testing.assert_array_equal(rank_categories(RANKS), CATS)
    cats, rows = rank_maps(TOP, LOGITS)
    assert cats.dtype == np.int8 and cats.shape == (2, 6)
    np.testing.assert_array_equal(cats, CATS)
    assert len(rows) == 12
    assert rows[3] == {
        "row_index": 0,
        "patch": 3,
        "top_class": 6,
        "rank": 6,
        "category": "ranks 6-10",
    }


def test_ties_are_ranked_by_class_index():
    logits = np.array([[1.0, 3.0, 3.0, 0.0]])
    np.testing.assert_array_equal(patch_ranks(np.array([[2, 1, 3, 0]]), logits), [[2, 1, 4, 3]])


def test_bad_shapes_and_classes_are_refused():
    with pytest.raises(ValueError, match="expected patch_top"):
        patch_ranks(TOP[0], LOGITS)
    with pytest.raises(ValueError, match="must lie in"):
        patch_ranks(np.array([[12]]), LOGITS[:1])


def _extraction(name: str, top: np.ndarray) -> Extraction:
    n, p = top.shape
    return Extraction(
        name=name, variant="ib", grid=(2, 3), indices=np.array([10, 20]), labels=np.array([11, 3]),
        logits=LOGITS, probs=LOGITS, correct=np.ones((n, 1), bool),
        kl_total=np.zeros((n, 1)), kl_patch=np.zeros((n, p)), kl_head=np.zeros((n, 1, 1, p)),
        kl_dim=np.zeros((1, 1, 1)), simpson=np.ones(n), logit_range=np.ones(n), patch_top=top,
        latent_heads=np.zeros((0, 2), int), latent_mu=np.zeros((n, 0, p, 1)),
    )  # fmt: skip


def test_tables_from_extractions(tmp_path):
    exts = [_extraction("a", TOP), _extraction("b", np.full_like(TOP, 11))]
    rows = rank_map_table(exts, np.array([1]), "jsd")
    assert len(rows) == 2 * 6
    r = rows[3]  # model a, image row 1, patch 3 → grid (1, 0), class 9 ranks 10th
    assert (r["model"], r["image"], r["pred"], r["row"], r["col"]) == ("a", 20, 0, 1, 0)
    assert (r["top_class"], r["rank"], r["category"]) == (9, 10, "ranks 6-10")
    assert {x["category"] for x in rows if x["model"] == "b"} == {"other"}

    shares = rank_share_table(exts)
    a = {x["category"]: x["share"] for x in shares if x["model"] == "a"}
    assert a == pytest.approx({"rank 1": 2 / 12, "ranks 2-5": 3 / 12, "ranks 6-10": 3 / 12,
                               "other": 4 / 12})  # fmt: skip
    b = {x["category"]: x["patches"] for x in shares if x["model"] == "b"}
    assert b == {"rank 1": 6, "ranks 2-5": 0, "ranks 6-10": 0, "other": 6}

    pixels = {20: np.random.default_rng(0).normal(size=(3, 8, 12))}
    labels = tuple(label for label, _, _ in RANK_CATEGORIES)
    paths = plot_rank_maps(rows, pixels, tmp_path / "rank_maps", False, labels)
    assert [p.suffix for p in paths] == [".png", ".pdf", ".svg"] and all(
        p.stat().st_size for p in paths
    )
    assert plot_rank_maps([], {}, tmp_path / "none", False) == []
