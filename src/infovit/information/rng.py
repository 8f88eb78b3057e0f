"""Counter-based seeding: every random stream is a pure function of (seed, stream, indices).

Streams are tied to what they draw (patch indices, noise of channel ``a`` in block ``b`` …), not
to the order of computation, so results do not depend on chunk sizes, and adding a channel or
a latent dim (noise is drawn dim-major) leaves every other draw unchanged.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "BLOCK",
    "STREAM_COLUMNS",
    "STREAM_NOISE",
    "STREAM_NOISE_DUP",
    "STREAM_ROWS",
    "generator",
]

# Samples per random block, the unit of parallel work; fixed, so results do not depend on
# chunking (Monte Carlo row chunks are at most one block).
BLOCK = 1024
STREAM_ROWS = 0  # which patches x_i are drawn
STREAM_NOISE = 1  # ε of u ~ p(u|x_i), per channel
STREAM_NOISE_DUP = 2  # ε′ of the independent second draw U′
STREAM_COLUMNS = 3  # which components form the marginal


def generator(seed: int, stream: int, *keys: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, stream, *keys)`` through NumPy's SeedSequence."""
    state = np.random.SeedSequence(entropy=int(seed), spawn_key=(stream, *keys)).generate_state(2)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g
