"""``infovit analyze`` end to end: one streamed extraction per run, then every chosen section.

Sections come from the registry (:mod:`infovit.analysis.sections`): each computes its tables
into the analysis folder, then draws its figures from those saved tables, so a figure never
shows a number that is not in a table next to it. All sections see the same images: one seeded
:class:`~infovit.data.selection.ImageSelection`, applied once, recorded in ``index.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infovit.analysis.context import AnalysisOptions, Context, LoadedRun
from infovit.analysis.extract import Extraction, extract_cached
from infovit.analysis.sections import resolve
from infovit.analysis.spectrum import config_label
from infovit.analysis.store import Store
from infovit.data.selection import ImageSelection
from infovit.errors import InfovitError

__all__ = ["AnalysisOptions", "LoadedRun", "analyze", "describe_label", "draw_figures"]


def analyze(runs: list[LoadedRun], out: Path, options: AnalysisOptions) -> dict[str, Any]:
    """Run the chosen sections over ``runs`` into ``out``; returns the index written there."""
    sections = resolve(options.only)
    if not runs:
        raise InfovitError("no runs to analyse")
    out = Path(out)
    store = Store(out)
    selection = ImageSelection(options.max_images, "even", options.seed)
    exts: list[Extraction] = []
    if any("extraction" in s.needs for s in sections):
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
                    seed=options.seed,
                )
            )
    n_images = {len(e.labels) for e in exts}
    if len(n_images) > 1:
        raise InfovitError("the runs saw different numbers of validation images; same --data?")
    ctx = Context(runs, exts, options, selection, store)
    for section in sections:
        section.compute(ctx)
        if options.figures:
            section.draw(store)
    chosen = {s.name for s in sections}
    store.keep_previous(chosen)
    header = {
        "runs": [{"name": r.name, "config": r.label, **r.fingerprint} for r in runs],
        "sections": sorted({e["section"] for e in store.entries} | chosen),
        "n_images": int(next(iter(n_images))) if n_images else None,
        "selection": selection.describe(),
    }
    return store.write_index(header, "infovit analyze")


def draw_figures(out: Path, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Redraw the figures of an analysis folder from its saved tables alone (no model, no data)."""
    import json

    store = Store.open(Path(out))
    index = Path(out) / "index.json"
    if not index.is_file():
        raise InfovitError(f"{out} has no index.json: not an analysis folder")
    header = {k: v for k, v in json.loads(index.read_text()).items() if k != "files"}
    present = {e["section"] for e in store.entries}
    for section in resolve(only):
        if section.name in present:
            store.entries = [
                e
                for e in store.entries
                if not (e["section"] == section.name and e["kind"] == "figure")
            ]
            section.draw(store)
    return store.write_index(header, "infovit analyze")


def describe_label(config: Any) -> str:
    """The configuration label of a run's config (β and convention for IB runs)."""
    return config_label(config.model.variant, config.beta.value, config.beta.convention)
