"""Mutual information and NMI between stochastic channels (paper 001, eqs. 4–6).

* ``I(X;U)``: X = patch identity (uniform over L patches), U = the channel's latent.
* ``I(U;V) = I(X;U) + I(X;V) − I(X;U,V)``, the joint channel being the concatenation.
* ``NMI(U,V) = I(U;V) / sqrt(I(U;U′) I(V;V′))``, U′ an independent second draw of U given x:
  the joint channel (U, U′) has parameters ``[μ, μ]``, ``[log σ², log σ²]``. A second look at
  the same x tells more about it, ``I(X;U,U′) ≥ I(X;U)``, hence ``I(U;U′) = 2 I(X;U) −
  I(X;U,U′) ≤ I(X;U)`` (U – X – U′ is a Markov chain), with equality only for a deterministic
  channel. When σ does not depend on x, (U, U′) carries exactly what their mean does (a channel
  with σ²/2). Normalising by I(U;U′), not by I(X;U), is what makes NMI(U, U) = 1.

Methods: ``"mc"`` Monte Carlo (unbiased for the full marginal, error ~ 1/√n_samples);
``"bhattacharyya"`` (a lower bound, deterministic over all patches) and ``"kl"`` (an upper
bound); see :mod:`infovit.information.bhattacharyya`.

Subsampling (both cut the cost, which is ∝ rows × components):

* ``n_samples`` — rows of the outer expectation. MC: that many iid draws of (x, u) (``None``:
  every patch in order, stratified, repeated until at least ``mc.MIN_ROWS`` = 1024 rows, so
  that the error's normal approximation holds also for few patches). Distance
  methods: a random subset of patches; the error includes the finite-population correction.
  This only adds variance, reported in the standard error.
* ``n_components`` — patches whose posteriors form the marginal p̂(u). Each row's own component
  is always included, so with M components every per-row term is ≤ log(M+1): the estimate is
  biased *downwards* and capped at log(M+1) (an InfoNCE-type bound), a bias the standard error
  does not show. Keep M large compared with exp(I), or compare a few M to see it converge.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import torch
from tqdm.auto import tqdm

from infovit.errors import InfovitError
from infovit.information.bhattacharyya import BhattacharyyaSource, KLSource
from infovit.information.channel import GaussianChannel, as_channel, check_same_points
from infovit.information.engine import TileSource, log_sums
from infovit.information.gaussian import choose_dtype, float32_error_bound
from infovit.information.mc import MonteCarloSource
from infovit.information.moments import Moments
from infovit.information.rng import STREAM_COLUMNS, STREAM_ROWS, generator

__all__ = [
    "METHODS",
    "PRECISION_FRACTION",
    "Estimate",
    "InformationMatrix",
    "information_matrix",
    "mutual_information",
    "normalized_mutual_information",
]

METHODS = ("mc", "bhattacharyya", "kl")
# float32's rounding bound may be at most this fraction of the smallest standard error (else
# "auto" redoes the pass in float64). The bound is a worst case per log-ratio: measured shifts
# of an estimate are 0.1–0.2 of it, so at 1 the shift stays near a tenth of the reported error.
PRECISION_FRACTION = 1.0
ChannelsLike = Sequence[GaussianChannel] | Mapping[str, tuple[Any, Any]]


@dataclass(frozen=True)
class Estimate:
    """A value in nats (or a ratio, for NMI) and its standard error."""

    value: float
    stderr: float

    def __str__(self) -> str:
        return f"{self.value:.4f} ± {self.stderr:.4f}"


@dataclass(frozen=True)
class InformationMatrix:
    """All information quantities of a set of channels. Arrays are ``[C]`` or ``[C, C]``.

    ``pair_mi[a, b]`` is I(U_a;U_b) (diagonal: I(U_a;U_a′)); ``nmi`` has 1 on the diagonal and
    NaN for channels without measurable information: I(U;U′) not above 3 standard errors (and
    1e-6 nats), where the ratio would be noise of any size and sign.
    """

    names: tuple[str, ...]
    method: str
    mi: np.ndarray
    mi_se: np.ndarray
    self_mi: np.ndarray
    self_mi_se: np.ndarray
    pair_mi: np.ndarray
    pair_mi_se: np.ndarray
    nmi: np.ndarray
    nmi_se: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    def index(self, name: str) -> int:
        return self.names.index(name)


def _channels(channels: ChannelsLike) -> list[GaussianChannel]:
    if isinstance(channels, Mapping):
        return [as_channel(mu, lv, name=str(name)) for name, (mu, lv) in channels.items()]
    out = list(channels)
    if not all(isinstance(ch, GaussianChannel) for ch in out):
        raise InfovitError("channels must be GaussianChannel objects or a {name: (mu, logvar)} map")
    return out


def _subset(n_total: int, n: int | None, seed: int, stream: int, what: str) -> torch.Tensor:
    """All indices, or ``n`` distinct ones at random, sorted (sorted keeps memory access local)."""
    if n is None or n >= n_total:
        return torch.arange(n_total)
    if n < 1:
        raise InfovitError(f"{what} must be ≥ 1, got {n}")
    return torch.randperm(n_total, generator=generator(seed, stream))[:n].sort().values


def _chunks(
    method: str, n_tiles: int, row_chunk: int | None, col_chunk: int | None
) -> tuple[int, int]:
    """Tile sizes (tuned with benchmarks/mi_throughput.py --sweep on a 2-core AVX-512 CPU).

    One channel: a 512 × 512 float32 tile (1 MB) stays in L2 between GEMM, exp and sum. Many
    channels: short row chunks keep the T tiles of a chunk (~T · 256 kB) in the last-level cache.
    Bhattacharyya works on five tile-sized buffers per latent dim: 128 × 512.
    """
    if method == "bhattacharyya":
        default = (128, 512)
    else:
        default = (512, 512) if n_tiles == 1 else (64, 1024)
    rows, cols = row_chunk or default[0], col_chunk or default[1]
    if rows < 1 or cols < 1:
        raise InfovitError("chunk sizes must be ≥ 1")
    return rows, cols


class _SourceArgs(TypedDict):
    """Keyword arguments every tile source takes."""

    dtype: torch.dtype
    device: torch.device
    row_chunk: int
    centers: Sequence[torch.Tensor]


@contextlib.contextmanager
def _one_intra_op_thread(enabled: bool) -> Iterator[None]:
    """With a worker pool, every op runs single-threaded (restored on exit): tiny per-op
    OpenMP regions cost more than they gain and stall whenever another process holds a core."""
    before = torch.get_num_threads()
    if enabled:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if enabled:
            torch.set_num_threads(before)


def _pass(
    chans: list[GaussianChannel],
    *,
    method: str,
    pairs: bool,
    n_samples: int | None,
    n_components: int | None,
    seed: int,
    dtype: torch.dtype | str,
    device: str | torch.device,
    row_chunk: int | None,
    col_chunk: int | None,
    workers: int | None,
    progress: bool,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if method not in METHODS:
        raise InfovitError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if n_samples is not None and n_samples < 1:
        raise InfovitError(f"n_samples must be ≥ 1, got {n_samples}")
    n_points = check_same_points(chans)
    started = time.perf_counter()
    dev = torch.device(device)
    if workers is None:
        workers = torch.get_num_threads() if dev.type == "cpu" else 1
    with _one_intra_op_thread(workers > 1), torch.inference_mode():
        centers = [ch.mu.to(torch.float64).mean(dim=0) for ch in chans]  # [r] per channel
        gemm_dtype = (
            dtype
            if isinstance(dtype, torch.dtype)
            else choose_dtype(chans, centers, dtype, joint=pairs)
        )
        columns = _subset(n_points, n_components, seed, STREAM_COLUMNS, "n_components")
        n_tiles = len(chans) * (2 if pairs and method == "mc" else 1)
        rows_per_chunk, cols_per_chunk = _chunks(method, n_tiles, row_chunk, col_chunk)
        common = _SourceArgs(
            dtype=gemm_dtype, device=dev, row_chunk=rows_per_chunk, centers=centers
        )
        source: TileSource
        if method == "mc":
            source = MonteCarloSource(
                chans, columns, n_samples=n_samples, seed=seed, with_dup=pairs, **common
            )
            n_rows, fpc = source.n_rows, 1.0
        else:
            rows = _subset(n_points, n_samples, seed, STREAM_ROWS, "n_samples")
            cls = BhattacharyyaSource if method == "bhattacharyya" else KLSource
            source = cls(chans, rows, columns, **common)
            n_rows = int(rows.shape[0])
            fpc = math.sqrt(max(0.0, 1.0 - n_rows / n_points))
        moments = Moments(len(chans), pairs)
        bar = tqdm(total=n_rows, unit="row", desc=method, disable=not progress, leave=False)
        with bar:
            stream = log_sums(source, col_chunk=cols_per_chunk, need_pairs=pairs, workers=workers)
            for sums in stream:
                moments.add(sums)
                bar.update(int(sums.rows.shape[0]))
    settings = {
        "method": method,
        "n_points": n_points,
        "n_rows": n_rows,
        "n_components": int(columns.shape[0]),
        "seed": int(seed),
        "dtype": str(gemm_dtype).removeprefix("torch."),
        "workers": workers,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return moments.result(fpc), settings


def _run(
    chans: list[GaussianChannel], *, dtype: str, pairs: bool, **kwargs: Any
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One pass in the chosen precision, checked against the standard errors it reports.

    float32's rounding is bounded a priori (:func:`~infovit.information.gaussian.
    float32_error_bound`), but whether that bound is small depends on the errors the estimate
    itself has: near-deterministic channels (components many σ apart) have standard errors of
    1e-7 nats and less, far below float32's rounding. So with ``dtype="auto"`` a float32 pass
    whose bound exceeds ``PRECISION_FRACTION`` of its smallest standard error is redone in
    float64 (the reason is recorded in the settings); an explicit ``"float32"`` in that case
    warns. Nothing is clipped: an estimate above log L is a rounding error, and shows.
    """
    res, settings = _pass(chans, dtype=dtype, pairs=pairs, **kwargs)
    if settings["dtype"] != "float32":
        return res, settings
    centers = [ch.mu.to(torch.float64).mean(dim=0) for ch in chans]
    bound = float32_error_bound(chans, centers, joint=pairs)
    keys = ("mi_se", "self_mi_se", "pair_mi_se")  # nats (NMI's error is a ratio's)
    errors = np.concatenate([np.ravel(res[k]) for k in keys if k in res])
    errors = errors[np.isfinite(errors)]
    smallest = float(errors.min()) if errors.size else float("inf")
    if bound <= PRECISION_FRACTION * smallest:
        return res, settings
    why = (
        f"float32 rounding (≤ {bound:.2g} nats per log-ratio) exceeds the smallest standard "
        f"error ({smallest:.2g} nats)"
    )
    if dtype != "auto":
        warnings.warn(f"{why}; the estimate may be biased beyond its error: use float64",
                      RuntimeWarning, stacklevel=3)  # fmt: skip
        return res, {**settings, "dtype_warning": why}
    res, settings = _pass(chans, dtype=torch.float64, pairs=pairs, **kwargs)
    return res, {**settings, "dtype_reason": f"{why}; redone in float64"}


def information_matrix(
    channels: ChannelsLike,
    *,
    method: str = "mc",
    n_samples: int | None = None,
    n_components: int | None = None,
    seed: int = 0,
    dtype: str = "auto",
    device: str | torch.device = "cpu",
    row_chunk: int | None = None,
    col_chunk: int | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> InformationMatrix:
    """I(X;U), I(U;U′), I(U;V) and NMI for every channel and pair, with standard errors.

    All channels must cover the same patches in the same order. Cost ∝ rows × components ×
    (channels · r + channels²); see the module docstring for ``n_samples``/``n_components``.
    ``dtype="auto"`` picks float32 GEMMs unless rounding could move the estimate by ~1e-3 nats
    (see :func:`infovit.information.gaussian.choose_dtype`), float64 otherwise, and redoes a
    float32 pass in float64 when float32's rounding bound exceeds the smallest standard error
    (``settings["dtype_reason"]`` says so); an explicit ``"float32"`` then warns. ``workers``:
    threads over row chunks (default ``torch.get_num_threads()`` on CPU); results do not depend
    on it, on the chunk sizes or on the device's thread count — only on ``seed``. Monte Carlo
    row chunks are at most one random block (``infovit.information.rng.BLOCK`` samples).
    """
    chans = _channels(channels)
    res, settings = _run(
        chans,
        method=method,
        pairs=True,
        n_samples=n_samples,
        n_components=n_components,
        seed=seed,
        dtype=dtype,
        device=device,
        row_chunk=row_chunk,
        col_chunk=col_chunk,
        workers=workers,
        progress=progress,
    )
    return InformationMatrix(
        names=tuple(ch.name for ch in chans), method=method, settings=settings, **res
    )


def mutual_information(
    mu: Any,
    logvar: Any,
    *,
    method: str = "mc",
    n_samples: int | None = None,
    n_components: int | None = None,
    seed: int = 0,
    dtype: str = "auto",
    device: str | torch.device = "cpu",
    row_chunk: int | None = None,
    col_chunk: int | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> Estimate:
    """I(X;U) in nats for one channel with posteriors ``mu, logvar [L, r]`` (eq. 4)."""
    res, _ = _run(
        [as_channel(mu, logvar)],
        method=method,
        pairs=False,
        n_samples=n_samples,
        n_components=n_components,
        seed=seed,
        dtype=dtype,
        device=device,
        row_chunk=row_chunk,
        col_chunk=col_chunk,
        workers=workers,
        progress=progress,
    )
    return Estimate(float(res["mi"][0]), float(res["mi_se"][0]))


def normalized_mutual_information(
    u: tuple[Any, Any], v: tuple[Any, Any], **options: Any
) -> Estimate:
    """NMI(U, V) of two channels given as ``(mu, logvar)`` pairs; options as for
    :func:`information_matrix`."""
    m = information_matrix({"u": u, "v": v}, **options)
    return Estimate(float(m.nmi[0, 1]), float(m.nmi_se[0, 1]))
