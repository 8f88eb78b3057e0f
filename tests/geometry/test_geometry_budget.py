"""Chunk planning under a memory budget."""

from __future__ import annotations

import itertools

import pytest

from infovit.geometry.budget import fixed_bytes_for, format_bytes, parse_bytes, plan_passes
from infovit.geometry.extract import LayerSpec
from infovit.geometry.moments import LayerMoments


def _layers(depth: int, tokens: int, dim: int) -> list[LayerSpec]:
    return [LayerSpec(i, f"l{i}", tokens, dim) for i in range(depth + 1)]


def test_parse_bytes() -> None:
    assert parse_bytes("16GiB") == 16 * 2**30
    assert parse_bytes("512MB") == 512 * 10**6
    assert parse_bytes("2g") == 2 * 2**30
    assert parse_bytes("1.5 KiB") == 1536
    assert parse_bytes("1000") == 1000
    for bad in ("", "GiB", "12 parsecs", "-1GiB", "0"):
        with pytest.raises(ValueError):
            parse_bytes(bad)
    assert format_bytes(3 * 2**30) == "3.0 GiB"


def _check_cover(plan, layers: list[LayerSpec]) -> None:  # type: ignore[no-untyped-def]
    seen: dict[int, list[tuple[int, int]]] = {}
    corr: list[int] = []
    for p in plan.passes:
        for s in p.segments:
            seen.setdefault(s.layer, []).append((s.start, s.stop))
        corr.extend(p.correlation_layers)
        assert p.accumulator_bytes + plan.work_bytes + plan.fixed_bytes <= plan.budget_bytes
        expected = sum(
            LayerMoments.nbytes_for(50, 64, s.stop - s.start, s.layer in p.correlation_layers)
            for s in p.segments
        )
        assert p.accumulator_bytes == expected
        assert len({s.layer for s in p.segments}) == len(p.segments)  # one segment per layer
        for layer in p.correlation_layers:  # a Gram shares its pass with the layer's first tokens
            assert any(s.layer == layer and s.start == 0 for s in p.segments)
    assert sorted(corr) == [s.index for s in layers]  # every layer's Gram exactly once
    for spec in layers:  # every token of every layer exactly once, in order
        ranges = sorted(seen[spec.index])
        assert ranges[0][0] == 0 and ranges[-1][1] == spec.num_tokens
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


def test_one_pass_when_everything_fits() -> None:
    layers = _layers(4, 50, 64)
    plan = plan_passes(layers, 2**30, batch_size=16)
    assert len(plan.passes) == 1
    _check_cover(plan, layers)


def test_tight_budget_splits_layers_and_tokens() -> None:
    layers = _layers(4, 50, 64)
    per_layer = LayerMoments.nbytes_for(50, 64, 50, False)
    probe = plan_passes(layers, 2**30, batch_size=16)
    budget = probe.work_bytes + probe.fixed_bytes + int(0.7 * per_layer)  # < one layer
    plan = plan_passes(layers, budget, batch_size=16)
    assert len(plan.passes) >= 7
    assert any(s.stop - s.start < 50 for p in plan.passes for s in p.segments)
    _check_cover(plan, layers)
    assert plan.peak_bytes <= budget
    assert plan.fixed_bytes == fixed_bytes_for(layers, 50, correlation=True)


def test_budget_too_small_says_how_much_is_needed() -> None:
    with pytest.raises(ValueError, match="need at least"):
        plan_passes(_layers(2, 50, 64), 10_000, batch_size=16)


def test_vit_b8_fits_16gib() -> None:
    """ViT-B/8 at 224 px: 785 tokens × 768 dims × 13 layers ≈ 48 GB of accumulators."""
    layers = _layers(12, 785, 768)
    plan = plan_passes(layers, 16 * 2**30, batch_size=128)
    assert plan.peak_bytes <= 16 * 2**30
    assert 3 <= len(plan.passes) <= 5
    total = sum(p.accumulator_bytes for p in plan.passes)
    assert total >= 13 * LayerMoments.nbytes_for(785, 768, 785, True)
