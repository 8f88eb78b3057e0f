"""Diagonal-Gaussian log-densities against many components as one matrix product.

For a row vector ``a`` (a sample, or a posterior for the KL distance) and component ``j``::

    log N(u; μ_j, σ_j²) + r/2·log 2π = −½ Σ_k [u_k² w_jk − 2 u_k μ_jk w_jk + μ_jk² w_jk + λ_jk]

with ``w = 1/σ²`` and ``λ = log σ²``. Stacking ``A_i = [u_i², u_i, 1, a_i]`` (``a_i`` a per-row
constant) and ``B_j = [−½w_j, μ_j w_j, −½c_j, 1]`` (``c_j = Σ_k μ_jk² w_jk + λ_jk``) turns all
S × M log-densities into one GEMM ``[S, 2r+2] @ [2r+2, M]``. Coordinates are centred per latent
dim first, which removes the cancellation caused by a common offset; what is left is bounded by
:func:`rounding_error` and decides between float32 and float64 in :func:`choose_dtype`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from infovit.errors import InfovitError
from infovit.information.channel import GaussianChannel

__all__ = [
    "choose_dtype",
    "component_factors",
    "factor_width",
    "float32_error_bound",
    "kl_row_factors",
    "log_density_matrix",
    "rounding_error",
    "sample_row_factors",
]

_F64 = torch.float64
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def factor_width(r: int) -> int:
    """Inner dimension K of the GEMM for latent dim r."""
    return 2 * r + 2


def component_factors(mu: Tensor, logvar: Tensor, center: Tensor) -> Tensor:
    """``B`` of the module docstring, float64 ``[2r+2, M]`` for components ``mu, logvar [M, r]``."""
    mu = mu.to(_F64) - center  # [M, r]
    logvar = logvar.to(_F64)
    w = torch.exp(-logvar)  # [M, r]
    c = (mu.square() * w + logvar).sum(dim=1, keepdim=True)  # [M, 1]
    ones = torch.ones_like(c)
    return torch.cat([-0.5 * w, mu * w, -0.5 * c, ones], dim=1).T  # [2r+2, M]


def _row_factors(square: Tensor, linear: Tensor, const: Tensor) -> Tensor:
    ones = torch.ones_like(const)[:, None]
    return torch.cat([square, linear, ones, const[:, None]], dim=1)  # [S, 2r+2]


def sample_row_factors(mu: Tensor, logvar: Tensor, eps: Tensor, center: Tensor) -> Tensor:
    """Rows ``A`` for samples ``u = μ + σ·ε`` drawn from the components ``mu, logvar [S, r]``.

    The last entry is ``−log N(u_i; μ_i, σ_i²)`` (up to the shared 2π term), so ``A @ B`` is the
    log-ratio ``log p(u_i|x_j) − log p(u_i|x_i)``: 0 for the sample's own component.
    """
    mu, logvar, eps = mu.to(_F64), logvar.to(_F64), eps.to(_F64)
    u = mu + torch.exp(0.5 * logvar) * eps - center  # [S, r] centred sample
    const = 0.5 * (eps.square() + logvar).sum(dim=1)  # [S]
    return _row_factors(u.square(), u, const)


def kl_row_factors(mu: Tensor, logvar: Tensor, center: Tensor) -> Tensor:
    """Rows ``A`` such that ``A @ B`` is ``−KL(p_i ‖ p_j)`` for diagonal Gaussians."""
    mu = mu.to(_F64) - center  # [S, r]
    logvar = logvar.to(_F64)
    const = 0.5 * (1.0 + logvar).sum(dim=1)  # [S]
    return _row_factors(torch.exp(logvar) + mu.square(), mu, const)


def log_density_matrix(u: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """``log N(u_i; μ_j, diag σ_j²)`` for all pairs, float64 ``[S, M]`` (a reference helper)."""
    if u.ndim != 2 or mu.ndim != 2 or u.shape[1] != mu.shape[1] or mu.shape != logvar.shape:
        raise InfovitError(f"need u [S, r], mu and logvar [M, r]; got {u.shape}, {mu.shape}")
    center = mu.to(_F64).mean(dim=0)  # [r]
    b = component_factors(mu, logvar, center)  # [2r+2, M]
    v = u.to(_F64) - center
    a = _row_factors(v.square(), v, torch.zeros(v.shape[0], dtype=_F64))  # [S, 2r+2]
    return a @ b - 0.5 * u.shape[1] * math.log(2 * math.pi)


def rounding_error(channel: GaussianChannel, center: Tensor, unit_roundoff: float) -> float:
    """Estimated absolute error (nats) of one log-ratio computed as a GEMM at this precision.

    The GEMM adds terms of size ~ (|μ−centre|/σ + few)² per dim; only component pairs within a
    few σ matter (far ones vanish in the log-sum-exp), which gives, with ``a = |μ−c|/σ``,
    ``Σ_k 2(a_k+4)² + ½|λ_k|`` for the largest component plus the row constant's size.
    """
    mu = channel.mu.to(_F64) - center  # [L, r]
    logvar = channel.logvar.to(_F64)
    a = mu.abs() * torch.exp(-0.5 * logvar)  # [L, r]
    per_component = (2.0 * (a + 4.0).square() + 0.5 * logvar.abs()).sum(dim=1)  # [L]
    row_const = (8.0 + 0.5 * logvar.abs().amax(dim=0)).sum()
    return unit_roundoff * float(per_component.max() + row_const)


def choose_dtype(
    channels: Sequence[GaussianChannel],
    centers: Sequence[Tensor],
    requested: str = "auto",
    tolerance: float = 1e-2,
    joint: bool = False,
) -> torch.dtype:
    """float32 when its estimated rounding error stays below ``tolerance`` nats, else float64.

    The estimate bounds the error of a single log-ratio that matters (measured maxima are 0.3–1×
    it). Rounding errors are unsigned noise that the log-sum-exp and the mean over rows largely
    average out: measured shifts of I(X;U) are ≲ 10% of the per-entry bound, so the default
    keeps float32's effect on an estimate below ~1e-3 nats. ``joint`` doubles the estimate: a
    joint channel's log-ratio is the sum of two.
    """
    if requested in _DTYPES:
        return _DTYPES[requested]
    if requested != "auto":
        raise InfovitError(f"dtype must be 'auto', 'float32' or 'float64', got {requested!r}")
    worst = float32_error_bound(channels, centers, joint)
    return torch.float32 if worst <= tolerance else torch.float64


def float32_error_bound(
    channels: Sequence[GaussianChannel], centers: Sequence[Tensor], joint: bool = False
) -> float:
    """The largest :func:`rounding_error` of float32 GEMMs over ``channels`` (nats per
    log-ratio; doubled for a joint channel, whose log-ratio is the sum of two)."""
    eps32 = 2.0**-24
    worst = max(rounding_error(ch, c, eps32) for ch, c in zip(channels, centers, strict=True))
    return worst * (2.0 if joint else 1.0)
