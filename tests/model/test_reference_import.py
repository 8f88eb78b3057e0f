"""Importing the paper's public checkpoints: same logits and per-head KL as that code computes.

``RefViTWithHeadIB`` below re-implements the reference model (GitHub ``murphyka/vit_ib``,
models.py) independently of infovit: a timm VisionTransformer with its class token unused
(``pos_embed[:, 1:]``), blocks shared between ``vit.blocks`` and the wrappers ``blocks.N.blk``,
unfused attention, and per-head encoders/decoders looped in Python. Its state dict therefore has
the reference key layout, duplicates included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor, nn

from infovit.errors import InfovitError
from infovit.model.reference_import import (
    import_reference,
    infer_reference_arch,
    read_reference_state,
)

DEPTH, EMBED, HEADS, IMG, PATCH, HIDDEN, RANK, CLASSES = 2, 32, 2, 16, 4, 8, 4, 8


class RefHeadIB(nn.Module):
    """Per-head encoder d→h→2r / decoder r→h→d (or single Linears with hidden=None)."""

    def __init__(self, d: int, r: int, heads: int, hidden: int | None) -> None:
        super().__init__()
        self.r = r

        def mlp(i: int, o: int) -> nn.Module:
            if hidden is None:
                return nn.Linear(i, o)
            return nn.Sequential(nn.Linear(i, hidden), nn.GELU(), nn.Linear(hidden, o))

        self.enc_list = nn.ModuleList([mlp(d, 2 * r) for _ in range(heads)])
        self.dec_list = nn.ModuleList([mlp(r, d) for _ in range(heads)])

    def forward(self, y: Tensor, eps: Tensor | None) -> tuple[Tensor, Tensor]:
        B, H, N, d = y.shape
        outs, kls = [], []
        for h in range(H):  # heads looped in Python, as the reference code does
            flat = y[:, h].reshape(B * N, d)  # [B·N, d]
            mu, logvar = self.enc_list[h](flat).chunk(2, dim=-1)  # [B·N, r] each
            logvar = logvar.clamp(-10.0, 10.0)
            z = mu if eps is None else mu + torch.exp(0.5 * logvar) * eps[h]
            kl = 0.5 * (torch.exp(logvar) + mu.pow(2) - 1.0 - logvar)  # [B·N, r]
            kls.append(kl.sum(-1).reshape(B, N))
            outs.append(self.dec_list[h](z).reshape(B, N, d))
        return torch.stack(outs, dim=1), torch.stack(kls, dim=1)  # [B, H, N, d], [B, H, N]


class RefAttn(nn.Module):
    def __init__(self, attn: nn.Module, ib: RefHeadIB) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.scale = attn.num_heads, attn.head_dim, attn.scale
        self.qkv, self.proj, self.ib = attn.qkv, attn.proj, ib

    def forward(self, x: Tensor, eps: Tensor | None) -> tuple[Tensor, Tensor]:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]  # [B, H, N, d]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)  # explicit softmax
        y, kl = self.ib(attn @ v, eps)
        return self.proj(y.transpose(1, 2).reshape(B, N, C)), kl


class RefBlock(nn.Module):
    def __init__(self, blk: nn.Module) -> None:
        super().__init__()
        self.blk = blk

    def forward(self, x: Tensor, eps: Tensor | None) -> tuple[Tensor, Tensor]:
        y, kl = self.blk.attn(self.blk.norm1(x), eps)
        x = x + y
        return x + self.blk.mlp(self.blk.norm2(x)), kl


class RefViTWithHeadIB(nn.Module):
    def __init__(self, hidden: int | None = HIDDEN, classes: int = CLASSES) -> None:
        super().__init__()
        self.vit = VisionTransformer(
            img_size=IMG, patch_size=PATCH, embed_dim=EMBED, depth=DEPTH, num_heads=HEADS,
            num_classes=classes,
        )  # fmt: skip
        for blk in self.vit.blocks:
            blk.attn = RefAttn(blk.attn, RefHeadIB(EMBED // HEADS, RANK, HEADS, hidden))
        self.blocks = nn.ModuleList([RefBlock(b) for b in self.vit.blocks])

    def forward(self, x: Tensor, eps: list[Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Logits [B, C] and KL [B, L, H, N]; ``eps[l]`` [H, B·N, r] is block l's noise."""
        x = self.vit.patch_embed(x) + self.vit.pos_embed[:, 1:]  # class token unused
        kls = []
        for i, wb in enumerate(self.blocks):
            x, kl = wb(x, None if eps is None else eps[i])
            kls.append(kl)
        x = self.vit.norm(x)  # per token, before the mean
        return self.vit.head(x.mean(dim=1)), torch.stack(kls, dim=1)


def make_reference(seed: int = 0, hidden: int | None = HIDDEN) -> RefViTWithHeadIB:
    """A randomised reference model: every tensor non-trivial, log-variances spread out."""
    torch.manual_seed(seed)
    ref = RefViTWithHeadIB(hidden=hidden)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.ndim > 1 else 0.2))
            if name.endswith("weight") and "norm" in name:
                p.add_(1.0)
        for blk in ref.vit.blocks:
            for enc in blk.attn.ib.enc_list:
                last = enc if hidden is None else enc[-1]
                last.bias[RANK:] = torch.linspace(-3.0, 0.5, RANK)  # σ from e^-1.5 to e^0.25
    return ref.eval()


def save_reference(ref: nn.Module, path: Path, drop: tuple[str, ...] = ()) -> Path:
    state = {k: v for k, v in ref.state_dict().items() if not k.startswith(drop)}
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[RefViTWithHeadIB, Path]:
    ref = make_reference()
    return ref, save_reference(ref, tmp_path_factory.mktemp("ref") / "ref.pth")


def test_reference_layout_has_both_prefixes(reference):
    keys = set(torch.load(reference[1], weights_only=True))
    assert "blocks.1.blk.attn.ib.enc_list.1.2.weight" in keys
    assert "vit.blocks.1.attn.ib.dec_list.0.0.bias" in keys
    assert "vit.blocks.0.attn.qkv.weight" in keys and "blocks.0.blk.attn.qkv.weight" in keys


def test_architecture_read_from_shapes(reference):
    arch = infer_reference_arch(read_reference_state(reference[1]))
    assert (arch.depth, arch.embed_dim, arch.num_heads, arch.head_dim) == (DEPTH, EMBED, HEADS, 16)
    assert (arch.patch_size, arch.img_size, arch.num_classes) == (PATCH, IMG, CLASSES)
    assert (arch.rank, arch.hidden, arch.mlp_ratio) == (RANK, HIDDEN, 4.0)


def _compare(ref: RefViTWithHeadIB, path: Path, atol: float = 1e-5) -> None:
    model = import_reference(path).model
    x = torch.randn(3, 3, IMG, IMG, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref_logits, ref_kl = ref(x)
        out = model.forward_info(x, noise="mean")
        torch.testing.assert_close(out.logits, ref_logits, atol=atol, rtol=1e-5)
        torch.testing.assert_close(out.kl, ref_kl, atol=atol, rtol=1e-5)  # [B, L, H, N]
        assert ref_kl.mean() > 0.1  # channels are open: the comparison is not trivially 0 = 0

        # sampled: the same noise, drawn block by block as [B·N, H, r] like our bottleneck
        torch.manual_seed(7)
        out_s = model.forward_info(x, noise="sample")
        torch.manual_seed(7)
        tokens = x.shape[0] * (IMG // PATCH) ** 2
        eps = [torch.randn(tokens, HEADS, RANK).transpose(0, 1) for _ in range(DEPTH)]
        ref_logits_s, ref_kl_s = ref(x, eps)
        torch.testing.assert_close(out_s.logits, ref_logits_s, atol=atol, rtol=1e-5)
        torch.testing.assert_close(out_s.kl, ref_kl_s, atol=atol, rtol=1e-5)
        assert (ref_logits_s - ref_logits).abs().max() > 1e-3  # the noise does matter


def test_logits_and_kl_equal_reference_code(reference):
    _compare(*reference)


@pytest.mark.parametrize("drop", [("vit.blocks.",), ("blocks.",)], ids=["wrapped-only", "vit-only"])
def test_either_copy_of_the_blocks_suffices(reference, tmp_path, drop):
    ref, _ = reference
    _compare(ref, save_reference(ref, tmp_path / "part.pth", drop=drop))


def test_single_linear_channels(tmp_path):
    ref = make_reference(seed=3, hidden=None)
    path = save_reference(ref, tmp_path / "lin.pth")
    assert infer_reference_arch(read_reference_state(path)).hidden == 0
    _compare(ref, path)


def test_nested_and_ddp_prefixed_state(reference, tmp_path):
    ref, path = reference
    state = {f"module.{k}": v for k, v in torch.load(path, weights_only=True).items()}
    torch.save({"model_state_dict": state, "epoch": 3}, tmp_path / "ddp.pth")
    _compare(ref, tmp_path / "ddp.pth")


def test_missing_bottleneck_keys_are_refused(reference, tmp_path):
    ref, _ = reference
    drop = ("blocks.1.blk.attn.ib.dec_list.1.", "vit.blocks.1.attn.ib.dec_list.1.")
    path = save_reference(ref, tmp_path / "missing.pth", drop=drop)
    with pytest.raises(
        InfovitError, match=r"missing \(4\): blocks\.1\.blk\.attn\.ib\.dec_list\.1\.0\.bias[^;]*$"
    ):
        import_reference(path)


def test_unknown_and_inconsistent_keys_are_refused(reference, tmp_path):
    state = torch.load(reference[1], weights_only=True)
    torch.save({**state, "vit.extra.weight": torch.zeros(2)}, tmp_path / "extra.pth")
    with pytest.raises(InfovitError, match=r"unexpected \(1\): vit\.extra\.weight"):
        import_reference(tmp_path / "extra.pth")
    state["vit.blocks.0.norm1.weight"] = state["vit.blocks.0.norm1.weight"] + 1.0
    torch.save(state, tmp_path / "differ.pth")
    with pytest.raises(InfovitError, match="should hold the same tensor"):
        import_reference(tmp_path / "differ.pth")


def test_not_a_state_dict_is_refused(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(InfovitError, match="does not hold a state dict"):
        read_reference_state(tmp_path / "list.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InfovitError, match="cannot read"):
        read_reference_state(tmp_path / "junk.pth")
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(InfovitError, match=r"vit\.patch_embed\.proj\.weight"):
        import_reference(tmp_path / "other.pth")


def test_num_classes_is_checked(reference):
    with pytest.raises(InfovitError, match="8 classes"):
        import_reference(reference[1], num_classes=100)


class RefAttnNoIB(nn.Module):
    """The code's AttentionWithHeadIB with ib=None (``--no-ib-attn``): zero KL."""

    def __init__(self, attn: nn.Module) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.scale = attn.num_heads, attn.head_dim, attn.scale
        self.qkv, self.proj = attn.qkv, attn.proj

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]  # [B, H, N, d]
        y = (q @ k.transpose(-2, -1)).softmax(dim=-1) @ v  # [B, H, N, d]
        return self.proj(y.transpose(1, 2).reshape(B, N, C)), torch.zeros_like(y[..., 0])


class RefBlockWithAttn(nn.Module):
    def __init__(self, blk: nn.Module) -> None:
        super().__init__()
        self.blk = blk

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.blk.attn(self.blk.norm1(x))
        x = x + y
        return x + self.blk.mlp(self.blk.norm2(x))


class RefBlockWithoutAttn(nn.Module):
    """The code's BlockWithoutAttn: the wrapped block's attention and norm1 are kept, unread."""

    def __init__(self, blk: nn.Module) -> None:
        super().__init__()
        self.blk = blk

    def forward(self, x: Tensor) -> Tensor:
        return x + self.blk.mlp(self.blk.norm2(x))


class RefEndpoint(nn.Module):
    """The code's ViTWithHeadIB around its two endpoints, with their key layout."""

    def __init__(self, variant: str, heads: int = HEADS) -> None:
        super().__init__()
        self.vit = VisionTransformer(img_size=IMG, patch_size=PATCH, embed_dim=EMBED,
                                     depth=DEPTH, num_heads=heads, num_classes=CLASSES)  # fmt: skip
        for blk in self.vit.blocks:
            blk.attn = RefAttnNoIB(blk.attn)
        wrap = RefBlockWithAttn if variant == "vit" else RefBlockWithoutAttn
        self.blocks = nn.ModuleList([wrap(b) for b in self.vit.blocks])

    def forward(self, x: Tensor) -> Tensor:
        x = self.vit.patch_embed(x) + self.vit.pos_embed[:, 1:]  # class token unused
        for wb in self.blocks:
            x = wb(x)
        return self.vit.head(self.vit.norm(x).mean(dim=1))


@pytest.mark.parametrize("variant", ["vit", "no_attn"])
def test_endpoints_import_with_the_codes_logits(tmp_path, variant):
    torch.manual_seed(3)
    ref = RefEndpoint(variant)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    ref.eval()
    path = tmp_path / "endpoint.pth"
    torch.save(ref.state_dict(), path)
    imported = import_reference(path, variant=variant, num_heads=HEADS)
    assert imported.model.variant == variant and imported.arch.rank == 0
    x = torch.randn(3, 3, IMG, IMG)
    with torch.no_grad():
        out = imported.model.forward_info(x)
        torch.testing.assert_close(out.logits, ref(x), atol=1e-5, rtol=1e-5)
    assert out.kl is None
    unread = [k for k in imported.ignored if ".attn." in k or ".norm1." in k]
    assert bool(unread) == (variant == "no_attn")  # BlockWithoutAttn's unread tensors


def test_endpoints_need_to_be_named_and_ib_files_are_not_endpoints(tmp_path):
    ref = RefEndpoint("vit")
    torch.save(ref.state_dict(), tmp_path / "e.pth")
    with pytest.raises(InfovitError, match="say which with --variant vit"):
        import_reference(tmp_path / "e.pth")
    with pytest.raises(InfovitError, match="cannot tell the head count"):
        import_reference(tmp_path / "e.pth", variant="vit")  # width 32: not 64 per head
    torch.save(make_reference().state_dict(), tmp_path / "ib.pth")
    with pytest.raises(InfovitError, match="it is an ib model, not the vit endpoint"):
        import_reference(tmp_path / "ib.pth", variant="vit")


def test_import_reference_cli_writes_endpoint_runs(tmp_path, capsys):
    from infovit.cli.main import main
    from infovit.training.run import RunFolder

    torch.save(RefEndpoint("no_attn").state_dict(), tmp_path / "e.pth")
    out = tmp_path / "run"
    data = "synthetic:grid=4,n_train=32,n_val=16"
    argv = ["import-reference", str(tmp_path / "e.pth"), "--out", str(out), "--variant",
            "no_attn", "--num-heads", str(HEADS), "--data", data]  # fmt: skip
    assert main(argv) == 0
    assert "no_attn (an endpoint" in capsys.readouterr().out
    assert RunFolder(out).config().model.variant == "no_attn"
    assert main(["eval", str(out), "--passes", "1", "--device", "cpu"]) == 0
