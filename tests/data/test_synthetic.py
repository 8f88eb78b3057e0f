"""The synthetic known-answer task: determinism, label semantics and the documented ceiling."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import torch

from infovit.data import SyntheticConfig, SyntheticPatches, independent_patch_ceiling
from infovit.data.synthetic import _palette


def _tiles(ds: SyntheticPatches, i: int) -> torch.Tensor:
    """Image i's tiles: [G², 3, p, p]."""
    return ds.tiles([i])[0]


def _background_marks(ds: SyntheticPatches) -> torch.Tensor:
    """Mean brightness of every background tile's inside, [n, G² − 2]: the bit cue's mark (the
    hues have channel sum 0)."""
    brightness = ds.tiles()[:, :, :, 1:-1, 1:-1].mean(dim=(2, 3, 4))  # [n, G²]
    return brightness[~ds.key_mask()].view(len(ds), -1)


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


def _best_threshold_rule(sums_eq: np.ndarray, sums_ne: np.ndarray) -> np.ndarray:
    """Best repeat-bit accuracy of "repeat iff vote sum > t" (or < t) over every threshold t,
    for many vote rules at once: sums of equal pairs [N, S] and of unequal pairs [N, S(S−1)]."""
    cuts = np.concatenate([sums_eq, sums_ne], axis=1)[:, :, None] + 1e-9  # [N, K, 1] thresholds
    eq = (sums_eq[:, None, :] > cuts).mean(axis=2)  # [N, K] equal pairs called "repeat"
    ne = (sums_ne[:, None, :] > cuts).mean(axis=2)  # [N, K] unequal pairs called "repeat"
    above = 0.5 * eq + 0.5 * (1 - ne)  # "repeat iff sum > t"; the flipped rule scores 1 − it
    return np.maximum(above, 1 - above).max(axis=1)  # [N]


def test_position_blind_ceiling_matches_exhaustive_search():
    """The closed form equals a brute-force search over votes E_a = E_b = D."""
    for S in (2, 3, 4):
        pairs = [(a, b) for a in range(S) for b in range(S) if a != b]
        D = np.array(list(itertools.product(np.linspace(-2, 2, 9), repeat=S)))  # [N, S]
        eq = 2 * D
        ne = np.stack([D[:, a] + D[:, b] for a, b in pairs], axis=1)
        best = _best_threshold_rule(eq, ne).max()
        assert abs(best - independent_patch_ceiling(S, position_blind=True)) < 1e-9
    assert independent_patch_ceiling(2, position_blind=True) == 0.75
    assert abs(independent_patch_ceiling(4, position_blind=True) - 2 / 3) < 1e-12


def test_ceiling_for_one_pair_of_positions_matches_exhaustive_search():
    """With votes that depend on the position (E_a ≠ E_b), the bound 3/4 holds and is attained."""
    for S, grid in ((2, 9), (3, 5), (4, 4)):
        pairs = [(a, b) for a in range(S) for b in range(S) if a != b]
        E = np.array(list(itertools.product(np.linspace(-1.5, 1.5, grid), repeat=2 * S)))
        Ea, Eb = E[:, :S], E[:, S:]  # [N, S] votes of the symbols at positions a and b
        eq = Ea + Eb
        ne = np.stack([Ea[:, s] + Eb[:, t] for s, t in pairs], axis=1)
        best = _best_threshold_rule(eq, ne).max()
        assert abs(best - independent_patch_ceiling(S)) < 1e-9
        assert independent_patch_ceiling(S) == 0.75


def test_a_position_aware_vote_beats_the_position_blind_ceiling_on_the_generated_data():
    """The two-group rule of the module docstring: the first 24 positions vote E_A, the other
    12 E_B, "repeat" iff the keys' votes sum above 0. Its exact accuracy over the task's random
    key positions is 0.696 > 2/3, and the generated images agree with it."""
    E = {
        "A": np.array([-4.25, -3.25, 0.75, 1.75]),
        "B": np.array([-4.25, 3.75, 0.75, -1.25]),
    }
    group = ["A"] * 24 + ["B"] * 12
    S, P = 4, 36

    def called_repeat(a: int, b: int, s: int, t: int) -> bool:
        return E[group[a]][s] + E[group[b]][t] > 0

    exact = 0.0  # keys at two distinct uniform positions; symbols uniform, equal iff repeat
    for a, b in itertools.permutations(range(P), 2):
        eq = np.mean([called_repeat(a, b, s, s) for s in range(S)])
        ne = np.mean([not called_repeat(a, b, s, t) for s in range(S) for t in range(S) if s != t])
        exact += (0.5 * eq + 0.5 * ne) / (P * (P - 1))
    assert abs(exact - 0.696031746) < 1e-8
    assert independent_patch_ceiling(S, position_blind=True) < exact < independent_patch_ceiling(S)

    cfg = SyntheticConfig(n_train=6000, noise=0.0)
    ds = SyntheticPatches(cfg, "train")
    _, symbols = _palette(cfg)
    tiles = ds.tiles()  # [n, G², 3, p, p]
    rows = torch.arange(len(ds))
    sym = [
        (tiles[rows, ds.keys[:, k], :, 1:-1, 1:-1][:, None] == symbols[None])
        .flatten(2)
        .all(dim=2)
        .int()
        .argmax(dim=1)
        for k in (0, 1)
    ]  # the symbol in each key tile, [n] each
    calls = [
        called_repeat(int(a), int(b), int(s), int(t))
        for a, b, s, t in zip(ds.keys[:, 0], ds.keys[:, 1], *sym, strict=True)
    ]
    accuracy = np.mean(np.array(calls) == (ds.labels % 2).bool().numpy())
    assert abs(accuracy - exact) < 4 * np.sqrt(exact * (1 - exact) / len(ds))


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


def test_ambiguity_from_gives_clean_training_images_before_its_epoch():
    q = 0.4
    cfg = SyntheticConfig(n_train=200, n_val=50, noise=0.0, stray_tiles=q, ambiguity_from=2)
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
    assert torch.equal(ds.images, always.images)  # from ambiguity_from on: the usual images
    assert torch.equal(ds.labels, always.labels) and torch.equal(ds.keys, always.keys)
    val = SyntheticPatches(cfg, "val")
    val.set_epoch(0)  # evaluation images always have the strays
    assert abs(stray_rate(val) - q) < 0.03


def _hues(ds: SyntheticPatches, i: int) -> torch.Tensor:
    """Hue angle (radians) of every background tile of image i (noise-free data), from the
    colour's coordinates on the tints' circle."""
    keys = set(ds.keys[i].tolist())
    colours = torch.stack([t[:, 0, 0] for j, t in enumerate(_tiles(ds, i)) if j not in keys])
    # hue_colour(a) = cos(a)·u − sin(a)·v with u, v orthogonal of equal norm
    u = torch.tensor([1.0, np.cos(2.094), np.cos(4.189)], dtype=torch.float32)
    v = torch.tensor([0.0, np.sin(2.094), np.sin(4.189)], dtype=torch.float32)
    e1, e2 = u / u.norm(), -v / v.norm()
    return torch.atan2(colours @ e2, colours @ e1)  # [background tiles]


def test_hue_noise_turns_hues_at_constant_brightness_and_saturation():
    """Background tiles keep the tints' brightness (channel sum 0) and saturation (norm √1.5):
    only their hue moves, by N(0, σ²) radians; keys, labels and positions are unchanged."""
    sigma = 0.5
    plain = SyntheticPatches(SyntheticConfig(n_train=300, noise=0.0), "train")
    cfg = SyntheticConfig(n_train=300, noise=0.0, hue_noise=sigma)
    ds = SyntheticPatches(cfg, "train")
    assert torch.equal(plain.labels, ds.labels) and torch.equal(plain.keys, ds.keys)
    turns = []
    for i in range(len(ds)):
        keys = set(ds.keys[i].tolist())
        for j, (a, b) in enumerate(zip(_tiles(plain, i), _tiles(ds, i), strict=True)):
            if j in keys:
                assert torch.equal(a, b)
            else:
                colour = b[:, 0, 0]
                torch.testing.assert_close(b, colour[:, None, None].expand_as(b))  # uniform
                assert abs(float(colour.sum())) < 1e-3  # the palette's phases are 2.094, 4.189
                assert abs(float(colour.norm()) - 1.5**0.5) < 1e-3
        tint = int(ds.labels[i]) // 2
        turn = _hues(ds, i) - tint * 2 * np.pi / cfg.tints
        turns.append(torch.remainder(turn + np.pi, 2 * np.pi) - np.pi)
    turn = torch.cat(turns)  # σ = 0.5 rarely wraps
    assert abs(float(turn.mean())) < 0.01 and abs(float(turn.std()) - sigma) < 0.01


def test_single_tile_hue_accuracy_is_the_nearest_hue_rule_on_data():
    """Known answer: the wrapped-Gaussian sum equals the fraction of tiles whose hue is nearest
    to their own tint on generated data, also when σ is large enough to wrap."""
    from infovit.data.synthetic import single_tile_hue_accuracy, tint_angles, tint_ceiling

    for sigma in (0.6, 2.5):
        cfg = SyntheticConfig(n_train=1500, noise=0.0, hue_noise=sigma)
        ds = SyntheticPatches(cfg, "train")
        angles = tint_angles(cfg)
        hits = []
        for i in range(len(ds)):
            gap = torch.remainder(_hues(ds, i)[:, None] - angles[None] + np.pi, 2 * np.pi)
            nearest = (gap - np.pi).abs().argmin(dim=1)  # [tiles]
            hits.append((nearest == int(ds.labels[i]) // 2).float())
        measured = float(torch.cat(hits).mean())
        assert abs(measured - single_tile_hue_accuracy(cfg)) < 0.01, sigma  # SE ≈ 0.002
    assert single_tile_hue_accuracy(SyntheticConfig()) == 1.0
    assert abs(single_tile_hue_accuracy(SyntheticConfig(hue_noise=100.0)) - 0.25) < 1e-3
    assert tint_ceiling(SyntheticConfig(hue_noise=1.0)) is None  # no closed form
    assert tint_ceiling(SyntheticConfig(tint_noise=1.0)) is None


def test_ambiguity_ramp_scales_the_same_draws_linearly():
    """ambiguity_from = 1, ambiguity_ramp = 4: clean in epochs 0 and 1, then the hue offsets
    are 1/4, 2/4, 3/4 and all of the full ones (the same draws, scaled), then full for good;
    labels and keys never change, and set_epoch is a function of the epoch alone."""
    cfg = SyntheticConfig(n_train=60, noise=0.0, hue_noise=0.4, ambiguity_from=1, ambiguity_ramp=4)
    assert [cfg.ambiguity(e) for e in range(7)] == [0, 0, 0.25, 0.5, 0.75, 1, 1]
    ds = SyntheticPatches(cfg, "train")
    full = SyntheticPatches(replace(cfg, ambiguity_from=0, ambiguity_ramp=0), "train")
    plain = SyntheticPatches(SyntheticConfig(n_train=60, noise=0.0), "train")
    ref = torch.cat([_hues(full, i) for i in range(len(full))])
    base = torch.cat([_hues(plain, i) for i in range(len(plain))])
    for epoch in (3, 0, 6, 2, 3):
        ds.set_epoch(epoch)
        hues = torch.cat([_hues(ds, i) for i in range(len(ds))])
        turn = torch.remainder(hues - base + np.pi, 2 * np.pi) - np.pi
        full_turn = torch.remainder(ref - base + np.pi, 2 * np.pi) - np.pi
        torch.testing.assert_close(turn, cfg.ambiguity(epoch) * full_turn, atol=1e-3, rtol=0)
        assert torch.equal(ds.labels, full.labels) and torch.equal(ds.keys, full.keys)
    ds.set_epoch(6)
    assert torch.equal(ds.images, full.images)


def test_bit_cue_marks_tell_the_bit_at_their_rate_and_spare_the_keys():
    """Every background tile's inside is brighter (says "repeat") or darker ("distinct") by
    CUE_MARK, right with probability bit_cue; keys keep their symbols; labels do not change."""
    from infovit.data.synthetic import CUE_MARK

    cfg = SyntheticConfig(n_train=3000, noise=0.0, bit_cue=0.6, hue_noise=1.2)
    ds = SyntheticPatches(cfg, "train")
    plain = SyntheticPatches(replace(cfg, bit_cue=0.0), "train")
    assert torch.equal(ds.labels, plain.labels) and torch.equal(ds.keys, plain.keys)
    marks = _background_marks(ds)  # [n, 34]
    torch.testing.assert_close(marks.abs(), torch.full_like(marks, CUE_MARK), atol=1e-3, rtol=0)
    says_repeat = marks > 0
    agree = (says_repeat == (ds.labels % 2).bool()[:, None]).float().mean()
    assert abs(float(agree) - 0.6) < 4 * np.sqrt(0.24 / marks.numel())
    _, symbols = _palette(cfg)
    inner = ds.tiles()[ds.key_mask()][:, :, 1:-1, 1:-1]  # [2n, 3, p−2, p−2] keys' insides
    assert all(any(torch.equal(t, s) for s in symbols) for t in inner[:200])


def test_bit_cue_ceilings_known_answers():
    """Symbol-alike votes with marks are the majority of the marks, whose accuracy on generated
    data matches; uninformative marks (p = ½) leave every bound as without; p = 1 decides."""
    from infovit.data.synthetic import patch_ceiling

    m = 34
    cfg = SyntheticConfig(n_train=4000, bit_cue=0.55)
    majority = sum(
        math.comb(m, k) * 0.55**k * 0.45 ** (m - k) * (1.0 if 2 * k > m else 0.5 * (2 * k == m))
        for k in range(m + 1)
    )
    assert abs(patch_ceiling(cfg, symmetric=True) - majority) < 1e-12
    ds = SyntheticPatches(cfg, "train")
    k = (_background_marks(ds) > 0).sum(dim=1)  # marks saying "repeat" (pixel noise 0.25)
    call = torch.where(
        2 * k == m, torch.rand(len(ds), generator=torch.Generator().manual_seed(0)) < 0.5, 2 * k > m
    )
    accuracy = float((call == (ds.labels % 2).bool()).float().mean())
    assert abs(accuracy - majority) < 4 * np.sqrt(majority * (1 - majority) / len(ds))
    for symmetric, blind in ((True, False), (False, True), (False, False)):
        half = independent_patch_ceiling(4, symmetric, blind, bit_cue=0.5)
        assert abs(half - independent_patch_ceiling(4, symmetric, blind)) < 1e-12
        assert abs(independent_patch_ceiling(4, symmetric, blind, bit_cue=1.0) - 1.0) < 1e-12
    bounds = [patch_ceiling(replace(cfg, bit_cue=p)) for p in (0.5, 0.55, 0.6, 0.7)]
    assert bounds == sorted(bounds) and abs(bounds[2] - 0.9299) < 1e-4


def test_tiles_and_key_mask_read_the_images_layout():
    """Tile j of an image is its pixels at row j // grid, column j % grid; the key mask marks
    exactly the two key positions; both follow ``indices``."""
    cfg = SyntheticConfig(n_train=8, n_val=8, grid=3, patch=4)
    ds = SyntheticPatches(cfg, "val")
    tiles, mask = ds.tiles(), ds.key_mask()
    assert tiles.shape == (8, 9, 3, 4, 4) and mask.shape == (8, 9)
    for i in range(8):
        for j in range(9):
            r, c = divmod(j, 3)
            assert torch.equal(tiles[i, j], ds.images[i, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4])
        assert set(mask[i].nonzero().flatten().tolist()) == set(ds.keys[i].tolist())
    assert torch.equal(ds.tiles([5, 2]), tiles[[5, 2]])
    assert torch.equal(ds.key_mask(torch.tensor([5, 2])), mask[[5, 2]])
