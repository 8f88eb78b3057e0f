"""What the demo's analysis found about routing, read from the analysis tables and cache.

On the synthetic task the cross-patch signal lives in the two key patches. If the bottleneck
works as the paper describes, the few heads that open at strong β spend their nats on those
patches, and repeating a key's content moves the active head's latent further the more copies
there are (the paper's repetition probe, Fig. 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from infovit.analysis.extract import Extraction
from infovit.analysis.tables import read_csv

__all__ = ["RoutingFinding", "format_findings", "routing_findings"]


@dataclass
class RoutingFinding:
    model: str
    active_heads: list[str]  # "block.head" of heads above the activity threshold
    key_kl_share: float  # share of all routed nats written into the two key patches
    key_patch_share: float  # what that share would be if nats were spread evenly (2 / P)
    probe_head: str | None  # the most active head (largest mean KL)
    probe_head_nats_share: float  # its share of all routed nats
    probe_head_key_share: float  # share of its nats written into the two key patches
    probe_copies: list[int]  # N copies pasted
    probe_abs_shift: list[float]  # mean |μ_aug − μ₀| of the probe head per N
    monotone: bool  # |shift| grows strictly with N


def routing_findings(analysis_dir: str | Path, keys: np.ndarray) -> list[RoutingFinding]:
    """One finding per IB model in ``analysis_dir`` (written by ``analyze`` with the heads and
    repetition sections); ``keys`` [n_val, 2] are the key patch positions of the data set."""
    analysis_dir = Path(analysis_dir)
    heads = read_csv(analysis_dir / "tables" / "heads.csv")
    repetition = read_csv(analysis_dir / "tables" / "repetition.csv")
    findings = []
    for model in sorted({str(r["model"]) for r in heads}):
        ext = Extraction.load(analysis_dir / "cache" / f"{model}.npz")
        kl = ext.kl_patch.astype(np.float64)  # [N, P]
        key_idx = keys[ext.indices].astype(np.int64)  # [N, 2]
        on_keys = np.take_along_axis(kl, key_idx, axis=1).sum()
        mine = [r for r in heads if r["model"] == model]
        active = [r for r in mine if r["active"]]
        top = max(active, key=lambda r: float(r["kl_mean"]), default=None)
        copies: list[int] = []
        shifts: list[float] = []
        head_share = head_keys = float("nan")
        if top is not None:
            head_kl = ext.kl_head[:, int(top["block"]), int(top["head"])].astype(np.float64)
            head_share = float(head_kl.sum() / kl.sum())  # [N, P] of that head
            head_keys = float(np.take_along_axis(head_kl, key_idx, axis=1).sum() / head_kl.sum())
            rows = [
                r
                for r in repetition
                if r["model"] == model and r["block"] == top["block"] and r["head"] == top["head"]
            ]
            rows.sort(key=lambda r: int(r["copies"]))
            copies = [int(r["copies"]) for r in rows]
            shifts = [float(r["abs_shift_mean"]) for r in rows]
        findings.append(
            RoutingFinding(
                model=model,
                active_heads=[_head(r) for r in active],
                key_kl_share=float(on_keys / kl.sum()) if kl.sum() > 0 else float("nan"),
                key_patch_share=2.0 / kl.shape[1],
                probe_head=None if top is None else _head(top),
                probe_head_nats_share=head_share,
                probe_head_key_share=head_keys,
                probe_copies=copies,
                probe_abs_shift=shifts,
                monotone=len(shifts) > 1 and all(a < b for a, b in pairwise(shifts)),
            )
        )
    return findings


def _head(row: dict) -> str:
    return f"{int(row['block'])}.{int(row['head'])}"


def format_findings(findings: list[RoutingFinding]) -> str:
    """A Markdown section for the demo summary."""
    lines = [
        "## Routing (analysis of the IB models)",
        "",
        "| model | active heads (> 0.01 nats on some patch) | nats into the 2 key patches "
        "(of 36) | most active head: share of nats, of them into the keys | repetition probe: "
        "mean abs shift of its latent for N copies | grows with N |",
        "|---|---|---|---|---|---|",
    ]
    for f in findings:
        probe = ", ".join(
            f"N={n}: {s:.3g}" for n, s in zip(f.probe_copies, f.probe_abs_shift, strict=True)
        )
        lines.append(
            f"| {f.model} | {len(f.active_heads)} ({', '.join(f.active_heads) or '—'}) | "
            f"{100 * f.key_kl_share:.0f}% (even spread: {100 * f.key_patch_share:.0f}%) | "
            f"{f.probe_head or '—'}: {100 * f.probe_head_nats_share:.0f}%, "
            f"{100 * f.probe_head_key_share:.0f}% | {probe or '—'} | "
            f"{'yes' if f.monotone else 'no'} |"
        )
    return "\n".join(lines) + "\n"
