"""The paper's five claims, checked on the demo's saved analysis tables (claim 3 in two lines).

Each claim is a rule stated before any model is trained, evaluated on the numbers the analysis
wrote (``spectrum_runs.csv``, ``heads.csv``, ``voting.csv``, the routing findings), and
reported with those numbers whether it holds or not. The rules (arXiv 2602.04784):

1. **Spectrum** (Fig. 1b): ordered from the strongest β to the weakest, nats per image
   grow and accuracy does not fall by more than its two-pass spread; no_attn is the lowest
   accuracy and the unmodified ViT the highest.
2. **Where the nats go** (Fig. 2): every bottlenecked model that routes at least one nat
   per image writes a larger share of its nats into the two key patches (the only patches whose
   content other patches need) than an even spread would.
3. **Few active heads at strong β** (Fig. 3): the strongest-β model that beats the
   independent-patch ceiling has at most a quarter of its heads active; and, reported beside it
   as its own line, the number of active heads never falls as β weakens.
4. **Patch voting** (Fig. 1c): no_attn's patches vote for the most classes (highest
   median inverse Simpson index) and most loudly (widest median logit range); the ViT's for
   the fewest and least loudly.
5. **Repetition probe** (Fig. 5): in every bottlenecked model that routes at least one nat
   per image, the most active head's latent moves further the more copies of a key are pasted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from infovit.analysis.tables import read_csv
from infovit.demo.findings import RoutingFinding
from infovit.demo.spectrum import SpectrumRow
from infovit.model.capabilities import is_endpoint, is_priced

__all__ = ["Claim", "check_claims", "format_claims"]


@dataclass(frozen=True)
class Claim:
    name: str  # short title
    rule: str  # what must hold, in words
    holds: bool
    evidence: str  # the numbers it was decided on


def _by_strength(rows: list[SpectrumRow]) -> list[SpectrumRow]:
    """Bottlenecked models from the strongest β to the weakest."""
    return sorted((r for r in rows if is_priced(r)), key=lambda r: -(r.beta or 0.0))


def _spectrum(rows: list[SpectrumRow]) -> Claim:
    ib = _by_strength(rows)
    ends = {r.variant: r for r in rows if is_endpoint(r)}
    nats_grow = all((a.kl_per_image or 0) < (b.kl_per_image or 0) for a, b in pairwise(ib))
    acc_holds = all(b.top1 >= a.top1 - 2 * max(a.top1_std, b.top1_std) for a, b in pairwise(ib))
    accs = [r.top1 for r in rows]
    ends_hold = (
        "no_attn" in ends
        and "vit" in ends
        and ends["no_attn"].top1 == min(accs)
        and ends["vit"].top1 == max(accs)
    )
    evidence = ", ".join(
        f"{r.name}: {r.top1:.1f}%"
        + (f" at {r.kl_per_image:.3g} nats" if r.kl_per_image is not None else "")
        for r in ([ends["no_attn"]] if "no_attn" in ends else [])
        + ib
        + ([ends["vit"]] if "vit" in ends else [])
    )
    return Claim(
        "spectrum",
        "as β weakens, nats per image grow and accuracy does not fall (beyond 2 × its spread); "
        "no_attn lowest, ViT highest",
        nats_grow and acc_holds and ends_hold,
        evidence,
    )


def _routing(findings: list[RoutingFinding], kl: dict[str, float]) -> list[RoutingFinding]:
    return [f for f in findings if kl.get(f.model, 0.0) >= 1.0]


def _keys(findings: list[RoutingFinding], kl: dict[str, float]) -> Claim:
    routing = _routing(findings, kl)
    holds = bool(routing) and all(f.key_kl_share > f.key_patch_share for f in routing)
    evidence = ", ".join(
        f"{f.model}: {100 * f.key_kl_share:.1f}% (even {100 * f.key_patch_share:.1f}%)"
        for f in routing
    )
    return Claim(
        "nats into the keys",
        "every model routing ≥ 1 nat/image writes more of its nats into the two key patches "
        "than an even spread",
        holds,
        evidence or "no model routes ≥ 1 nat/image",
    )


def _heads(
    rows: list[SpectrumRow], findings: list[RoutingFinding], n_heads: int, ceiling: float
) -> list[Claim]:
    active = {f.model: len(f.active_heads) for f in findings}
    ib = [r for r in _by_strength(rows) if r.name in active]
    counts = [active[r.name] for r in ib]
    above = [r for r in ib if r.top1 > 100 * ceiling]
    evidence = ", ".join(f"β={r.beta:g}: {active[r.name]}/{n_heads}" for r in ib)
    few = Claim(
        "few active heads at strong β",
        "the strongest-β model above the independent-patch ceiling has ≤ 1/4 of its heads active",
        bool(above) and active[above[0].name] <= n_heads / 4,
        evidence
        + (
            f"; strongest β above the {100 * ceiling:.1f}% ceiling: {above[0].name}"
            if above
            else ""
        ),
    )
    grows = Claim(
        "more active heads as β weakens",
        "the number of active heads never falls as β weakens",
        all(a <= b for a, b in pairwise(counts)),
        evidence,
    )
    return [few, grows]


def _voting(analysis_dir: Path) -> Claim:
    table = {str(r["model"]): r for r in read_csv(analysis_dir / "tables" / "voting.csv")}
    if "no_attn" not in table or "vit" not in table:
        return Claim("patch voting", "needs no_attn and vit", False, "not computed")
    simpson = {m: float(r["simpson_median"]) for m, r in table.items()}
    spread = {m: float(r["logit_range_median"]) for m, r in table.items()}
    holds = all(
        d["no_attn"] == max(d.values()) and d["vit"] == min(d.values()) for d in (simpson, spread)
    )
    evidence = "; ".join(
        f"{m}: {simpson[m]:.2f} classes, logit range {spread[m]:.1f}" for m in table
    )
    return Claim(
        "patch voting",
        "no_attn's patches vote for the most classes and most loudly, the ViT's for the fewest "
        "and least loudly (medians)",
        holds,
        evidence,
    )


def _repetition(findings: list[RoutingFinding], kl: dict[str, float]) -> Claim:
    routing = [f for f in _routing(findings, kl) if f.probe_abs_shift]
    holds = bool(routing) and all(f.monotone for f in routing)
    evidence = ", ".join(
        f"{f.model} head {f.probe_head}: "
        + " < ".join(f"{s:.3g}" for s in f.probe_abs_shift)
        + f" for N = {', '.join(map(str, f.probe_copies))}"
        for f in routing
    )
    return Claim(
        "repetition probe",
        "in every model routing ≥ 1 nat/image the most active head moves further with more "
        "copies of a key",
        holds,
        evidence or "not computed",
    )


def check_claims(
    rows: list[SpectrumRow],
    findings: list[RoutingFinding],
    analysis_dir: str | Path,
    n_heads: int,
    ceiling: float,
) -> list[Claim]:
    """The five claims (module docstring) on the demo's spectrum ``rows``, routing
    ``findings`` and the voting table in ``analysis_dir``; ``n_heads`` = blocks × heads,
    ``ceiling`` = the independent-patch ceiling (fraction) the strong-β model must beat."""
    kl = {
        r.name: r.kl_per_image
        for r in rows
        if r.kl_per_image is not None and math.isfinite(r.kl_per_image)
    }
    return [
        _spectrum(rows),
        _keys(findings, kl),
        *_heads(rows, findings, n_heads, ceiling),
        _voting(Path(analysis_dir)),
        _repetition(findings, kl),
    ]


def format_claims(claims: list[Claim]) -> str:
    """A Markdown section: one row per claim with its rule, verdict and numbers."""
    lines = [
        "## The paper's claims on this demo",
        "",
        "| claim | rule | shown | numbers |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {c.rule} | {'yes' if c.holds else '**no**'} | {c.evidence} |" for c in claims
    ]
    return "\n".join(lines) + "\n"
