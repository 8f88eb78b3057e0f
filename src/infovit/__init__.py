"""infovit: information flow in vision transformers.

Information-restricted ViTs (a variational bottleneck on every attention head's write to the
residual stream) and the information geometry of any timm ViT.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
