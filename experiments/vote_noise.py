"""How much of the patches' vote diversity is channel noise: votes sampled against posterior-mean.

The paper's patch voting (arXiv 2602.04784, Fig. 1c) counts the classes the patches vote for
(inverse Simpson index of the per-patch top classes) and how loudly (logit range). The analysis
takes the votes of one stochastic pass, as the paper evaluates its models with the channel noise
on. A patch that receives a weak message then votes by the noise it received: in the demo's
synthetic task, uninformed and weakly informed patches are near a tie between the two classes of
their tint (repeat bit 0 or 1), and noise splits them. This script separates the two: for every
run of a demo folder it prints the medians of both summaries with sampled messages and with the
posterior means, and the inverse Simpson index of the tint alone (top class // 2), the local part
of the label, which the repeat bit does not split. A second table says whose noise it is: for
every bottlenecked model, the share of patch votes that differ from the posterior-mean vote
with the noise on in every block, and with it on in one block only. A third table says which
patches vote the repeat bit: the mean margin of the true bit's class over its pair partner
(the same tint, the other bit) on the two key patches and on the background patches, and the
keys' part of the image's mean margin (2 of 36 patches: 5.6% if they vote as loudly as the rest),
and how close the patches come to the loudest bit vote that any one patch can cast: every patch's
vote is ``head(norm(x_i))``, and the final LayerNorm gives every token the same length, so the
margin of class a over b is at most ``√D · ‖u − mean(u)‖ + (w_a − w_b) · b_norm + b_a − b_b``
with ``u = γ ⊙ (w_a − w_b)``, whatever the token says.

    python experiments/vote_noise.py demo_out                   # the runs in demo_out/runs
    python experiments/vote_noise.py demo_hue --images 512      # a subset of the validation set

Writes nothing; prints markdown tables.
"""

from __future__ import annotations

import math
import sys

import torch

from demo_runs import load_demo, parse_demo_args
from infovit.analysis.context import LoadedRun
from infovit.analysis.spectrum import label_beta
from infovit.analysis.voting import inverse_simpson, logit_range
from infovit.model.capabilities import has_channel


@torch.no_grad()
def votes(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Per-patch logits [N, P, C] of ``images`` [N, 3, H, W], 256 at a time."""
    out = [
        model.forward_patch_logits(model.forward_features(x))  # type: ignore[operator]
        for x in images.split(256)
    ]
    return torch.cat(out)


def summary(patch_logits: torch.Tensor) -> tuple[float, float, float]:
    """Median inverse Simpson index (full label; tint only) and median logit range."""
    top = patch_logits.argmax(dim=-1)  # [N, P]
    classes = patch_logits.shape[-1]
    return (
        float(inverse_simpson(top, classes).median()),
        float(inverse_simpson(top // 2, classes // 2).median()),
        float(logit_range(patch_logits).median()),
    )


def bit_margins(
    patch_logits: torch.Tensor, labels: torch.Tensor, key: torch.Tensor, bound: torch.Tensor
) -> tuple[float, ...]:
    """Mean margin toward the true repeat bit on the key patches and on the background patches,
    the keys' part of the image's mean margin, and the margins as fractions of the loudest vote
    the final norm allows (``bound`` [N], :func:`norm_bound`): the keys' median and 99th
    percentile, the background's median. ``patch_logits`` [N, P, C], ``labels`` [N]
    (label = 2 · tint + bit), ``key`` [N, P] which patches are keys."""
    n, P, _ = patch_logits.shape
    pair = torch.stack([labels, labels ^ 1], dim=1)  # [N, 2] true class, same tint other bit
    true, partner = patch_logits.gather(-1, pair[:, None].expand(n, P, 2)).unbind(-1)  # [N, P]
    margin = true - partner  # [N, P]
    # a model that does not vote the bit (no_attn) has no mean margin to take a part of
    keys_part = float((margin * key).sum() / margin.sum()) if margin.mean() > 0.1 else math.nan
    reach = margin / bound[:, None]  # [N, P] each vote as a fraction of the loudest possible
    return (
        float(margin[key].mean()),
        float(margin[~key].mean()),
        keys_part,
        float(reach[key].median()),
        float(reach[key].quantile(0.99)),
        float(reach[~key].median()),
    )


@torch.no_grad()
def norm_bound(model: torch.nn.Module, labels: torch.Tensor) -> torch.Tensor:
    """The largest margin of each image's true class over its pair partner that any one patch's
    vote can have [N] (module docstring): the final LayerNorm's output is ``γ ⊙ x̂ + b_norm``
    with ``x̂`` centred and of length at most √D, so ``u · x̂`` peaks at ``√D · ‖u − mean(u)‖``."""
    norm, head = model.norm, model.head  # type: ignore[union-attr]
    d = head.weight[labels] - head.weight[labels ^ 1]  # [N, D] true class minus its partner
    u = norm.weight * d  # [N, D]
    reach = math.sqrt(d.shape[1]) * (u - u.mean(dim=1, keepdim=True)).norm(dim=1)  # [N]
    return reach + d @ norm.bias + head.bias[labels] - head.bias[labels ^ 1]


def set_block_noise(model: torch.nn.Module, sampled: set[int]) -> None:
    """Sample the channel noise in the blocks ``sampled``, posterior means in the others."""
    for b, block in enumerate(model.blocks):  # type: ignore[union-attr, arg-type]
        if block.attn is not None:
            block.attn.noise = "sample" if b in sampled else "mean"


def flip_rates(model: torch.nn.Module, x: torch.Tensor, seed: int) -> list[float]:
    """Share of patch votes unlike the posterior-mean vote: noise in every block, then in
    block 0, 1, … alone."""
    depth = len(model.blocks)  # type: ignore[arg-type]
    set_block_noise(model, set())
    mean_top = votes(model, x).argmax(dim=-1)  # [N, P]
    rates = []
    for sampled in [set(range(depth))] + [{b} for b in range(depth)]:
        set_block_noise(model, sampled)
        torch.manual_seed(seed)
        rates.append(float((votes(model, x).argmax(dim=-1) != mean_top).float().mean()))
    set_block_noise(model, set(range(depth)))
    return rates


def main(argv: list[str] | None = None) -> int:
    parsed = parse_demo_args(argv, __doc__, "first N validation images")
    if parsed is None:
        return 2
    args, runs = parsed
    print("| model | top-1 % | Simpson, sampled | Simpson, posterior mean | tint-only Simpson "
          "(sampled / mean) | logit range (sampled / mean) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    loaded = load_demo(runs)

    def spectrum_order(run: LoadedRun) -> tuple[int, float]:  # no_attn, strong β → weak, vit
        end = {"no_attn": 0, "vit": 2}.get(run.model.variant, 1)
        return end, -(label_beta(run.label) or 0.0)

    flips: list[tuple[str, list[float]]] = []
    margins: list[tuple[str, tuple[float, ...]]] = []
    for run in sorted(loaded, key=spectrum_order):
        n = min(args.images, len(run.dataset))  # type: ignore[arg-type]
        items = [run.dataset[i] for i in range(n)]
        x = torch.stack([im for im, _ in items])
        y = torch.tensor([label for _, label in items])
        model = run.model.eval()
        torch.manual_seed(args.seed)
        sampled = votes(model, x)
        top1 = 100 * float((sampled.mean(dim=1).argmax(-1) == y).float().mean())
        s_full, s_tint, s_range = summary(sampled)
        key = run.dataset.key_mask(range(n))  # type: ignore[attr-defined]
        margins.append((run.name, bit_margins(sampled, y, key, norm_bound(model, y))))
        if has_channel(model):
            model.set_noise("mean")
            m_full, m_tint, m_range = summary(votes(model, x))
            model.set_noise("sample")
            flips.append((run.name, flip_rates(model, x, args.seed)))
        else:  # deterministic: both are the same votes
            m_full, m_tint, m_range = s_full, s_tint, s_range
        print(
            f"| {run.name} | {top1:.1f} | {s_full:.2f} | {m_full:.2f} | "
            f"{s_tint:.2f} / {m_tint:.2f} | {s_range:.1f} / {m_range:.1f} |"
        )
    if flips:
        depth = len(flips[0][1]) - 1
        print("\nPatch votes unlike the posterior-mean vote, by where the noise is sampled:\n")
        print(
            "| model | every block | " + " | ".join(f"block {b} only" for b in range(depth)) + " |"
        )
        print("|---" * (depth + 2) + "|")
        for name, rates in flips:
            print(f"| {name} | " + " | ".join(f"{100 * r:.1f}%" for r in rates) + " |")
    print("\nWho votes the repeat bit (margin of the true bit's class over its pair partner):\n")
    print(
        "| model | margin per key patch | per background patch | keys' part of the image's "
        "| of the loudest possible vote: keys' median / 99th percentile, background median |"
    )
    print("|---|---|---|---|---|")  # fmt: skip
    for name, (on_key, on_background, part, k50, k99, b50) in margins:
        share = "— (no bit vote)" if math.isnan(part) else f"{100 * part:.0f}%"
        print(
            f"| {name} | {on_key:.2f} | {on_background:.2f} | {share} "
            f"| {100 * k50:.0f}% / {100 * k99:.0f}%, {100 * b50:.0f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
