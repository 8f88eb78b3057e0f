"""Extraction throughput of ``infovit.analysis.extract`` relative to a plain evaluation pass.

Same model, same images, same batch size: the ratio says what the per-image tables cost on top
of computing the logits (target ≥ 0.8×).

    python benchmarks/analyze_cost.py --images 512 --device cpu
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader


def main() -> None:
    from infovit.analysis import extract
    from infovit.data import build_dataset
    from infovit.model import ModelConfig, build_model
    from infovit.model.bottleneck import BottleneckConfig

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--grid", type=int, default=8, help="synthetic patches per side")
    args = p.parse_args()

    data = build_dataset(f"synthetic:grid={args.grid},n_train=2,n_val={args.images}", "val")
    img = data.config.img_size
    model = build_model(
        ModelConfig(
            base="vit_tiny_patch16_224", variant="ib", img_size=img, patch_size=4,
            num_classes=8, bottleneck=BottleneckConfig(),
        )
    ).to(args.device).eval()  # fmt: skip

    def plain() -> None:
        with torch.no_grad():
            for x, _ in DataLoader(data, batch_size=args.batch_size):
                model(x.to(args.device)).float().cpu()

    def tables() -> None:
        extract(model, data, batch_size=args.batch_size, device=args.device, progress=False)

    def timed(fn) -> float:
        fn()  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return len(data) / (time.perf_counter() - t)

    base, ext = timed(plain), timed(tables)
    print(f"device {args.device}, {len(data)} images of {img} px ({args.grid**2} patches)")
    print(f"plain eval: {base:8.1f} img/s")
    print(f"extract:    {ext:8.1f} img/s  ({ext / base:.2f}x of plain eval; target >= 0.8x)")


if __name__ == "__main__":
    main()
