"""torch.compile on CPU: the compiled training forward gives eager's outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from infovit.model import BottleneckConfig, ModelConfig, build_model
from infovit.training import load_config, train
from infovit.training.trainer import _Forward

try:  # torch.compile needs a working C++ toolchain for its CPU kernels
    torch.compile(lambda x: x + 1)(torch.zeros(1))
    COMPILES = True
except Exception:  # any failure to build a kernel means: not on this machine
    COMPILES = False

needs_compile = pytest.mark.skipif(not COMPILES, reason="torch.compile does not work here")


@needs_compile
@pytest.mark.parametrize(("variant", "mode"), [("vit", "train"), ("ib", "eval")])
def test_compiled_forward_and_backward_match_eager(variant, mode):
    """``vit`` in training mode; the fused ``ib`` channel with its mean (training samples
    noise, which inductor draws from its own generator, so only μ compares exactly)."""
    torch.manual_seed(0)
    channel = BottleneckConfig(rank=4, hidden=8)
    cfg = ModelConfig(variant=variant, depth=1, embed_dim=32, num_heads=2, img_size=16,
                      patch_size=4, num_classes=5, bottleneck=channel)  # fmt: skip
    eager = build_model(cfg)
    compiled = build_model(cfg)
    compiled.load_state_dict(eager.state_dict())
    for m in (eager, compiled):
        m.train(mode == "train").set_noise("mean")
    x = torch.randn(6, 3, 16, 16)
    fa, fb = _Forward(eager), torch.compile(_Forward(compiled))
    (la, ka), (lb, kb) = fa(x), fb(x)
    torch.testing.assert_close(lb, la, rtol=1e-4, atol=1e-5)
    if ka is not None:
        torch.testing.assert_close(kb, ka, rtol=1e-4, atol=1e-5)
    (la.square().mean() + (0 if ka is None else ka.mean())).backward()
    (lb.square().mean() + (0 if kb is None else kb.mean())).backward()
    for (name, pa), pb in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        if pa.grad is not None:
            torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-3, atol=1e-6, msg=name)


@needs_compile
def test_training_with_optim_compile(tmp_path, tiny_overrides):
    cfg = load_config(None, [*tiny_overrides, "--optim.compile", "true", "--optim.epochs", "1"])
    run = train(cfg, tmp_path / "run", progress=False)
    record = run.read_metrics()[-1]
    assert torch.isfinite(torch.tensor(record["train_loss"])) and record["val_kl_per_image"] > 0
    assert run.config().optim.compile is True
