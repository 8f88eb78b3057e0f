"""Cost of the geometry pass: time relative to a plain forward pass, and accumulator memory.

Prints, in one run:

1. ViT-Tiny/16 at 224 px: wall time of ``compute_geometry`` (all 13 layers, α and token
   correlations) over N images divided by the time of a plain forward pass over the same images
   (target ≤ 1.3×), split into the streamed pass and the final eigendecompositions, for float64
   products and the default "auto" precision side by side, with the largest |Δα| between them.
2. Planned peak memory for ViT-Tiny/16 and ViT-B/8 at 224 px (target: ViT-B/8 within 16 GiB),
   checked against the bytes actually allocated by the accumulators of a ViT-Tiny pass.
3. A short ViT-B/8 run (few images, one layer, small budget → several passes) whose allocated
   accumulator bytes are compared with its plan.

Usage: ``python benchmarks/geometry_cost.py [--num-images 1024] [--repeats 5] [--skip-b8-run]
[--model infovit_ib_tiny_patch16_224]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import timm
import torch

import infovit.model  # noqa: F401  (registers the infovit_* names in timm)
from infovit.geometry import GeometryResult, compute_geometry, describe_layers, plan_passes
from infovit.geometry.budget import format_bytes
from infovit.geometry.moments import LayerMoments

GIB = 2**30


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class _AllocationProbe:
    """Records the bytes actually held by every accumulator created while active."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self._orig = LayerMoments.__init__

    def __enter__(self) -> _AllocationProbe:
        orig, sizes = self._orig, self.sizes

        def init(obj: LayerMoments, *a: object, **k: object) -> None:
            orig(obj, *a, **k)  # type: ignore[arg-type]
            sizes.append(obj.nbytes)

        LayerMoments.__init__ = init  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        LayerMoments.__init__ = self._orig  # type: ignore[method-assign]


def bench_tiny(num_images: int, batch_size: int, repeats: int, model_name: str) -> None:
    """Forward, float64 geometry and "auto" geometry (the default), interleaved ``repeats``
    times."""
    torch.manual_seed(0)
    model = timm.create_model(model_name, pretrained=False).eval()
    if hasattr(model, "set_noise"):  # an infovit model: the geometry section's posterior mean
        model.set_noise("mean")
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(num_images, 3, 224, 224, generator=gen)
    batches = list(images.split(batch_size))

    @torch.no_grad()
    def forward() -> None:
        for b in batches:
            model(b)

    forward()  # warm-up (allocator, thread pools)
    t_fwd: list[float] = []
    t_geo: dict[str, list[float]] = {"float64": [], "auto": []}
    parts: dict[str, list[dict[str, float]]] = {"float64": [], "auto": []}
    results: dict[str, GeometryResult] = {}
    for _ in range(repeats):  # interleaved: each repeat's ratios share the machine's state
        t_fwd.append(_timed(forward))
        for precision in t_geo:
            start = time.perf_counter()
            res = compute_geometry(
                model, batches, batch_size=batch_size, progress=False, precision=precision
            )
            t_geo[precision].append(time.perf_counter() - start)
            parts[precision].append(res.info["seconds"])  # type: ignore[arg-type]
            results[precision] = res
    threads = torch.get_num_threads()
    print(f"{model_name} @224, N={num_images}, batch {batch_size}, {threads} threads")
    print(f"  plain forward: {_spread(t_fwd)} s ({1e3 * min(t_fwd) / num_images:.1f} ms/image)")
    print("  geometry ÷ plain forward of the same repeat (target <= 1.3x), min / median / max:")
    for precision, times in t_geo.items():
        total = [g / f for g, f in zip(times, t_fwd, strict=True)]
        stream = [p["stream"] / f for p, f in zip(parts[precision], t_fwd, strict=True)]
        fit = [p["fit"] for p in parts[precision]]
        print(
            f"    {precision}: total {_spread(total)}x; streamed pass {_spread(stream)}x"
            f" (the large-N limit); eigvalsh + fits {_spread(fit)} s (independent of N)"
        )
    a64, auto = results["float64"], results["auto"]
    diff = np.abs(auto.alpha - a64.alpha)[np.isfinite(a64.alpha)]
    kept = auto.info["float32_layers"]
    print(
        f"  auto kept float32 products for {len(kept)} of {len(auto.layers)} layers; max |Δα|"  # type: ignore[arg-type]
        f" against float64 {diff.max():.1e} over {diff.size} (layer, token) pairs; fitted ranks"
        f" {'equal' if (auto.n_fit == a64.n_fit).all() else 'DIFFER'}"
    )


def _spread(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[0]:.2f} / {ordered[len(ordered) // 2]:.2f} / {ordered[-1]:.2f}"


def memory_plans(batch_size: int) -> None:
    print(f"planned geometry memory at 224 px (batch {batch_size}), α + token correlations:")
    for name, budget in (("vit_tiny_patch16_224", 16 * GIB), ("vit_base_patch8_224", 16 * GIB)):
        with torch.device("meta"):  # shapes only, no weights allocated
            model = timm.create_model(name, pretrained=False)
        specs = describe_layers(model)
        plan = plan_passes(specs, budget, batch_size)
        all_acc = sum(
            LayerMoments.nbytes_for(s.num_tokens, s.dim, s.num_tokens, True) for s in specs
        )
        print(
            f"  {name}: {specs[0].num_tokens} tokens × {specs[0].dim} dims × {len(specs)} layers;"
            f" all accumulators {format_bytes(all_acc)}; budget {format_bytes(budget)} →"
            f" {len(plan.passes)} pass(es), peak accumulators"
            f" {format_bytes(plan.peak_accumulator_bytes)} + scratch"
            f" {format_bytes(plan.work_bytes)} + kept {format_bytes(plan.fixed_bytes)}"
            f" = {format_bytes(plan.peak_bytes)}"
        )


def verify_tiny_allocation(batch_size: int) -> None:
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    plan = plan_passes(describe_layers(model), 16 * GIB, batch_size)
    with _AllocationProbe() as probe:
        compute_geometry(
            model, [torch.randn(8, 3, 224, 224)], batch_size=batch_size, progress=False
        )
    held = sum(probe.sizes)  # one pass: all of them coexist
    verdict = "match" if held == plan.peak_accumulator_bytes else "MISMATCH"
    print(
        f"  ViT-Tiny/16 run: accumulators allocated {format_bytes(held)} vs planned"
        f" {format_bytes(plan.peak_accumulator_bytes)} ({verdict})"
    )


def short_b8_run(num_images: int) -> None:
    torch.manual_seed(0)
    model = timm.create_model("vit_base_patch8_224", pretrained=False).eval()
    images = torch.randn(num_images, 3, 224, 224)
    budget = 2 * GIB  # one layer needs 3.7 GB: forces token chunks over several passes
    specs = describe_layers(model, [12])
    plan = plan_passes(specs, budget, num_images)
    with _AllocationProbe() as probe:
        start = time.perf_counter()
        compute_geometry(
            model, [images], layers=[12], max_memory=budget, batch_size=num_images, progress=False
        )
        elapsed = time.perf_counter() - start
    planned = [p.accumulator_bytes for p in plan.passes]
    verdict = "match" if probe.sizes == planned else "MISMATCH"
    print(
        f"  ViT-B/8 short run (layer 12 only, {num_images} images, budget"
        f" {format_bytes(budget)}): {len(plan.passes)} passes in {elapsed:.0f} s; accumulators"
        f" per pass allocated {[format_bytes(b) for b in probe.sizes]} vs planned"
        f" {[format_bytes(b) for b in planned]} ({verdict}); planned peak incl. scratch"
        f" {format_bytes(plan.peak_bytes)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--b8-images", type=int, default=4)
    parser.add_argument("--skip-b8-run", action="store_true")
    parser.add_argument("--skip-plans", action="store_true", help="only the timing (1.)")
    parser.add_argument(
        "--model",
        default="vit_tiny_patch16_224",
        help="a timm name, e.g. infovit_ib_tiny_patch16_224 for the geometry section's model",
    )
    args = parser.parse_args()
    bench_tiny(args.num_images, args.batch_size, args.repeats, args.model)
    if args.skip_plans:
        return
    memory_plans(args.batch_size)
    verify_tiny_allocation(args.batch_size)
    if not args.skip_b8_run:
        short_b8_run(args.b8_images)


if __name__ == "__main__":
    main()
