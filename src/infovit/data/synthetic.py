"""A known-answer image task: part of the label is local, part needs patches to communicate.

Each image is a ``grid × grid`` mosaic of ``patch × patch`` pixel tiles:

- every *background* tile carries the image's **tint** (one of ``tints`` colours) plus noise:
  the **local** part of the label. With no ambiguity options any single patch decides the tint.
  Three options make a single tile ambiguous while the tiles together still decide, so the
  patches' local evidence disagrees, as on natural images (tried for the paper's patch voting,
  Fig. 1c; the README says what each did):

  - ``tint_noise = σ``: each background tile's colour is the tint plus its own Gaussian offset
    (one per tile and channel); one tile alone is ambiguous between neighbouring tints while the
    mean of many tiles still decides;
  - ``hue_noise = σ`` (radians): each background tile's hue is the tint's plus its own Gaussian
    offset, at the same brightness and saturation, so the tiles stay as unlike the bright key
    frames as clean ones;
  - ``stray_tiles = q``: each background tile, independently with probability q, shows one of
    the *other* tints (uniformly): a single tile is clear about its colour but wrong a fraction q
    of the time, and only the majority of the tiles decides;

  ``ambiguity_from = k`` and ``ambiguity_ramp = r`` make them a curriculum for the *training*
  images: clean tiles before epoch k, then the offsets' scale and the strays' rate grow linearly
  to their full value over r epochs (at once for r = 0). The trainer calls
  :meth:`SyntheticPatches.set_epoch`; every level uses the same random draws, scaled, and
  validation and test images are always fully ambiguous;
- two *key* tiles at random distinct positions have a bright frame and, inside it, one of
  ``symbols`` fixed random patterns. The **repeat bit** says whether the two keys show the same
  symbol (the content is repeated elsewhere in the image) or different ones: the **global** part;
- ``bit_cue = p`` (off at 0) gives every background tile weak local evidence on the bit as well:
  a brightness mark (±``CUE_MARK`` on every channel of the tile's inside) that tells the bit
  right with probability p, independently per tile, and its flip otherwise. The tiles' marks
  then vote against each other in proportion p : 1 − p (tried for the paper's patch voting; the
  README says what it did). The marks are on from the first epoch: they are evidence, not
  ambiguity.

``label = 2 · tint + repeat``. A model that sees all patches (a ViT) can reach 100%.

The independent-patch ceiling. A model without attention scores each class by the mean of
per-patch votes, and a patch's vote depends on its content and, through the position embedding,
on where it is. Between (tint, repeat) and (tint, no repeat) it therefore decides on the sign of
``E_a(s₁) + E_b(s₂) + c``: a and b are the keys' positions, ``E_x(s)`` is the vote of symbol s
at position x, and c holds the background tiles' votes, which (without bit cues) do not depend
on the bit or the symbols: the ambiguity options draw independently of both. Fix the positions
and the background, so that c is a number, and let W be the symbols whose equal pair is called
"repeat", ``w = |W|``. For s ≠ s′ in W, adding
``E_a(s) + E_b(s) + c > 0`` and ``E_a(s′) + E_b(s′) + c > 0`` gives
``[E_a(s) + E_b(s′) + c] + [E_a(s′) + E_b(s) + c] > 0``: at least one of the ordered unequal
pairs (s, s′), (s′, s) is called "repeat" too (and flipping the rule's direction is symmetric).
The keys' symbols are uniform given the rest, so for every pair of positions::

    accuracy ≤ max_w  w / (2S) + ½ · (1 − w(w−1) / (2 S(S−1)))  =  3/4   for every S ≥ 2

(:func:`independent_patch_ceiling`), attained for one pair of positions by votes that rise with
the symbol at a and fall with it at b. The keys land at random positions, and no rule attains it
for every pair at once: a rule with two groups of positions reaches 0.696 for S = 4 (a test
builds it), so the best independent-patch model lies between 0.696 and 3/4.

With bit cues, c depends on the bit through the background's marks. Given the background, the
bit's posterior depends on the marks only through the number k that say "repeat" (binomial with
p or 1 − p over the m = grid² − 2 background tiles; seeing the marks through pixel noise cannot
help). For fixed positions and background the pair argument above holds for the call the model
makes, so the accuracy is at most the sum over k of the best call given k, each with its own w
(:func:`patch_ceiling`): 0.839 for p = 0.55 and 0.930 for p = 0.6 with S = 4. Votes that
treat symbols alike then decide by the majority of the marks (0.719 and 0.879).

A *position-blind* vote (``E_a = E_b = D``) is bounded more tightly: then both (s, s′) and
(s′, s) are called "repeat" for every s ≠ s′ in W (at least w(w−1) of S(S−1) unequal pairs)::

    accuracy ≤ max_w  w / (2S) + ½ · (1 − w(w−1) / (S(S−1)))

which is 3/4 for S = 2 and 2/3 for S = 3 or 4 (``position_blind=True``), attained by choosing W of
the maximising size. With tints decided perfectly, these bound the full label too; with ambiguous
tints they still do, since a correct label needs the bit between the two classes of the true tint
decided right.

The tint ceiling with stray tiles. Given the m = grid² − 2 background tiles' colours, the
likelihood of tint t is ∝ ((1 − q)(T − 1)/q)^(count of t), so for q < (T − 1)/T the Bayes rule
picks the most frequent colour (ties at random); its accuracy is the exact multinomial sum of
:func:`tint_ceiling` (0.9994 for m = 34, T = 4, q = 0.4). It caps every model's
accuracy on the full label, and a model that routes the tiles' colours (a ViT) can reach it.

Beating one half needs votes that break the symmetry between symbols. The data are symmetric
under relabelling the symbols, and a vote that treats all symbols alike gives the same
``E_a(s₁) + E_b(s₂)`` for equal and unequal pairs, i.e. exactly chance on the bit: the
**symbol-symmetric ceiling is 1/2** (``symmetric=True``). No single patch carries first-order
evidence for breaking the symmetry, so a trained no-attention model stays at the symmetric
ceiling (49.8–50.3% at the demo's final weights; from epoch to epoch its validation accuracy
wanders over 45–55%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch.utils.data import Dataset

__all__ = [
    "SyntheticConfig",
    "SyntheticPatches",
    "hue_colour",
    "independent_patch_ceiling",
    "patch_ceiling",
    "single_tile_hue_accuracy",
    "tint_angles",
    "tint_ceiling",
]

_SPLIT_SEED = {"train": 0, "val": 1, "test": 2}
CUE_MARK = 0.75  # brightness of a bit cue's mark on every channel (pixel noise is 0.25)


@dataclass(frozen=True)
class SyntheticConfig:
    grid: int = 6  # patches per side
    patch: int = 4  # pixels per patch side (≥ 3: a frame plus an inside)
    tints: int = 4  # local classes
    symbols: int = 4  # key patterns; the repeat bit compares two of them
    n_train: int = 8192
    n_val: int = 2048
    noise: float = 0.25  # pixel noise std (images are already normalised)
    tint_noise: float = 0.0  # std of each background tile's own colour offset
    hue_noise: float = 0.0  # std (radians) of each background tile's own hue offset
    stray_tiles: float = 0.0  # probability that a background tile shows another tint
    bit_cue: float = 0.0  # probability that a background tile's mark tells the repeat bit (0: none)
    ambiguity_from: int = 0  # first training epoch with ambiguous tiles (a curriculum)
    ambiguity_ramp: int = 0  # epochs over which the ambiguity then grows to full (0: at once)
    seed: int = 0

    @property
    def img_size(self) -> int:
        return self.grid * self.patch

    @property
    def num_classes(self) -> int:
        return 2 * self.tints

    @property
    def ambiguous(self) -> bool:
        return self.tint_noise > 0 or self.hue_noise > 0 or self.stray_tiles > 0

    def ambiguity(self, epoch: int) -> float:
        """Fraction of the full ambiguity in the training images of ``epoch`` (module
        docstring): 0 before ``ambiguity_from``, then a linear ramp over ``ambiguity_ramp``."""
        if epoch < self.ambiguity_from:
            return 0.0
        if self.ambiguity_ramp == 0:
            return 1.0
        return min(1.0, (epoch - self.ambiguity_from) / self.ambiguity_ramp)


def independent_patch_ceiling(
    symbols: int,
    symmetric: bool = False,
    position_blind: bool = False,
    bit_cue: float = 0.0,
    background: int = 34,
) -> float:
    """Upper bound on the repeat-bit accuracy of any mean-of-patch-votes model (module
    docstring): 3/4 for every S ≥ 2, since a patch's vote may depend on its position. With
    ``position_blind=True``, of those whose votes do not (2/3 for S = 3 or 4, attained); with
    ``symmetric=True``, of those whose votes treat all symbols alike (exactly 1/2).

    ``bit_cue = p`` with ``background`` marked tiles: the bound sums, over the number k of marks
    that say "repeat", the best call given k (then the symmetric bound is the majority of the
    marks, attained)."""
    S = symbols
    # Least share of unequal pairs called "repeat" when w equal pairs are (module docstring).
    if symmetric:
        options = [(0, 0.0), (S, 1.0)]  # symbols alike: every pair called alike
    else:
        forced = S * (S - 1) if position_blind else 2 * S * (S - 1)
        options = [(w, w * (w - 1) / forced) for w in range(S + 1)]
    if bit_cue == 0:
        states = [(0.5, 0.5)]  # (P(repeat, state), P(distinct, state)): no marks, one state
    else:
        m, p = background, bit_cue
        states = [
            (0.5 * math.comb(m, k) * p**k * (1 - p) ** (m - k),
             0.5 * math.comb(m, k) * (1 - p) ** k * p ** (m - k))
            for k in range(m + 1)
        ]  # fmt: skip
    return sum(
        max(rep * w / S + dis * (1 - called) for w, called in options) for rep, dis in states
    )


def patch_ceiling(
    cfg: SyntheticConfig, symmetric: bool = False, position_blind: bool = False
) -> float:
    """:func:`independent_patch_ceiling` of the task ``cfg`` (its symbols and bit cues)."""
    return independent_patch_ceiling(
        cfg.symbols, symmetric, position_blind, cfg.bit_cue, cfg.grid * cfg.grid - 2
    )


def tint_ceiling(cfg: SyntheticConfig) -> float | None:
    """Bayes accuracy of the tint from the background tiles' colours when each tile strays to
    another tint with probability ``cfg.stray_tiles`` (module docstring): the probability that
    the true tint is the most frequent colour, a tie of k colours counting 1/k. Exact: a sum over
    the multinomial counts (the true tint's count, then how the rest spread over the others).
    None with colour or hue offsets, whose Bayes accuracy has no closed form."""
    if cfg.tint_noise > 0 or cfg.hue_noise > 0:
        return None
    q, t, m = cfg.stray_tiles, cfg.tints, cfg.grid * cfg.grid - 2
    if q == 0 or t == 1:
        return 1.0
    if q >= (t - 1) / t:
        raise ValueError(f"stray_tiles {q} ≥ {(t - 1) / t:.3g}: no tint is the most likely colour")

    def spread(n: int, k: int, cap: int) -> dict[int, float]:
        """P(n tiles spread uniformly over k colours leave all ≤ cap), split by how many
        reach cap exactly: {ties: probability}."""
        # dynamic programme over colours: state (tiles used, colours at cap)
        states: dict[tuple[int, int], float] = {(0, 0): 1.0}
        for _ in range(k):
            nxt: dict[tuple[int, int], float] = {}
            for (used, at_cap), pr in states.items():
                for c in range(min(cap, n - used) + 1):
                    key = (used + c, at_cap + (c == cap))
                    nxt[key] = nxt.get(key, 0.0) + pr * math.comb(n - used, c) * (1 / k) ** c
            states = nxt
        out: dict[int, float] = {}
        for (used, at_cap), pr in states.items():
            if used == n:
                out[at_cap] = out.get(at_cap, 0.0) + pr
        return out

    total = 0.0
    for own in range(m + 1):
        p_own = math.comb(m, own) * (1 - q) ** own * q ** (m - own)
        if p_own == 0.0:
            continue
        for ties, pr in spread(m - own, t - 1, own).items():
            total += p_own * pr / (1 + ties)
    return total


def hue_colour(angle: torch.Tensor) -> torch.Tensor:
    """The colour of hue ``angle`` (radians) on the tints' colour circle: [...] → [..., 3]. All
    hues have the same brightness (channel sum 0) and saturation (norm √1.5), to 1e-4: the
    phases are 2.094 and 4.189 rather than 2π/3 and 4π/3."""
    return torch.stack([angle.cos(), (angle + 2.094).cos(), (angle + 4.189).cos()], dim=-1)


def tint_angles(cfg: SyntheticConfig) -> torch.Tensor:
    """Hue of every tint [T]: evenly spread on the colour circle."""
    return torch.arange(cfg.tints) * (2 * torch.pi / cfg.tints)


def single_tile_hue_accuracy(cfg: SyntheticConfig) -> float:
    """Probability that one tile's hue under ``hue_noise = σ`` is nearest to its own tint's,
    i.e. that the wrapped offset lies within ±π/T: ``Σ_k Φ((π/T + 2πk)/σ) − Φ((−π/T + 2πk)/σ)``."""
    sigma, half = cfg.hue_noise, math.pi / cfg.tints
    if sigma == 0:
        return 1.0

    def phi(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    wraps = range(-int(4 * sigma / math.pi) - 2, int(4 * sigma / math.pi) + 3)  # ±4σ of turns
    return sum(
        phi((half + 2 * math.pi * k) / sigma) - phi((-half + 2 * math.pi * k) / sigma)
        for k in wraps
    )


def _palette(cfg: SyntheticConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed tints [T, 3] and symbol patterns [S, 3, p-2, p-2] derived from the seed."""
    g = torch.Generator().manual_seed(10_007 * cfg.seed + 17)
    tints = hue_colour(tint_angles(cfg))  # distinct tints of equal brightness
    inner = cfg.patch - 2
    while True:  # distinct ±1 patterns (retry on the rare collision)
        sym = torch.randint(0, 2, (cfg.symbols, 3, inner, inner), generator=g).float() * 2 - 1
        if len({tuple(s.flatten().tolist()) for s in sym}) == cfg.symbols:
            return tints, 1.5 * sym


def make_split(
    cfg: SyntheticConfig, split: str, ambiguity: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images [n, 3, H, W], labels [n] and key patch positions [n, 2] of one split, generated
    deterministically (patch index = row · grid + column). ``ambiguity`` scales the tiles'
    colour and hue offsets and the strays' rate; the random draws are the same at every level."""
    n = cfg.n_train if split == "train" else cfg.n_val
    g = torch.Generator().manual_seed(cfg.seed * 1000 + _SPLIT_SEED[split])
    G, p, S = cfg.grid, cfg.patch, cfg.symbols
    tints, symbols = _palette(cfg)
    tint = torch.randint(0, cfg.tints, (n,), generator=g)
    repeat = torch.randint(0, 2, (n,), generator=g)

    tiles = (
        tints[tint][:, None, :, None, None].expand(n, G * G, 3, p, p).clone()
    )  # [n, G², 3, p, p]
    # Two distinct key positions and their symbols (equal iff repeat).
    order = torch.rand(n, G * G, generator=g).argsort(dim=1)[:, :2]  # [n, 2]
    s1 = torch.randint(0, S, (n,), generator=g)
    shift = torch.randint(1, S, (n,), generator=g)
    s2 = torch.where(repeat.bool(), s1, (s1 + shift) % S)
    rows = torch.arange(n)
    if cfg.tint_noise > 0:  # per-tile colour offsets: one tile alone is ambiguous
        offset = cfg.tint_noise * torch.randn(n, G * G, 3, 1, 1, generator=g)
        tiles = tiles + ambiguity * offset  # keys overwrite theirs below
    if cfg.hue_noise > 0:  # per-tile hue offsets at the tints' brightness and saturation
        turn = cfg.hue_noise * torch.randn(n, G * G, generator=g)  # [n, G²] radians
        colour = hue_colour(tint_angles(cfg)[tint][:, None] + ambiguity * turn)  # [n, G², 3]
        tiles = tiles + (colour - tints[tint][:, None, :])[..., None, None]
    if cfg.stray_tiles > 0:  # some tiles show another tint: each tile is clear but may be wrong
        stray = torch.rand(n, G * G, generator=g) < ambiguity * cfg.stray_tiles  # [n, G²]
        other = (tint[:, None] + torch.randint(1, cfg.tints, (n, G * G), generator=g)) % cfg.tints
        colour = tints[torch.where(stray, other, tint[:, None])]  # [n, G², 3]
        offset = colour - tints[tint][:, None, :]  # 0 where the tile keeps the image's tint
        tiles = tiles + offset[..., None, None]  # keys overwrite theirs below
    if cfg.bit_cue > 0:  # a brightness mark inside every tile: the bit, or its flip
        agree = torch.rand(n, G * G, generator=g) < cfg.bit_cue  # [n, G²]
        told = torch.where(agree, repeat[:, None], 1 - repeat[:, None])  # [n, G²] the bit told
        mark = CUE_MARK * (2 * told - 1).float()  # +: "repeat", −: "distinct"
        tiles[:, :, :, 1:-1, 1:-1] += mark[:, :, None, None, None]  # keys overwrite theirs below
    for pos, sym in ((order[:, 0], s1), (order[:, 1], s2)):
        key = torch.full((n, 3, p, p), 2.0)  # bright frame
        key[:, :, 1:-1, 1:-1] = symbols[sym]
        tiles[rows, pos] = key
    tiles = tiles + cfg.noise * torch.randn(tiles.shape, generator=g)
    images = (
        tiles.view(n, G, G, 3, p, p)  # [n, gy, gx, 3, py, px]
        .permute(0, 3, 1, 4, 2, 5)  # [n, 3, gy, py, gx, px]
        .reshape(n, 3, G * p, G * p)  # [n, 3, H, W]
    )
    return images.contiguous(), 2 * tint + repeat, order


class SyntheticPatches(Dataset):
    """The known-answer task as a map-style dataset of (image [3, H, W], label)."""

    def __init__(self, config: SyntheticConfig | None = None, split: str = "train") -> None:
        if split not in _SPLIT_SEED:
            raise ValueError(f"split must be one of {tuple(_SPLIT_SEED)}, got {split!r}")
        self.config = config or SyntheticConfig()
        if self.config.patch < 3 or self.config.symbols < 2 or self.config.grid < 2:
            raise ValueError("synthetic data needs patch ≥ 3, symbols ≥ 2 and grid ≥ 2")
        self.split = split
        self.images, self.labels, self.keys = make_split(self.config, split)
        self._level = 1.0  # the ambiguity of self.images
        self._full = self.images
        self.set_epoch(0)  # a curriculum's first epoch (a no-op otherwise)
        self.classes = [
            f"tint{t}-{'repeat' if r else 'distinct'}"
            for t in range(self.config.tints)
            for r in (0, 1)
        ]

    def __len__(self) -> int:
        return len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Training images of ``epoch`` under the ambiguity curriculum (``ambiguity_from``,
        ``ambiguity_ramp``): a function of the epoch alone, so a resumed run sees the same
        images. Labels and keys never change; evaluation splits stay fully ambiguous."""
        if self.split != "train":
            return
        level = self.config.ambiguity(epoch)
        if level != self._level:
            full = level == 1.0
            self.images = self._full if full else make_split(self.config, "train", level)[0]
            self._level = level

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def tiles(self, indices: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """The tiles of the images ``indices`` (default: all), [m, G², 3, p, p] with patch index
        = row · grid + column: the layout :func:`make_split` draws them in, for the tests and
        measurements that read a tile's frame, colour or mark."""
        c = self.config
        images = self.images if indices is None else self.images[torch.as_tensor(indices)]
        m = images.shape[0]
        return (
            images.view(m, 3, c.grid, c.patch, c.grid, c.patch)  # [m, 3, gy, py, gx, px]
            .permute(0, 2, 4, 1, 3, 5)  # [m, gy, gx, 3, py, px]
            .reshape(m, c.grid * c.grid, 3, c.patch, c.patch)  # [m, G², 3, p, p]
        )

    def key_mask(self, indices: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """Which tiles of the images ``indices`` (default: all) are keys: [m, G²] bool."""
        keys = self.keys if indices is None else self.keys[torch.as_tensor(indices)]  # [m, 2]
        mask = torch.zeros(keys.shape[0], self.config.grid**2, dtype=torch.bool)
        mask[torch.arange(keys.shape[0])[:, None], keys] = True
        return mask

    def describe(self) -> dict[str, object]:
        return {
            **asdict(self.config),
            "independent_patch_ceiling": patch_ceiling(self.config),
            "position_blind_ceiling": patch_ceiling(self.config, position_blind=True),
            "tint_ceiling": tint_ceiling(self.config),
        }
