"""``infovit compare-heads``: NMI between attention-head channels (paper 001, eqs. 4–6, Fig. 6).

Heavy imports (torch, matplotlib, the model) happen inside :func:`run` so ``infovit --help`` stays
fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from infovit.model.block import InfoBlock

__all__ = ["register", "run"]

_EXAMPLES = """\
examples:
  # head 11.0 of a β=10 model against every head of a β=1 model, on 64 validation images
  infovit compare-heads runs/beta10:11.0 --cols runs/beta1:* \\
      --data imagenet100:/data/in100 --num-images 64 --out nmi/b10_vs_b1

  # the same head across three seeds (a square matrix), keeping the extracted posteriors
  infovit compare-heads runs/s1:11.0 runs/s2:11.0 runs/s3:11.0 --data synthetic \\
      --save-posteriors nmi/seeds/posteriors.npz --out nmi/seeds

  # saved posteriors (NAME.mu / NAME.logvar arrays, [L, r]); selectors match names (shell-style)
  infovit compare-heads 'b4:*' --cols 'b1:*' --posteriors b4.npz b1.safetensors \\
      --samples 100000 --out nmi/b4_vs_b1

outputs (in --out): nmi.csv (row, col, method, nmi, nmi_se, mi_uv, mi_uv_se), channels.csv
(I(X;U), I(U;U′) per channel), nmi_<method>.csv and nmi_se_<method>.csv (matrices),
nmi_heatmap.png, summary.json (settings, timings).

cost and accuracy: time ∝ rows × components × (channels·r + channels²). The Monte Carlo
standard error shrinks as 1/√--samples. Fewer --components biases I downwards (each estimate
is capped at log(components+1)); keep it well above exp(I), or leave it at all patches.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare-heads",
        help="NMI between attention heads (stochastic channels) of one or more runs",
        description=(
            "Estimate, for each selected head, the mutual information I(X;U) between patch\n"
            "identity X and its latent U; for every pair the shared information I(U;V) and\n"
            "NMI = I(U;V) / sqrt(I(U;U')·I(V;V')), U' an independent draw; all with standard\n"
            "errors. Methods: Monte Carlo over the aggregated posterior (log-sum-exp), and the\n"
            "Bhattacharyya (lower) / KL (upper) pairwise-distance bounds.\n\n"
            "Heads: RUN:BLOCK.HEAD, RUN:BLOCK.* or RUN:*. With --posteriors, selectors are\n"
            "shell-style patterns on the channel names in the files."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("heads", nargs="*", metavar="SELECTOR", help="matrix rows (and columns)")
    p.add_argument("--cols", nargs="+", metavar="SELECTOR", help="matrix columns (default: rows)")
    src = p.add_argument_group("posteriors (from runs, or saved arrays)")
    src.add_argument(
        "--posteriors",
        nargs="+",
        metavar="FILE",
        help=".npz/.safetensors with NAME.mu, NAME.logvar",
    )
    src.add_argument(
        "--data",
        metavar="SPEC",
        help="synthetic | imagenet100:ROOT | cifar10:ROOT … (default: the first run's data)",
    )
    src.add_argument("--split", default="val", choices=("train", "val"))
    src.add_argument("--num-images", type=int, default=64, help="first N images (default: 64)")
    src.add_argument("--batch-size", type=int, default=32)
    src.add_argument("--tag", default="auto", help="checkpoint: best | last | auto")
    src.add_argument("--save-posteriors", metavar="FILE", help="also write the extracted arrays")
    est = p.add_argument_group("estimation")
    est.add_argument(
        "--method",
        default="mc,bhattacharyya",
        help="comma list of mc, bhattacharyya, kl (default: mc,bhattacharyya)",
    )
    est.add_argument(
        "--samples", type=int, default=20000, help="Monte Carlo draws of (x, u) (default: 20000)"
    )
    est.add_argument(
        "--rows",
        type=int,
        default=2000,
        help="patches averaged over by the distance methods; 0 = all (default: 2000)",
    )
    est.add_argument("--components", type=int, default=0, help="marginal components; 0 = all")
    est.add_argument("--seed", type=int, default=0)
    est.add_argument("--dtype", default="auto", choices=("auto", "float32", "float64"))
    out = p.add_argument_group("resources and output")
    out.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    out.add_argument("--out", required=True, metavar="DIR")
    out.add_argument("--no-plot", action="store_true", help="skip the heatmap")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _methods(text: str) -> list[str]:
    from infovit.errors import InfovitError
    from infovit.information import METHODS

    methods = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InfovitError(f"--method: choose from {', '.join(METHODS)} (got {text!r})")
    return list(dict.fromkeys(methods))


def _from_files(args: argparse.Namespace) -> tuple[dict[str, Any], list[str], list[str]]:
    from infovit.information import load_posteriors, match_channel_names

    channels = load_posteriors(args.posteriors)
    names = list(channels)
    rows = match_channel_names(args.heads or ["*"], names)
    cols = match_channel_names(args.cols, names) if args.cols else rows
    return channels, rows, cols


def _from_runs(
    args: argparse.Namespace, device: Any
) -> tuple[dict[str, Any], list[str], list[str]]:
    from infovit.data import build_dataset, parse_data_spec
    from infovit.errors import InfovitError
    from infovit.information import as_channel, extract_head_posteriors, parse_head_selector
    from infovit.information.io import save_posteriors
    from infovit.training.run import RunFolder, load_model

    if not args.heads:
        raise InfovitError("give head selectors (e.g. runs/beta10:11.0), or --posteriors FILE")
    row_sel = [parse_head_selector(s) for s in args.heads]
    col_sel = [parse_head_selector(s) for s in args.cols] if args.cols else row_sel
    runs = list(dict.fromkeys(s.run for s in row_sel + col_sel))
    if not args.data:  # the first run's own validation data, as its config records it
        args.data = RunFolder.open(runs[0]).config().data.spec
    spec = parse_data_spec(args.data)
    # Channel names "LABEL:block.head": the run folder's name when those are unique, else the path.
    short = {run: Path(run).resolve().name or run for run in runs}
    label = short if len(set(short.values())) == len(runs) else {run: run for run in runs}
    arrays: dict[str, tuple[Any, Any]] = {}
    picked: dict[int, list[str]] = {0: [], 1: []}  # names selected as rows (0) and columns (1)
    n_patches: set[int] = set()
    for run_dir in runs:
        if not Path(run_dir).is_dir():
            raise InfovitError(f"run folder not found: {run_dir}")
        model, config = load_model(run_dir, tag=args.tag, device=device)
        blocks = cast("Sequence[InfoBlock]", model.blocks)  # nn.Sequential iterates as Module
        n_blocks = len(blocks)
        attn = next((b.attn for b in blocks if getattr(b, "attn", None) is not None), None)
        if attn is None:
            raise InfovitError(f"{run_dir}: model has no attention heads to compare")
        mine = [(k, s) for k in (0, 1) for s in (row_sel, col_sel)[k] if s.run == run_dir]
        heads = list(
            dict.fromkeys(bh for _, s in mine for bh in s.resolve(n_blocks, attn.num_heads))
        )
        img_size = getattr(config.model, "img_size", None)
        dataset = build_dataset(spec, split=args.split, img_size=img_size)
        post = extract_head_posteriors(
            model,
            dataset,
            heads,
            n_images=args.num_images,
            batch_size=args.batch_size,
            device=device,
            progress=not args.no_progress,
        )
        for (b, h), value in post.items():
            arrays[f"{label[run_dir]}:{b}.{h}"] = value
            n_patches.add(value[0].shape[0])
        for k, s in mine:
            picked[k].extend(
                f"{label[run_dir]}:{b}.{h}" for b, h in s.resolve(n_blocks, attn.num_heads)
            )
        del model
    if len(n_patches) > 1:
        raise InfovitError(
            f"runs see different numbers of patches ({sorted(n_patches)}): they must share the "
            "image size and patch size to be compared over the same patches"
        )
    if args.save_posteriors:
        save_posteriors(args.save_posteriors, arrays)
    channels = {name: as_channel(mu, lv, name=name) for name, (mu, lv) in arrays.items()}
    rows = list(dict.fromkeys(picked[0]))
    cols = list(dict.fromkeys(picked[1])) if args.cols else rows
    return channels, rows, cols


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from infovit.atomic import write_json, write_text
    from infovit.errors import InfovitError
    from infovit.information import information_matrix
    from infovit.information.plot import HeatmapPanel, plot_nmi_heatmap
    from infovit.information.report import channel_rows, matrix_csv, pair_rows, write_rows
    from infovit.training.device import resolve_device

    methods = _methods(args.method)
    for flag in ("samples", "num_images", "batch_size"):
        if getattr(args, flag) < 1:
            raise InfovitError(f"--{flag.replace('_', '-')} must be ≥ 1")
    if args.rows < 0 or args.components < 0:
        raise InfovitError("--rows and --components must be ≥ 0 (0 = all patches)")
    device = resolve_device(args.device)
    if args.posteriors:
        channels, rows, cols = _from_files(args)
    else:
        channels, rows, cols = _from_runs(args, device)
    used = list(dict.fromkeys(rows + cols))
    out = Path(args.out)
    records, per_channel, panels, summary = [], [], [], {}
    for method in methods:
        result = information_matrix(
            [channels[n] for n in used],
            method=method,
            n_samples=args.samples if method == "mc" else (args.rows or None),
            n_components=args.components or None,
            seed=args.seed,
            dtype=args.dtype,
            device=device,
            progress=not args.no_progress,
        )
        records += pair_rows(result, rows, cols)
        per_channel += channel_rows(result)
        write_text(out / f"nmi_{method}.csv", matrix_csv(result, rows, cols))
        write_text(out / f"nmi_se_{method}.csv", matrix_csv(result, rows, cols, stderr=True))
        ri = [result.index(n) for n in rows]
        ci = [result.index(n) for n in cols]
        label = {"mc": "Monte Carlo", "bhattacharyya": "Bhattacharyya (lower bound)"}.get(
            method, "KL (upper bound)"
        )
        s = result.settings
        panels.append(
            HeatmapPanel(
                f"NMI, {label}\nL={s['n_points']}, rows={s['n_rows']}, M={s['n_components']}",
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
    if not args.no_plot:
        plot_nmi_heatmap(panels, rows, cols, out / "nmi_heatmap.png")
    write_json(
        out / "summary.json",
        {
            "rows": rows,
            "cols": cols,
            "source": {"posteriors": args.posteriors}
            if args.posteriors
            else {"data": args.data, "split": args.split, "num_images": args.num_images},
            "methods": summary,
            "command": sys.argv,
        },
    )
    print(json.dumps({"out": str(out), "rows": len(rows), "cols": len(cols)}))
    return 0
