"""``infovit.information.compare_heads``: what ``infovit compare-heads`` does, as a library call.

NMI between attention-head channels (arXiv 2602.04784, eqs. 4–6, Fig. 6): I(X;U) per head, and
for every pair I(U;V) and NMI = I(U;V) / sqrt(I(U;U′) I(V;V′)), with standard errors, by Monte
Carlo or the Bhattacharyya / KL distance bounds. Channels come from trained runs (posteriors of
the selected heads over the same patches) or from saved posterior files.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from infovit.atomic import write_json, write_text
from infovit.errors import InfovitError
from infovit.information.channel import GaussianChannel, as_channel
from infovit.information.heads import (
    extract_head_posteriors,
    match_channel_names,
    parse_head_selector,
)
from infovit.information.io import load_posteriors, save_posteriors
from infovit.information.nmi import METHODS, information_matrix
from infovit.information.report import channel_rows, matrix_csv, pair_rows, write_rows

if TYPE_CHECKING:
    from infovit.model.block import InfoBlock

__all__ = ["CompareOptions", "channels_from_files", "channels_from_runs", "compare_heads"]

_TITLES = {"mc": "Monte Carlo", "bhattacharyya": "Bhattacharyya (lower bound)"}


@dataclass
class CompareOptions:
    """Estimation and extraction settings of :func:`compare_heads` (the CLI's defaults)."""

    methods: Sequence[str] = ("mc", "bhattacharyya")
    samples: int = 20000  # Monte Carlo draws of (x, u)
    rows: int = 2000  # patches averaged over by the distance methods; 0 = all
    components: int = 0  # marginal components; 0 = all
    seed: int = 0
    dtype: str = "auto"
    split: str = "val"
    num_images: int = 64
    batch_size: int = 32
    tag: str = "auto"
    save_posteriors: str | None = None
    plot: bool = True
    progress: bool = True
    command: list[str] = field(default_factory=lambda: list(sys.argv))


def channels_from_files(
    files: Sequence[str], heads: Sequence[str], cols: Sequence[str] | None
) -> tuple[dict[str, GaussianChannel], list[str], list[str]]:
    """Channels of saved posterior files; selectors are shell-style patterns on their names."""
    channels = load_posteriors(files)
    names = list(channels)
    rows = match_channel_names(heads or ["*"], names)
    return channels, rows, (match_channel_names(cols, names) if cols else rows)


def channels_from_runs(
    heads: Sequence[str],
    cols: Sequence[str] | None,
    data: str | None,
    options: CompareOptions,
    device: Any,
) -> tuple[dict[str, GaussianChannel], list[str], list[str], str]:
    """Posteriors of the selected heads (``RUN:B.H``) over the first images of ``data``;
    channels are named ``NAME:block.head`` with NAME from :func:`infovit.naming.run_names`.
    Returns the channels, row and column names, and the data spec used."""
    from infovit.data import build_dataset, parse_data_spec
    from infovit.model.capabilities import has_attention
    from infovit.naming import run_names
    from infovit.training.run import RunFolder, load_model

    if not heads:
        raise InfovitError("give head selectors (e.g. runs/beta10:11.0), or --posteriors FILE")
    row_sel = [parse_head_selector(s) for s in heads]
    col_sel = [parse_head_selector(s) for s in cols] if cols else row_sel
    runs = list(dict.fromkeys(s.run for s in row_sel + col_sel))
    if not data:  # the first run's own validation data, as its config records it
        data = RunFolder.open(runs[0]).config().data.spec
    spec = parse_data_spec(data)
    label = dict(zip(runs, run_names([Path(r).resolve() for r in runs]), strict=True))
    arrays: dict[str, tuple[Any, Any]] = {}
    picked: dict[int, list[str]] = {0: [], 1: []}  # names selected as rows (0) and columns (1)
    n_patches: set[int] = set()
    for run_dir in runs:
        if not Path(run_dir).is_dir():
            raise InfovitError(f"run folder not found: {run_dir}")
        model, config = load_model(run_dir, tag=options.tag, device=device)
        blocks = cast("Sequence[InfoBlock]", model.blocks)  # nn.Sequential iterates as Module
        attn = next((b.attn for b in blocks if b.attn is not None), None)
        if attn is None or not has_attention(model):
            raise InfovitError(f"{run_dir}: model has no attention heads to compare")
        mine = [(k, s) for k in (0, 1) for s in (row_sel, col_sel)[k] if s.run == run_dir]
        chosen = [(k, s.resolve(len(blocks), attn.num_heads)) for k, s in mine]
        selected = list(dict.fromkeys(bh for _, bhs in chosen for bh in bhs))
        img_size = getattr(config.model, "img_size", None)
        dataset = build_dataset(spec, split=options.split, img_size=img_size)
        post = extract_head_posteriors(
            model,
            dataset,
            selected,
            n_images=options.num_images,
            batch_size=options.batch_size,
            device=device,
            progress=options.progress,
        )
        for (b, h), value in post.items():
            arrays[f"{label[run_dir]}:{b}.{h}"] = value
            n_patches.add(value[0].shape[0])
        for k, bhs in chosen:
            picked[k].extend(f"{label[run_dir]}:{b}.{h}" for b, h in bhs)
        del model
    if len(n_patches) > 1:
        raise InfovitError(
            f"runs see different numbers of patches ({sorted(n_patches)}): they must share the "
            "image size and patch size to be compared over the same patches"
        )
    if options.save_posteriors:
        save_posteriors(options.save_posteriors, arrays)
    channels = {name: as_channel(mu, lv, name=name) for name, (mu, lv) in arrays.items()}
    rows = list(dict.fromkeys(picked[0]))
    return channels, rows, (list(dict.fromkeys(picked[1])) if cols else rows), str(spec)


def compare_heads(
    heads: Sequence[str],
    out: str | Path,
    *,
    cols: Sequence[str] | None = None,
    posteriors: Sequence[str] | None = None,
    data: str | None = None,
    options: CompareOptions | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Estimate NMI between the selected channels and write the tables (and heatmap) to ``out``.

    Outputs: ``nmi.csv``, ``channels.csv``, ``nmi_<method>.csv`` / ``nmi_se_<method>.csv``
    (matrices), ``nmi_heatmap.png`` and ``summary.json``; returns the summary.
    """
    from infovit.training.device import resolve_device

    options = options or CompareOptions()
    methods = list(dict.fromkeys(m.strip().lower() for m in options.methods))
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InfovitError(f"--method: choose from {', '.join(METHODS)} (got {options.methods})")
    for flag in ("samples", "num_images", "batch_size"):
        if getattr(options, flag) < 1:
            raise InfovitError(f"--{flag.replace('_', '-')} must be ≥ 1")
    if options.rows < 0 or options.components < 0:
        raise InfovitError("--rows and --components must be ≥ 0 (0 = all patches)")
    dev = resolve_device(device)
    if posteriors:
        channels, rows, col_names = channels_from_files(posteriors, heads, cols)
        source: dict[str, Any] = {"posteriors": list(posteriors)}
    else:
        channels, rows, col_names, spec = channels_from_runs(heads, cols, data, options, dev)
        source = {"data": spec, "split": options.split, "num_images": options.num_images}
    used = list(dict.fromkeys(rows + col_names))
    out = Path(out)
    records, per_channel, panels, summary = [], [], [], {}
    from infovit.information.plot import HeatmapPanel, plot_nmi_heatmap

    for method in methods:
        result = information_matrix(
            [channels[n] for n in used],
            method=method,
            n_samples=options.samples if method == "mc" else (options.rows or None),
            n_components=options.components or None,
            seed=options.seed,
            dtype=options.dtype,
            device=dev,
            progress=options.progress,
        )
        records += pair_rows(result, rows, col_names)
        per_channel += channel_rows(result)
        write_text(out / f"nmi_{method}.csv", matrix_csv(result, rows, col_names))
        write_text(out / f"nmi_se_{method}.csv", matrix_csv(result, rows, col_names, stderr=True))
        ri = [result.index(n) for n in rows]
        ci = [result.index(n) for n in col_names]
        s = result.settings
        title = _TITLES.get(method, "KL (upper bound)")
        panels.append(
            HeatmapPanel(
                f"NMI, {title}\nL={s['n_points']}, rows={s['n_rows']}, M={s['n_components']}",
                result.nmi[ri][:, ci],
                result.nmi_se[ri][:, ci],
            )
        )
        summary[method] = s
        print(
            f"{method}: {len(used)} channels, {s['seconds']:.1f} s ({s['dtype']})", file=sys.stderr
        )
    write_rows(out / "nmi.csv", records)
    write_rows(out / "channels.csv", per_channel)
    if options.plot:
        plot_nmi_heatmap(panels, rows, col_names, out / "nmi_heatmap.png")
    result_summary = {
        "rows": rows,
        "cols": col_names,
        "source": source,
        "methods": summary,
        "command": options.command,
    }
    write_json(out / "summary.json", result_summary)
    return result_summary
