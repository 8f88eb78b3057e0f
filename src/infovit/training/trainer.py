"""The training loop: CE + β·KL with AdamW, warm-up + cosine, AMP, and exact resume at any step.

A run killed anywhere and resumed ends bit-identical to one never stopped (on CPU; on GPU up to
the non-determinism of its kernels), because everything the loop draws is either a function of
(seed, epoch, position) or saved in the checkpoint:

- data order and augmentation: :mod:`infovit.data.sampling` (independent of workers);
- the learning rate and β: functions of the step (a β ladder's milestones: of the step and
  the recorded KL of past epochs, replayed from ``metrics.jsonl``; see :mod:`.ladder`);
- the model's noise (bottleneck samples, drop-path) and anything else on torch's CPU / CUDA,
  Python's and NumPy's global RNGs: their states are saved with every ``last`` checkpoint;
- the optimizer, the loss scaler and the epoch's running sums: saved too.

``last`` is written every ``optim.checkpoint_every`` (steps or wall time), at every epoch end,
and when SIGTERM, SIGUSR1 or SIGINT asks the run to stop (it then raises
:class:`~infovit.errors.RunInterrupted`). The run folder is locked while training.
"""

from __future__ import annotations

import math
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from infovit.data.checks import check_same_classes
from infovit.data.datasets import build_dataset
from infovit.data.facts import dataset_facts
from infovit.data.sampling import EpochSampler, RankSlices, SeededSamples
from infovit.data.transforms import describe_transform
from infovit.errors import InfovitError, RunInterrupted
from infovit.model.capabilities import is_priced
from infovit.model.factory import build_model
from infovit.model.timm_arch import vit_arch_kwargs
from infovit.model.vit import InfoViT
from infovit.training.cadence import CheckpointCadence
from infovit.training.config import Config
from infovit.training.device import autocast, resolve_amp
from infovit.training.distributed import Distributed
from infovit.training.evaluate import evaluate
from infovit.training.ladder import Ladder, ladder_lr
from infovit.training.lock import RunLock, close_inherited_locks
from infovit.training.objective import beta_at, information_loss, topk_hits
from infovit.training.optim import build_optimizer, lr_at
from infovit.training.run import Checkpoint, RunFolder
from infovit.training.signals import StopSignals, ignore_stop_signals
from infovit.training.snapshot import write_snapshot

__all__ = ["Loaders", "build_loaders", "resolve_config", "train"]

StepHook = Callable[[int], None]


def resolve_config(config: Config, train_set: Dataset) -> Config:
    """Fill what the data decides: class count, image size (and patch size for synthetic data)."""
    model = config.model
    if config.beta.schedule == "ladder" and config.beta.milestones:
        # the β the run ends at: its last checkpoint is the last milestone's model
        config = replace(config, beta=replace(config.beta, value=config.beta.milestones[-1]))
    classes = len(train_set.classes)  # type: ignore[attr-defined]
    updates: dict[str, Any] = {"num_classes": classes, "img_size": _image_size(config)}
    synth = getattr(train_set, "config", None)
    if synth is not None:
        updates["img_size"] = synth.img_size
        updates["patch_size"] = model.patch_size or synth.patch
    return replace(config, model=replace(model, **updates))


def _image_size(config: Config) -> int | None:
    """Input size for real data: the model's (or its timm base's); synthetic data sets its own."""
    if dataset_facts(config.data.spec).fixed_size:
        return None
    if config.model.img_size:
        return config.model.img_size
    return int(vit_arch_kwargs(config.model.base)["img_size"][0])


@dataclass
class Loaders:
    train_set: Dataset  # the plain data set (``.classes``; synthetic: ``.config``)
    train: DataLoader  # yields the (seed, epoch, position)-seeded samples of EpochSampler
    val: DataLoader
    sampler: EpochSampler | RankSlices

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Everything about the training data that depends on the epoch: the sampler's order
        from position ``start``, and a data set's own per-epoch state when it has one (a
        curriculum, ``synthetic:ambiguity_from``). That state lives in this process, so it reaches
        the batches only because in-memory data sets load with no workers."""
        self.sampler.set_epoch(epoch, start)
        set_data_epoch = getattr(self.train_set, "set_epoch", None)
        if callable(set_data_epoch):
            set_data_epoch(epoch)


def build_loaders(config: Config, device: torch.device, dist: Distributed | None = None) -> Loaders:
    """Training and validation loaders whose every random draw is a function of the seed, the
    epoch and the position in it (see :mod:`infovit.data.sampling`); in a distributed run, this
    rank's slice of every global batch."""
    dist = dist or Distributed()
    d = config.data
    img_size = _image_size(config)
    train_set = build_dataset(d.spec, "train", img_size=img_size, augment=d.augment)
    val_set = build_dataset(d.spec, "val", img_size=img_size, augment=d.augment)
    check_same_classes(
        train_set.classes,  # type: ignore[attr-defined]
        val_set.classes,  # type: ignore[attr-defined]
        f"{d.spec} train",
        f"{d.spec} val",
    )
    if len(train_set) < d.batch_size:  # type: ignore[arg-type]
        raise InfovitError(
            f"the training set has {len(train_set)} images, fewer than one batch of "  # type: ignore[arg-type]
            f"{d.batch_size}; lower data.batch_size"
        )
    in_memory = dataset_facts(d.spec).in_memory
    workers = 0 if in_memory else d.workers
    common: dict[str, Any] = dict(
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        worker_init_fn=_init_worker if workers > 0 else None,
        # The loader draws its workers' base seed from this generator, not from torch's global
        # one, so loading never moves the model's noise stream; the seeds it gives workers are
        # unused (every sample is seeded by its position).
        generator=torch.Generator().manual_seed(config.optim.seed),
    )
    if workers > 0 and device.type == "cuda":
        common["prefetch_factor"] = 4  # keep a GPU fed: 4 batches in flight per worker
    sampler: EpochSampler | RankSlices = EpochSampler(len(train_set), config.optim.seed)  # type: ignore[arg-type]
    if dist.enabled:
        sampler = RankSlices(sampler, d.batch_size, dist.rank, dist.world)  # type: ignore[arg-type]
    train_loader = DataLoader(
        SeededSamples(train_set),
        batch_size=d.batch_size // dist.world,
        sampler=sampler,
        drop_last=True,
        **common,
    )
    val_loader = DataLoader(val_set, batch_size=d.batch_size, shuffle=False, **common)
    return Loaders(train_set, train_loader, val_loader, sampler)


def _init_worker(worker_id: int) -> None:
    """A DataLoader worker leaves stop signals to the trainer and drops the run's lock."""
    ignore_stop_signals(worker_id)
    close_inherited_locks()


def _at_final_beta(config: Config, epoch: int, ladder: Ladder | None = None) -> bool:
    """Whether epoch ``epoch`` ended at the configured β, so may give the ``best`` checkpoint.

    During a β warm-up the model is less restricted than configured (β is still small), and
    its accuracy peaks there; picking "best" from those epochs would report the wrong model.
    A ladder's final β is its last milestone.
    """
    beta = config.beta
    if ladder is not None:
        return ladder.in_last(epoch)
    return (
        not is_priced(config.model)
        or beta.schedule == "constant"
        or epoch + 1 >= beta.warmup_epochs
    )


def train(
    config: Config | None,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    stop_after_epochs: int | None = None,
    on_step: StepHook | None = None,
    lock: RunLock | None = None,
) -> RunFolder:
    """Train ``config`` into the new run folder ``out``, or continue it with ``resume=True``
    (``config`` is then ignored: the run folder's own config is used).

    ``stop_after_epochs`` ends this call early (the run stays resumable), e.g. for tests;
    ``on_step(step)`` is called after every optimizer step; ``lock``: the run folder's lock,
    already held by the caller (who releases it), e.g. a sweep that inspected the folder.
    Raises :class:`~infovit.errors.RunInterrupted` after saving, when a stop signal arrived.
    """
    if resume:
        return _resume(out, progress, stop_after_epochs, on_step, lock)
    if config is None:
        raise ValueError("train() needs a config unless resuming")
    if config.beta.value is None or (is_priced(config.model) and config.beta.objective is None):
        raise InfovitError(
            "beta.value and beta.objective must be known to train (null marks an imported run); "
            "set --beta.value and --beta.objective"
        )
    # Everything that can be wrong with the input is found before the folder exists.
    dist = Distributed.from_env()
    device = dist.start(config.optim.device, config.data.batch_size)
    owned = lock is None
    lock = lock or RunLock(out)
    try:
        cadence = CheckpointCadence.parse(config.optim.checkpoint_every)
        _seed_everything(config.optim.seed)
        loaders = build_loaders(config, device, dist)
        config = resolve_config(config, loaders.train_set)
        model = build_model(config.model).to(device)
        _seed_rank(config.optim.seed, dist)
        meta = {"data": _describe(loaders.train_set, loaders.val.dataset), "processes": dist.world}
        _main_first(dist, lambda: RunFolder.create(out, config, meta, lock=lock))
        run = RunFolder(out)
        try:
            trainer = _Trainer(
                run, config, model, loaders, device, cadence, progress, on_step, dist
            )
            trainer.fit(None, stop_after_epochs)
        except BaseException:
            if dist.is_main and not run.has_checkpoint("last"):
                if owned:
                    lock.release()
                run.remove(keep_lock=not owned)  # a failed start leaves no half-created run
            raise
    finally:
        if owned:
            lock.release()
        dist.stop()
    return run


def _main_first(dist: Distributed, action: Callable[[], Any]) -> None:
    """Run ``action`` (creating or locking the run folder) on rank 0 only; the other ranks wait
    and fail with rank 0's error if it failed."""
    error = None
    if dist.is_main:
        try:
            action()
        except Exception as err:  # any failure: the other ranks must not wait for rank 0
            if dist.enabled:
                dist.from_main(str(err) or type(err).__name__)
            raise
    error = dist.from_main(error)
    if error is not None:
        raise InfovitError(error)


def _resume(
    out: str | Path,
    progress: bool,
    stop_after_epochs: int | None,
    on_step: StepHook | None,
    lock: RunLock | None,
) -> RunFolder:
    run = RunFolder.open(out)
    config = run.config()
    dist = Distributed.from_env()
    device = dist.start(config.optim.device, config.data.batch_size)
    owned = lock is None
    lock = lock or RunLock(run.path)

    def take_over() -> None:  # rank 0: the lock, then the clean-up after a killed writer
        lock.acquire()
        for done in run.recover():
            if progress:
                print(f"infovit: {done}", file=sys.stderr)

    try:
        _main_first(dist, take_over)
        checkpoint = run.checkpoint("last")
        state = checkpoint.state()
        epoch, _ = _next_position(checkpoint)
        ladder = _replayed_ladder(config, run, epoch)
        if epoch >= config.optim.epochs or (ladder is not None and ladder.done):
            if dist.is_main:
                if "finished" not in run.meta():  # stopped after its last epoch's checkpoint
                    run.update_meta(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
                print(f"run {str(run.path)!r} is finished ({epoch} epochs); nothing to do")
            return run
        cadence = CheckpointCadence.parse(config.optim.checkpoint_every)
        loaders = build_loaders(config, device, dist)
        model = build_model(config.model, load_weights=False)
        run.load_weights(checkpoint, model)  # the very unit whose state was read
        trainer = _Trainer(
            run, config, model.to(device), loaders, device, cadence, progress, on_step, dist
        )
        trainer.fit((checkpoint, state), stop_after_epochs)
    finally:
        if owned:
            lock.release()
        dist.stop()
    return run


def _replayed_ladder(config: Config, run: RunFolder, next_epoch: int) -> Ladder | None:
    """A ladder run's milestones after the epochs before ``next_epoch``, replayed from their
    recorded KL (None: not a ladder run)."""
    if config.beta.schedule != "ladder":
        return None
    ladder = Ladder(config.beta)
    records = [r for r in run.read_metrics(warn=False) if r.get("epoch", -1) < next_epoch]
    if len(records) != next_epoch:
        raise InfovitError(
            f"run {str(run.path)!r} has {len(records)} epoch records before epoch {next_epoch}; "
            "a ladder run needs every epoch's KL to resume (metrics.jsonl was edited?)"
        )
    for record in sorted(records, key=lambda r: int(r["epoch"])):
        ladder.observe(int(record["epoch"]), float(record["train_kl_per_image"]))
    return ladder


def _next_position(checkpoint: Checkpoint) -> tuple[int, int]:
    """(epoch, batch) where training continues after ``checkpoint``."""
    info = checkpoint.info
    if info.get("epoch_complete", True):
        return int(info["epoch"]) + 1, 0
    return int(info["epoch"]), int(info["batch"])


def _seed_rank(seed: int, dist: Distributed) -> None:
    """After the model is built (identically on every rank), give each rank its own noise."""
    if dist.rank > 0:
        _seed_everything(seed + 1_000_003 * dist.rank)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (the global RNG third-party code draws from)


def _rng_state(device: torch.device) -> dict[str, Any]:
    """Every global RNG the loop can draw from, as tensors and plain tuples."""
    # numpy's stub gives the legacy=False dict for get_state(); the default is the legacy tuple
    kind, keys, pos, has_gauss, gauss = cast(
        tuple[str, np.ndarray, int, int, float],
        np.random.get_state(),  # noqa: NPY002
    )
    state: dict[str, Any] = {
        "rng_cpu": torch.get_rng_state(),
        "rng_python": random.getstate(),
        "rng_numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
    }
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], device)
    if "rng_python" in state:  # absent in checkpoints of the old format
        version, internal, gauss = state["rng_python"]
        random.setstate((version, tuple(internal), gauss))
    if "rng_numpy" in state:
        kind, keys, pos, has_gauss, gauss = state["rng_numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))  # noqa: NPY002


@dataclass
class _EpochSums:
    """Running sums of an epoch (loss, CE, KL, correct; each × images) kept on the device and
    read back every ``_SYNC_EVERY`` steps: a read per step would stall a GPU once per step."""

    sums: torch.Tensor  # [4] float64
    images: int = 0
    seconds: float = 0.0  # training time of this epoch before the current stretch

    @classmethod
    def zero(cls, device: torch.device) -> _EpochSums:
        return cls(torch.zeros(4, dtype=torch.float64, device=device))


class _Trainer:
    """One run's training state and the loop over it."""

    def __init__(
        self,
        run: RunFolder,
        config: Config,
        model: InfoViT,
        loaders: Loaders,
        device: torch.device,
        cadence: CheckpointCadence,
        progress: bool,
        on_step: StepHook | None,
        dist: Distributed | None = None,
    ) -> None:
        self.run, self.config, self.model, self.loaders = run, config, model, loaders
        self.device, self.cadence, self.on_step = device, cadence, on_step
        self.dist = dist or Distributed()
        self.progress = progress and self.dist.is_main
        self.forward: torch.nn.Module = _Forward(model)
        if self.dist.enabled:  # averages gradients over ranks during backward
            ids = [device.index] if device.type == "cuda" else None
            self.forward = DistributedDataParallel(self.forward, device_ids=ids)
        if config.optim.compile:  # after DDP, as torch's DDP + compile recipe does
            self.forward = torch.compile(self.forward)  # type: ignore[assignment]
        o = config.optim
        self.optimizer = build_optimizer(model, o.lr, o.weight_decay)
        self.amp_dtype = resolve_amp(o.amp, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.steps_per_epoch = len(loaders.train_set) // config.data.batch_size  # type: ignore[arg-type]
        self.total_steps = self.steps_per_epoch * o.epochs
        self.warmup_steps = round(o.warmup_epochs * self.steps_per_epoch)
        self.ladder = Ladder(config.beta) if config.beta.schedule == "ladder" else None
        self.step, self.best_top1 = 0, -math.inf
        self.stop = StopSignals()

    # -- checkpoints
    def _state(self, epoch: int, batch: int, sums: _EpochSums | None) -> dict[str, Any]:
        """The training state (collective in a distributed run: every rank's RNG and sums)."""
        local: dict[str, Any] = _rng_state(self.device)
        if sums is not None:
            local["epoch_sums"] = sums.sums.cpu()
            local["epoch_images"] = sums.images
            local["epoch_seconds"] = sums.seconds
        state: dict[str, Any] = {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "batch": batch,
            **local,
        }
        if self.dist.enabled:
            state["ranks"] = self.dist.gather(local)
        return state

    def _info(self, epoch: int, batch: int, record: dict[str, Any] | None) -> dict[str, Any]:
        """``info.json`` of a checkpoint after ``batch`` batches of ``epoch`` (``record``: the
        epoch's metrics, when it is complete)."""
        return {
            "epoch": epoch,
            "batch": batch,
            "epoch_complete": record is not None,
            "step": self.step,
            "best_top1": None if math.isinf(self.best_top1) else self.best_top1,
            "metrics": record,
        }

    def save_mid_epoch(self, epoch: int, batch: int, sums: _EpochSums) -> None:
        info = self._info(epoch, batch, None)
        state = self._state(epoch, batch, sums)
        if self.dist.is_main:
            self.run.save_checkpoint("last", self.model, info, state)
        self.cadence.saved()

    def _local(self, state: dict[str, Any]) -> dict[str, Any]:
        """This rank's part of a saved state (RNG, epoch sums)."""
        ranks = state.get("ranks")
        if ranks is not None and len(ranks) == self.dist.world:
            return ranks[self.dist.rank]
        if self.dist.rank > 0 or ranks is not None:
            print(
                f"infovit: warning: the checkpoint was saved by {len(ranks or [0])} process(es), "
                f"this run has {self.dist.world}: the resume is not bit-identical",
                file=sys.stderr,
            )
        if self.dist.is_main:
            return state
        own = {k: v for k, v in state.items() if not k.startswith("epoch_")}  # not rank 0's sums
        return {**own, **_rng_state(self.device)}

    def _restore(
        self, checkpoint: Checkpoint, state: dict[str, Any], local: dict[str, Any]
    ) -> tuple[int, int]:
        self.optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        _restore_rng(local, self.device)
        self.step = checkpoint.step
        best = checkpoint.info.get("best_top1")
        self.best_top1 = -math.inf if best is None else float(best)
        return _next_position(checkpoint)

    def _interrupted(self, epoch: int) -> RunInterrupted:
        sig = self.stop.requested
        assert sig is not None
        path = self.run.path
        return RunInterrupted(
            f"stopped by {sig.name} in epoch {epoch + 1}/{self.config.optim.epochs} at step "
            f"{self.step}; checkpoint saved in {str(path)!r}; resume with: "
            f"infovit train --resume {path}",
            exit_code=130 if sig.name == "SIGINT" else 75,
        )

    # -- the loop
    def fit(
        self, resume_from: tuple[Checkpoint, dict[str, Any]] | None, stop_after_epochs: int | None
    ) -> None:
        start_epoch, start_batch, sums = 0, 0, None
        if resume_from is not None:
            checkpoint, state = resume_from
            local = self._local(state)
            start_epoch, start_batch = self._restore(checkpoint, state, local)
            if start_batch > 0 and "epoch_sums" in local:
                sums = _EpochSums(
                    local["epoch_sums"].to(self.device),
                    int(local["epoch_images"]),
                    float(local["epoch_seconds"]),
                )
        if self.ladder is not None:  # before the metrics are truncated: they may be rewritten
            self.ladder = _replayed_ladder(self.config, self.run, start_epoch)
        if self.dist.is_main:
            self.run.truncate_metrics(start_epoch)
        last = self._run_end()  # the epoch this call stops before
        if stop_after_epochs is not None:
            last = min(last, start_epoch + stop_after_epochs)
        with self.stop:
            for epoch in range(start_epoch, last):
                first = start_batch if epoch == start_epoch else 0
                epoch_sums = sums if epoch == start_epoch and sums else _EpochSums.zero(self.device)
                stats = self.train_epoch(epoch, first, epoch_sums)
                self.end_epoch(epoch, stats)
                if epoch + 1 >= self._run_end():  # (a settled ladder may end early)
                    last = epoch + 1
                    break  # after the last epoch a stop signal is moot: simply finished
                if self._decide(due=False)[0]:
                    raise self._interrupted(epoch)
        if last >= self._run_end() and self.dist.is_main:
            self.run.update_meta(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def _run_end(self) -> int:
        """The epoch the run ends before: ``optim.epochs``, or a ladder's end (its bound while
        a settle rule may still end a milestone early)."""
        if self.ladder is None:
            return self.config.optim.epochs
        return min(self.ladder.max_end, self.config.optim.epochs)

    def _beta(self, epoch: float) -> float:
        if self.ladder is None:
            return beta_at(self.config.beta, epoch)
        return self.ladder.beta(int(epoch), epoch - int(epoch))

    def _lr(self) -> float:
        o = self.config.optim
        if self.ladder is None:
            return lr_at(self.step, self.total_steps, self.warmup_steps, o.lr, o.min_lr)
        return ladder_lr(o, self.config.beta, self.step, self.steps_per_epoch)

    def _checkpoint_now(self) -> bool:
        """A mid-epoch checkpoint is due (the cadence) or asked for (a stop signal). In a
        distributed run the ranks agree on it every ``_SYNC_EVERY`` steps only (a collective
        per step would stall the GPUs), and at step-counted checkpoints, which every rank
        reaches at the same step."""
        due = self.cadence.due(self.step)
        step_counted = self.cadence.steps is not None and due
        if self.dist.enabled and self.step % _SYNC_EVERY and not step_counted:
            return False
        return any(self._decide(due))

    def _decide(self, due: bool) -> tuple[bool, bool]:
        """(stop, checkpoint now): whether any rank was asked to stop, and whether any rank's
        cadence is ``due``. Every rank takes the same decisions at the same step; in a single
        process this costs nothing (no device sync)."""
        stop, due = self.dist.any([self.stop.requested is not None, due], self.device)
        if stop and self.stop.requested is None:
            self.stop.requested = signal.SIGTERM  # the signal reached another rank
        return stop, due

    def train_epoch(self, epoch: int, first: int, acc: _EpochSums) -> dict[str, Any]:
        """Batches ``first`` … of epoch ``epoch``; checkpoints mid-epoch when due or asked."""
        model, config, o = self.model, self.config, self.config.optim
        model.train()
        n_batches = self.steps_per_epoch
        self.loaders.set_epoch(epoch, first * config.data.batch_size)
        beta, lr = 0.0, 0.0
        t0 = time.perf_counter()
        bar = tqdm(
            self.loaders.train,
            desc=f"epoch {epoch + 1}/{o.epochs}",
            leave=False,
            disable=not self.progress,
            initial=first,
            total=n_batches,
        )
        for i, (images, target) in enumerate(bar, first):
            images = images.to(self.device, non_blocking=True)
            target = target.to(self.device, non_blocking=True)
            beta = self._beta(epoch + i / n_batches)
            lr = self._lr()
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            with autocast(self.device, self.amp_dtype):
                logits, kl = self.forward(images)
            b_cfg = config.beta
            parts = information_loss(logits, target, kl, beta, b_cfg.convention, b_cfg.objective)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(parts.loss).backward()
            if o.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            b = len(target)
            correct = topk_hits(logits.detach().float(), target, (1,))[0]
            batch = torch.stack([parts.loss.detach(), parts.ce.detach(), parts.kl_image.detach()])
            acc.sums[:3] += batch.double() * b
            acc.sums[3] += correct
            acc.images += b
            if i % _SYNC_EVERY == _SYNC_EVERY - 1 or i == n_batches - 1:
                loss = float(acc.sums[0]) / acc.images
                if not math.isfinite(loss):
                    raise InfovitError(
                        f"the loss became {loss} by epoch {epoch + 1}, step {self.step}; "
                        "lower optim.lr or set optim.grad_clip"
                    )
                bar.set_postfix(loss=f"{loss:.3f}", beta=f"{beta:.2g}")
            if self.on_step is not None:
                self.on_step(self.step)
            # The epoch's last batch is followed by the epoch-end checkpoint anyway.
            if i + 1 < n_batches and self._checkpoint_now():
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                snapshot = replace(acc, seconds=acc.seconds + time.perf_counter() - t0)
                self.save_mid_epoch(epoch, i + 1, snapshot)
                if self.stop.requested:
                    raise self._interrupted(epoch)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = acc.seconds + time.perf_counter() - t0
        totals = torch.cat([acc.sums, acc.sums.new_tensor([acc.images])])
        *sums, images = self.dist.sum_(totals).tolist()  # the global batch's, over ranks
        n = max(images, 1)
        loss_sum, ce_sum, kl_sum, correct_sum = sums
        ladder = {} if self.ladder is None else {"milestone": self.ladder.milestone_at(epoch)}
        return {
            "train_loss": loss_sum / n,
            "train_ce": ce_sum / n,
            "train_kl_per_image": kl_sum / n,
            "train_top1": 100.0 * correct_sum / n,
            "beta": beta,
            "beta_convention": config.beta.convention,
            "lr": lr,
            "images_per_s": n / max(seconds, 1e-9),
            "epoch_seconds": seconds,
            **ladder,
        }

    def end_epoch(self, epoch: int, stats: dict[str, Any]) -> None:
        """Validate, record the epoch, and write ``last`` (and ``best`` when it is, and the
        snapshot of a ladder milestone that ends): on rank 0; the other ranks only follow the
        ladder and give their RNG states to the checkpoint."""
        ended = (
            None if self.ladder is None else self.ladder.observe(epoch, stats["train_kl_per_image"])
        )
        if not self.dist.is_main:
            self._state(epoch + 1, 0, None)
            self.cadence.saved()
            return
        config, run = self.config, self.run
        result = evaluate(
            self.model,
            self.loaders.val,
            passes=config.optim.eval_passes,
            noise=config.optim.eval_noise,
            device=self.device,
            amp_dtype=self.amp_dtype,
            progress=self.progress,
        )
        record = {
            "epoch": epoch,
            "step": self.step,
            **stats,
            **{f"val_{k}": v for k, v in result.to_dict().items()},
        }
        run.append_metrics(record)
        is_best = result.top1 > self.best_top1 and _at_final_beta(config, epoch, self.ladder)
        is_best |= epoch == self._run_end() - 1 and not run.has_checkpoint("best")
        if is_best:
            self.best_top1 = result.top1
        info = self._info(epoch, self.steps_per_epoch, record)
        state = self._state(epoch + 1, 0, None)
        if ended is not None:  # before ``last`` too, for the same reason
            snapshot_info = {k: v for k, v in info.items() if k != "best_top1"}
            write_snapshot(run, self.model, config, ended, snapshot_info)
        if is_best:  # first: a kill before ``last`` is written makes the resume redo this epoch
            run.save_checkpoint("best", self.model, info)
        run.save_checkpoint("last", self.model, info, state)
        self.cadence.saved()
        if self.progress:
            kl = result.kl_per_image
            tqdm.write(
                f"epoch {epoch + 1}/{config.optim.epochs}  loss {stats['train_loss']:.3f}  "
                f"val top1 {result.top1:.2f}%  KL/img {'n/a' if kl is None else f'{kl:.2f}'} nats  "
                f"β {stats['beta']:.3g}  {stats['images_per_s']:.0f} img/s"
            )


_SYNC_EVERY = 20  # training steps between reads of the running sums (progress, NaN check)


class _Forward(torch.nn.Module):
    """``forward_info`` as a plain ``forward`` returning (logits, KL): DistributedDataParallel
    synchronises gradients only through ``forward``, and torch.compile compiles it."""

    def __init__(self, model: InfoViT) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.model.forward_info(images)
        return out.logits, out.kl


def _describe(dataset: Dataset, val_set: Dataset) -> dict[str, Any]:
    """What run.json records of the data: size, classes, and the exact transforms."""
    describe = getattr(dataset, "describe", None)
    info: dict[str, Any] = {"train_images": len(dataset), "classes": list(dataset.classes)}  # type: ignore[arg-type,attr-defined]
    if describe is not None:
        info["synthetic"] = describe()
    for split, data in (("train", dataset), ("val", val_set)):
        transform = getattr(data, "transform", None)
        if transform is not None:
            info[f"{split}_transform"] = describe_transform(transform)
    return info
