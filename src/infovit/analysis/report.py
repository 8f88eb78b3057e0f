"""``infovit analyze`` end to end: extract once per run, write tables, draw figures, index them.

Every section writes CSV tables first and draws its figures from those rows, so a figure never
shows a number that is not in a table next to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Dataset

from infovit.analysis.extract import Extraction, extract_cached
from infovit.analysis.extreme import extreme_patches, extreme_table
from infovit.analysis.heads import head_table, survival_table
from infovit.analysis.jsd import jsd, jsd_bin_table
from infovit.analysis.klmaps import SELECTIONS, kl_map_table, select_images
from infovit.analysis.repetition import repetition_probe, repetition_table
from infovit.analysis.spectrum import aggregate_spectrum, config_label, pareto_front, spectrum_row
from infovit.analysis.tables import Row, write_csv
from infovit.atomic import write_json, write_text
from infovit.errors import InfovitError
from infovit.model.vit import InfoViT

__all__ = ["SECTIONS", "AnalysisOptions", "LoadedRun", "analyze", "describe_label"]

SECTIONS = ("spectrum", "heads", "voting", "klmaps", "jsd", "extreme", "repetition")


@dataclass
class AnalysisOptions:
    """What to compute; defaults follow the paper where it says."""

    only: tuple[str, ...] = SECTIONS
    passes: int = 1
    max_images: int | None = None
    batch_size: int = 64
    threshold: float = 1e-2  # nats: a head is active above this on some patch
    pairs: int = 1024  # repetition probe (image, patch) pairs
    extreme_heads: int = 3  # most active heads per model shown in extreme-patch figures
    maps_per_selection: int = 6
    seed: int = 0
    device: str = "cpu"
    progress: bool = True


@dataclass
class LoadedRun:
    """A model to analyse with its validation data and provenance."""

    name: str
    model: InfoViT
    dataset: Dataset
    label: str  # configuration label shared across seeds
    seed: Any = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    imagenet: bool = True  # images are ImageNet-normalised (not synthetic)


@dataclass
class _Index:
    out: Path
    entries: list[dict[str, str]] = field(default_factory=list)

    def add(self, section: str, path: Path, what: str) -> None:
        self.entries.append(
            {"section": section, "file": str(path.relative_to(self.out)), "what": what}
        )

    def table(self, section: str, name: str, rows: list[Row], what: str) -> Path:
        path = self.out / "tables" / f"{name}.csv"
        write_csv(path, rows)
        self.add(section, path, what)
        return path

    def figures(self, section: str, paths: list[Path], what: str) -> None:
        for p in paths:
            self.add(section, p, what)


def analyze(runs: list[LoadedRun], out: Path, options: AnalysisOptions) -> dict[str, Any]:
    """Run the chosen sections over ``runs`` into ``out``; returns the index written there."""
    from infovit.plotting import (
        plot_active_heads,
        plot_extreme,
        plot_jsd_bins,
        plot_kl_maps,
        plot_rank_maps,
        plot_repetition,
        plot_spectrum,
        plot_survival,
        plot_voting,
    )

    unknown = sorted(set(options.only) - set(SECTIONS))
    if unknown:
        raise InfovitError(f"unknown analysis {unknown}; choose from {', '.join(SECTIONS)}")
    if not runs:
        raise InfovitError("no runs to analyse")
    out = Path(out)
    figs = out / "figures"
    index = _Index(out)
    exts: list[Extraction] = []
    for run in runs:
        exts.append(
            extract_cached(
                run.model,
                run.dataset,
                out / "cache" / f"{run.name}.npz",
                run.fingerprint,
                name=run.name,
                passes=options.passes,
                max_images=options.max_images,
                batch_size=options.batch_size,
                device=options.device,
                progress=options.progress,
            )
        )
    n_images = {len(e.labels) for e in exts}
    if len(n_images) > 1:
        raise InfovitError("the runs saw different numbers of validation images; same --data?")
    only = set(options.only)

    if "spectrum" in only:
        rows = [spectrum_row(e, r.label, r.seed) for e, r in zip(exts, runs, strict=True)]
        agg = aggregate_spectrum(rows)
        for row, on in zip(agg, pareto_front(agg), strict=True):
            row["pareto"] = on
        index.table("spectrum", "spectrum_runs", rows, "top-1 and nats per image per run")
        index.table("spectrum", "spectrum", agg, "per config: seeds aggregated, Pareto flag")
        index.figures("spectrum", plot_spectrum(agg, figs / "spectrum"), "accuracy vs nats")

    ib = [(e, r) for e, r in zip(exts, runs, strict=True) if e.variant == "ib"]
    if "heads" in only and ib:
        heads = [row for e, _ in ib for row in head_table(e, options.threshold)]
        surv = [row for e, _ in ib for row in survival_table(e)]
        index.table("heads", "heads", heads, "per head: active, max KL, share < 0.5 nats, dims")
        index.table("heads", "head_survival", surv, "P(KL ≥ x) per head over all patches")
        index.figures("heads", plot_survival(surv, figs / "head_survival"), "survival per head")
        index.figures("heads", plot_active_heads(heads, figs / "active_heads"), "active heads")

    if "voting" in only:
        from infovit.analysis.rank_maps import RANK_CATEGORIES, rank_map_table, rank_share_table
        from infovit.analysis.voting import voting_table

        rows = [row for e in exts for row in voting_table(e.name, e.simpson, e.logit_range)]
        per_image = [
            {"model": e.name, "image": int(i), "simpson": float(s), "logit_range": float(g)}
            for e in exts
            for i, s, g in zip(e.indices, e.simpson, e.logit_range, strict=True)
        ]
        index.table("voting", "voting", rows, "medians and IQRs of patch-vote summaries")
        index.table("voting", "voting_images", per_image, "per image: Simpson index, logit range")
        index.figures("voting", plot_voting(rows, figs / "voting"), "Simpson vs logit range")
        shares = rank_share_table(exts)
        index.table("voting", "rank_shares", shares, "share of patches per rank of their vote")
        chosen = select_images(exts, "jsd", options.maps_per_selection, options.seed)
        ranks = rank_map_table(exts, chosen, "jsd")
        index.table("voting", "rank_maps", ranks, "rank of each patch's vote, chosen images")
        pixels = {
            int(exts[0].indices[c]): _pixels(runs[0].dataset, exts[0].indices[c]) for c in chosen
        }
        labels = tuple(label for label, _, _ in RANK_CATEGORIES)
        rank_figs = plot_rank_maps(ranks, pixels, figs / "rank_maps", runs[0].imagenet, labels)
        index.figures("voting", rank_figs, "patch votes coloured by rank (Figs. 8-10)")

    if "klmaps" in only and ib:
        for rule in SELECTIONS:
            chosen = select_images(exts, rule, options.maps_per_selection, options.seed)
            maps = kl_map_table([e for e, _ in ib], chosen, rule)
            index.table("klmaps", f"klmaps_{rule}", maps, f"per-patch KL maps, {rule} images")
            pixels = {
                int(exts[0].indices[c]): _pixels(runs[0].dataset, exts[0].indices[c])
                for c in chosen
            }
            index.figures(
                "klmaps",
                plot_kl_maps(maps, pixels, figs / f"klmaps_{rule}", runs[0].imagenet),
                f"KL maps ({rule})",
            )

    if "jsd" in only and len(exts) > 1:
        rows, per_image = [], []
        for ref in [e for e in exts if e.variant in ("no_attn", "vit")] or [exts[0]]:
            values = {e.name: jsd(ref.probs, e.probs) for e in exts if e is not ref}
            rows.extend(jsd_bin_table(ref.name, values))
            per_image.extend(
                {"reference": ref.name, "model": m, "image": int(i), "jsd": float(v)}
                for m, vals in values.items()
                for i, v in zip(ref.indices, vals, strict=True)
            )
        index.table("jsd", "jsd_bins", rows, "share of images per JSD bin vs each endpoint")
        index.table("jsd", "jsd_images", per_image, "per image JSD (nats) vs each endpoint")
        index.figures("jsd", plot_jsd_bins(rows, figs / "jsd_bins"), "JSD bins (Fig. 7)")

    if "extreme" in only:
        for e, r in ib:
            for b, h in _top_heads(e, options.extreme_heads, options.threshold):
                res = extreme_patches(r.model, r.dataset, e, b, h, device=options.device)
                rows = extreme_table(res)
                stem = f"extreme_{_safe(r.name)}_{b}.{h}"
                index.table("extreme", stem, rows, f"top 0.1% KL patches of head {b}.{h}")
                # a timm PatchEmbed's patch_size is a pair (typed Any by timm)
                ps = cast(tuple[int, int], tuple(int(p) for p in r.model.patch_embed.patch_size))
                index.figures(
                    "extreme",
                    plot_extreme(rows, res.pixels, res.attn, ps, figs / stem, r.imagenet),
                    f"extreme patches of {r.name} head {b}.{h}",
                )

    if "repetition" in only:
        rows = []
        for e, r in ib:
            probe = repetition_probe(
                r.model,
                r.dataset,
                e.kl_dim,
                name=r.name,
                pairs=options.pairs,
                image_pool=e.indices,
                seed=options.seed,
                device=options.device,
                progress=options.progress,
            )
            rows.extend(repetition_table(probe))
        if rows:
            index.table("repetition", "repetition", rows, "latent mean shift per head and N")
            index.figures(
                "repetition", plot_repetition(rows, figs / "repetition"), "repetition probe"
            )

    # Keep earlier entries of sections not re-run this time (and whose files still exist).
    previous = _read_index(out / "index.json")
    kept = [
        x for x in previous if x.get("section") not in only and (out / x.get("file", "")).is_file()
    ]
    index.entries = kept + index.entries
    result = {
        "runs": [{"name": r.name, "config": r.label, **r.fingerprint} for r in runs],
        "sections": sorted({x["section"] for x in index.entries} | only),
        "n_images": int(next(iter(n_images))),
        "files": index.entries,
    }
    write_json(out / "index.json", result)
    lines = ["# infovit analyze", "", f"Runs: {', '.join(r.name for r in runs)}", ""]
    lines += ["| section | file | what |", "|---|---|---|"]
    lines += [
        f"| {x['section']} | [{x['file']}]({x['file']}) | {x['what']} |" for x in index.entries
    ]
    write_text(out / "index.md", "\n".join(lines) + "\n")
    return result


def _read_index(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("files", []))
    except (ValueError, AttributeError):
        return []


def _pixels(dataset: Dataset, index: int) -> np.ndarray:
    image = dataset[int(index)][0]
    return image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)


def _top_heads(ext: Extraction, count: int, threshold: float) -> list[tuple[int, int]]:
    """The ``count`` active heads with the largest maximum KL."""
    if ext.kl_head.size == 0:
        return []
    peak = ext.kl_head.astype(np.float32).max(axis=(0, 3))  # [L, H]
    order = np.argsort(-peak, axis=None)[:count]
    return [
        (int(b), int(h))
        for b, h in zip(*np.unravel_index(order, peak.shape), strict=True)
        if peak[b, h] > threshold
    ]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def describe_label(config: Any) -> str:
    """The configuration label of a run's config (β and convention for IB runs)."""
    return config_label(config.model.variant, config.beta.value, config.beta.convention)
