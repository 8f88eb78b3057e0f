"""Where bottlenecked models write their nats on the bit-cue task: keys, right marks, wrong marks.

With ``synthetic:bit_cue=p`` every background tile carries a brightness mark that tells the
repeat bit right with probability p (its flip otherwise), so a no-attention model's patches have
evidence of their own on the bit and vote on it (tried for the paper's patch voting, arXiv
2602.04784 Fig. 1c; README, "How the demo's task was chosen"). A model that decides the bit from
the two keys could then spend its nats on overruling the patches whose mark is wrong, whose votes
pull the image's mean vote the wrong way, and leave those whose mark is right alone. This script
says whether it does: for every bottlenecked run it prints the mean nats
per patch (summed over blocks and heads, one stochastic pass, as the analysis's KL maps) on the
key patches, on background patches whose mark tells the bit right, and on those whose mark
tells it wrong, and each group's share of the image's nats.

The marks are read back from the pixels: the hues have channel sum 0, so a tile inside's mean
brightness is ±``CUE_MARK`` plus pixel noise of std 0.25 / √(3·(patch−2)²), far from 0.

    python experiments/cue_kl.py demo_cue                 # the runs in demo_cue/runs
    python experiments/cue_kl.py demo_cue --images 512    # 512 evenly spaced validation images

Writes nothing; prints a markdown table.
"""

from __future__ import annotations

import sys

import numpy as np

from demo_runs import load_demo, parse_demo_args
from infovit.analysis.extract import extract
from infovit.analysis.spectrum import label_beta
from infovit.data.synthetic import CUE_MARK, SyntheticConfig, SyntheticPatches
from infovit.model.capabilities import has_channel


def mark_groups(ds: SyntheticPatches, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks [N, P] of the key patches and of background patches whose mark tells the bit right
    (background patches outside both masks tell it wrong)."""
    brightness = ds.tiles(indices)[:, :, :, 1:-1, 1:-1].mean(dim=(2, 3, 4)).numpy()  # [n, G²]
    key = ds.key_mask(indices).numpy()  # [n, G²]
    marks = brightness[~key]
    if np.abs(np.abs(marks) - CUE_MARK).max() > CUE_MARK / 2:
        raise ValueError("a background tile's brightness is not a bit cue's mark")
    bit = (ds.labels[indices] % 2).numpy().astype(bool)  # [n] True: repeat
    right = ((brightness > 0) == bit[:, None]) & ~key
    return key, right


def main(argv: list[str] | None = None) -> int:
    parsed = parse_demo_args(argv, __doc__, "N evenly spaced validation images (≥ 1)")
    if parsed is None:
        return 2
    args, runs = parsed
    loaded = [r for r in load_demo(runs) if has_channel(r.model)]
    loaded.sort(key=lambda r: -(label_beta(r.label) or 0.0))  # strong β → weak
    cfg = getattr(loaded[0].dataset, "config", None) if loaded else None
    if not isinstance(cfg, SyntheticConfig) or cfg.bit_cue <= 0:
        print(
            f"error: {args.demo / 'runs'} has no bottlenecked runs on synthetic data with "
            "bit_cue > 0; "
            "train them with infovit demo --task hue_noise=1.2,ambiguity_ramp=10,bit_cue=0.6",
            file=sys.stderr,
        )
        return 2
    print(
        "| model | top-1 % | nats/image | nats per patch: key / right mark / wrong mark | "
        "wrong ÷ right | share of the nats: keys / right / wrong (of the patches) |"
    )
    print("|---|---|---|---|---|---|")
    for run in loaded:
        ext = extract(
            run.model, run.dataset, name=run.name, max_images=args.images, progress=False,
            seed=args.seed,
        )  # fmt: skip
        key, right = mark_groups(run.dataset, ext.indices)  # type: ignore[arg-type]
        wrong = ~key & ~right
        kl = ext.kl_patch  # [N, P] nats
        total = kl.sum()
        per = [float(kl[m].mean()) for m in (key, right, wrong)]
        shares = " / ".join(
            f"{100 * kl[m].sum() / total:.1f}% ({100 * m.mean():.0f}%)" for m in (key, right, wrong)
        )
        print(
            f"| {run.name} | {100 * ext.correct[:, 0].mean():.1f} | {kl.sum(1).mean():.3g} | "
            + " / ".join(f"{x:.3g}" for x in per)
            + f" | {per[2] / per[1]:.2f} | {shares} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
