"""Head ablation as a context manager: the intervention half of the analysis hooks.

Analysis reads a model through a :class:`~infovit.model.attention.Tap`; an ablation changes
it, temporarily, through :class:`~infovit.model.bottleneck.HeadOverride` on the bottleneck of
chosen heads, and always restores the model on exit (also after an error).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import cast

from infovit.model.block import InfoBlock
from infovit.model.bottleneck import HeadBottleneck, HeadOverride
from infovit.model.vit import InfoViT

__all__ = ["ablate_heads", "head_bottleneck"]


def head_bottleneck(model: InfoViT, block: int) -> HeadBottleneck:
    """The bottleneck of block ``block``; an error for models without a channel."""
    blocks = cast(Sequence[InfoBlock], model.blocks)  # nn.Sequential iterates as Module
    if not 0 <= block < len(blocks):
        raise ValueError(f"block {block} out of range (model has {len(blocks)})")
    attn = blocks[block].attn
    if attn is None or attn.bottleneck is None:
        raise ValueError(f"block {block} has no bottleneck to ablate ({model.variant})")
    return attn.bottleneck


@contextmanager
def ablate_heads(
    model: InfoViT, overrides: Mapping[tuple[int, int], HeadOverride]
) -> Iterator[InfoViT]:
    """Apply ``{(block, head): override}`` for the duration of the ``with`` block."""
    touched: list[tuple[HeadBottleneck, dict[int, HeadOverride]]] = []
    try:
        for (b, h), override in overrides.items():
            bn = head_bottleneck(model, b)
            if not 0 <= h < bn.heads:
                raise ValueError(f"head {h} out of range (blocks have {bn.heads})")
            if not any(t is bn for t, _ in touched):
                touched.append((bn, dict(bn.overrides)))
            bn.overrides[h] = override
        yield model
    finally:
        for bn, before in touched:
            bn.overrides = before
