"""What a model can do, asked by capability instead of by variant name.

The IB-ViT paper (arXiv 2602.04784, §3) spans one architecture over three variants: ``ib``
(every head's write passes a Gaussian channel priced by β, eq. 3), ``no_attn`` (attention
removed: independent patches, zero nats) and ``vit`` (attention unpriced, its nats unmeasured).
Code elsewhere asks these questions of a model, an extraction, a table row's variant or a
config; only this module maps them to variant names.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "has_attention",
    "has_channel",
    "is_endpoint",
    "is_priced",
    "nats_measured",
    "variant_of",
    "variant_title",
]

_TITLES = {"no_attn": "no attention", "vit": "unmodified ViT"}


def variant_of(thing: Any) -> str:
    """The variant of a model, extraction, config or row (anything with ``.variant``), or a
    variant name itself."""
    if isinstance(thing, str):
        return thing
    variant = getattr(thing, "variant", None)
    if variant is None and isinstance(thing, dict):
        variant = thing.get("variant")
    if variant is None:
        raise TypeError(f"{type(thing).__name__} has no variant")
    return str(variant)


def has_channel(thing: Any) -> bool:
    """Whether every head writes through a variational bottleneck (posteriors, KL, latents)."""
    return variant_of(thing) == "ib"


def has_attention(thing: Any) -> bool:
    """Whether the blocks keep their attention sub-blocks (patches can read each other)."""
    return variant_of(thing) != "no_attn"


def is_priced(thing: Any) -> bool:
    """Whether training pays β per nat the heads write (eq. 3): only a channel has a price."""
    return has_channel(thing)


def nats_measured(thing: Any) -> bool:
    """Whether the nats written into the residual stream are known: measured by the channel, or
    exactly zero without attention; the unmodified ViT's writes are unmeasured (NaN)."""
    return has_channel(thing) or not has_attention(thing)


def is_endpoint(thing: Any) -> bool:
    """Whether the model is one of the two ends of the spectrum (no attention, unmodified ViT)."""
    return not has_channel(thing)


def variant_title(thing: Any) -> str:
    """How tables and figures name a variant's configuration (IB runs are named by β)."""
    variant = variant_of(thing)
    return _TITLES.get(variant, variant)
