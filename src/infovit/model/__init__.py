"""Information-restricted vision transformers (the IB-ViT paper's models).

``build_model(ModelConfig(...))`` or ``timm.create_model("infovit_ib_tiny_patch16_224")``.
"""

from infovit.model import registry as _registry  # noqa: F401  (registers timm entry points)
from infovit.model.attention import AttnRecord, IBAttention, Tap
from infovit.model.block import InfoBlock
from infovit.model.bottleneck import BottleneckConfig, HeadBottleneck, Noise, gaussian_kl
from infovit.model.factory import ModelConfig, build_model, load_backbone_weights, read_state_dict
from infovit.model.vit import VARIANTS, InfoOutput, InfoViT, Variant

__all__ = [
    "VARIANTS",
    "AttnRecord",
    "BottleneckConfig",
    "HeadBottleneck",
    "IBAttention",
    "InfoBlock",
    "InfoOutput",
    "InfoViT",
    "ModelConfig",
    "Noise",
    "Tap",
    "Variant",
    "build_model",
    "gaussian_kl",
    "load_backbone_weights",
    "read_state_dict",
]
