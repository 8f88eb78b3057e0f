"""Device and mixed-precision choices, made once per run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from infovit.errors import InfovitError

__all__ = ["autocast", "resolve_amp", "resolve_device"]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; an unknown or unavailable device is a user
    error, reported before any work starts."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise InfovitError(f"--device: unknown device {name!r}; use auto, cpu or cuda[:N]") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InfovitError("--device cuda requested but no CUDA device is available")
    return device


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full precision. ``auto``: bf16 (or fp16) on CUDA only.

    Not bf16 on CPUs with native bf16 (AMX, AVX512-BF16) either: on such a CPU, bf16 autocast
    trains ViT-Tiny at 224 px about 1.5× faster, but the demo's small models (width 64, 36
    tokens) only 0.6× as fast (686–712 vs 1157–1207 img/s: the casts cost more than the matrix
    products save), so a CPU default of bf16 would slow the CPU case it is meant for. (The one
    demo model compared, no-attention at seed 42, ended at 50.3 % in bf16, inside float32's
    50.1–55.6 % over seeds.) Ask for it with ``amp: bf16`` where it pays.
    """
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
