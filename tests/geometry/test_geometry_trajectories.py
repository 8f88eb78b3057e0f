"""Seeded k-means, trajectory clustering on known groups, split comparison."""

from __future__ import annotations

import numpy as np
import pytest

from infovit.geometry.trajectories import (
    cluster_trajectories,
    compare_splits,
    embed_trajectories,
    kmeans,
    umap_available,
)


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = np.repeat(np.arange(3), [40, 25, 10])
    return centres[truth] + rng.normal(0, 0.5, (len(truth), 2)), truth


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_kmeans_recovers_blobs_and_is_seeded() -> None:
    x, truth = _blobs()
    labels, centres, inertia = kmeans(x, 3, seed=4)
    assert _same_partition(labels, truth)
    assert centres.shape == (3, 2) and inertia < 75 * 0.5**2 * 2 * 2
    again, _, _ = kmeans(x, 3, seed=4)
    np.testing.assert_array_equal(labels, again)
    with pytest.raises(ValueError):
        kmeans(x[:2], 3)


def test_cluster_trajectories_finds_the_groups_in_order() -> None:
    rng = np.random.default_rng(1)
    layers, t = 8, 1 + 36
    base = np.linspace(3.0, 1.0, layers)[:, None]
    group = np.concatenate([[-1], rng.permutation(np.repeat([0, 1, 2], 12))])  # token 0: class
    offset = np.array([0.0, 0.6, 1.2])
    alpha = base + np.where(group >= 0, offset[group], 5.0)[None, :]
    alpha = alpha + rng.normal(0, 0.02, (layers, t))
    alpha[0, 0] = np.nan  # undefined α for the class token must not matter
    spatial = group >= 0
    res = cluster_trajectories(alpha, spatial, k=3, method="pca", seed=0)
    assert res.method == "pca" and res.layers_used.all()
    assert res.labels[0] == -1 and np.isnan(res.embedding[0]).all()
    np.testing.assert_array_equal(res.labels[spatial], group[spatial])  # ordered by mean α


def test_layers_with_missing_alpha_are_dropped() -> None:
    alpha = np.tile(np.arange(6.0)[None, :], (3, 1))
    alpha[1, 2] = np.nan
    res = cluster_trajectories(alpha, np.ones(6, bool), k=2, method="none")
    assert res.layers_used.tolist() == [True, False, True]
    assert res.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_pca_embedding_shape_and_sign() -> None:
    x, _ = _blobs()
    emb, used = embed_trajectories(x @ np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]]), "pca")
    assert used == "pca" and emb.shape == (75, 2)
    assert emb[np.abs(emb[:, 0]).argmax(), 0] > 0


def test_compare_splits() -> None:
    a = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]])
    same = compare_splits(a, a.copy())
    assert same["mean_abs_diff"] == 0.0 and same["pearson_r"] == pytest.approx(1.0)
    assert same["cells"] == 5
    shifted = compare_splits(a, a + 0.5)
    assert shifted["max_abs_diff"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        compare_splits(a, a[:1])


@pytest.mark.slow
@pytest.mark.skipif(not umap_available(), reason="umap-learn (optional extra) not installed")
def test_umap_embedding_finds_the_groups() -> None:
    rng = np.random.default_rng(1)
    group = rng.permutation(np.repeat([0, 1, 2], [30, 20, 14]))
    alpha = np.linspace(3.0, 1.0, 8)[:, None] + np.array([0.0, 0.6, 1.2])[group][None, :]
    alpha = alpha + rng.normal(0, 0.02, alpha.shape)
    res = cluster_trajectories(alpha, np.ones(group.size, bool), k=3, method="umap", seed=0)
    assert res.method == "umap"
    np.testing.assert_array_equal(res.labels, group)
