"""Where ib's training step spends its time over plain timm ViT-Tiny: the channel taken apart.

``train_throughput.py`` gives the headline ratio ib / plain timm. This script times the same
training step (same batch, optimizer and interleaving) with the bottleneck's channel replaced
by parts of itself, and prints each one's ratio to plain timm:

- ``folds only``: attention with W_e1 folded into the values and W_d2 into W_o, but nothing
  between them (the decoder reads the pre-encoded head outputs directly);
- ``+ GELUs``: the two GELUs of the channel and nothing else;
- ``+ GEMMs``: the two remaining per-head matrix products and nothing else;
- ``+ GEMMs + GELUs``: both, i.e. the channel without noise, KL or biases. This is a floor for
  any implementation of the paper's channel from torch's own kernels: whatever is done to the
  sampling and bookkeeping, the step cannot get faster than this;
- ``ib``: the real channel.

Knocked-out variants compute the wrong function on purpose; only their timings mean anything.

    python benchmarks/channel_cost.py [--img 32 --patch 4] [--batch 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from infovit.model.bottleneck import HeadBottleneck
from infovit.training.optim import build_optimizer
from train_throughput import make_models, median_step_seconds, step_fn

Channel = Callable[..., tuple[Tensor, Tensor, Tensor]]


def _folds_only(self: HeadBottleneck, pre: Tensor, noise: str = "", biased: bool = False):
    M, H, _ = pre.shape  # [M, H, e]; the decoder's width k equals e for the default h
    return pre.flatten(1), pre, pre.new_zeros(M, H)


def _gelus(self: HeadBottleneck, pre: Tensor, noise: str = "", biased: bool = False):
    M, H, _ = pre.shape
    return F.gelu(F.gelu(pre)).flatten(1), pre, pre.new_zeros(M, H)


def _gemms(self: HeadBottleneck, pre: Tensor, noise: str = "", biased: bool = False):
    M, H, _ = pre.shape
    stats = self.enc[1].matmul(pre)  # [M, H, 2r]
    hidden = self.dec[0].matmul(stats[..., : self.config.rank])  # [M, H, k]
    return hidden.flatten(1), stats, pre.new_zeros(M, H)


def _floor(self: HeadBottleneck, pre: Tensor, noise: str = "", biased: bool = False):
    M, H, _ = pre.shape
    stats = self.enc[1].matmul(F.gelu(pre))  # [M, H, 2r]
    hidden = F.gelu(self.dec[0].matmul(stats[..., : self.config.rank]))  # [M, H, k]
    return hidden.flatten(1), stats, pre.new_zeros(M, H)


VARIANTS: dict[str, Channel | None] = {
    "folds only": _folds_only,
    "+ GELUs": _gelus,
    "+ GEMMs": _gemms,
    "+ GEMMs + GELUs": _floor,
    "ib": None,  # HeadBottleneck.channel itself
}


@contextlib.contextmanager
def channel_replaced(channel: Channel | None) -> Iterator[None]:
    original = HeadBottleneck.channel
    if channel is not None:
        HeadBottleneck.channel = channel  # type: ignore[method-assign]
    try:
        yield
    finally:
        HeadBottleneck.channel = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--img", type=int, default=32)
    parser.add_argument("--patch", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per model and round")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    models = make_models(args.img, args.patch, device)
    x = torch.randn(args.batch, 3, args.img, args.img, device=device)
    y = torch.randint(0, 100, (args.batch,), device=device)
    step = {
        k: step_fn(k, models[k], build_optimizer(models[k], 1e-4, 0.05)) for k in ("timm", "ib")
    }

    def ib_step(channel: Channel | None) -> None:
        with channel_replaced(channel):
            step["ib"](x, y)

    steps_by = {"plain timm": functools.partial(step["timm"], x, y)}
    steps_by |= {name: functools.partial(ib_step, ch) for name, ch in VARIANTS.items()}
    seconds = median_step_seconds(steps_by, args.rounds, args.steps, device)
    base = seconds["plain timm"]
    blocks = len(models["ib"].blocks)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{args.img} px, patch {args.patch}, batch {args.batch}: ratio to plain timm")
    for name, s in seconds.items():
        extra = (s - base) / blocks * 1e3
        print(f"  {name:16s} {s * 1e3:8.1f} ms/step  ratio {base / s:.3f}  (+{extra:.2f} ms/block)")


if __name__ == "__main__":
    main()
