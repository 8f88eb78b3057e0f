"""``infovit geometry``: information geometry (α per token and layer, token correlations) of a ViT.

Heavy imports (torch, timm, matplotlib) happen inside :func:`run` so ``infovit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]

_EXAMPLES = """\
examples:
  # random-init ViT-Tiny on the synthetic task (24 px: 6x6 patches of 4 px)
  infovit geometry --model vit_tiny_patch16_224 --img-size 24 --patch-size 4 \\
      --data synthetic --out geo/random

  # the paper's setting: pretrained ViT-B/8 on CIFAR-10 (local copy), train and test splits
  infovit geometry --model vit_base_patch8_224 --weights vit_b8.safetensors \\
      --data cifar10:/data/cifar10 --splits train,val --pixels --max-memory 16GiB --out geo/b8

  # a spectrum of infovit runs (one figure compares all of them), then re-plot without computing
  infovit geometry --model runs/beta0.01 runs/beta1 runs/beta10 --data imagenet100:/data/in100 \\
      --num-images 5000 --out geo/spectrum
  infovit geometry --from-tables geo/spectrum/beta0.01 geo/spectrum/beta10 --out geo/replot

outputs (in --out, or --out/<run> for several models): index.json, geometry_<split>.npz,
alpha_<split>.csv, layers_<split>.csv and figures/*.png drawn from those tables.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "geometry",
        help="α per token and layer, α trajectories, clusters and token correlations of a ViT",
        description=(
            "Measure the information geometry of any timm ViT (Joseph et al.): the covariance "
            "eigenspectrum decay α of every token at every layer (α-ReQ fit), α trajectories "
            "clustered over the patch grid, and the Pearson correlation between the flattened "
            "(N x D) representations of every pair of tokens. One streamed float64 pass; memory "
            "does not grow with the number of images."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("model")
    src.add_argument(
        "--model",
        nargs="+",
        metavar="NAME|RUN",
        help="timm model name(s) or infovit run directories; several draw a comparison figure"
        " (--weights/--pretrained/--img-size/--patch-size apply to the timm names)",
    )
    src.add_argument("--weights", metavar="FILE", help="state dict (.safetensors/.pth/.bin)")
    src.add_argument(
        "--pretrained", action="store_true", help="download timm's weights (needs internet)"
    )
    src.add_argument(
        "--img-size", type=int, metavar="PX", help="image size of a timm model (default: its own)"
    )
    src.add_argument("--patch-size", type=int, metavar="PX", help="patch size of a timm model")
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="SPEC",
        help="synthetic | cifar10:ROOT | stl10:ROOT | ... (default for runs: the first run's data)",
    )
    data.add_argument("--splits", default="val", help="comma list of train,val (default: val)")
    data.add_argument(
        "--num-images", type=int, metavar="N", help="random subset per split (default: all)"
    )
    data.add_argument(
        "--batch-size", type=int, default=128, metavar="B", help="default 128 (the paper's)"
    )
    data.add_argument("--workers", type=int, default=2, help="data loader workers")
    what = p.add_argument_group("measurement")
    what.add_argument("--layers", default="all", help="'all' or e.g. '0,4-8,12' (0 = embedding)")
    what.add_argument(
        "--pixels",
        action="store_true",
        help="add each patch's raw pixels as layer -1 (the paper's 'data set' point)",
    )
    what.add_argument("--no-correlation", action="store_true", help="skip token correlations")
    what.add_argument(
        "--fit-range",
        default="11:100",
        metavar="FIRST:LAST",
        help="1-based ranks fitted (default 11:100, as α-ReQ)",
    )
    what.add_argument(
        "--unweighted", action="store_true", help="plain least squares (default: weights 1/rank)"
    )
    what.add_argument(
        "--clusters", type=int, default=3, metavar="K", help="k-means clusters (0: none)"
    )
    what.add_argument(
        "--embedding",
        choices=("auto", "umap", "pca", "none"),
        default="auto",
        help="2-D embedding before k-means; auto = UMAP if umap-learn is installed, else PCA",
    )
    what.add_argument("--seed", type=int, default=0, help="subset, clustering and random init")
    run_g = p.add_argument_group("resources and output")
    run_g.add_argument(
        "--max-memory",
        default="8GiB",
        metavar="SIZE",
        help="memory for accumulators and scratch (default 8GiB); less means more passes",
    )
    run_g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    run_g.add_argument("--out", required=True, metavar="DIR", help="output directory")
    run_g.add_argument("--no-plots", action="store_true", help="write the tables only")
    run_g.add_argument(
        "--from-tables",
        nargs="+",
        metavar="DIR",
        help="only draw figures from existing outputs (several: the comparison figure too)",
    )
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- argument parsing
def _parse_layers(text: str) -> list[int] | None:
    from infovit.errors import InfovitError

    if text.strip().lower() == "all":
        return None
    layers: set[int] = set()
    for part in filter(None, (s.strip() for s in text.split(","))):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise InfovitError(f"--layers: cannot read {part!r}; use 'all' or e.g. '0,4-8,12'")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        layers.update(range(lo, hi + 1))
    if not layers:
        raise InfovitError("--layers selects no layer")
    return sorted(layers)


def _parse_splits(text: str) -> list[str]:
    from infovit.errors import InfovitError

    splits = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in splits if s not in ("train", "val")]
    if not splits or bad or len(set(splits)) != len(splits):
        raise InfovitError(f"--splits must be a comma list of train and val, got {text!r}")
    return splits


# --------------------------------------------------------------------------- models
def _first_line(err: BaseException) -> str:
    """Errors from hubs and loaders span many lines; the CLI prints one."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _timm_model(name: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    import timm
    import torch

    from infovit.errors import InfovitError

    if not timm.is_model(name):
        raise InfovitError(
            f"{name!r} is neither a directory (infovit run) nor a timm model name; "
            "list names with: python -c \"import timm; print(timm.list_models('vit_*'))\""
        )
    kwargs: dict[str, Any] = {}
    if args.img_size:
        kwargs["img_size"] = args.img_size
    if args.patch_size:
        kwargs["patch_size"] = args.patch_size
    torch.manual_seed(args.seed)
    weights = "random"
    if args.pretrained:
        try:
            model = timm.create_model(name, pretrained=True, **kwargs)
        except Exception as err:  # hub/network errors come in many types
            raise InfovitError(
                f"could not get pretrained weights for {name} ({type(err).__name__}: "
                f"{_first_line(err)}); offline? download them elsewhere and pass --weights FILE"
            ) from err
        weights = "pretrained (timm hub)"
    else:
        model = timm.create_model(name, pretrained=False, **kwargs)
    if args.weights:
        from infovit.model.factory import read_state_dict

        state = read_state_dict(Path(args.weights))
        try:
            from timm.models.vision_transformer import checkpoint_filter_fn

            # resamples position/patch embeddings; typed for a VisionTransformer, but any timm
            # model may come here: the errors it raises on other layouts are caught below
            state = checkpoint_filter_fn(state, model)  # type: ignore[arg-type]
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError):
            pass  # a layout the filter does not know: load_state_dict reports any mismatch
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise InfovitError(
                f"--weights {args.weights} does not fit {name}: {_first_line(err)}"
            ) from err
        weights = str(args.weights)
    return model, {
        "source": "timm",
        "name": name,
        "weights": weights,
        "img_size": args.img_size,
        "patch_size": args.patch_size,
    }


def _infovit_run(run_dir: Path, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from infovit.errors import InfovitError

    timm_only = args.weights or args.pretrained or args.img_size or args.patch_size
    if timm_only and len(args.model) == 1:  # with several models they apply to the timm ones
        raise InfovitError(
            "--weights/--pretrained/--img-size/--patch-size apply to timm names, not to runs"
        )
    from infovit.training.run import load_model

    model, config = load_model(run_dir)
    beta, convention = config.beta.value, config.beta.convention
    variant = model.variant
    meta = {
        "source": "infovit-run",
        "name": str(run_dir),
        "weights": str(run_dir),
        "variant": variant,
        # β only prices information in the bottlenecked variant; the others have no channel.
        "beta": float(beta) if variant == "ib" and beta is not None else None,
        "beta_convention": convention,
    }
    return model, meta


# --------------------------------------------------------------------------- measuring
def _loader(spec: Any, split: str, model: Any, args: argparse.Namespace, device: Any) -> Any:
    import torch
    from torch.utils.data import DataLoader, Subset

    from infovit.data import build_dataset
    from infovit.data.datasets import native_size
    from infovit.errors import InfovitError

    size = model.patch_embed.img_size
    img_size = int(size[0]) if isinstance(size, (tuple, list)) else int(size)
    # Upscaled small images (CIFAR-10, STL-10 at 224 px) are resized whole, as the geometry
    # paper does: a centre crop would cut away the border tokens whose α it clusters.
    native = native_size(spec)
    preset = "resize" if native is not None and native < img_size else "none"
    dataset = build_dataset(spec, split=split, img_size=img_size, augment=preset)
    n = len(dataset)  # type: ignore[arg-type]  # torch's Dataset declares no __len__
    if args.num_images is not None:
        if args.num_images < 2:
            raise InfovitError("--num-images must be at least 2")
        if args.num_images < n:
            gen = torch.Generator().manual_seed(args.seed)
            idx = torch.randperm(n, generator=gen)[: args.num_images].sort().values
            dataset = Subset(dataset, idx.tolist())
    return DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=False,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
    ), _transform_of(dataset)


def _transform_of(dataset: Any) -> str | None:
    """The transform the images went through, as one line (for the output's index.json)."""
    from infovit.data.transforms import describe_transform

    inner = getattr(dataset, "dataset", dataset)  # through a Subset
    transform = getattr(inner, "transform", None)
    return None if transform is None else describe_transform(transform)


def _measure(model_arg: str, label: str, out: Path, args: argparse.Namespace, device: Any) -> Any:
    from infovit import __version__
    from infovit.data import parse_data_spec
    from infovit.errors import InfovitError
    from infovit.geometry import (
        FitConfig,
        SplitTables,
        cluster_trajectories,
        compare_splits,
        compute_geometry,
        load_run,
        parse_bytes,
        prepare_model,
        save_run,
    )
    from infovit.geometry.powerlaw import parse_fit_range

    try:
        first, last = parse_fit_range(args.fit_range)
        budget = parse_bytes(args.max_memory)
    except ValueError as err:
        raise InfovitError(str(err)) from err
    fit = FitConfig(first_rank=first, last_rank=last, weighted=not args.unweighted)
    path = Path(model_arg)
    model, model_meta = _infovit_run(path, args) if path.is_dir() else _timm_model(model_arg, args)
    model_meta.update(prepare_model(model))
    model.to(device)
    spec = parse_data_spec(args.data)
    layers = _parse_layers(args.layers)
    tables: dict[str, SplitTables] = {}
    transforms: dict[str, str | None] = {}
    for split in _parse_splits(args.splits):
        loader, transform = _loader(spec, split, model, args, device)
        transforms[split] = transform
        try:
            result = compute_geometry(
                model,
                loader,
                layers=layers,
                include_pixels=args.pixels,
                correlation=not args.no_correlation,
                fit=fit,
                max_memory=budget,
                batch_size=args.batch_size,
                device=device,
                desc=f"{label} {split}",
            )
        except ValueError as err:  # budget too small, too few images
            raise InfovitError(str(err)) from err
        clusters = None
        if args.clusters > 0:
            try:
                clusters = cluster_trajectories(
                    result.alpha, result.labels.spatial, args.clusters, args.embedding, args.seed
                )
            except (ValueError, ImportError) as err:
                raise InfovitError(f"clustering α trajectories: {err}") from err
        tables[split] = SplitTables.from_result(result, clusters)
        if result.count < fit.last_rank:
            print(f"note: {split}: N = {result.count} < {fit.last_rank}; α fit ranks are clipped")
    meta: dict[str, Any] = {
        "label": label,
        "infovit_version": __version__,
        "model": model_meta,
        "data": {
            "spec": str(spec),
            "num_images": args.num_images,
            "subset_seed": args.seed,
            "transform": transforms,
        },
        "fit": fit.as_dict(),
        "correlation": "Pearson of flattened (N x D) token matrices, per layer",
        "pooled_alpha": "all tokens stacked as samples ([N*T, D]) per layer",
        "layers": "-1 = pixels (data), 0 = norm_pre output (embedding), l = blocks[l-1] output",
    }
    if len(tables) == 2:
        meta["split_comparison"] = compare_splits(tables["train"].alpha, tables["val"].alpha)
    save_run(out, meta, tables)
    geo = load_run(out)  # figures are drawn from what was saved, never from memory
    _summary(geo)
    return geo


def _summary(geo: Any) -> None:
    import numpy as np

    from infovit.geometry.budget import format_bytes

    for split, t in geo.splits.items():
        plan = t.info.get("plan", {})
        rows = [r[np.isfinite(r)] for r in t.alpha[:, t.spatial]]
        means = [f"{r.mean():.2f}" if r.size else "nan" for r in rows]
        print(
            f"{geo.label} [{split}] N={t.count}, {len(plan.get('passes', []))} pass(es), "
            f"planned peak {format_bytes(plan.get('peak_bytes', 0))}; "
            f"mean spatial α by layer: {' '.join(means)}"
        )
        if t.corr_mean is not None:
            print(f"  mean token correlation by layer: {' '.join(f'{c:.2f}' for c in t.corr_mean)}")


def _figures(geo: Any, fig_dir: Path, prefix: str = "") -> None:
    from infovit.geometry import plot

    for split, t in geo.splits.items():
        plot.plot_trajectories(
            t, fig_dir / f"{prefix}trajectories_{split}.png", f"{geo.label} ({split})"
        )
        plot.plot_fit_example(t, fig_dir / f"{prefix}fit_example_{split}.png")
        if t.corr is not None:
            plot.plot_correlation_matrices(
                t, fig_dir / f"{prefix}correlation_matrices_{split}.png", f"{geo.label} ({split})"
            )
    if any(t.corr_mean is not None for t in geo.splits.values()):
        plot.plot_correlation_mean(geo.splits, fig_dir / f"{prefix}correlation_mean.png")
    if len(geo.splits) >= 2:
        plot.plot_split_comparison(
            geo.splits, fig_dir / f"{prefix}split_comparison.png", geo.meta.get("split_comparison")
        )


def _compare(runs: list[Any], fig_dir: Path) -> None:
    from infovit.geometry import plot

    splits = sorted({s for r in runs for s in r.splits})
    for split in splits:
        plot.plot_runs(runs, split, fig_dir / f"runs_{split}.png")


def _unique_labels(names: list[str]) -> list[str]:
    labels: list[str] = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_.=-]+", "_", Path(name.rstrip("/")).name) or "run"
        label, i = base, 1
        while label in labels:
            i += 1
            label = f"{base}_{i}"
        labels.append(label)
    return labels


def run(args: argparse.Namespace) -> int:
    """Measure (or, with --from-tables, only draw) and write tables and figures to --out."""
    from infovit.errors import InfovitError
    from infovit.geometry import load_run

    out = Path(args.out)
    if args.from_tables:
        if args.model or args.data:
            raise InfovitError("--from-tables only draws figures; drop --model and --data")
        runs = [load_run(p) for p in args.from_tables]
        prefixes = _unique_labels([r.label for r in runs]) if len(runs) > 1 else [""]
        for r, prefix in zip(runs, prefixes, strict=True):
            _figures(r, out / "figures", f"{prefix}_" if prefix else "")
        if len(runs) > 1:
            _compare(runs, out / "figures")
        print(f"figures written to {out / 'figures'}")
        return 0
    if args.model and not args.data and Path(args.model[0]).is_dir():
        from infovit.training.run import RunFolder

        args.data = RunFolder.open(args.model[0]).config().data.spec  # the run's own data
    if not args.model or not args.data:
        raise InfovitError("need --model and --data (or --from-tables DIR ...)")
    if len(args.model) > 1 and args.weights:
        raise InfovitError("--weights applies to a single --model")
    if args.pretrained and args.weights:
        raise InfovitError("use either --pretrained or --weights, not both")
    if args.batch_size < 1 or args.workers < 0 or args.clusters < 0:
        raise InfovitError("--batch-size must be >= 1, --workers and --clusters >= 0")
    _parse_layers(args.layers)
    _parse_splits(args.splits)
    from infovit.training.device import resolve_device

    device = resolve_device(args.device)
    labels = _unique_labels(args.model)
    runs = []
    for model_arg, label in zip(args.model, labels, strict=True):
        run_out = out if len(args.model) == 1 else out / label
        geo = _measure(model_arg, label, run_out, args, device)
        if not args.no_plots:
            _figures(geo, run_out / "figures")
        runs.append(geo)
    if len(runs) > 1 and not args.no_plots:
        _compare(runs, out / "figures")
    print(f"tables and figures written to {out}")
    return 0
