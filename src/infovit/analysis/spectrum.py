"""The accuracy–information spectrum (paper Fig. 1b): top-1 vs nats per image, per model.

Accuracy is the mean ± std over K stochastic validation passes (the channel noise is part of the
model); seeds of one configuration are aggregated (mean of seed means, std across seeds). The
endpoints — no attention (0 nats) and the unmodified ViT (unpriced, NaN nats) — are flagged.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

import numpy as np

from infovit.analysis.extract import Extraction
from infovit.analysis.tables import Row
from infovit.model.capabilities import has_channel, is_endpoint, nats_measured, variant_title

__all__ = ["aggregate_spectrum", "config_label", "label_beta", "pareto_front", "spectrum_row"]


def format_beta(beta: float | None) -> str:
    """β as tables, figures and reports show it: ``unknown`` when a run does not record it."""
    return "unknown" if beta is None else f"{beta:g}"


def config_label(variant: str, beta: float | None = None, convention: str = "mean") -> str:
    """A name for one training configuration, identical across seeds."""
    if has_channel(variant):
        return f"{variant} beta={format_beta(beta)} ({convention})"
    return variant_title(variant)


def label_beta(label: str) -> float | None:
    """The β that :func:`config_label` wrote into ``label``; None when it holds none, or an
    unknown or non-finite one."""
    m = re.search(r"beta=([^\s)]+)", label)
    try:
        beta = float(m.group(1)) if m else None
    except ValueError:
        return None
    return beta if beta is not None and math.isfinite(beta) else None


def spectrum_row(ext: Extraction, label: str, seed: Any = None) -> Row:
    """One model's point: accuracy over passes and total KL per image (nats)."""
    acc = ext.accuracy_passes()
    measured = nats_measured(ext)
    kl = float(np.mean(ext.kl_total)) if measured else float("nan")
    return {
        "model": ext.name,
        "config": label,
        "variant": ext.variant,
        "seed": seed,
        "endpoint": is_endpoint(ext),
        "passes": len(acc),
        "top1": float(acc.mean()),
        "top1_std": float(acc.std()),
        "kl_per_image": kl,
        "kl_per_image_std": float(ext.kl_total.mean(axis=0).std()) if measured else float("nan"),
        "kl_per_patch": kl / ext.kl_patch.shape[1] if measured else float("nan"),
    }


def aggregate_spectrum(rows: list[Row]) -> list[Row]:
    """One row per config: mean over seeds; std across seeds (pass std when only one seed)."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row["config"]].append(row)
    out = []
    for label, members in groups.items():
        acc = np.array([m["top1"] for m in members])
        kl = np.array([m["kl_per_image"] for m in members], dtype=float)
        std = float(acc.std(ddof=1)) if len(acc) > 1 else float(members[0]["top1_std"])
        out.append(
            {
                "config": label,
                "variant": members[0]["variant"],
                "endpoint": members[0]["endpoint"],
                "seeds": len(members),
                "top1": float(acc.mean()),
                "top1_std": std,
                "kl_per_image": float(kl.mean()) if np.isfinite(kl).all() else float("nan"),
            }
        )
    return sorted(out, key=lambda r: (np.nan_to_num(r["kl_per_image"], nan=np.inf), r["config"]))


def pareto_front(rows: list[Row]) -> list[bool]:
    """Whether each row is Pareto-optimal: no other row has ≥ accuracy for ≤ nats (one strictly).

    Rows with unmeasured KL (the unmodified ViT) are never on the front.
    """
    kl = np.array([r["kl_per_image"] for r in rows], dtype=float)
    acc = np.array([r["top1"] for r in rows], dtype=float)
    front = []
    for i in range(len(rows)):
        if not np.isfinite(kl[i]):
            front.append(False)
            continue
        ok = np.isfinite(kl)
        dominated = ok & (kl <= kl[i]) & (acc >= acc[i]) & ((kl < kl[i]) | (acc > acc[i]))
        front.append(not bool(dominated.any()))
    return front
