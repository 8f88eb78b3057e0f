"""Stochastic channels p(u|x): one diagonal Gaussian posterior per patch x.

A channel is the pair (μ, log σ²), both ``[L, r]``, row ``j`` describing p(u | x_j). Every
estimator in this package takes channels over the *same* L patches in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from infovit.errors import InfovitError

__all__ = ["GaussianChannel", "as_channel", "check_same_points", "concat_channels"]

# log σ² outside this range makes exp() over/underflow in float64 before any estimator runs.
_LOGVAR_LIMIT = 600.0


@dataclass(frozen=True)
class GaussianChannel:
    """Posterior parameters of one channel: ``mu`` and ``logvar``, float tensors ``[L, r]``."""

    mu: Tensor
    logvar: Tensor
    name: str = "channel"

    @property
    def n_points(self) -> int:
        return int(self.mu.shape[0])

    @property
    def dim(self) -> int:
        return int(self.mu.shape[1])


def _as_tensor(value: Any, what: str) -> Tensor:
    if isinstance(value, Tensor):
        t = value.detach().cpu()
    else:
        try:
            t = torch.from_numpy(np.asarray(value))
        except (TypeError, ValueError) as err:
            raise InfovitError(
                f"{what} must be a numeric array, got {type(value).__name__}"
            ) from err
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise InfovitError(f"{what} must hold real numbers, got dtype {t.dtype}")
    # Keep float32 inputs in float32 (memory at L = 10⁶); estimators upcast what needs it.
    return t.to(torch.float64) if t.dtype not in (torch.float32, torch.float64) else t


def as_channel(mu: Any, logvar: Any, name: str = "channel") -> GaussianChannel:
    """Validate (μ, log σ²) arrays of shape ``[L, r]`` and wrap them as a channel."""
    mu_t = _as_tensor(mu, f"{name}: mu")
    lv_t = _as_tensor(logvar, f"{name}: logvar")
    if mu_t.ndim != 2:
        raise InfovitError(
            f"{name}: mu must be [L, r] (patches × latent dims), got {tuple(mu_t.shape)}"
        )
    if lv_t.shape != mu_t.shape:
        raise InfovitError(
            f"{name}: logvar shape {tuple(lv_t.shape)} differs from mu shape {tuple(mu_t.shape)}"
        )
    if mu_t.shape[0] < 1 or mu_t.shape[1] < 1:
        raise InfovitError(
            f"{name}: need at least one patch and one latent dim, got {tuple(mu_t.shape)}"
        )
    if not bool(torch.isfinite(mu_t).all()) or not bool(torch.isfinite(lv_t).all()):
        raise InfovitError(f"{name}: mu and logvar must be finite (found NaN or inf)")
    if float(lv_t.abs().max()) > _LOGVAR_LIMIT:
        raise InfovitError(f"{name}: |logvar| exceeds {_LOGVAR_LIMIT:g}; σ² is not representable")
    dtype = torch.promote_types(mu_t.dtype, lv_t.dtype)
    return GaussianChannel(mu_t.to(dtype).contiguous(), lv_t.to(dtype).contiguous(), name)


def check_same_points(channels: Sequence[GaussianChannel]) -> int:
    """The common number of patches L; an error if channels disagree (they must share X)."""
    if not channels:
        raise InfovitError("no channels given")
    sizes = {ch.n_points for ch in channels}
    if len(sizes) != 1:
        detail = ", ".join(f"{ch.name}: {ch.n_points}" for ch in channels[:6])
        raise InfovitError(f"channels must cover the same patches; got different L ({detail})")
    return sizes.pop()


def concat_channels(*channels: GaussianChannel, name: str | None = None) -> GaussianChannel:
    """The joint channel (U, V, …): conditionally independent given x, so parameters concatenate."""
    check_same_points(channels)
    dtype = channels[0].mu.dtype
    for ch in channels[1:]:
        dtype = torch.promote_types(dtype, ch.mu.dtype)
    mu = torch.cat([ch.mu.to(dtype) for ch in channels], dim=1)  # [L, Σr]
    logvar = torch.cat([ch.logvar.to(dtype) for ch in channels], dim=1)  # [L, Σr]
    return GaussianChannel(mu, logvar, name or "+".join(ch.name for ch in channels))
