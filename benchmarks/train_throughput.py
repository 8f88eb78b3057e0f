"""Training throughput of infovit's variants against plain timm ViT-Tiny, in one run.

Prints images/s of a full training step (forward, CE + β·KL, backward, AdamW step; the
optimizer built as ``infovit train`` builds it, for every model alike) for
plain timm ViT-Tiny with global average pooling, and infovit ``vit``, ``ib`` (r=32, h=64) and
``no_attn``, with the same batch, interleaved round by round so machine load affects all alike;
at 224 px (patch 16) and at 32 px (patch 4). Each model's first step after a switch is not
timed (it re-warms the allocator and caches, which a training run does once); images/s is the
batch over the median timed step. The headline is the ratio ib / plain timm.

``--amp bf16`` trains under bf16 autocast (the default on CUDA, and on CPUs with native bf16,
as ``optim.amp: auto``); ``--compile`` adds every model compiled with torch.compile, timed
after its compilation, so eager and compiled stand side by side. The GPU target is
ib / plain ≥ 0.95 compiled (224 px, batch 256); on CPU the ratio is printed without a target.

    python benchmarks/train_throughput.py [--batch 32] [--rounds 3] [--device cpu]
    python benchmarks/train_throughput.py --device cuda --batch 256 --amp bf16 --compile
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import timm
import torch
import torch.nn.functional as F

from infovit.model import BottleneckConfig, ModelConfig, build_model
from infovit.training.optim import build_optimizer


def make_models(img: int, patch: int, device: torch.device) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    models: dict[str, torch.nn.Module] = {
        "timm": timm.create_model(
            "vit_tiny_patch16_224", img_size=img, patch_size=patch, num_classes=100,
            class_token=False, global_pool="avg",
        )
    }  # fmt: skip
    for variant in ("vit", "ib", "no_attn"):
        cfg = ModelConfig(
            variant=variant, img_size=img, patch_size=patch, num_classes=100,
            bottleneck=BottleneckConfig(rank=32, hidden=64),
        )  # fmt: skip
        models[variant] = build_model(cfg)
    return {k: m.to(device).train() for k, m in models.items()}


class _Logits(torch.nn.Module):
    """Every model as images → (logits, KL or None), the shape infovit train compiles."""

    def __init__(self, name: str, model: torch.nn.Module) -> None:
        super().__init__()
        self.name, self.model = name, model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.name == "timm":
            return self.model(x), None
        out = self.model.forward_info(x)
        return out.logits, out.kl


def step_fn(forward: torch.nn.Module, opt: torch.optim.Optimizer, amp: torch.dtype | None):
    device_type = next(forward.parameters()).device.type

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast(device_type, dtype=amp or torch.float32, enabled=amp is not None):
            logits, kl = forward(x)
        loss = F.cross_entropy(logits.float(), y)
        if kl is not None:
            loss = loss + 0.1 * kl.float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def median_step_seconds(
    steps_by: dict[str, Callable[[], None]], rounds: int, steps: int, device: torch.device
) -> dict[str, float]:
    """Median seconds of each training step, run interleaved: ``rounds`` × ``steps`` each."""
    seconds: dict[str, list[float]] = {k: [] for k in steps_by}
    for _ in range(rounds):
        for name, step in steps_by.items():
            # one untimed step after switching models: the allocator and caches then hold this
            # model's working set again, as they do throughout a real training run
            step()
            for _ in range(steps):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                step()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds[name].append(time.perf_counter() - t0)
    return {k: statistics.median(s) for k, s in seconds.items()}


def bench(
    img: int,
    patch: int,
    batch: int,
    rounds: int,
    steps: int,
    device: torch.device,
    amp: torch.dtype | None,
    compiled: bool,
) -> dict[str, float]:
    """Training images/s of each model (and, with ``compiled``, of each compiled model)."""
    models = make_models(img, patch, device)
    x = torch.randn(batch, 3, img, img, device=device)
    y = torch.randint(0, 100, (batch,), device=device)
    steps_by = {}
    for name, model in models.items():
        forward = _Logits(name, model)
        opt = build_optimizer(model, 1e-4, 0.05)
        steps_by[name] = functools.partial(step_fn(forward, opt, amp), x, y)
        if compiled:
            step = functools.partial(step_fn(torch.compile(forward), opt, amp), x, y)
            step()  # compile now, not in a timed step
            steps_by[f"{name}+c"] = step
    seconds = median_step_seconds(steps_by, rounds, steps, device)
    return {k: batch / s for k, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", choices=("off", "bf16"), default="off")
    parser.add_argument("--compile", action="store_true", help="also time compiled models")
    args = parser.parse_args()
    device = torch.device(args.device)
    amp = torch.bfloat16 if args.amp == "bf16" else None
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"amp {args.amp}"
    )
    target = "  (target ≥ 0.95 compiled)" if device.type == "cuda" else ""
    for img, patch, steps in ((224, 16, 2), (32, 4, 6)):
        ips = bench(img, patch, args.batch, args.rounds, steps, device, amp, args.compile)
        print(f"\n{img} px, patch {patch}, batch {args.batch}: training images/s (+c: compiled)")
        for name, v in ips.items():
            base = ips["timm+c" if name.endswith("+c") else "timm"]
            print(f"  {name:10s} {v:9.1f}   ratio to plain timm {v / base:.3f}")
        print(f"  => ib / plain timm = {ips['ib'] / ips['timm']:.3f} eager", end="")
        if args.compile:
            print(f", {ips['ib+c'] / ips['timm+c']:.3f} compiled", end="")
        print(target)


if __name__ == "__main__":
    main()
