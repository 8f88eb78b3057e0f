"""Running moments of the per-row terms, and the estimates with their standard errors.

Per row ``i`` and channel ``a`` the term ``t_a = log p(u|x_i) − log p̂(u)`` averages to I(X;U_a).
With common rows, ``I(U_a;U_b) = mean(t_a + t_b − t_ab)`` is the mean of one per-row quantity, so
its standard error comes from that quantity's spread directly (covariances included). The NMI
error uses the delta method on the same per-row terms, again with all covariances.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from infovit.information.engine import LogSums

__all__ = ["MIN_SELF_INFORMATION", "SIGNIFICANCE", "Moments"]

_F64 = torch.float64
# NMI divides by sqrt(I(U;U′) I(V;V′)); it is reported (else NaN) only for channels whose I(U;U′)
# exceeds both this many nats (rounding level) and SIGNIFICANCE standard errors: dividing by an
# estimate that is mostly noise gives ratios of any size and sign (e.g. collapsed IB heads).
MIN_SELF_INFORMATION = 1e-6
SIGNIFICANCE = 3.0


def _var(total: Tensor, squares: Tensor, n: int) -> Tensor:
    if n < 2:
        return torch.full_like(total, float("nan"))
    mean = total / n
    return ((squares - n * mean * mean) / (n - 1)).clamp(min=0.0)


class Moments:
    """Float64 sums over rows of everything :meth:`result` needs; memory O(C²)."""

    def __init__(self, n_channels: int, pairs: bool) -> None:
        c = n_channels
        self.n = 0
        self.pairs = pairs
        z1, z2 = (lambda: torch.zeros(c, dtype=_F64)), (lambda: torch.zeros(c, c, dtype=_F64))
        self.t_sum, self.t_sq = z1(), z1()
        self.d_sum, self.d_cross = z1(), z2()  # d_a: per-row I(U_a;U_a′) term
        self.p_sum, self.p_sq, self.p_da, self.p_db = z2(), z2(), z2(), z2()  # p_ab: I(U_a;U_b)

    def add(self, s: LogSums) -> None:
        k = s.log_count[:, None]  # [S, 1]
        t = k - s.single  # [S, C]
        self.n += int(t.shape[0])
        self.t_sum += t.sum(dim=0)
        self.t_sq += t.square().sum(dim=0)
        if not self.pairs:
            return
        assert s.pair is not None and s.self_pair is not None
        d = t + (k - s.single_dup) - (k - s.self_pair)  # [S, C]
        p = t[:, :, None] + t[:, None, :] - (k[:, :, None] - s.pair)  # [S, C, C]
        self.d_sum += d.sum(dim=0)
        self.d_cross += d.T @ d
        self.p_sum += p.sum(dim=0)
        self.p_sq += p.square().sum(dim=0)
        self.p_da += (p * d[:, :, None]).sum(dim=0)
        self.p_db += (p * d[:, None, :]).sum(dim=0)

    def result(self, fpc: float = 1.0) -> dict[str, np.ndarray]:
        """Means and standard errors; ``fpc`` scales errors (finite-population correction)."""
        n = self.n
        out: dict[str, Tensor] = {}
        out["mi"] = self.t_sum / n
        out["mi_se"] = (_var(self.t_sum, self.t_sq, n) / n).sqrt() * fpc
        if self.pairs:
            k = self.d_sum / n  # I(U;U′)
            var_d = _var(self.d_sum, torch.diagonal(self.d_cross).clone(), n)
            j = self.p_sum / n  # I(U_a;U_b)
            var_p = _var(self.p_sum, self.p_sq, n)
            scale = 1.0 / max(n - 1, 1)
            cov_dd = (self.d_cross - n * k[:, None] * k[None, :]) * scale
            cov_pa = (self.p_da - n * j * k[:, None]) * scale
            cov_pb = (self.p_db - n * j * k[None, :]) * scale
            self_se = (var_d / n).sqrt() * fpc
            informative = (k > MIN_SELF_INFORMATION) & (k > SIGNIFICANCE * self_se)
            kk = k[:, None] * k[None, :]
            root = torch.where(informative[:, None] & informative[None, :], kk.sqrt(), torch.nan)
            nmi = j / root
            ka, kb = k[:, None], k[None, :]
            var_h = (
                var_p / kk
                + nmi.square()
                * (var_d[:, None] / (4 * ka**2) + var_d[None, :] / (4 * kb**2) + cov_dd / (2 * kk))
                - nmi / root * (cov_pa / ka + cov_pb / kb)
            )
            out["self_mi"] = k
            out["self_mi_se"] = self_se
            pair_se = (var_p / n).sqrt() * fpc
            nmi_se = (var_h.clamp(min=0) / n).sqrt() * fpc
            # The diagonal is (U, U′) by definition: NMI = 1 exactly where I(U;U′) > 0.
            eye = torch.eye(len(k), dtype=torch.bool)
            out["pair_mi"] = torch.where(eye, torch.diag(k), j)
            out["pair_mi_se"] = torch.where(eye, torch.diag(out["self_mi_se"]), pair_se)
            positive = torch.diag(informative)
            out["nmi"] = torch.where(eye, torch.where(positive, 1.0, torch.nan), nmi)
            out["nmi_se"] = torch.where(eye, torch.where(positive, 0.0, torch.nan), nmi_se)
        return {name: value.numpy() for name, value in out.items()}
