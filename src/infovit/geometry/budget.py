"""Chunk planning: which (layer, token-range) accumulators share one pass under a memory budget.

Per-token covariance accumulators cost 8·D² bytes per (layer, token) — 58 MB per layer for
ViT-Tiny/16 but 3.7 GB per layer for ViT-B/8 at 224 px — so large models need several passes over
the data. The planner fills passes greedily in depth order (a pass over early layers stops its
forward early) and splits a layer's tokens across passes only when one layer alone does not fit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from infovit.geometry.extract import LayerSpec
from infovit.geometry.moments import LayerMoments

__all__ = [
    "Pass",
    "Plan",
    "Segment",
    "chunk_tokens_for",
    "fixed_bytes_for",
    "format_bytes",
    "parse_bytes",
    "plan_passes",
]

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "k": 2**10,
    "m": 2**20,
    "g": 2**30,
    "t": 2**40,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
# Target size of one float64 work buffer for a token sub-chunk (matmul / eigvalsh batches).
_WORK_CHUNK_BYTES = 64 * 2**20


def parse_bytes(text: str) -> int:
    """``"16GiB"``, ``"512MB"``, ``"2g"`` or a plain integer → bytes; ValueError if malformed."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read a memory size from {text!r} (examples: 16GiB, 512MB, 2g)")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if value <= 0:
        raise ValueError(f"memory size must be positive, got {text!r}")
    return int(value)


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def chunk_tokens_for(dim: int) -> int:
    """Tokens per float64 sub-chunk so one [t, D, D] buffer stays near 64 MiB."""
    return max(1, _WORK_CHUNK_BYTES // (8 * dim * dim))


@dataclass(frozen=True)
class Segment:
    """Tokens ``start:stop`` (layer-local) of layer ``layer`` accumulated in one pass."""

    layer: int
    start: int
    stop: int


@dataclass(frozen=True)
class Pass:
    segments: tuple[Segment, ...]
    correlation_layers: tuple[int, ...]  # layers whose token Gram is accumulated in this pass
    accumulator_bytes: int

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(sorted({s.layer for s in self.segments} | set(self.correlation_layers)))


@dataclass(frozen=True)
class Plan:
    passes: tuple[Pass, ...]
    budget_bytes: int
    work_bytes: int  # per-batch scratch (float64 copies, matmul/eigvalsh batches), worst layer
    fixed_bytes: int = 0  # per-layer state kept across passes and the result arrays

    @property
    def peak_accumulator_bytes(self) -> int:
        return max((p.accumulator_bytes for p in self.passes), default=0)

    @property
    def peak_bytes(self) -> int:
        """Planned peak of everything geometry allocates (not the model's own activations)."""
        return self.peak_accumulator_bytes + self.work_bytes + self.fixed_bytes

    def as_dict(self) -> dict[str, object]:
        return {
            "budget_bytes": self.budget_bytes,
            "peak_accumulator_bytes": self.peak_accumulator_bytes,
            "work_bytes": self.work_bytes,
            "fixed_bytes": self.fixed_bytes,
            "peak_bytes": self.peak_bytes,
            "passes": [
                {
                    "segments": [[s.layer, s.start, s.stop] for s in p.segments],
                    "correlation_layers": list(p.correlation_layers),
                    "accumulator_bytes": p.accumulator_bytes,
                }
                for p in self.passes
            ],
        }


def _work_bytes(spec: LayerSpec, batch_size: int, correlation: bool) -> int:
    t_sub = min(spec.num_tokens, chunk_tokens_for(spec.dim))
    # The float64 batch buffer: the whole layer when its Gram is accumulated, else a sub-chunk;
    # + one sub-chunk for matmul staging and the first batch's mean.
    rows = spec.num_tokens if correlation else t_sub
    stream = LayerMoments.scratch_bytes_for(rows + t_sub, spec.dim, batch_size)
    eig = 3 * 8 * t_sub * spec.dim * spec.dim  # covariance batch + eigvalsh workspace
    return max(stream, eig)


def fixed_bytes_for(layers: Sequence[LayerSpec], num_tokens: int, correlation: bool) -> int:
    """Bytes of per-layer state kept across passes (token means, pooled covariance) and results."""
    k = max((s.dim for s in layers), default=0)
    per_layer = sum(8 * (s.dim * s.dim + s.num_tokens * s.dim) for s in layers)
    results = len(layers) * num_tokens * (4 * k + 4 * 8)  # spectra float32 + 4 float64 tables
    corr = 4 * len(layers) * num_tokens * num_tokens if correlation else 0
    return per_layer + results + corr


def plan_passes(
    layers: Sequence[LayerSpec],
    budget_bytes: int,
    batch_size: int,
    correlation: bool = True,
) -> Plan:
    """Plan passes so accumulators plus per-batch scratch stay within ``budget_bytes``.

    Raises ValueError (with the minimum needed) when not even one token fits.
    """
    num_tokens = max((s.token_offset + s.num_tokens for s in layers), default=0)
    fixed = fixed_bytes_for(layers, num_tokens, correlation)
    work = max((_work_bytes(s, batch_size, correlation) for s in layers), default=0)
    capacity = budget_bytes - work - fixed
    passes: list[Pass] = []
    segs: list[Segment] = []
    corr_layers: list[int] = []
    used = 0

    def close() -> None:
        nonlocal segs, corr_layers, used
        if segs or corr_layers:
            passes.append(Pass(tuple(segs), tuple(corr_layers), used))
        segs, corr_layers, used = [], [], 0

    for spec in layers:
        t, d = spec.num_tokens, spec.dim
        gram_cost = LayerMoments.nbytes_for(t, d, 0, True) if correlation else 0
        # Tokens sharing a pass with their layer's Gram reuse its shift and Σy.
        per_token_with_gram = LayerMoments.nbytes_for(t, d, 1, True) - gram_cost
        per_token = LayerMoments.nbytes_for(t, d, 1, False)
        smallest = gram_cost + (per_token_with_gram if correlation else per_token)
        if smallest > capacity:
            raise ValueError(
                f"memory budget {format_bytes(budget_bytes)} is too small for layer {spec.name}: "
                f"need at least {format_bytes(smallest + work + fixed)} (batch size {batch_size})"
            )
        start = 0
        while start < t:
            with_gram = correlation and start == 0
            gram = gram_cost if with_gram else 0
            unit = per_token_with_gram if with_gram else per_token
            fit = (capacity - used - gram) // unit
            if fit <= 0:
                close()
                continue
            stop = min(t, start + int(fit))
            segs.append(Segment(spec.index, start, stop))
            if with_gram:
                corr_layers.append(spec.index)
            used += gram + unit * (stop - start)
            start = stop
    close()
    return Plan(tuple(passes), budget_bytes, work, fixed)
