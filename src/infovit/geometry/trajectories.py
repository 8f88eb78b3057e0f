"""α trajectories (α across layers per token): embedding, k-means clusters, split comparison.

The paper embeds the spatial tokens' trajectories with UMAP and clusters the embedding with
k-means (3 clusters: corners, edges, body). UMAP is an optional extra (``umap-learn``); without it
the trajectories are projected on their first principal components, which keeps the pipeline
deterministic and dependency-free. k-means is a small seeded k-means++ so that scikit-learn is not
needed at run time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "ClusterResult",
    "cluster_trajectories",
    "compare_splits",
    "embed_trajectories",
    "kmeans",
    "umap_available",
]

EmbeddingMethod = Literal["auto", "umap", "pca", "none"]


@dataclass(frozen=True)
class ClusterResult:
    labels: np.ndarray  # [T] int, −1 for tokens not clustered (class/register tokens)
    embedding: np.ndarray  # [T, 2] float, NaN for tokens not clustered
    method: str  # "umap", "pca" or "none" (k-means on the raw trajectories)
    layers_used: np.ndarray  # [L] bool: layers where every clustered token has a finite α
    k: int
    seed: int


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


def kmeans(
    points: np.ndarray, k: int, seed: int = 0, n_init: int = 10, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray, float]:
    """Seeded Lloyd k-means with k-means++ seeding; best of ``n_init`` restarts by inertia.

    Returns (labels [P], centres [k, F], inertia).
    """
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or len(x) < k or k < 1:
        raise ValueError(f"need a [P, F] array with P >= k >= 1, got {x.shape} and k={k}")
    rng = np.random.default_rng(seed)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(n_init):
        centres = _kmeanspp(x, k, rng)
        labels = np.zeros(len(x), dtype=np.int64)
        for it in range(max_iter):
            d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)  # [P, k]
            new = d2.argmin(1)
            if it > 0 and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = x[labels == j]
                # An emptied cluster restarts at the point farthest from its centre.
                centres[j] = members.mean(0) if len(members) else x[d2.min(1).argmax()]
        inertia = float(((x - centres[labels]) ** 2).sum())
        if best is None or inertia < best[2]:
            best = (labels.copy(), centres.copy(), inertia)
    assert best is not None
    return best


def _kmeanspp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        idx = rng.choice(len(x), p=d2 / total) if total > 0 else rng.integers(len(x))
        centres.append(x[idx])
        d2 = np.minimum(d2, ((x - x[idx]) ** 2).sum(1))
    return np.array(centres)


def embed_trajectories(
    traj: np.ndarray, method: EmbeddingMethod = "auto", seed: int = 0
) -> tuple[np.ndarray, str]:
    """2-D embedding of trajectories [P, L]; returns (embedding [P, 2], method used)."""
    x = np.asarray(traj, dtype=np.float64)
    if method == "auto":
        method = "umap" if umap_available() and len(x) > 4 else "pca"
    if method == "umap":
        if not umap_available():
            raise ImportError("UMAP needs the optional extra: pip install 'infovit[umap]'")
        import umap

        reducer = umap.UMAP(
            n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed, n_jobs=1
        )
        return np.asarray(reducer.fit_transform(x), dtype=np.float64), "umap"
    if method == "none":
        return x, "none"
    xc = x - x.mean(0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    emb = u[:, :2] * s[:2]  # [P, ≤2]
    for j in range(emb.shape[1]):  # fix the SVD's sign ambiguity for reproducible figures
        if emb[np.abs(emb[:, j]).argmax(), j] < 0:
            emb[:, j] = -emb[:, j]
    if emb.shape[1] < 2:
        emb = np.pad(emb, ((0, 0), (0, 2 - emb.shape[1])))
    return emb, "pca"


def cluster_trajectories(
    alpha: np.ndarray,
    tokens: np.ndarray,
    k: int = 3,
    method: EmbeddingMethod = "auto",
    seed: int = 0,
) -> ClusterResult:
    """Cluster the α trajectories (columns of ``alpha`` [L, T]) of the tokens selected by mask.

    Clusters are numbered by increasing mean α of their trajectories, so labels are comparable
    between runs (0 = highest effective dimension).
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    tokens = np.asarray(tokens, dtype=bool)
    sel = alpha[:, tokens]  # [L, P]
    layers_used = np.isfinite(sel).all(axis=1)
    if layers_used.sum() < 1 or sel.shape[1] < k:
        raise ValueError(
            f"cannot cluster {sel.shape[1]} trajectories into {k} clusters over "
            f"{int(layers_used.sum())} layers with finite α"
        )
    traj = sel[layers_used].T  # [P, L']
    emb, used = embed_trajectories(traj, method, seed)
    raw, _, _ = kmeans(emb, k, seed)
    order = np.argsort([traj[raw == j].mean() if (raw == j).any() else np.inf for j in range(k)])
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    t = alpha.shape[1]
    labels = np.full(t, -1, dtype=np.int64)
    labels[tokens] = relabel[raw]
    embedding = np.full((t, 2), np.nan)
    embedding[tokens] = emb[:, :2] if emb.shape[1] >= 2 else np.pad(emb, ((0, 0), (0, 1)))
    return ClusterResult(labels, embedding, used, layers_used, k, seed)


def compare_splits(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """How alike two α tables [L, T] are (e.g. train vs val), over cells finite in both."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"α tables differ in shape: {a.shape} vs {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        raise ValueError("fewer than two cells have a finite α in both tables")
    x, y = a[ok], b[ok]
    diff = np.abs(x - y)
    r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
    return {
        "cells": int(ok.sum()),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff": float(diff.max()),
        "mean_rel_diff": float((diff / np.maximum(np.abs(x), 1e-12)).mean()),
        "pearson_r": r,
    }
