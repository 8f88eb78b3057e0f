"""Which heads to compare (``RUN:11.0``, ``RUN:11.*``, ``RUN:*``) and their posteriors over patches.

Extraction streams a data set through a model once, keeping only the selected heads' posterior
parameters at patch tokens (prefix tokens dropped): memory is the result, ``L × r`` floats per
head and parameter, plus one batch.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from infovit.errors import InfovitError

__all__ = [
    "HeadSelector",
    "extract_head_posteriors",
    "match_channel_names",
    "parse_head_selector",
]

_SPEC = re.compile(r"^(?:\*|(\d+)\.(\d+|\*))$")


@dataclass(frozen=True)
class HeadSelector:
    """``run`` and a block/head (``None`` = all)."""

    run: str
    block: int | None
    head: int | None

    def resolve(self, n_blocks: int, n_heads: int) -> list[tuple[int, int]]:
        """The (block, head) pairs selected in a model with this many blocks and heads."""
        if self.block is not None and not 0 <= self.block < n_blocks:
            raise InfovitError(f"{self}: block {self.block} out of range (model has {n_blocks})")
        if self.head is not None and not 0 <= self.head < n_heads:
            raise InfovitError(f"{self}: head {self.head} out of range (blocks have {n_heads})")
        blocks = range(n_blocks) if self.block is None else [self.block]
        heads = range(n_heads) if self.head is None else [self.head]
        return [(b, h) for b in blocks for h in heads]

    def __str__(self) -> str:
        if self.block is None:
            return f"{self.run}:*"
        return f"{self.run}:{self.block}.{'*' if self.head is None else self.head}"


def parse_head_selector(text: str) -> HeadSelector:
    """``RUN:B.H`` / ``RUN:B.*`` / ``RUN:*`` (RUN may itself contain ':'; the last one splits)."""
    run, sep, spec = text.rpartition(":")
    match = _SPEC.match(spec.strip())
    if not sep or not run or match is None:
        raise InfovitError(
            f"bad head selector {text!r}; use RUN:BLOCK.HEAD, RUN:BLOCK.* or RUN:* "
            "(e.g. runs/beta10:11.0)"
        )
    if match.group(1) is None:
        return HeadSelector(run, None, None)
    head = None if match.group(2) == "*" else int(match.group(2))
    return HeadSelector(run, int(match.group(1)), head)


def match_channel_names(patterns: Sequence[str], names: Sequence[str]) -> list[str]:
    """Names matching any shell-style pattern (``run:11.*``), in pattern then file order."""
    out: list[str] = []
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            shown = ", ".join(names[:8]) + (" …" if len(names) > 8 else "")
            raise InfovitError(f"no channel matches {pattern!r}; available: {shown}")
        out.extend(n for n in hits if n not in out)
    return out


def extract_head_posteriors(
    model: Any,
    dataset: Any,
    heads: Sequence[tuple[int, int]],
    *,
    n_images: int | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """``{(block, head): (mu, logvar)}``, each float32 ``[n_images · P, r]`` in image-major order.

    The first ``n_images`` images of ``dataset`` (all if ``None``) in order, so every model sees
    the same patches. Posteriors come from ``model.forward_info(x, noise="mean",
    return_posterior=True)``: upstream channels at their means, as in the paper's analysis.
    """
    total = len(dataset) if n_images is None else min(int(n_images), len(dataset))
    if total < 1:
        raise InfovitError("no images to extract posteriors from (data set empty or --images 0)")
    model = model.to(device).eval()
    prefix = int(getattr(model, "num_prefix_tokens", 0))
    out: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    filled = 0
    subset = torch.utils.data.Subset(dataset, range(total))
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False)
    with (
        torch.inference_mode(),
        tqdm(total=total, unit="img", desc="posteriors", disable=not progress, leave=False) as bar,
    ):
        for images, _ in loader:
            res = model.forward_info(images.to(device), noise="mean", return_posterior=True)
            if res.mu is None or res.logvar is None:
                raise InfovitError(
                    "this model has no bottlenecks (variant is not 'ib'); no posteriors"
                )
            n_blocks, n_heads = res.mu.shape[1], res.mu.shape[2]
            for b, h in heads:
                if not (0 <= b < n_blocks and 0 <= h < n_heads):
                    raise InfovitError(
                        f"head {b}.{h} not in a model with {n_blocks}×{n_heads} heads"
                    )
            mu = res.mu[:, :, :, prefix:]  # [B, n_blocks, n_heads, P, r] patch tokens only
            logvar = res.logvar[:, :, :, prefix:]
            n_img, n_patch, r = mu.shape[0], mu.shape[3], mu.shape[4]
            if not out:
                out = {
                    key: (
                        np.empty((total * n_patch, r), np.float32),
                        np.empty((total * n_patch, r), np.float32),
                    )
                    for key in heads
                }
            rows = slice(filled * n_patch, (filled + n_img) * n_patch)
            for b, h in heads:
                out[(b, h)][0][rows] = mu[:, b, h].reshape(-1, r).float().cpu().numpy()  # [B·P, r]
                out[(b, h)][1][rows] = logvar[:, b, h].reshape(-1, r).float().cpu().numpy()
            filled += n_img
            bar.update(n_img)
    return out
