"""Extreme patches (paper Fig. 4, App. D): what makes one head write the most nats?

For a head, take the patches in the top 0.1% of its KL over the validation set, split them by
the sign of the latent mean along the head's dominant dimension (heads are effectively 1-D), and
keep the head's attention map for that query patch so a figure can show what it looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from infovit.analysis.extract import Extraction
from infovit.analysis.probes import dominant_dims, load_images
from infovit.analysis.tables import Row
from infovit.model.vit import InfoViT

__all__ = ["ExtremePatches", "extreme_patches", "extreme_table"]


@dataclass
class ExtremePatches:
    """The top-KL patches of one head with their latent sign and attention maps."""

    name: str
    block: int
    head: int
    dim: int
    images: np.ndarray  # [M] data set indices
    patches: np.ndarray  # [M] patch token index
    kl: np.ndarray  # [M] nats
    mu: np.ndarray  # [M] latent mean along ``dim`` (deterministic channel)
    attn: np.ndarray  # [M, rows, cols] attention of the query patch over patch keys
    pixels: np.ndarray  # [M, 3, H, W] float32 images, as fed to the model


@torch.no_grad()
def extreme_patches(
    model: InfoViT,
    dataset: Dataset,
    ext: Extraction,
    block: int,
    head: int,
    *,
    quantile: float = 0.999,
    max_patches: int = 32,
    device: str | torch.device = "cpu",
) -> ExtremePatches:
    """The ≤ ``max_patches`` highest-KL patches of head (block, head) above ``quantile``."""
    device = torch.device(device)
    model = model.to(device).eval()
    kl = ext.kl_head[:, block, head].astype(np.float32)  # [N, P]
    flat = kl.ravel()
    k = max(1, min(max_patches, int(np.ceil((1 - quantile) * flat.size))))
    order = np.argsort(-flat, kind="stable")[:k]
    rows, patches = np.divmod(order, kl.shape[1])
    dim = int(dominant_dims(ext.kl_dim)[block, head])
    pre = model.num_prefix_tokens
    x = load_images(dataset, ext.indices[rows]).to(device)  # [M, 3, H, W]
    out = model.forward_info(x, noise="mean", return_posterior=True, return_attn=True)
    sel = torch.arange(len(rows), device=device)
    q = torch.as_tensor(patches, device=device) + pre
    mu = out.mu[sel, block, head, q, dim]  # type: ignore[index]  # [M]
    attn = out.attn[sel, block, head, q, pre:]  # type: ignore[index]  # [M, P]
    return ExtremePatches(
        name=ext.name,
        block=block,
        head=head,
        dim=dim,
        images=ext.indices[rows],
        patches=patches,
        kl=flat[order],
        mu=mu.float().cpu().numpy(),
        attn=attn.float().cpu().numpy().reshape(len(rows), *ext.grid),  # [M, rows, cols]
        pixels=x.float().cpu().numpy(),
    )


def extreme_table(result: ExtremePatches) -> list[Row]:
    """One row per extreme patch: where it is, its KL and the sign of its latent mean."""
    cols = result.attn.shape[2]
    return [
        {
            "model": result.name,
            "block": result.block,
            "head": result.head,
            "dim": result.dim,
            "image": int(img),
            "patch": int(p),
            "patch_row": int(p) // cols,
            "patch_col": int(p) % cols,
            "kl": float(k),
            "mu": float(m),
            "sign": "+" if m >= 0 else "-",
        }
        for img, p, k, m in zip(result.images, result.patches, result.kl, result.mu, strict=True)
    ]
