"""One streamed pass per model over a validation set → per-image tables, cached as ``.npz``.

Every analysis of a trained model (spectrum, head firing, patch voting, KL maps, JSD) reads
these arrays, so the model runs once per data set; re-running an analysis loads the cache.
Memory is bounded by the output tables (no activations are kept beyond one batch).

Shapes: N images, K stochastic passes, C classes, L blocks, H heads, P patch tokens, r latents.
For the unmodified ViT attention writes are unmeasured: KL arrays are NaN. Without attention
(``no_attn``) they are exactly zero.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from infovit.analysis.voting import inverse_simpson, logit_range, patch_top_classes
from infovit.atomic import atomic_path
from infovit.data.selection import ImageSelection
from infovit.errors import InfovitError
from infovit.model.block import InfoBlock
from infovit.model.capabilities import has_channel, nats_measured
from infovit.model.vit import InfoViT

__all__ = ["CACHE_VERSION", "Extraction", "extract", "extract_cached", "subset_indices"]

CACHE_VERSION = 1


@dataclass
class Extraction:
    """Per-image tables of one model on one data set (see module docstring for shapes)."""

    name: str
    variant: str
    grid: tuple[int, int]
    indices: np.ndarray  # [N] data set indices of the rows
    labels: np.ndarray  # [N] int64
    logits: np.ndarray  # [N, C] float16, first pass
    probs: np.ndarray  # [N, C] float16, first pass
    correct: np.ndarray  # [N, K] bool, top-1 correct in each stochastic pass
    kl_total: np.ndarray  # [N, K] float32 nats per image (all blocks, heads, tokens)
    kl_patch: np.ndarray  # [N, P] float32 nats per patch summed over blocks and heads
    kl_head: np.ndarray  # [N, L, H, P] float16 nats per head and patch (first pass)
    kl_dim: np.ndarray  # [L, H, r] float32 mean KL per latent dimension over all patches
    simpson: np.ndarray  # [N] float32 inverse Simpson index of patch top classes
    logit_range: np.ndarray  # [N] float32 max − min of all patch logits
    patch_top: np.ndarray  # [N, P] int32 top class of each patch
    latent_heads: np.ndarray  # [S, 2] int (block, head) whose latent means are kept
    latent_mu: np.ndarray  # [N, S, P, r] float16 latent means of those heads
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        """Whether attention writes are priced (False for the unmodified ViT)."""
        return nats_measured(self.variant)

    def accuracy_passes(self) -> np.ndarray:
        """Top-1 accuracy in percent of each stochastic pass: [K]."""
        return 100.0 * self.correct.mean(axis=0)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write all arrays and the metadata (as JSON) to one ``.npz``, atomically."""
        arrays = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        head: dict[str, Any] = {"name": self.name, "variant": self.variant, "grid": list(self.grid)}
        head["meta"] = self.meta
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, header=np.array(json.dumps(head)), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Extraction:
        with np.load(path, allow_pickle=False) as data:
            head = json.loads(str(data["header"]))
            arrays = {k: data[k] for k in data.files if k != "header"}
        return cls(
            name=head["name"],
            variant=head["variant"],
            grid=(int(head["grid"][0]), int(head["grid"][1])),
            meta=head["meta"],
            **arrays,
        )


def subset_indices(n: int, max_images: int | None) -> np.ndarray:
    """Evenly spaced indices (the shared ``even`` :class:`ImageSelection`): class-sorted folders
    stay class-balanced under ``max_images``."""
    if max_images is not None and max_images < 1:
        raise InfovitError(f"--max-images must be ≥ 1, got {max_images}")
    return ImageSelection(max_images, "even").indices(n)


@torch.no_grad()
def extract(
    model: InfoViT,
    dataset: Dataset,
    *,
    name: str = "model",
    passes: int = 1,
    max_images: int | None = None,
    batch_size: int = 64,
    latent_heads: list[tuple[int, int]] | None = None,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    progress: bool = True,
    seed: int = 0,
) -> Extraction:
    """Run ``model`` over ``dataset`` once (plus K−1 logit-only passes) and tabulate per image.

    Extra passes only matter for sampling bottlenecks (the noise is part of the channel);
    deterministic models keep K = 1. The channel noise is drawn from ``seed`` in a forked RNG,
    so a model's tables depend on the model, the data and the seed alone: not on which models
    were analysed before it, nor on the caller's random state.
    """
    if passes < 1:
        raise InfovitError(f"--passes must be ≥ 1, got {passes}")
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _extract(
            model,
            dataset,
            name=name,
            passes=passes,
            max_images=max_images,
            batch_size=batch_size,
            latent_heads=latent_heads,
            device=device,
            num_workers=num_workers,
            progress=progress,
        )


def _extract(
    model: InfoViT,
    dataset: Dataset,
    *,
    name: str,
    passes: int,
    max_images: int | None,
    batch_size: int,
    latent_heads: list[tuple[int, int]] | None,
    device: torch.device,
    num_workers: int,
    progress: bool,
) -> Extraction:
    """:func:`extract` inside its seeded RNG."""
    model = model.to(device).eval()
    ib = has_channel(model)
    blocks = cast(Sequence[InfoBlock], model.blocks)  # nn.Sequential iterates as Module
    stochastic = ib and any(blk.attn is not None and blk.attn.noise == "sample" for blk in blocks)
    K = passes if stochastic else 1
    latent_heads = list(latent_heads or [])
    L = len(blocks)
    H = int(blocks[0].attn.num_heads) if blocks[0].attn is not None else 0
    for b, h in latent_heads:
        if not (ib and 0 <= b < L and 0 <= h < H):
            raise InfovitError(f"latent head {b}.{h} does not exist in {name} ({model.variant})")
    indices = subset_indices(len(dataset), max_images)  # type: ignore[arg-type]
    loader = DataLoader(
        Subset(dataset, indices.tolist()), batch_size=batch_size, num_workers=num_workers
    )
    pre = model.num_prefix_tokens
    rank = model.bottleneck_config.rank if ib and model.bottleneck_config else 0
    cols: dict[str, list[np.ndarray]] = {}
    kl_dim_sum = torch.zeros(L if ib else 0, H if ib else 0, rank, dtype=torch.float64)
    n_tokens = 0

    def put(key: str, value: torch.Tensor | np.ndarray) -> None:
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        cols.setdefault(key, []).append(arr)

    for images, target in tqdm(loader, desc=f"extract {name}", disable=not progress):
        images = images.to(device)
        target = torch.as_tensor(target).to(device)
        out = model.forward_info(images, return_posterior=ib, return_patch_logits=True)
        B = images.shape[0]
        P = out.patch_logits.shape[1]  # type: ignore[union-attr]
        put("labels", target.long())
        put("logits", out.logits.half())
        put("probs", out.logits.float().softmax(dim=-1).half())
        correct = [out.logits.argmax(dim=-1) == target]
        totals = [out.kl_per_image()]
        for _ in range(K - 1):
            extra = model.forward_info(images)
            correct.append(extra.logits.argmax(dim=-1) == target)
            totals.append(extra.kl_per_image())
        put("correct", torch.stack(correct, dim=1))  # [B, K]
        kl_total = torch.stack(totals, dim=1).float()  # [B, K]
        if out.kl is not None:
            kl = out.kl[..., pre:].float()  # [B, L, H, P]
            put("kl_head", kl.half())
            put("kl_patch", kl.sum(dim=(1, 2)))  # [B, P]
            assert out.mu is not None and out.logvar is not None  # asked for with the KL
            dim_kl = 0.5 * (out.logvar.exp() + out.mu.square() - 1 - out.logvar)
            kl_dim_sum += dim_kl[:, :, :, pre:].float().sum(dim=(0, 3)).double().cpu()  # [L, H, r]
            n_tokens += B * P
            if latent_heads:
                mus = [out.mu[:, b, h, pre:] for b, h in latent_heads]
                put("latent_mu", torch.stack(mus, dim=1).half())  # [B, S, P, r]
        else:
            fill = 0.0 if nats_measured(model) else float("nan")
            kl_total = torch.full_like(kl_total, fill)
            put("kl_head", np.zeros((B, 0, 0, P), np.float16))
            put("kl_patch", torch.full((B, P), fill))
        put("kl_total", kl_total)
        top = patch_top_classes(out.patch_logits)  # type: ignore[arg-type]
        put("patch_top", top.int())
        put("simpson", inverse_simpson(top, out.logits.shape[1]))
        put("logit_range", logit_range(out.patch_logits))  # type: ignore[arg-type]

    if not cols:
        raise InfovitError(f"the data set for {name} is empty")
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    N, P = cat["kl_patch"].shape
    S = len(latent_heads)
    return Extraction(
        name=name,
        variant=model.variant,
        grid=tuple(int(g) for g in model.grid_size),  # type: ignore[arg-type]
        indices=indices,
        labels=cat["labels"],
        logits=cat["logits"],
        probs=cat["probs"],
        correct=cat["correct"],
        kl_total=cat["kl_total"].astype(np.float32),
        kl_patch=cat["kl_patch"].astype(np.float32),
        kl_head=cat["kl_head"],
        kl_dim=(kl_dim_sum / max(n_tokens, 1)).float().numpy(),
        simpson=cat["simpson"].astype(np.float32),
        logit_range=cat["logit_range"].astype(np.float32),
        patch_top=cat["patch_top"],
        latent_heads=np.array(latent_heads, dtype=np.int64).reshape(S, 2),
        latent_mu=cat.get("latent_mu", np.zeros((N, 0, P, rank), np.float16)),
        meta={"passes": K, "n_images": N},
    )


def extract_cached(
    model: InfoViT,
    dataset: Dataset,
    cache: str | os.PathLike[str],
    fingerprint: dict[str, Any],
    **kwargs: Any,
) -> Extraction:
    """:func:`extract`, or its cached result when ``fingerprint`` (what went in) is unchanged."""
    cache = Path(cache)
    skip = ("progress", "device", "num_workers")
    key = _jsonable(
        {
            "version": CACHE_VERSION,
            **fingerprint,
            **{k: v for k, v in kwargs.items() if k not in skip},
        }
    )
    if cache.is_file():
        try:
            found = Extraction.load(cache)
        except (OSError, ValueError, KeyError):
            found = None
        if found is not None and found.meta.get("fingerprint") == key:
            return found
    result = extract(model, dataset, **kwargs)
    result.meta["fingerprint"] = key
    result.save(cache)
    return result


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
