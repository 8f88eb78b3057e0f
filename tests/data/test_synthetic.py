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


def test_tint_noise_offsets_background_tiles_only():
    """Each background tile gets one colour offset; keys, labels and positions are unchanged."""
    plain = SyntheticPatches(SyntheticConfig(n_train=100, noise=0.0), "train")
    noisy = SyntheticPatches(SyntheticConfig(n_train=100, noise=0.0, tint_noise=0.7), "train")
    assert torch.equal(plain.labels, noisy.labels) and torch.equal(plain.keys, noisy.keys)
    for i in range(len(noisy)):
        a, b = _tiles(plain, i), _tiles(noisy, i)  # [G², 3, p, p]
        keys = set(noisy.keys[i].tolist())
        for j in range(len(b)):
            if j in keys:
                assert torch.equal(a[j], b[j])
            else:  # a constant offset per tile and channel
                offset = b[j] - a[j]  # [3, p, p]
                torch.testing.assert_close(offset, offset[:, :1, :1].expand_as(offset))
                assert offset.abs().max() > 0


def test_tint_noise_makes_one_tile_ambiguous_and_the_mean_decisive():
    """Known answer: the T = 4 tints are a square of radius r in the plane x+y+z = 0, so the
    nearest tint to a tile with isotropic offset σ is right with probability Φ(r / (√2 σ))², and
    to the mean of K tiles with Φ(√K · r / (√2 σ))²."""
    from scipy.stats import norm

    sigma = 1.0
    cfg = SyntheticConfig(n_train=3000, noise=0.0, tint_noise=sigma)
    ds = SyntheticPatches(cfg, "train")
    tints, _ = _palette(cfg)  # [T, 3]
    r = float(tints.norm(dim=1).mean())
    single, pooled = [], []
    for i in range(len(ds)):
        keys = set(ds.keys[i].tolist())
        tiles = _tiles(ds, i)
        colours = torch.stack([t[:, 0, 0] for j, t in enumerate(tiles) if j not in keys])
        tint = int(ds.labels[i]) // 2
        single.append(float((torch.cdist(colours, tints).argmin(1) == tint).float().mean()))
        pooled.append(int(torch.cdist(colours.mean(0, keepdim=True), tints).argmin()) == tint)
    k = cfg.grid**2 - 2
    expect_single = norm.cdf(r / (np.sqrt(2) * sigma)) ** 2
    expect_pooled = norm.cdf(np.sqrt(k) * r / (np.sqrt(2) * sigma)) ** 2
    assert abs(np.mean(single) - expect_single) < 0.01  # 3000 · 34 tiles: SE ≈ 0.003
    assert expect_single < 0.7 and np.mean(pooled) >= min(expect_pooled, 1.0) - 0.002


def _background_colours(ds: SyntheticPatches, i: int) -> torch.Tensor:
    """The nearest tint of every background tile of image i (noise-free data)."""
    tints, _ = _palette(ds.config)
    keys = set(ds.keys[i].tolist())
    colours = torch.stack([t[:, 0, 0] for j, t in enumerate(_tiles(ds, i)) if j not in keys])
    return torch.cdist(colours, tints).argmin(1)


def test_stray_tiles_show_another_tint_at_the_stated_rate():
    q = 0.4
    ds = SyntheticPatches(SyntheticConfig(n_train=400, noise=0.0, stray_tiles=q), "train")
    wrong = [
        float((_background_colours(ds, i) != int(ds.labels[i]) // 2).float().mean())
        for i in range(len(ds))
    ]
    assert abs(np.mean(wrong) - q) < 0.015  # 400 · 34 tiles: SE ≈ 0.004
    plain = SyntheticPatches(SyntheticConfig(n_train=400, noise=0.0), "train")
    assert torch.equal(plain.labels, ds.labels)  # labels and keys are drawn before the strays
    assert torch.equal(plain.keys, ds.keys)


def test_tint_ceiling_is_the_majority_rule_accuracy():
    """Known answer: the exact multinomial sum equals the Bayes (majority, random ties) rule's
    accuracy on generated data, far from 1 on a small grid; q = 0 gives 1."""
    from infovit.data.synthetic import tint_ceiling

    cfg = SyntheticConfig(grid=3, tints=3, n_train=6000, noise=0.0, stray_tiles=0.5)
    ds = SyntheticPatches(cfg, "train")
    hits = 0.0
    for i in range(len(ds)):
        counts = torch.bincount(_background_colours(ds, i), minlength=cfg.tints)
        best = (counts == counts.max()).nonzero().flatten().tolist()
        hits += (int(ds.labels[i]) // 2 in best) / len(best)
    ceiling = tint_ceiling(cfg)
    assert 0.6 < ceiling < 0.75
    assert abs(hits / len(ds) - ceiling) < 4 * np.sqrt(ceiling * (1 - ceiling) / len(ds))
    assert tint_ceiling(SyntheticConfig()) == 1.0
    assert 0.999 < tint_ceiling(SyntheticConfig(stray_tiles=0.4)) < 1.0


def test_stray_from_gives_clean_training_images_before_its_epoch():
    q = 0.4
    cfg = SyntheticConfig(n_train=200, n_val=50, noise=0.0, stray_tiles=q, stray_from=2)
    ds = SyntheticPatches(cfg, "train")
    always = SyntheticPatches(SyntheticConfig(n_train=200, noise=0.0, stray_tiles=q), "train")

    def stray_rate(d: SyntheticPatches) -> float:
        return float(
            np.mean(
                [
                    float((_background_colours(d, i) != int(d.labels[i]) // 2).float().mean())
                    for i in range(len(d))
                ]
            )
        )

    for epoch, expected in ((0, 0.0), (1, 0.0), (2, q), (5, q), (0, 0.0)):
        ds.set_epoch(epoch)
        assert abs(stray_rate(ds) - expected) < 0.03, epoch
    ds.set_epoch(2)
    assert torch.equal(ds.images, always.images)  # from stray_from on: the usual images
    assert torch.equal(ds.labels, always.labels) and torch.equal(ds.keys, always.keys)
    val = SyntheticPatches(cfg, "val")
    val.set_epoch(0)  # evaluation images always have the strays
    assert abs(stray_rate(val) - q) < 0.03
