"""InfoViT's science: timm equivalence, independence without attention, patch voting, grads."""

from __future__ import annotations

import pytest
import timm
import torch
from timm.layers import Attention

from infovit.errors import InfovitError
from infovit.model import BottleneckConfig, IBAttention, ModelConfig, build_model
from infovit.model.registry import registered_names


def test_attention_without_bottleneck_equals_timm():
    torch.manual_seed(0)
    ref = Attention(dim=24, num_heads=3, qkv_bias=True).eval()
    ours = IBAttention(Attention(dim=24, num_heads=3, qkv_bias=True), bottleneck=None).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 7, 24)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
    ours.fused_attn = False  # the explicit-softmax path used for attention maps agrees too
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)


def test_vit_variant_matches_timm_vit_with_same_weights(make_model):
    model = make_model("vit").eval()
    ref = timm.create_model(
        "vit_tiny_patch16_224",
        img_size=16,
        patch_size=4,
        num_classes=5,
        class_token=False,
        global_pool="avg",
        fc_norm=False,
        depth=4,
    ).eval()
    ref.load_state_dict(model.state_dict())
    x = torch.randn(3, 3, 16, 16)
    # timm: norm every token, then avg-pool; ours: same order → identical features and logits
    torch.testing.assert_close(model.forward_features(x), ref.forward_features(x))
    torch.testing.assert_close(model(x), ref(x), rtol=1e-5, atol=1e-5)


def test_no_attn_patch_outputs_are_independent(make_model):
    model = make_model("no_attn").eval()
    x = torch.randn(1, 3, 16, 16)

    def patch_logits(img: torch.Tensor) -> torch.Tensor:
        return model.forward_info(img, return_patch_logits=True).patch_logits[0]  # [P, C]

    jac = torch.autograd.functional.jacobian(patch_logits, x)  # [P, C, 1, 3, 16, 16]
    jac = jac[:, :, 0].abs().sum(dim=(1, 2))  # [P, 16, 16]
    for i in range(16):
        r, c = divmod(i, 4)
        own = torch.zeros(16, 16, dtype=torch.bool)
        own[4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = True
        assert jac[i][~own].max() == 0  # no pixel outside patch i moves its logits
        assert jac[i][own].max() > 0


def test_ib_patch_outputs_do_depend_on_other_patches(make_model):
    model = make_model("ib").eval().set_noise("mean")
    x = torch.randn(1, 3, 16, 16)
    f = lambda img: model.forward_info(img, return_patch_logits=True).patch_logits[0, 0]  # noqa: E731
    jac = torch.autograd.functional.jacobian(f, x)[:, 0]  # [C, 3, 16, 16]
    assert jac[..., 8:, 8:].abs().max() > 0


@pytest.mark.parametrize("variant", ["ib", "no_attn", "vit"])
def test_image_logit_is_mean_of_patch_logits(make_model, variant):
    model = make_model(variant, class_token=True, reg_tokens=2).eval().set_noise("mean")
    out = model.forward_info(torch.randn(2, 3, 16, 16), return_patch_logits=True)
    assert out.patch_logits.shape == (2, 16, 5)  # prefix tokens excluded
    torch.testing.assert_close(out.patch_logits.mean(1), out.logits, rtol=1e-5, atol=1e-6)


def test_record_shapes_and_kl_per_image(make_model):
    model = make_model("ib", class_token=True).eval()
    out = model.forward_info(torch.randn(2, 3, 16, 16), return_posterior=True, return_attn=True)
    assert out.kl.shape == (2, 4, 3, 17)  # [B, L, H, T] incl. the class token
    assert out.mu.shape == out.logvar.shape == (2, 4, 3, 17, 4)
    assert out.attn.shape == (2, 4, 3, 17, 17)
    torch.testing.assert_close(out.attn.sum(-1), torch.ones(2, 4, 3, 17))
    torch.testing.assert_close(out.kl_per_image(), out.kl.sum((1, 2, 3)))
    assert all(v is None for v in vars(model.blocks[0].attn).values() if torch.is_tensor(v))


def test_eval_noise_choice(make_model):
    model = make_model("ib").eval()
    with torch.no_grad():
        for blk in model.blocks:
            blk.attn.bottleneck.enc[-1].bias[..., 4:] = 0.0  # σ = 1: noise is visible
    x = torch.randn(2, 3, 16, 16)
    assert not torch.equal(model(x), model(x))  # sampling by default, as the paper
    model.set_noise("mean")
    assert torch.equal(model(x), model(x))
    assert not torch.equal(model.forward_info(x, noise="sample").logits, model(x))


@pytest.mark.parametrize("variant", ["ib", "no_attn", "vit"])
def test_every_parameter_receives_a_gradient(make_model, variant):
    # A class token cannot reach anything without attention, so only the others get one.
    model = make_model(variant, class_token=variant != "no_attn").train()
    out = model.forward_info(torch.randn(2, 3, 16, 16))
    loss = out.logits.logsumexp(-1).sum() + out.kl_per_image().sum()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_no_weight_decay_names_paper_groups(make_model):
    model = make_model("ib")
    names = model.no_weight_decay()
    assert all(".bottleneck." in n for n in names - {"cls_token", "reg_token"})
    assert "pos_embed" not in names  # the paper decays position embeddings
    assert sum(".bottleneck." in n for n in names) == 4 * 8  # 4 blocks × (4 enc + 4 dec) params


def test_registered_in_timm():
    names = registered_names()
    assert "infovit_ib_tiny_patch16_224" in timm.list_models("infovit_*")
    assert set(names) <= set(timm.list_models("infovit_*"))
    model = timm.create_model(
        "infovit_ib_tiny_patch4_32", num_classes=10, bottleneck={"rank": 2, "hidden": 0}
    )
    assert model.num_classes == 10 and model.grid_size == (8, 8)
    assert model.blocks[0].attn.bottleneck.config.rank == 2


def test_backbone_weights_round_trip_through_timm(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    timm_model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=4, num_classes=7)
    path = tmp_path / "w.safetensors"
    save_file(timm_model.state_dict(), str(path))
    for variant in ("ib", "no_attn", "vit"):
        cfg = ModelConfig(
            variant=variant, img_size=32, patch_size=4, num_classes=7, weights=str(path)
        )
        model = build_model(cfg)
        own = model.state_dict()
        torch.testing.assert_close(
            own["blocks.3.mlp.fc1.weight"], timm_model.blocks[3].mlp.fc1.weight
        )
        # class token dropped: patch position embeddings are the source's patch entries
        torch.testing.assert_close(own["pos_embed"], timm_model.pos_embed[:, 1:])
    # another grid: position embeddings are resampled, not refused
    model = build_model(ModelConfig(img_size=48, patch_size=4, num_classes=7, weights=str(path)))
    assert model.pos_embed.shape == (1, 144, 192)


def test_bad_models_are_refused():
    with pytest.raises(InfovitError, match="unknown timm model"):
        build_model(ModelConfig(base="vit_nonexistent_model"))
    with pytest.raises(InfovitError, match="not a timm VisionTransformer"):
        build_model(ModelConfig(base="resnet18"))
    with pytest.raises(InfovitError, match="unknown variant"):
        build_model(ModelConfig(variant="bogus"))
    with pytest.raises(InfovitError, match="rank"):
        build_model(ModelConfig(bottleneck=BottleneckConfig(rank=0)))
