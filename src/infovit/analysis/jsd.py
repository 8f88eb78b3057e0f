"""Jensen–Shannon divergence between two models' class-probability vectors, per image.

``JSD(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m)``, ``m = (p + q) / 2``, in nats: symmetric, zero for
identical vectors, at most log 2. The Jensen–Shannon *distance* is its square root. Fig. 7 of the
paper bins per-image divergences against each endpoint into five bins; our bin edges (nats) are
:data:`JSD_BINS`, chosen log-like because most images agree closely.
"""

from __future__ import annotations

import numpy as np

from infovit.analysis.tables import Row

__all__ = ["JSD_BINS", "jsd", "jsd_bin_table", "top_fraction"]

JSD_BINS: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.3, float(np.log(2)) + 1e-9)


def jsd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row JSD in nats of probability vectors [N, C] (float64; renormalised for safety)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"probability arrays differ in shape: {p.shape} vs {q.shape}")
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * (np.log(a) - np.log(m)), 0.0)
        return terms.sum(axis=-1)

    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, np.log(2))


def jsd_bin_table(reference: str, others: dict[str, np.ndarray]) -> list[Row]:
    """Share of images per JSD bin of each model against ``reference`` (one Fig. 7 row)."""
    rows = []
    edges = np.asarray(JSD_BINS)
    for name, values in others.items():
        counts, _ = np.histogram(values, bins=edges)
        for i, c in enumerate(counts):
            rows.append(
                {
                    "reference": reference,
                    "model": name,
                    "bin": i,
                    "jsd_lo": float(edges[i]),
                    "jsd_hi": float(edges[i + 1]),
                    "share": float(c / max(len(values), 1)),
                    "n_images": len(values),
                }
            )
    return rows


def top_fraction(values: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Indices of the top ``fraction`` of ``values`` (at least one)."""
    k = max(1, round(fraction * len(values)))
    return np.argsort(-np.asarray(values), kind="stable")[:k]
