"""``infovit.geometry.run``: what ``infovit geometry`` does, as a library call.

Measure the information geometry (Joseph et al., "On the information geometry of vision
transformers": α per token and layer by the α-ReQ power-law fit, α trajectories clustered on the
patch grid, Pearson correlation of flattened token matrices) of timm ViTs or infovit runs, save
tables (:mod:`.tables`) and draw the figures from the saved tables (:mod:`.plot`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["GeometryOptions", "draw_figures", "parse_layers", "parse_splits", "replot", "run"]


@dataclass
class GeometryOptions:
    """Everything ``infovit geometry`` takes besides the models, the data and ``--out``."""

    weights: str | None = None
    pretrained: bool = False
    img_size: int | None = None
    patch_size: int | None = None
    splits: str = "val"
    num_images: int | None = None
    batch_size: int = 128
    workers: int = 2
    layers: str = "all"
    pixels: bool = False
    no_correlation: bool = False
    fit_range: str = "11:100"
    unweighted: bool = False
    clusters: int = 3
    embedding: Literal["auto", "umap", "pca", "none"] = "auto"
    seed: int = 0
    max_memory: str = "8GiB"
    precision: str = "auto"  # see compute_geometry
    device: str = "auto"
    plots: bool = True
    n_models: int = 1  # how many models the call measures (timm-only options need one)


# --------------------------------------------------------------------------- argument parsing
def parse_layers(text: str) -> list[int] | None:
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


def parse_splits(text: str) -> list[str]:
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


def _timm_model(name: str, options: GeometryOptions) -> tuple[Any, dict[str, Any]]:
    import timm
    import torch

    from infovit.errors import InfovitError

    if not timm.is_model(name):
        raise InfovitError(
            f"{name!r} is neither a directory (infovit run) nor a timm model name; "
            "list names with: python -c \"import timm; print(timm.list_models('vit_*'))\""
        )
    kwargs: dict[str, Any] = {}
    if options.img_size:
        kwargs["img_size"] = options.img_size
    if options.patch_size:
        kwargs["patch_size"] = options.patch_size
    torch.manual_seed(options.seed)
    weights = "random"
    if options.pretrained:
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
    if options.weights:
        from infovit.model.factory import read_state_dict

        state = read_state_dict(Path(options.weights))
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
                f"--weights {options.weights} does not fit {name}: {_first_line(err)}"
            ) from err
        weights = str(options.weights)
    return model, {
        "source": "timm",
        "name": name,
        "weights": weights,
        "img_size": options.img_size,
        "patch_size": options.patch_size,
    }


def _infovit_run(run_dir: Path, options: GeometryOptions) -> tuple[Any, dict[str, Any]]:
    from infovit.errors import InfovitError

    timm_only = options.weights or options.pretrained or options.img_size or options.patch_size
    if timm_only and options.n_models == 1:  # with several models they apply to the timm ones
        raise InfovitError(
            "--weights/--pretrained/--img-size/--patch-size apply to timm names, not to runs"
        )
    from infovit.model.capabilities import is_priced
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
        "beta": float(beta) if is_priced(model) and beta is not None else None,
        "beta_convention": convention,
    }
    return model, meta


# --------------------------------------------------------------------------- measuring
def _loader(spec: Any, split: str, model: Any, options: GeometryOptions, device: Any) -> Any:
    from torch.utils.data import DataLoader, Subset

    from infovit.data import build_dataset
    from infovit.data.facts import dataset_facts
    from infovit.data.selection import ImageSelection
    from infovit.errors import InfovitError

    size = model.patch_embed.img_size
    img_size = int(size[0]) if isinstance(size, (tuple, list)) else int(size)
    # Upscaled small images (CIFAR-10, STL-10 at 224 px) are resized whole, as the geometry
    # paper does: a centre crop would cut away the border tokens whose α it clusters.
    native = dataset_facts(spec).native_size
    preset = "resize" if native is not None and native < img_size else "none"
    dataset = build_dataset(spec, split=split, img_size=img_size, augment=preset)
    n = len(dataset)  # type: ignore[arg-type]  # torch's Dataset declares no __len__
    if options.num_images is not None:
        if options.num_images < 2:
            raise InfovitError("--num-images must be at least 2")
        if options.num_images < n:
            chosen = ImageSelection(options.num_images, "random", options.seed).indices(n)
            dataset = Subset(dataset, chosen.tolist())
    return DataLoader(
        dataset,
        batch_size=options.batch_size,
        shuffle=False,
        num_workers=options.workers,
        pin_memory=device.type == "cuda",
    ), _transform_of(dataset)


def _transform_of(dataset: Any) -> str | None:
    """The transform the images went through, as one line (for the output's index.json)."""
    from infovit.data.transforms import describe_transform

    inner = getattr(dataset, "dataset", dataset)  # through a Subset
    transform = getattr(inner, "transform", None)
    return None if transform is None else describe_transform(transform)


def _measure(
    model_arg: str, label: str, data: str, out: Path, options: GeometryOptions, device: Any
) -> Any:
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
        first, last = parse_fit_range(options.fit_range)
        budget = parse_bytes(options.max_memory)
    except ValueError as err:
        raise InfovitError(str(err)) from err
    fit = FitConfig(first_rank=first, last_rank=last, weighted=not options.unweighted)
    path = Path(model_arg)
    if path.is_dir():
        model, model_meta = _infovit_run(path, options)
    else:
        model, model_meta = _timm_model(model_arg, options)
    model_meta.update(prepare_model(model))
    model.to(device)
    spec = parse_data_spec(data)
    layers = parse_layers(options.layers)
    tables: dict[str, SplitTables] = {}
    transforms: dict[str, str | None] = {}
    for split in parse_splits(options.splits):
        loader, transform = _loader(spec, split, model, options, device)
        transforms[split] = transform
        try:
            result = compute_geometry(
                model,
                loader,
                layers=layers,
                include_pixels=options.pixels,
                correlation=not options.no_correlation,
                fit=fit,
                max_memory=budget,
                batch_size=options.batch_size,
                device=device,
                desc=f"{label} {split}",
                precision=options.precision,
            )
        except ValueError as err:  # budget too small, too few images
            raise InfovitError(str(err)) from err
        clusters = None
        if options.clusters > 0:
            try:
                clusters = cluster_trajectories(
                    result.alpha,
                    result.labels.spatial,
                    options.clusters,
                    options.embedding,
                    options.seed,
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
            "num_images": options.num_images,
            "subset_seed": options.seed,
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


def draw_figures(geo: Any, fig_dir: Path, prefix: str = "") -> None:
    """Every figure of one saved geometry output (a :class:`GeometryRun`), into ``fig_dir``."""
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


def replot(paths: list[str | Path], out: str | Path) -> Path:
    """Draw the figures of saved geometry outputs only (several: the comparison figure too)."""
    from infovit.geometry import load_run
    from infovit.naming import run_names

    fig_dir = Path(out) / "figures"
    runs = [load_run(p) for p in paths]
    prefixes = run_names([r.label for r in runs]) if len(runs) > 1 else [""]
    for r, prefix in zip(runs, prefixes, strict=True):
        draw_figures(r, fig_dir, f"{prefix}_" if prefix else "")
    if len(runs) > 1:
        _compare(runs, fig_dir)
    return fig_dir


def run(
    models: list[str], data: str | None, out: str | Path, options: GeometryOptions | None = None
) -> list[Any]:
    """Measure each model (timm name or infovit run folder) on ``data`` (default: the first
    run's own data) into ``out`` (``out/<name>`` for several); returns the saved
    :class:`~infovit.geometry.tables.GeometryRun` of each, read back from disk."""
    from infovit.errors import InfovitError
    from infovit.naming import run_names

    options = options or GeometryOptions()
    options.n_models = len(models)
    out = Path(out)
    if models and not data and Path(models[0]).is_dir():
        from infovit.training.run import RunFolder

        data = RunFolder.open(models[0]).config().data.spec  # the run's own data
    if not models or not data:
        raise InfovitError("need --model and --data (or --from-tables DIR ...)")
    if len(models) > 1 and options.weights:
        raise InfovitError("--weights applies to a single --model")
    if options.pretrained and options.weights:
        raise InfovitError("use either --pretrained or --weights, not both")
    if options.batch_size < 1 or options.workers < 0 or options.clusters < 0:
        raise InfovitError("--batch-size must be >= 1, --workers and --clusters >= 0")
    parse_layers(options.layers)
    parse_splits(options.splits)
    from infovit.training.device import resolve_device

    device = resolve_device(options.device)
    runs = []
    for model_arg, label in zip(models, run_names(models), strict=True):
        run_out = out if len(models) == 1 else out / label
        geo = _measure(model_arg, label, data, run_out, options, device)
        if options.plots:
            draw_figures(geo, run_out / "figures")
        runs.append(geo)
    if len(runs) > 1 and options.plots:
        _compare(runs, out / "figures")
    return runs
