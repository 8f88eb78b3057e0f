"""The synthetic known-answer task: determinism, label semantics and the documented ceiling."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from infovit.data import SyntheticConfig, SyntheticPatches, independent_patch_ceiling
from infovit.data.synthetic import _palette


def _tiles(ds: SyntheticPatches, i: int) -> torch.Tensor:
    c = ds.config
    img = ds.images[i]  # [3, H, W]
    return (
        img.view(3, c.grid, c.patch, c.grid, c.patch)
        .permute(1, 3, 0, 2, 4)
        .reshape(c.grid * c.grid, 3, c.patch, c.patch)
    )  # [G², 3, p, p]


def test_deterministic_and_splits_differ():
    cfg = SyntheticConfig(n_train=64, n_val=32)
    a, b = SyntheticPatches(cfg, "train"), SyntheticPatches(cfg, "train")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    v = SyntheticPatches(cfg, "val")
    assert len(v) == 32 and not torch.equal(v.images[:32], a.images[:32])
    assert a[0][0].shape == (3, 24, 24) and len(a.classes) == cfg.num_classes


def test_labels_encode_tint_and_repeated_key_symbol():
    cfg = SyntheticConfig(n_train=200, noise=0.0)
    ds = SyntheticPatches(cfg, "train")
    tints, _ = _palette(cfg)
    for i in range(len(ds)):
        tiles = _tiles(ds, i)
        keys = [t for t in tiles if torch.all(t[:, 0, :] == 2.0)]  # bright top frame row
        assert len(keys) == 2
        inner = [k[:, 1:-1, 1:-1] for k in keys]
        label = int(ds.labels[i])
        assert torch.equal(inner[0], inner[1]) == bool(label % 2)  # repeat bit
        backgrounds = [t for t in tiles if not torch.all(t[:, 0, :] == 2.0)]
        torch.testing.assert_close(backgrounds[0][:, 0, 0], tints[label // 2])


def test_classes_balanced():
    ds = SyntheticPatches(SyntheticConfig(n_train=4000), "train")
    counts = torch.bincount(ds.labels, minlength=8).float() / 4000
    assert torch.all((counts - 1 / 8).abs() < 0.03)


def test_independent_patch_ceiling_matches_exhaustive_search():
    """The closed form equals a brute-force search over additive vote rules."""
    for S in (2, 3, 4):
        pairs = [(a, b) for a in range(S) for b in range(S) if a != b]
        best = 0.0
        for D in itertools.product(np.linspace(-2, 2, 9), repeat=S):
            eq = np.array([2 * D[a] for a in range(S)])
            ne = np.array([D[a] + D[b] for a, b in pairs])
            for t in np.unique(np.concatenate([eq, ne])) + 1e-9:
                for sign in (1, -1):
                    acc = 0.5 * np.mean(sign * (eq - t) > 0) + 0.5 * np.mean(sign * (ne - t) <= 0)
                    best = max(best, acc)
        assert abs(best - independent_patch_ceiling(S)) < 1e-9
    assert independent_patch_ceiling(2) == 0.75


def test_key_positions_point_at_the_framed_patches():
    ds = SyntheticPatches(SyntheticConfig(n_train=50, noise=0.0), "train")
    for i in range(len(ds)):
        tiles = _tiles(ds, i)
        framed = {j for j, t in enumerate(tiles) if torch.all(t[:, 0, :] == 2.0)}
        assert framed == set(ds.keys[i].tolist())
