"""Repetition probe (paper Fig. 5): does a head react when a patch's content is repeated?

Paste copies of patch i at N random other locations (N ∈ {4, 16, 64}, capped at P − 1), re-run
the model with the deterministic channel (μ only) and record, for every head, the shift
μ_aug − μ₀ of its latent mean at patch i along the head's dominant latent dimension (largest mean
KL), over up to 1024 random (image, patch) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from infovit.analysis.probes import dominant_dims, paste_patch
from infovit.analysis.tables import Row
from infovit.errors import InfovitError
from infovit.model.capabilities import has_channel
from infovit.model.vit import InfoViT

__all__ = ["RepetitionResult", "repetition_probe", "repetition_table"]


@dataclass
class RepetitionResult:
    """Latent-mean shifts ``shift[k, j, l, h]``: pair k, copy count ``counts[j]``, head (l, h)."""

    name: str
    counts: list[int]
    images: np.ndarray  # [M] data set indices
    patches: np.ndarray  # [M] patch token index (prefix excluded)
    dims: np.ndarray  # [L, H] dominant latent dimension used
    shift: np.ndarray  # [M, J, L, H] float32


@torch.no_grad()
def repetition_probe(
    model: InfoViT,
    dataset: Dataset,
    kl_dim: np.ndarray,
    *,
    name: str = "model",
    counts: tuple[int, ...] = (4, 16, 64),
    pairs: int = 1024,
    image_pool: np.ndarray | None = None,
    batch_pairs: int = 16,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> RepetitionResult:
    """Measure the shift for ``pairs`` random (image, patch) pairs; see the module docstring."""
    if not has_channel(model):
        raise InfovitError(f"the repetition probe needs an IB model; {name} is {model.variant}")
    device = torch.device(device)
    model = model.to(device).eval()
    rng = np.random.default_rng(seed)
    P = model.num_patches
    pool = np.arange(len(dataset)) if image_pool is None else np.asarray(image_pool)  # type: ignore[arg-type]
    images = rng.choice(pool, size=pairs, replace=True)
    patches = rng.integers(0, P, size=pairs)
    levels = sorted({min(n, P - 1) for n in counts})
    dims = torch.as_tensor(dominant_dims(kl_dim), device=device)  # [L, H]
    pre = model.num_prefix_tokens
    shifts = []
    for start in tqdm(
        range(0, pairs, batch_pairs), desc=f"repetition {name}", disable=not progress
    ):
        batch = []
        for img_idx, i in zip(
            images[start : start + batch_pairs], patches[start : start + batch_pairs], strict=True
        ):
            x = dataset[int(img_idx)][0]
            others = np.delete(np.arange(P), i)
            batch.append(x)
            for n in levels:
                targets = rng.choice(others, size=n, replace=False).tolist()
                batch.append(paste_patch(model, x, int(i), targets))
        x = torch.stack(batch).to(device)  # [b·(1+J), 3, H, W]
        out = model.forward_info(x, noise="mean", return_posterior=True)
        J1 = 1 + len(levels)
        assert out.mu is not None  # return_posterior=True
        mu = out.mu.view(-1, J1, *out.mu.shape[1:])  # [b, 1+J, L, H, T, r]
        idx = torch.as_tensor(patches[start : start + batch_pairs], device=device) + pre
        b = mu.shape[0]
        at = mu[torch.arange(b, device=device), :, :, :, idx]  # [b, 1+J, L, H, r]
        along = at.gather(-1, dims[None, None, :, :, None].expand(b, J1, -1, -1, 1))[..., 0]
        shifts.append((along[:, 1:] - along[:, :1]).float().cpu())  # [b, J, L, H]
    return RepetitionResult(
        name=name,
        counts=levels,
        images=images,
        patches=patches,
        dims=dims.cpu().numpy(),
        shift=torch.cat(shifts).numpy(),
    )


def repetition_table(result: RepetitionResult) -> list[Row]:
    """Per head and copy count: mean, std, median, mean |shift| and share of positive shifts."""
    rows = []
    _, _, L, H = result.shift.shape
    for j, n in enumerate(result.counts):
        for b in range(L):
            for h in range(H):
                s = result.shift[:, j, b, h]
                rows.append(
                    {
                        "model": result.name,
                        "copies": n,
                        "block": b,
                        "head": h,
                        "dim": int(result.dims[b, h]),
                        "pairs": len(s),
                        "shift_mean": float(s.mean()),
                        "shift_std": float(s.std()),
                        "shift_median": float(np.median(s)),
                        "abs_shift_mean": float(np.abs(s).mean()),
                        "share_positive": float((s > 0).mean()),
                    }
                )
    return rows
