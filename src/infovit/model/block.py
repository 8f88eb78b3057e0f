"""A pre-norm transformer block whose attention sub-block may be bottlenecked or removed.

Built from a timm ``Block`` and keeping its sub-module names, so timm checkpoints load as they
are. With ``attention=False`` the attention sub-block (norm1, attn, ls1) is gone entirely: each
token then only sees itself, the paper's independent-patch ("ViT w/o attention") endpoint.
"""

from __future__ import annotations

from timm.models.vision_transformer import Block
from torch import Tensor, nn

from infovit.model.attention import IBAttention, Tap
from infovit.model.bottleneck import BottleneckConfig

__all__ = ["InfoBlock"]


class InfoBlock(nn.Module):
    """``x + attn(norm1(x))`` (optional, bottlenecked or not), then ``x + mlp(norm2(x))``."""

    def __init__(
        self, block: nn.Module, attention: bool, bottleneck: BottleneckConfig | None = None
    ) -> None:
        super().__init__()
        if block.__class__ is not Block:
            raise TypeError(f"expected timm's pre-norm Block, got {type(block).__name__}")
        assert isinstance(block, Block)  # implied by the class check; narrows the type
        if attention:
            self.norm1, self.ls1, self.drop_path1 = block.norm1, block.ls1, block.drop_path1
            self.attn: IBAttention | None = IBAttention(block.attn, bottleneck)
        else:
            self.attn = None
        self.norm2, self.mlp, self.ls2, self.drop_path2 = (
            block.norm2,
            block.mlp,
            block.ls2,
            block.drop_path2,
        )

    def forward(self, x: Tensor, tap: Tap | None = None) -> Tensor:
        if self.attn is not None:
            x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), tap=tap)))
        x = x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        return x
