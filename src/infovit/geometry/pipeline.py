"""The streamed geometry pass: α per (layer, token), pooled α, inter-token correlation.

One pass over the data per planned chunk (usually a single pass): every batch's token
representations update float64 accumulators and are dropped, so memory does not grow with N.
Afterwards each token's covariance is eigendecomposed (batched ``eigvalsh``) and fitted.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from infovit.geometry.budget import Pass, Plan, Segment, chunk_tokens_for, plan_passes
from infovit.geometry.correlation import mean_lower_triangle
from infovit.geometry.extract import (
    LayerSpec,
    TokenLabels,
    describe_layers,
    run_layers,
    token_labels,
)
from infovit.geometry.moments import LayerMoments, pooled_covariance
from infovit.geometry.powerlaw import (
    FitConfig,
    covariance_eigenvalues,
    fit_powerlaw,
    intra_op_threads,
)

__all__ = ["AUTO_RTOL", "FLOAT32_RTOL", "PRECISIONS", "GeometryResult", "compute_geometry"]

PRECISIONS = ("auto", "float64", "float32")

# With float32 products, eigenvalues below this fraction of λ_max are rounding noise, not data:
# on the demo's synthetic models, whose token spectra fall to 1e-16 of their trace, float32
# products put the tail at ~1e-8 of the trace (≤ 5e-7 of λ_max) and α fitted there was off by
# up to 3.4. float32 therefore fits only ranks above 1e-5 · λ_max (``n_fit`` says how many), and
# "auto" measures a layer again in float64 unless every fitted eigenvalue of every token is above
# AUTO_RTOL · λ_max, a hundred times the floor (float32 rounding then moves them by < 1e-3
# relative in the worst case measured, and α by 5e-8 on ViT-Tiny).
AUTO_RTOL = 1e-3
FLOAT32_RTOL = 1e-5


@dataclass
class GeometryResult:
    """Everything the tables hold; arrays are indexed [layer row, global token, ...]."""

    layers: list[LayerSpec]
    labels: TokenLabels
    count: int  # images
    fit: FitConfig
    plan: Plan
    alpha: np.ndarray  # [L, T] NaN where undefined (constant token, pixels of prefix tokens)
    r2: np.ndarray  # [L, T]
    intercept: np.ndarray  # [L, T] log of the fitted normalised λ at rank 1
    n_fit: np.ndarray  # [L, T] int
    total_variance: np.ndarray  # [L, T] trace of the covariance
    spectra: np.ndarray  # [L, T, K] float32 eigenvalues / their sum, descending, NaN padded
    pooled_alpha: np.ndarray  # [L] α of all tokens stacked as samples ([N·T, D])
    pooled_r2: np.ndarray  # [L]
    pooled_spectra: np.ndarray  # [L, K] float32
    corr: np.ndarray | None  # [L, T, T] float32 Pearson of flattened (N × D) token matrices
    corr_mean: np.ndarray | None  # [L] mean of the lower triangle, all token pairs
    corr_mean_spatial: np.ndarray | None  # [L] same, patch tokens only
    info: dict[str, object] = field(default_factory=dict)


def _images(batch: object) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    raise TypeError(f"batches must be image tensors or (images, labels), got {type(batch)}")


def _run_pass(
    model: nn.Module,
    loader: Iterable[object],
    pas: Pass,
    spec_of: dict[int, LayerSpec],
    device: torch.device,
    progress: bool,
    label: str,
    work_dtype: torch.dtype = torch.float64,
) -> tuple[dict[int, tuple[Segment, LayerMoments]], int]:
    """One streamed pass: accumulate this pass's segments (one per layer), return them and N."""
    acc: dict[int, tuple[Segment, LayerMoments]] = {}
    for seg in pas.segments:
        spec = spec_of[seg.layer]
        assert seg.layer not in acc, "the planner puts at most one segment per layer in a pass"
        mom = LayerMoments(
            spec.num_tokens,
            spec.dim,
            cov_tokens=(seg.start, seg.stop),
            gram=seg.layer in pas.correlation_layers,
            device=device,
            chunk_tokens=chunk_tokens_for(spec.dim),
            work_dtype=work_dtype,
        )
        acc[seg.layer] = (seg, mom)

    def consume(layer: int, out: torch.Tensor) -> None:
        if layer in acc:
            acc[layer][1].update(out)

    seen = 0
    total = len(loader) if hasattr(loader, "__len__") else None  # type: ignore[arg-type]
    for batch in tqdm(loader, total=total, desc=label, disable=not progress, leave=False):
        images = _images(batch).to(device, non_blocking=True)
        run_layers(model, images, pas.layers, consume)
        seen += images.shape[0]
    for _, mom in acc.values():
        mom.release()
    return acc, seen


class _Outputs:
    """The result arrays, filled segment by segment as passes finish."""

    def __init__(self, specs: list[LayerSpec], num_tokens: int, correlation: bool) -> None:
        n, t = len(specs), num_tokens
        self.k = max(s.dim for s in specs)
        self.row_of = {s.index: r for r, s in enumerate(specs)}
        self.alpha = np.full((n, t), np.nan)
        self.r2 = np.full((n, t), np.nan)
        self.intercept = np.full((n, t), np.nan)
        self.n_fit = np.zeros((n, t), dtype=np.int64)
        self.total_variance = np.full((n, t), np.nan)
        self.spectra = np.full((n, t, self.k), np.nan, dtype=np.float32)
        self.corr = np.full((n, t, t), np.nan, dtype=np.float32) if correlation else None
        # Kept across passes for the pooled ("all tokens together") covariance of each layer.
        self.means = {s.index: torch.zeros(s.num_tokens, s.dim, dtype=torch.float64) for s in specs}
        self.cov_sums = {s.index: torch.zeros(s.dim, s.dim, dtype=torch.float64) for s in specs}

    def fit_segment(
        self,
        seg: Segment,
        spec: LayerSpec,
        mom: LayerMoments,
        fit: FitConfig,
        workers: int,
        bar: tqdm,
        exact_rtol: float | None = None,
    ) -> bool:
        """Eigendecompose and fit the covariance tokens of ``mom``; store its correlations.

        With ``exact_rtol`` (float32 products under "auto"), return whether some token's fit
        range holds an eigenvalue (above ``exact_rtol`` · λ_max) below :data:`AUTO_RTOL` · λ_max,
        where float32 rounding could matter: that layer's α then needs float64 products."""
        cut = False
        row = self.row_of[spec.index]
        if mom.gram is not None:
            assert self.corr is not None
            sl = slice(spec.token_offset, spec.token_offset + spec.num_tokens)
            self.corr[row, sl, sl] = mom.correlation().cpu().numpy()
        self.means[spec.index][seg.start : seg.stop] = mom.mean().cpu()
        off = spec.token_offset + seg.start
        for a in range(0, mom.num_cov_tokens, mom.chunk_tokens):
            b = min(a + mom.chunk_tokens, mom.num_cov_tokens)
            cov = mom.covariance(a, b, consume=True)  # [t, D, D], in the accumulators
            self.cov_sums[spec.index] += cov.sum(dim=0).cpu()
            lam = covariance_eigenvalues(cov, workers).clamp_min(0.0)  # [t, D] descending
            res = fit_powerlaw(lam, fit, max_rank=mom.count - 1)
            if exact_rtol is not None and not cut:  # ranks float32 may not resolve well
                cap = mom.count - 1
                exact = fit_powerlaw(lam, dataclasses.replace(fit, rtol=exact_rtol), max_rank=cap)
                safe = fit_powerlaw(lam, dataclasses.replace(fit, rtol=AUTO_RTOL), max_rank=cap)
                cut = bool((exact.n_fit > safe.n_fit).any())
            tv = lam.sum(dim=-1)  # [t]
            sl = slice(off + a, off + b)
            self.alpha[row, sl] = res.alpha.cpu().numpy()
            self.r2[row, sl] = res.r2.cpu().numpy()
            self.intercept[row, sl] = res.intercept.cpu().numpy()
            self.n_fit[row, sl] = res.n_fit.cpu().numpy()
            self.total_variance[row, sl] = tv.cpu().numpy()
            norm = lam / torch.where(tv > 0, tv, 1.0).unsqueeze(-1)
            self.spectra[row, sl, : spec.dim] = norm.cpu().numpy()
            bar.update(b - a)
        return cut

    def reset(self, layer: int) -> None:
        """Forget a layer's pooled statistics before it is measured again."""
        self.cov_sums[layer].zero_()


@torch.no_grad()
def compute_geometry(
    model: nn.Module,
    loader: Iterable[object],
    *,
    layers: Sequence[int] | None = None,
    include_pixels: bool = False,
    correlation: bool = True,
    fit: FitConfig | None = None,
    max_memory: int = 8 * 2**30,
    batch_size: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "geometry",
    precision: str = "auto",
) -> GeometryResult:
    """Stream ``loader`` through ``model`` and measure the per-token information geometry.

    ``loader`` must be re-iterable in the same order (a DataLoader without shuffling) when the plan
    needs more than one pass. ``batch_size`` (default: the loader's) sizes the scratch buffers in
    the memory plan. Raises ValueError if the budget cannot hold one token's accumulators.
    ``precision`` is that of each batch's products:

    - ``"float64"``: float64 throughout (exact to ~1e-12).
    - ``"float32"``: float32 GEMMs summed in float64 (see :class:`LayerMoments`; ~1.2× a
      forward pass instead of ~1.35× for ViT-Tiny, ``benchmarks/geometry_cost.py``). They resolve
      eigenvalues only down to ~1e-6 of the largest, so the fit's ``rtol`` is raised to
      :data:`FLOAT32_RTOL`: a spectrum's rounding-noise tail counts as numerically zero instead of
      being fitted (fewer ranks in ``n_fit``, never noise fitted as data).
    - ``"auto"`` (default): float32, then float64 again for every layer where some token's fit
      uses an eigenvalue below :data:`AUTO_RTOL` · λ_max: every α is then the float64 α, or
      within 1e-4 of it (5e-8 measured on ViT-Tiny, 2e-5 on a steep α = 5.9 spectrum), and
      well-conditioned models pay the float32 cost. ``info`` lists the layers of each
      precision. The loader must be re-iterable.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    fit = fit or FitConfig()
    fit32 = dataclasses.replace(fit, rtol=max(fit.rtol, FLOAT32_RTOL))
    device = torch.device(device)
    labels = token_labels(model)
    specs = describe_layers(model, layers, include_pixels)
    bsz = batch_size or int(getattr(loader, "batch_size", None) or 128)
    spec_of = {s.index: s for s in specs}
    out = _Outputs(specs, labels.num_tokens, correlation)
    workers = torch.get_num_threads()
    seconds = {"stream": 0.0, "fit": 0.0}  # where the time goes (reported in ``info``)
    count: int | None = None

    def measure(chosen: list[LayerSpec], dtype: torch.dtype, desc_: str) -> tuple[Plan, set[int]]:
        """Stream and fit ``chosen`` layers with ``dtype`` products; return the plan and, for
        float32 under "auto", the layers whose fits use eigenvalues below AUTO_RTOL · λ_max."""
        nonlocal count
        plan = plan_passes(chosen, max_memory, bsz, correlation)
        f32 = dtype == torch.float32
        check = fit.rtol if f32 and precision == "auto" else None
        redo: set[int] = set()
        for p_i, pas in enumerate(plan.passes):
            label = f"{desc_} pass {p_i + 1}/{len(plan.passes)}"
            t0 = time.perf_counter()
            acc, seen = _run_pass(model, loader, pas, spec_of, device, progress, label, dtype)
            t1 = time.perf_counter()
            seconds["stream"] += t1 - t0
            if count is None:
                count = seen
            elif seen != count:
                raise RuntimeError(
                    f"a pass saw {seen} images, the first saw {count}: the loader must be "
                    "re-iterable in the same order"
                )
            if seen < 2:
                raise ValueError(f"need at least 2 images for a covariance, got {seen}")
            total = sum(m.num_cov_tokens for _, m in acc.values())
            bar = tqdm(total=total, desc=f"{label}: spectra", disable=not progress, leave=False)
            # Many small ops: one intra-op thread (eigvalsh spreads over ``workers`` itself).
            with intra_op_threads(1):
                while acc:  # pop as we go: each layer's accumulators are freed once fitted
                    layer, (seg, mom) = acc.popitem()
                    fit_ = fit32 if f32 else fit
                    if out.fit_segment(seg, spec_of[layer], mom, fit_, workers, bar, check):
                        redo.add(layer)
                    del mom
            bar.close()
            seconds["fit"] += time.perf_counter() - t1
        return plan, redo

    first = torch.float64 if precision == "float64" else torch.float32
    plan, redo = measure(specs, first, desc)
    exact_layers = [s for s in specs if s.index in redo] if first == torch.float32 else specs
    if redo:  # "auto": these layers' spectra reach below what float32 products resolve
        for s in exact_layers:
            out.reset(s.index)
        again, _ = measure(exact_layers, torch.float64, f"{desc} (float64 again)")
        n_passes = len(plan.passes) + len(again.passes)
    else:
        n_passes = len(plan.passes)
    exact_ids = {s.index for s in exact_layers}
    assert count is not None

    t2 = time.perf_counter()
    n_layers = len(specs)
    pooled_alpha = np.full(n_layers, np.nan)
    pooled_r2 = np.full(n_layers, np.nan)
    pooled_spectra = np.full((n_layers, out.k), np.nan, dtype=np.float32)
    with intra_op_threads(1):
        for row, s in enumerate(specs):
            cov = pooled_covariance(out.means[s.index], out.cov_sums[s.index], count)
            lam = covariance_eigenvalues(cov, workers).clamp_min(0.0)
            fit_ = fit if s.index in exact_ids else fit32
            res = fit_powerlaw(lam, fit_, max_rank=count * s.num_tokens - 1)
            pooled_alpha[row] = float(res.alpha)
            pooled_r2[row] = float(res.r2)
            pooled_spectra[row, : s.dim] = (lam / lam.sum()).numpy()
        corr_mean = corr_mean_spatial = None
        if out.corr is not None:
            ct = torch.from_numpy(out.corr)
            corr_mean = mean_lower_triangle(ct).double().numpy()
            spatial = torch.from_numpy(labels.spatial)
            corr_mean_spatial = mean_lower_triangle(ct, spatial).double().numpy()
    seconds["fit"] += time.perf_counter() - t2
    return GeometryResult(
        layers=specs,
        labels=labels,
        count=count,
        fit=fit,
        plan=plan,
        alpha=out.alpha,
        r2=out.r2,
        intercept=out.intercept,
        n_fit=out.n_fit,
        total_variance=out.total_variance,
        spectra=out.spectra,
        pooled_alpha=pooled_alpha,
        pooled_r2=pooled_r2,
        pooled_spectra=pooled_spectra,
        corr=out.corr,
        corr_mean=corr_mean,
        corr_mean_spatial=corr_mean_spatial,
        info={
            "batch_size": bsz,
            "device": str(device),
            "passes": n_passes,  # over the data, the float64 ones of "auto" included
            "precision": precision,
            # the products each layer's numbers come from, and the fits' eigenvalue floor
            "float64_layers": sorted(exact_ids),
            "float32_layers": sorted(set(spec_of) - exact_ids),
            "float32_rtol": FLOAT32_RTOL,
            "seconds": seconds,
        },
    )
