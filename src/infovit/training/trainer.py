"""The training loop: CE + β·KL with AdamW, warm-up + cosine, AMP, and exact resume.

Resume is exact at epoch boundaries: the data order of epoch e comes from a generator seeded with
(seed, e), the learning rate and β are functions of the step, and the optimizer and RNG states
are saved with every ``last`` checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from infovit.data.datasets import build_dataset
from infovit.errors import InfovitError
from infovit.model.factory import build_model
from infovit.model.timm_arch import vit_arch_kwargs
from infovit.model.vit import InfoViT
from infovit.training.config import Config
from infovit.training.device import autocast, resolve_amp, resolve_device
from infovit.training.evaluate import evaluate
from infovit.training.objective import beta_at, information_loss, topk_hits
from infovit.training.optim import build_optimizer, lr_at
from infovit.training.run import RunFolder

__all__ = ["EpochSampler", "build_loaders", "resolve_config", "train"]


def resolve_config(config: Config, train_set: Dataset) -> Config:
    """Fill what the data decides: class count, image size (and patch size for synthetic data)."""
    model = config.model
    classes = len(train_set.classes)  # type: ignore[attr-defined]
    updates: dict[str, Any] = {"num_classes": classes, "img_size": _image_size(config)}
    synth = getattr(train_set, "config", None)
    if synth is not None:
        updates["img_size"] = synth.img_size
        updates["patch_size"] = model.patch_size or synth.patch
    return replace(config, model=replace(model, **updates))


def _image_size(config: Config) -> int | None:
    """Input size for real data: the model's (or its timm base's); synthetic data sets its own."""
    if config.data.spec.startswith("synthetic"):
        return None
    if config.model.img_size:
        return config.model.img_size
    return int(vit_arch_kwargs(config.model.base)["img_size"][0])


class EpochSampler(Sampler[int]):
    """A permutation seeded by (seed, epoch): the data order survives a resume."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def build_loaders(config: Config, device: torch.device) -> tuple[Dataset, DataLoader, DataLoader]:
    d = config.data
    img_size = _image_size(config)
    train_set = build_dataset(d.spec, "train", img_size=img_size, augment=d.augment)
    val_set = build_dataset(d.spec, "val", img_size=img_size)
    if len(train_set) < d.batch_size:
        raise InfovitError(
            f"the training set has {len(train_set)} images, fewer than one batch of "
            f"{d.batch_size}; lower data.batch_size"
        )
    in_memory = d.spec.startswith("synthetic")
    workers = 0 if in_memory else d.workers
    common: dict[str, Any] = dict(
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    sampler = EpochSampler(len(train_set), config.optim.seed)
    train_loader = DataLoader(
        train_set, batch_size=d.batch_size, sampler=sampler, drop_last=True, **common
    )
    val_loader = DataLoader(val_set, batch_size=d.batch_size, shuffle=False, **common)
    return train_set, train_loader, val_loader


def _at_final_beta(config: Config, epoch: int) -> bool:
    """Whether epoch ``epoch`` ended at the configured β, so may give the ``best`` checkpoint.

    During a β warm-up the model is less restricted than configured (β is still small), and
    its accuracy peaks there; picking "best" from those epochs would report the wrong model.
    """
    beta = config.beta
    return (
        config.model.variant != "ib"
        or beta.schedule == "constant"
        or epoch + 1 >= beta.warmup_epochs
    )


def train(
    config: Config | None,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    stop_after_epochs: int | None = None,
) -> RunFolder:
    """Train ``config`` into the run folder ``out`` (or continue it with ``resume=True``, when
    ``config`` is ignored: the run folder's own config is used).

    ``stop_after_epochs`` ends this call early (the run stays resumable), e.g. for tests.
    """
    if resume:
        run = RunFolder.open(out)
        config = run.config()
        if not run.has_checkpoint("last"):
            raise InfovitError(
                f"run {str(out)!r} stopped before its first checkpoint; delete the folder and "
                "start it again without --resume"
            )
    if config is None:
        raise ValueError("train() needs a config unless resuming")
    device = resolve_device(config.optim.device)
    torch.manual_seed(config.optim.seed)
    train_set, train_loader, val_loader = build_loaders(config, device)
    if not resume:
        config = resolve_config(config, train_set)
        model = build_model(config.model).to(device)
        run = RunFolder.create(out, config, {"data": _describe(train_set)})
    else:
        model = build_model(config.model, load_weights=False)
        run.load_weights("last", model)
        model = model.to(device)
    optimizer = build_optimizer(model, config.optim.lr, config.optim.weight_decay)
    amp_dtype = resolve_amp(config.optim.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * config.optim.epochs
    warmup_steps = round(config.optim.warmup_epochs * steps_per_epoch)
    start_epoch, step, best_top1 = 0, 0, -math.inf
    if resume:
        info = run.checkpoint_info("last")
        state = run.load_state("last")
        optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"])
        start_epoch, step, best_top1 = info["epoch"] + 1, info["step"], info["best_top1"]
        run.truncate_metrics(info["epoch"])

    end_epoch = config.optim.epochs
    if stop_after_epochs is not None:
        end_epoch = min(end_epoch, start_epoch + stop_after_epochs)
    for epoch in range(start_epoch, end_epoch):
        train_loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        stats, step = _train_epoch(
            model,
            train_loader,
            optimizer,
            scaler,
            config,
            epoch,
            step,
            total_steps,
            warmup_steps,
            device,
            amp_dtype,
            progress,
        )
        result = evaluate(
            model,
            val_loader,
            passes=config.optim.eval_passes,
            noise=config.optim.eval_noise,
            device=device,
            amp_dtype=amp_dtype,
            progress=progress,
        )
        record = {
            "epoch": epoch,
            "step": step,
            **stats,
            **{f"val_{k}": v for k, v in result.to_dict().items()},
        }
        run.append_metrics(record)
        is_best = result.top1 > best_top1 and _at_final_beta(config, epoch)
        is_best |= epoch == config.optim.epochs - 1 and not run.has_checkpoint("best")
        if is_best:
            best_top1 = result.top1
        info = {"epoch": epoch, "step": step, "best_top1": best_top1, "metrics": record}
        state = {
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            **({"rng_cuda": torch.cuda.get_rng_state()} if device.type == "cuda" else {}),
        }
        run.save_checkpoint("last", model, info, state)
        if is_best:
            run.save_checkpoint("best", model, info)
        if progress:
            kl = result.kl_per_image
            tqdm.write(
                f"epoch {epoch + 1}/{config.optim.epochs}  loss {stats['train_loss']:.3f}  "
                f"val top1 {result.top1:.2f}%  KL/img {'n/a' if kl is None else f'{kl:.2f}'} nats  "
                f"β {stats['beta']:.3g}  {stats['images_per_s']:.0f} img/s"
            )
    if end_epoch >= config.optim.epochs:
        run.update_meta(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return run


def _train_epoch(
    model: InfoViT,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    config: Config,
    epoch: int,
    step: int,
    total_steps: int,
    warmup_steps: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    progress: bool,
) -> tuple[dict[str, float], int]:
    model.train()
    o, n_batches = config.optim, len(loader)
    # Running sums stay on the device (loss, CE, KL, correct; each × images), read back every
    # _SYNC_EVERY steps: a read per step would stall a GPU once per step.
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    n, beta, lr = 0, 0.0, 0.0
    t0 = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{o.epochs}", leave=False, disable=not progress)
    for i, (images, target) in enumerate(bar):
        images, target = images.to(device, non_blocking=True), target.to(device, non_blocking=True)
        beta = beta_at(config.beta, epoch + i / n_batches)
        lr = lr_at(step, total_steps, warmup_steps, o.lr, o.min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with autocast(device, amp_dtype):
            out = model.forward_info(images)
        parts = information_loss(out.logits, target, out.kl, beta, config.beta.convention)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(parts.loss).backward()
        if o.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        b = len(target)
        correct = topk_hits(out.logits.detach().float(), target, (1,))[0]
        batch = torch.stack([parts.loss.detach(), parts.ce.detach(), parts.kl_image.detach()])
        sums[:3] += batch.double() * b
        sums[3] += correct
        n += b
        if i % _SYNC_EVERY == _SYNC_EVERY - 1 or i == n_batches - 1:
            loss = float(sums[0]) / n
            if not math.isfinite(loss):
                raise InfovitError(
                    f"the loss became {loss} by epoch {epoch + 1}, step {step}; "
                    "lower optim.lr or set optim.grad_clip"
                )
            bar.set_postfix(loss=f"{loss:.3f}", beta=f"{beta:.2g}")
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    n = max(n, 1)
    loss_sum, ce_sum, kl_sum, correct_sum = sums.tolist()
    stats = {
        "train_loss": loss_sum / n,
        "train_ce": ce_sum / n,
        "train_kl_per_image": kl_sum / n,
        "train_top1": 100.0 * correct_sum / n,
        "beta": beta,
        "beta_convention": config.beta.convention,
        "lr": lr,
        "images_per_s": n / seconds,
        "epoch_seconds": seconds,
    }
    return stats, step  # type: ignore[return-value]


_SYNC_EVERY = 20  # training steps between reads of the running sums (progress, NaN check)


def _describe(dataset: Dataset) -> dict[str, Any]:
    describe = getattr(dataset, "describe", None)
    info: dict[str, Any] = {"train_images": len(dataset), "classes": list(dataset.classes)}  # type: ignore[arg-type,attr-defined]
    if describe is not None:
        info["synthetic"] = describe()
    return info
