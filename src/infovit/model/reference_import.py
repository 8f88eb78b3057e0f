"""Convert checkpoints of the paper's public training code (``murphyka/vit_ib``) into InfoViT.

That code wraps a timm ViT (``vit.*`` keys, class token present but unused: its forward adds
``pos_embed[:, 1:]``) and gives every block a per-head bottleneck ``HeadwiseVIBED`` whose heads are
separate ``nn.Linear``/``nn.Sequential(Linear, GELU, Linear)`` modules in Python lists. Its blocks
are held twice — as ``vit.blocks.N`` and wrapped as ``blocks.N.blk`` — so every block tensor may
appear under both prefixes; the forward runs the ``blocks.N.blk`` copy, which is preferred here.

The code's two endpoints import too (Murphy, arXiv 2602.04784, §4.1): ``--no-ib-attn`` runs (the
same wrapper with no bottleneck: the unmodified ViT, infovit ``vit``) and models whose blocks are
``BlockWithoutAttn`` (attention skipped: infovit ``no_attn``; their attention and ``norm1``
tensors are still in the file but never read). Both have no bottleneck tensors and the same keys,
so the file cannot tell them apart: the caller says which (``variant``).

The architecture is read from tensor shapes, and every tensor of the model must be filled and every
tensor of the file accounted for: a checkpoint that does not fit exactly is refused, never loaded
halfway. Our bottleneck stacks the heads: ``weight`` [H, fan_in, fan_out] is their per-head Linear
weight transposed, ``bias`` [H, 1, fan_out].
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from infovit.errors import InfovitError
from infovit.model.bottleneck import BottleneckConfig
from infovit.model.factory import ModelConfig, build_model, read_state_dict
from infovit.model.vit import InfoViT

__all__ = [
    "REFERENCE_VARIANTS",
    "ImportedReference",
    "ReferenceArch",
    "convert_reference_state",
    "import_reference",
    "infer_reference_arch",
    "read_reference_state",
]

# Prefixes added by DistributedDataParallel and torch.compile wrappers.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Tensors of their model that its forward never reads.
_IGNORABLE = ("vit.cls_token",)
_BLOCK_KEY = re.compile(r"^(?:vit\.blocks|blocks)\.(\d+)\.")
# BlockWithoutAttn keeps the wrapped block's attention and norm1, and never reads them.
_UNREAD_WITHOUT_ATTN = re.compile(r"^(?:vit\.blocks\.\d+|blocks\.\d+\.blk)\.(?:attn|norm1)\.")
_IB_KEY = re.compile(r"\.attn\.ib\.(enc_list|dec_list)\.(\d+)\.(?:(\d+)\.)?(weight|bias)$")


@dataclass(frozen=True)
class ReferenceArch:
    """The architecture of a reference checkpoint, as read from its tensor shapes."""

    depth: int
    embed_dim: int
    num_heads: int
    head_dim: int
    patch_size: int
    grid: int  # patches per side of the grid its pos_embed was trained on
    num_classes: int
    mlp_ratio: float
    rank: int  # r (0 for the endpoints)
    hidden: int  # h; 0 = single linear encoder/decoder (their hidden_enc=None)
    variant: str = "ib"  # ib | vit (--no-ib-attn) | no_attn (BlockWithoutAttn)

    @property
    def img_size(self) -> int:
        return self.grid * self.patch_size


@dataclass
class ImportedReference:
    """An InfoViT holding a reference checkpoint's weights, and how it was obtained."""

    model: InfoViT
    config: ModelConfig
    arch: ReferenceArch
    ignored: list[str] = field(default_factory=list)  # source keys not used (known-unused)
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """JSON-ready description for the run folder's ``run.json``."""
        return {
            "reference_arch": asdict(self.arch),
            "ignored_keys": self.ignored,
            "import_notes": self.notes,
        }


def read_reference_state(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a ``.pth`` file from the reference code, without unpickling arbitrary objects.

    Accepts a bare state dict or one nested under ``model``/``state_dict``/``model_state_dict``;
    strips ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) prefixes.
    """
    obj = read_state_dict(path)  # weights_only loading, nested dicts unwrapped
    state: dict[str, Tensor] = {}
    for key, value in obj.items():
        name = str(key)
        stripped = True
        while stripped:
            stripped = False
            for prefix in _WRAPPER_PREFIXES:
                if name.startswith(prefix):
                    name, stripped = name[len(prefix) :], True
        state[name] = value
    return state


def _get(state: dict[str, Tensor], key: str) -> Tensor:
    if key not in state:
        raise InfovitError(
            f"checkpoint lacks {key!r}; is it a state dict of the paper's ViTWithHeadIB model?"
        )
    return state[key]


def _block_source(state: dict[str, Tensor], block: int, rest: str) -> str | None:
    """The source key of block tensor ``rest``: the wrapped copy the forward runs, else vit's."""
    for key in (f"blocks.{block}.blk.{rest}", f"vit.blocks.{block}.{rest}"):
        if key in state:
            return key
    return None


def _ib_layout(state: dict[str, Tensor], depth: int) -> dict[int, dict[tuple[str, int], dict]]:
    """Per block: {(enc_list|dec_list, head): {layer index or None: {weight|bias: key}}}."""
    layout: dict[int, dict[tuple[str, int], dict]] = {b: {} for b in range(depth)}
    for key in state:
        m_block, m_ib = _BLOCK_KEY.match(key), _IB_KEY.search(key)
        if not (m_block and m_ib):
            continue
        block = int(m_block.group(1))
        if block not in layout:
            continue
        wrapped = key.startswith("blocks.")
        which, head, layer, kind = m_ib.groups()
        slot = layout[block].setdefault((which, int(head)), {})
        entry = slot.setdefault(None if layer is None else int(layer), {})
        if kind not in entry or wrapped:  # prefer the copy the forward runs
            entry[kind] = key
    return layout


REFERENCE_VARIANTS = ("auto", "ib", "vit", "no_attn")


def infer_reference_arch(
    state: dict[str, Tensor], variant: str = "auto", num_heads: int | None = None
) -> ReferenceArch:
    """Depth, width, heads, patch, grid, classes and bottleneck shape from tensor shapes.

    ``variant``: ``auto`` (``ib`` when the file has bottleneck tensors), or the endpoint the
    file holds, ``vit`` or ``no_attn``. The head count of a model without bottlenecks is not in
    its shapes: ``num_heads``, else timm's 64-wide heads (width / 64).
    """
    if variant not in REFERENCE_VARIANTS:
        raise InfovitError(f"variant must be one of {REFERENCE_VARIANTS}, got {variant!r}")
    proj = _get(state, "vit.patch_embed.proj.weight")  # [D, 3, p, p]
    if proj.ndim != 4 or proj.shape[2] != proj.shape[3]:
        raise InfovitError(f"vit.patch_embed.proj.weight has shape {tuple(proj.shape)}")
    if proj.shape[1] != 3:
        raise InfovitError(f"only RGB models can be imported; this one has {proj.shape[1]} inputs")
    embed_dim, patch = int(proj.shape[0]), int(proj.shape[2])
    pos = _get(state, "vit.pos_embed")  # [1, 1 + P, D]: their forward adds pos_embed[:, 1:]
    grid = math.isqrt(max(pos.shape[1] - 1, 0))
    if pos.ndim != 3 or grid < 1 or grid * grid != pos.shape[1] - 1:
        raise InfovitError(
            f"vit.pos_embed has shape {tuple(pos.shape)}; the reference code adds "
            "pos_embed[:, 1:], which needs 1 + a square number of positions"
        )
    head = _get(state, "vit.head.weight")  # [C, D]
    blocks = {int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k))}
    depth = max(blocks) + 1 if blocks else 0
    if depth == 0 or blocks != set(range(depth)):
        raise InfovitError(f"checkpoint has blocks {sorted(blocks)}; expected 0..depth-1")
    fc1_key = _block_source(state, 0, "mlp.fc1.weight")
    if fc1_key is None:
        raise InfovitError("checkpoint lacks the MLP of block 0 (blocks.0.blk.mlp.fc1.weight)")
    mlp_ratio = state[fc1_key].shape[0] / embed_dim

    def arch(heads: int, rank: int, hidden: int, kind: str) -> ReferenceArch:
        return ReferenceArch(
            depth=depth,
            embed_dim=embed_dim,
            num_heads=heads,
            head_dim=embed_dim // heads,
            patch_size=patch,
            grid=grid,
            num_classes=int(head.shape[0]),
            mlp_ratio=float(mlp_ratio),
            rank=rank,
            hidden=hidden,
            variant=kind,
        )

    heads0 = _ib_layout(state, 1)[0]
    enc_heads = sorted(h for which, h in heads0 if which == "enc_list")
    if variant in ("vit", "no_attn"):
        if enc_heads:
            raise InfovitError(
                f"checkpoint has head bottlenecks; it is an ib model, not the {variant} endpoint "
                "(leave out --variant)"
            )
        heads = num_heads or (embed_dim // 64 if embed_dim % 64 == 0 else 0)
        if heads < 1 or embed_dim % heads:
            raise InfovitError(
                f"cannot tell the head count of width {embed_dim} (not timm's 64 per head); "
                "pass --num-heads"
            )
        return arch(heads, rank=0, hidden=0, kind=variant)
    if not enc_heads:
        raise InfovitError(
            "checkpoint has no bottleneck (no 'blocks.0.blk.attn.ib.enc_list.*' tensors): an "
            "endpoint of the paper's code; say which with --variant vit (a --no-ib-attn run) or "
            "--variant no_attn (BlockWithoutAttn blocks), the file cannot tell them apart"
        )
    if num_heads is not None and num_heads != len(enc_heads):
        raise InfovitError(
            f"--num-heads {num_heads} does not match the checkpoint's {len(enc_heads)} "
            "bottleneck heads"
        )
    num_heads = len(enc_heads)
    if enc_heads != list(range(num_heads)) or embed_dim % num_heads:
        raise InfovitError(f"block 0 has bottleneck heads {enc_heads} for width {embed_dim}")
    enc0 = heads0[("enc_list", 0)]
    dec0 = heads0.get(("dec_list", 0), {})
    if set(enc0) == {None}:  # single Linear(d, 2r): their hidden_enc=None
        rank2, hidden = state[enc0[None]["weight"]].shape[0], 0
        dec_hidden = 0 if set(dec0) == {None} else -1
    elif set(enc0) == {0, 2}:  # Sequential(Linear(d, h), GELU, Linear(h, 2r))
        rank2 = state[enc0[2]["weight"]].shape[0]
        hidden = int(state[enc0[0]["weight"]].shape[0])
        dec_hidden = int(state[dec0[0]["weight"]].shape[0]) if set(dec0) == {0, 2} else -1
    else:
        raise InfovitError(f"unrecognised encoder layers {sorted(map(str, enc0))} in block 0")
    if dec_hidden != hidden:
        raise InfovitError(
            "encoder and decoder of the bottleneck have different hidden widths or layer "
            f"counts (block 0 head 0: encoder {hidden}, decoder {dec_hidden}); infovit uses one"
        )
    if rank2 % 2:
        raise InfovitError(f"encoder output has odd width {rank2}; expected 2r (μ and log σ²)")
    return arch(num_heads, rank=int(rank2 // 2), hidden=hidden, kind="ib")


def convert_reference_state(
    state: dict[str, Tensor], model: InfoViT, arch: ReferenceArch
) -> tuple[dict[str, Tensor], list[str]]:
    """Reference tensors re-keyed and re-laid for ``model``; also the source keys left unused.

    Raises InfovitError listing every model tensor that cannot be filled, every source tensor
    that is neither used nor a known-unused one, and every shape that does not fit.
    """
    own = model.state_dict()
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    layout = _ib_layout(state, arch.depth)
    for name in own:
        m = re.match(r"^blocks\.(\d+)\.(.+)$", name)
        if m and ".attn.bottleneck." in name:
            block = int(m.group(1))
            mb = re.match(r"^attn\.bottleneck\.(enc|dec)\.(\d+)\.(weight|bias)$", m.group(2))
            if mb is None:
                missing.append(name)
                continue
            which, layer, kind = mb.group(1) + "_list", int(mb.group(2)), mb.group(3)
            src_layer = None if arch.hidden == 0 else 2 * layer
            keys = []
            for h in range(arch.num_heads):
                key = layout[block].get((which, h), {}).get(src_layer, {}).get(kind)
                if key is None:
                    where = "" if src_layer is None else f"{src_layer}."
                    missing.append(f"blocks.{block}.blk.attn.ib.{which}.{h}.{where}{kind}")
                keys.append(key)
            used.update(k for k in keys if k is not None)
            if None in keys:
                continue
            tensors = [state[k] for k in keys]
            if kind == "weight":
                value = torch.stack([t.t() for t in tensors])  # [H, fan_in, fan_out]
            else:
                value = torch.stack(tensors).unsqueeze(1)  # [H, 1, fan_out]
            out[name] = value
        elif m:
            key = _block_source(state, int(m.group(1)), m.group(2))
            if key is None:
                missing.append(f"blocks.{m.group(1)}.blk.{m.group(2)}")
                continue
            used.add(key)
            out[name] = state[key]
        elif name == "pos_embed":
            used.add("vit.pos_embed")
            out[name] = _pos_embed(state["vit.pos_embed"][:, 1:], arch, model)  # [1, P, D]
        else:
            key = f"vit.{name}"
            if key not in state:
                missing.append(key)
                continue
            used.add(key)
            out[name] = state[key]

    unexpected: list[str] = []
    ignored: list[str] = []
    for key in state:
        if key in used:
            continue
        twin = _twin(key)
        if key in _IGNORABLE or (arch.variant == "no_attn" and _UNREAD_WITHOUT_ATTN.search(key)):
            ignored.append(key)
        elif twin is not None and twin in used:
            if state[twin].shape != state[key].shape or not torch.equal(state[twin], state[key]):
                raise InfovitError(
                    f"{key} and {twin} should hold the same tensor (their code shares the "
                    "block between vit.blocks and blocks) but differ; the checkpoint is not "
                    "from the reference code"
                )
        else:
            unexpected.append(key)
    wrong = [
        f"{k} {tuple(v.shape)} (model: {tuple(own[k].shape)})"
        for k, v in out.items()
        if v.shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        parts = [
            f"{label} ({len(items)}): {', '.join(items[:6])}{' …' if len(items) > 6 else ''}"
            for label, items in (
                ("missing", sorted(set(missing))),
                ("unexpected", sorted(unexpected)),
                ("wrong shape", wrong),
            )
            if items
        ]
        raise InfovitError(
            "checkpoint does not fit the reference architecture: " + "; ".join(parts)
        )
    return {k: v.detach().to(own[k].dtype).contiguous() for k, v in out.items()}, sorted(ignored)


def _twin(key: str) -> str | None:
    """The other name of a block tensor (``vit.blocks.N.X`` ⇄ ``blocks.N.blk.X``)."""
    m = re.match(r"^vit\.blocks\.(\d+)\.(.+)$", key)
    if m:
        return f"blocks.{m.group(1)}.blk.{m.group(2)}"
    m = re.match(r"^blocks\.(\d+)\.blk\.(.+)$", key)
    if m:
        return f"vit.blocks.{m.group(1)}.{m.group(2)}"
    return None


def _pos_embed(patch_pos: Tensor, arch: ReferenceArch, model: InfoViT) -> Tensor:
    """Patch position embeddings [1, P, D], resampled when the model's grid differs."""
    if patch_pos.shape[1] == model.num_patches:
        return patch_pos
    from timm.layers import resample_abs_pos_embed

    return resample_abs_pos_embed(patch_pos, new_size=list(model.grid_size), num_prefix_tokens=0)


def import_reference(
    path: str | Path,
    img_size: int | None = None,
    num_classes: int | None = None,
    variant: str = "auto",
    num_heads: int | None = None,
) -> ImportedReference:
    """Load a reference checkpoint into an InfoViT with exactly its weights: ``ib``, or the
    endpoint ``variant`` ``vit`` / ``no_attn`` (see the module docstring).

    ``img_size`` other than the trained one resamples the position embeddings (the reference
    code itself cannot run at another size); ``num_classes`` is only checked against the head.
    """
    state = read_reference_state(path)
    arch = infer_reference_arch(state, variant, num_heads)
    notes: list[str] = []
    if num_classes is not None and num_classes != arch.num_classes:
        raise InfovitError(
            f"--num-classes {num_classes} does not match the checkpoint's head, which has "
            f"{arch.num_classes} classes"
        )
    size = arch.img_size if img_size is None else img_size
    if size < arch.patch_size or size % arch.patch_size:
        raise InfovitError(f"--img-size must be a multiple of the patch size {arch.patch_size}")
    if size != arch.img_size:
        notes.append(
            f"position embeddings resampled from {arch.grid}x{arch.grid} to "
            f"{size // arch.patch_size}x{size // arch.patch_size} patches"
        )
    config = ModelConfig(
        base="vit_tiny_patch16_224",
        variant=arch.variant,
        img_size=size,
        patch_size=arch.patch_size,
        depth=arch.depth,
        embed_dim=arch.embed_dim,
        num_heads=arch.num_heads,
        mlp_ratio=arch.mlp_ratio,
        num_classes=arch.num_classes,
        bottleneck=(
            BottleneckConfig(rank=arch.rank, hidden=arch.hidden)
            if arch.variant == "ib"
            else BottleneckConfig()
        ),
    )
    model = build_model(config, load_weights=False)
    converted, ignored = convert_reference_state(state, model, arch)
    model.load_state_dict(converted, strict=True)
    return ImportedReference(
        model=model.eval(), config=config, arch=arch, ignored=ignored, notes=notes
    )
