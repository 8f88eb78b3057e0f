"""Validation: top-1/top-5 and nats per image, as mean ± std over stochastic passes.

The bottleneck's noise is part of the channel, so (as in the paper) evaluation samples it by
default and repeats the pass K times; ``noise="mean"`` evaluates the deterministic μ instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from infovit.model.capabilities import has_channel, nats_measured
from infovit.model.vit import InfoViT
from infovit.training.config import Config
from infovit.training.device import autocast
from infovit.training.objective import topk_hits

__all__ = ["EvalResult", "evaluate", "evaluate_run"]


@dataclass
class EvalResult:
    top1: float  # percent, mean over passes
    top1_std: float
    top5: float
    top5_std: float
    # nats per image (blocks × heads × tokens), mean over images and passes; None for the
    # unmodified ViT, whose attention writes are not measured (unbounded), 0 without attention
    kl_per_image: float | None
    kl_per_image_std: float | None  # std over passes of the per-pass mean
    passes: int
    noise: str
    n_images: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def evaluate(
    model: InfoViT,
    loader: DataLoader,
    passes: int = 1,
    noise: str = "sample",
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    progress: bool = True,
) -> EvalResult:
    """Evaluate ``passes`` times over ``loader``; deterministic models need only one pass."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    if not has_channel(model) or noise == "mean":
        passes = 1  # nothing stochastic to average over
    top1, top5, kls = [], [], []
    n = 0
    for p in range(passes):
        hits = torch.zeros(2, dtype=torch.long, device=device)  # top-1, top-5 (on the device:
        kl = torch.zeros((), dtype=torch.float64, device=device)  # read once per pass)
        n = 0
        bar = tqdm(loader, desc=f"eval {p + 1}/{passes}", leave=False, disable=not progress)
        for images, target in bar:
            images, target = images.to(device, non_blocking=True), target.to(device)
            with autocast(device, amp_dtype):
                out = model.forward_info(images, noise=noise)  # type: ignore[arg-type]
            hits += topk_hits(out.logits.float(), target)
            kl += out.kl_per_image().sum().double()
            n += len(target)
        (c1, c5), kl_sum = hits.tolist(), float(kl)
        top1.append(100.0 * c1 / max(n, 1))
        top5.append(100.0 * c5 / max(n, 1))
        kls.append(kl_sum / max(n, 1))
    model.train(was_training)
    measured = nats_measured(model)
    return EvalResult(
        top1=float(np.mean(top1)),
        top1_std=float(np.std(top1)),
        top5=float(np.mean(top5)),
        top5_std=float(np.std(top5)),
        kl_per_image=float(np.mean(kls)) if measured else None,
        kl_per_image_std=float(np.std(kls)) if measured else None,
        passes=passes,
        noise=noise,
        n_images=n,
    )


def evaluate_run(
    run_dir: str | Path,
    passes: int = 10,
    noise: str | None = None,
    data: str | None = None,
    tag: str = "auto",
    batch_size: int = 256,
    device: str = "auto",
    progress: bool = True,
    seed: int = 0,
) -> tuple[EvalResult, Config]:
    """Evaluate a run folder's model on its own validation data (or ``data``), after checking
    that the data fits the model (classes, image size). ``noise`` defaults to the run's. The
    channel noise is drawn from ``seed`` in a forked RNG: a run's numbers do not depend on the
    runs evaluated before it in the same process."""
    from infovit.data.checks import check_image_size, check_model_fits_data
    from infovit.errors import InfovitError
    from infovit.training.device import resolve_device
    from infovit.training.run import RunFolder, load_model, validation_set

    if passes < 1:
        raise InfovitError(f"--passes must be at least 1, got {passes} (the paper: 10)")
    if batch_size < 1:
        raise InfovitError(f"--batch-size must be at least 1, got {batch_size} (e.g. 256)")
    dev = resolve_device(device)
    model, config = load_model(run_dir, tag=tag, device=dev)
    dataset = validation_set(config, data)
    where = f"--data {data}" if data else f"the run's data {config.data.spec}"
    recorded = (RunFolder(run_dir).meta().get("data") or {}).get("classes")
    check_model_fits_data(model.num_classes, recorded, dataset, where)
    check_image_size(int(model.patch_embed.img_size[0]), dataset, where)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=0)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        result = evaluate(
            model, loader, passes=passes, noise=noise or config.optim.eval_noise, device=dev,
            progress=progress,
        )  # fmt: skip
    return result, config
