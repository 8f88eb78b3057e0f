"""Known values of the patch-vote summaries, JSD properties, spectrum aggregation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infovit.analysis import (
    aggregate_spectrum,
    inverse_simpson,
    jsd,
    jsd_bin_table,
    logit_range,
    pareto_front,
    subset_indices,
    top_fraction,
)


def test_inverse_simpson_known_values() -> None:
    top = torch.tensor([[0, 0, 0, 0], [0, 1, 2, 3], [0, 0, 1, 1], [0, 0, 0, 1]])
    got = inverse_simpson(top, num_classes=5)
    expected = torch.tensor([1.0, 4.0, 2.0, 1.0 / (0.75**2 + 0.25**2)])
    torch.testing.assert_close(got, expected)


def test_logit_range_is_max_minus_min_over_patches_and_classes() -> None:
    logits = torch.tensor([[[1.0, -2.0], [3.0, 0.5]], [[0.0, 0.0], [0.0, 0.0]]])  # [2, 2, 2]
    torch.testing.assert_close(logit_range(logits), torch.tensor([5.0, 0.0]))


def test_jsd_identical_zero_symmetric_bounded() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7), size=50)
    q = rng.dirichlet(np.ones(7) * 0.2, size=50)
    np.testing.assert_allclose(jsd(p, p), 0.0, atol=1e-12)
    np.testing.assert_allclose(jsd(p, q), jsd(q, p), rtol=1e-12)
    assert (jsd(p, q) <= np.log(2) + 1e-12).all() and (jsd(p, q) > 0).all()
    disjoint = jsd(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(disjoint, np.log(2))
    # a hand-computed value: p = (1, 0), q = (½, ½) → m = (¾, ¼)
    expected = 0.5 * np.log(4 / 3) + 0.5 * (0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25))
    np.testing.assert_allclose(jsd(np.array([[1.0, 0]]), np.array([[0.5, 0.5]])), expected)


def test_jsd_bins_partition_all_images() -> None:
    values = np.array([0.0, 0.02, 0.07, 0.2, 0.69, 0.005])
    rows = jsd_bin_table("ref", {"m": values})
    shares = [r["share"] for r in rows]
    assert sum(shares) == pytest.approx(1.0)
    assert shares == pytest.approx([2 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6])


def test_top_fraction_and_subset() -> None:
    assert list(top_fraction(np.arange(20.0), 0.1)) == [19, 18]
    idx = subset_indices(100, 10)
    assert len(idx) == 10 and idx[0] == 0 and idx[-1] == 99
    assert len(subset_indices(5, None)) == 5


def test_pareto_and_seed_aggregation() -> None:
    rows = [
        {"config": "a", "variant": "ib", "endpoint": False, "top1": 70.0, "top1_std": 1.0,
         "kl_per_image": 10.0},
        {"config": "a", "variant": "ib", "endpoint": False, "top1": 72.0, "top1_std": 1.0,
         "kl_per_image": 12.0},
        {"config": "b", "variant": "ib", "endpoint": False, "top1": 65.0, "top1_std": 0.5,
         "kl_per_image": 20.0},
        {"config": "c", "variant": "no_attn", "endpoint": True, "top1": 60.0, "top1_std": 0.0,
         "kl_per_image": 0.0},
        {"config": "d", "variant": "vit", "endpoint": True, "top1": 80.0, "top1_std": 0.0,
         "kl_per_image": float("nan")},
    ]  # fmt: skip
    agg = {r["config"]: r for r in aggregate_spectrum(rows)}
    assert agg["a"]["seeds"] == 2
    assert agg["a"]["top1"] == pytest.approx(71.0)
    assert agg["a"]["top1_std"] == pytest.approx(np.std([70.0, 72.0], ddof=1))
    assert agg["a"]["kl_per_image"] == pytest.approx(11.0)
    ordered = aggregate_spectrum(rows)
    front = dict(zip([r["config"] for r in ordered], pareto_front(ordered), strict=True))
    assert front == {"c": True, "a": True, "b": False, "d": False}
