"""Head ablation: a causal test of what each head's routed information is worth.

The IB-ViT paper (arXiv 2602.04784) reads routing off the KL of each head (§4, Fig. 3); this
asks the converse question by intervention. For every head with non-negligible KL (above the
active-head threshold on some patch) its message z is replaced

- by the **prior** N(0, I) — the head then routes nothing (KL exactly 0), or
- by its **data-set mean message** E[μ] — a constant: the head still writes its average
  content but nothing that depends on the image,

and top-1 accuracy is measured again: per head alone, and cumulatively with heads ablated in
order of decreasing KL, and with every head of the model ablated (the model then sees each
patch alone, as the no-attention endpoint does). Evaluations use common random numbers (the
same seed for every condition), so differences are not sampling noise; the intervention itself
is :class:`~infovit.model.bottleneck.HeadOverride`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from infovit.analysis.extract import Extraction
from infovit.analysis.heads import active_heads
from infovit.analysis.probes import load_images
from infovit.analysis.tables import Row
from infovit.data.selection import ImageSelection
from infovit.errors import InfovitError
from infovit.model.ablation import ablate_heads
from infovit.model.bottleneck import HeadOverride, Noise
from infovit.model.capabilities import has_channel
from infovit.model.vit import InfoViT

__all__ = [
    "MODES",
    "AblationResult",
    "ablation_tables",
    "head_ablation",
    "mean_messages",
    "overrides_for",
    "top1",
]

MODES: tuple[str, ...] = ("prior", "mean")

Batches = Sequence[tuple[Tensor, Tensor]]


@dataclass
class AblationResult:
    """Accuracies of one model under head ablations (percent, over ``images`` images)."""

    name: str
    heads: list[tuple[int, int]]  # ablated heads, by decreasing KL
    kl: np.ndarray  # [S] nats per image each head writes (summed over patches), i.e. removed
    base: float  # top-1 without ablation
    single: dict[str, np.ndarray]  # mode → [S] top-1 with only that head ablated
    cumulative: dict[str, np.ndarray]  # mode → [S + 1] top-1 with the first k heads ablated
    all_heads: dict[str, float]  # mode → top-1 with every head of the model ablated
    n_heads: int  # heads in the model
    images: int
    noise: str


def _batches(dataset: Dataset, indices: np.ndarray, batch_size: int) -> list[tuple[Tensor, Tensor]]:
    out = []
    for a in range(0, len(indices), batch_size):
        chunk = indices[a : a + batch_size]
        labels = torch.as_tensor([int(dataset[int(i)][1]) for i in chunk])
        out.append((load_images(dataset, chunk), labels))
    return out


@torch.no_grad()
def top1(
    model: InfoViT, batches: Batches, *, noise: Noise, seed: int, device: torch.device
) -> float:
    """Top-1 accuracy (percent) over ``batches`` with the channel noise drawn from ``seed``."""
    correct = total = 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for x, y in batches:
            logits = model.forward_info(x.to(device), noise=noise).logits
            correct += int((logits.argmax(dim=-1).cpu() == y).sum())
            total += len(y)
    return 100.0 * correct / max(total, 1)


@torch.no_grad()
def mean_messages(
    model: InfoViT, batches: Batches, *, noise: Noise, seed: int, device: torch.device
) -> Tensor:
    """Each head's data-set mean message E[μ] over every token: [L, H, r] float32 (CPU)."""
    total: Tensor | None = None
    count = 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for x, _ in batches:
            mu = model.forward_info(x.to(device), noise=noise, return_posterior=True).mu
            assert mu is not None  # has_channel was checked by the caller
            part = mu.double().sum(dim=(0, 3)).cpu()  # [L, H, r]
            total = part if total is None else total + part
            count += mu.shape[0] * mu.shape[3]
    assert total is not None
    return (total / max(count, 1)).float()


def overrides_for(
    heads: Sequence[tuple[int, int]], mode: str, means: Tensor
) -> dict[tuple[int, int], HeadOverride]:
    """The interventions of ``mode`` ("prior" | "mean") on ``heads``."""
    if mode == "prior":
        return {bh: HeadOverride("prior") for bh in heads}
    if mode == "mean":
        return {(b, h): HeadOverride("constant", means[b, h].clone()) for b, h in heads}
    raise ValueError(f"ablation mode must be one of {MODES}, got {mode!r}")


def head_ablation(
    model: InfoViT,
    dataset: Dataset,
    ext: Extraction,
    *,
    threshold: float = 1e-2,
    images: int | None = 512,
    noise: Noise = "sample",
    seed: int = 0,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> AblationResult:
    """Ablate the active heads of ``model`` (by the KL in ``ext``) on ``images`` of its rows."""
    if not has_channel(model):
        raise InfovitError(f"head ablation needs a model with a channel; {ext.name} has none")
    device = torch.device(device)
    model = model.to(device).eval()
    rows = ImageSelection(images, "even").indices(len(ext.indices))
    batches = _batches(dataset, ext.indices[rows], batch_size)
    L, H = ext.kl_head.shape[1:3]
    per_image = ext.kl_head.astype(np.float32).sum(axis=3).mean(axis=0)  # [L, H] nats/image
    active = active_heads(ext.kl_head, threshold)
    order = [(int(b), int(h)) for b, h in zip(*np.nonzero(active), strict=True)]
    order.sort(key=lambda bh: -per_image[bh])
    every = [(b, h) for b in range(L) for h in range(H)]

    def score() -> float:
        return top1(model, batches, noise=noise, seed=seed, device=device)

    means = mean_messages(model, batches, noise=noise, seed=seed, device=device)
    base = score()
    single: dict[str, np.ndarray] = {}
    cumulative: dict[str, np.ndarray] = {}
    all_heads: dict[str, float] = {}
    steps = len(MODES) * (2 * len(order) + 1)
    with tqdm(total=steps, desc=f"ablation {ext.name}", disable=not progress, leave=False) as bar:
        for mode in MODES:
            one, cum = [], [base]
            for k, bh in enumerate(order):
                with ablate_heads(model, overrides_for([bh], mode, means)):
                    one.append(score())
                with ablate_heads(model, overrides_for(order[: k + 1], mode, means)):
                    cum.append(score())
                bar.update(2)
            with ablate_heads(model, overrides_for(every, mode, means)):
                all_heads[mode] = score()
            bar.update(1)
            single[mode], cumulative[mode] = np.array(one), np.array(cum)
    return AblationResult(
        name=ext.name,
        heads=order,
        kl=np.array([per_image[bh] for bh in order], dtype=np.float64),
        base=base,
        single=single,
        cumulative=cumulative,
        all_heads=all_heads,
        n_heads=L * H,
        images=int(sum(len(y) for _, y in batches)),
        noise=noise,
    )


def ablation_tables(result: AblationResult, label: str = "") -> tuple[list[Row], list[Row]]:
    """Per-head rows (accuracy drop, KL removed) and cumulative rows (k heads ablated)."""
    heads: list[Row] = []
    cumulative: list[Row] = []
    for mode in MODES:
        for (b, h), kl, acc in zip(result.heads, result.kl, result.single[mode], strict=True):
            heads.append(
                {
                    "model": result.name,
                    "config": label,
                    "mode": mode,
                    "block": b,
                    "head": h,
                    "kl_removed": float(kl),
                    "top1_base": result.base,
                    "top1": float(acc),
                    "top1_drop": result.base - float(acc),
                    "images": result.images,
                    "noise": result.noise,
                }
            )
        removed = np.concatenate([[0.0], np.cumsum(result.kl)])
        for k, acc in enumerate(result.cumulative[mode]):
            b, h = result.heads[k - 1] if k else (-1, -1)
            cumulative.append(
                {
                    "model": result.name,
                    "config": label,
                    "mode": mode,
                    "step": k,
                    "block": b,
                    "head": h,
                    "kl_removed": float(removed[k]),
                    "top1": float(acc),
                    "top1_all_heads": result.all_heads[mode],
                    "heads_in_model": result.n_heads,
                }
            )
    return heads, cumulative
