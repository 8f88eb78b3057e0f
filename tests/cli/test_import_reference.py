"""``infovit import-reference``: a reference checkpoint becomes a run folder all commands use."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from infovit.cli.main import main
from infovit.errors import InfovitError
from infovit.training import train
from infovit.training.run import RunFolder, load_model


def _reference_module():
    """The independent re-implementation of the reference model (tests/model)."""
    path = Path(__file__).parents[1] / "model" / "test_reference_import.py"
    spec = importlib.util.spec_from_file_location("_infovit_reference_vit_ib", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    ref_mod = _reference_module()
    ref = ref_mod.make_reference(seed=5)
    path = ref_mod.save_reference(ref, tmp_path_factory.mktemp("ckpt") / "model_best.pth")
    return ref, path


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["import-reference", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "infovit import-reference" in out and "--beta" in out


def test_import_then_load_and_eval(ckpt, tmp_path, capsys):
    ref, path = ckpt
    out = tmp_path / "run"
    rc = main(["import-reference", str(path), "--out", str(out), "--beta", "1.5",
               "--data", "synthetic:grid=4,n_train=32,n_val=16"])  # fmt: skip
    assert rc == 0
    assert "rank 4, hidden 8" in capsys.readouterr().out
    run = RunFolder.open(out)
    meta = run.meta()
    assert meta["imported_from"] == str(path) and meta["beta_known"] is True
    assert meta["ignored_keys"] == ["vit.cls_token"]
    config = run.config()
    assert (config.beta.value, config.beta.convention) == (1.5, "mean")
    assert run.checkpoint_info("last")["imported"] is True and run.has_checkpoint("best")

    model, _ = load_model(out)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref_logits, ref_kl = ref(x)
        got = model.forward_info(x, noise="mean")
    torch.testing.assert_close(got.logits, ref_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.kl, ref_kl, atol=1e-5, rtol=1e-5)

    assert main(["eval", str(out), "--passes", "2", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["variant"] == "ib" and result["kl_per_image"] > 0


def test_unknown_beta_is_recorded(ckpt, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["import-reference", str(ckpt[1]), "--out", str(out)]) == 0
    assert "unknown" in capsys.readouterr().out
    run = RunFolder.open(out)
    assert run.meta()["beta_known"] is False and run.meta()["data_spec_known"] is False
    assert run.config().data.spec.startswith("imagenet100:")
    assert (run.config().beta.value, run.config().beta.objective) == (None, None)  # never 0.0


def test_unknown_beta_shows_as_unknown_everywhere(ckpt, tmp_path, capsys):
    out, data = tmp_path / "run", "synthetic:grid=4,n_train=32,n_val=16"
    assert main(["import-reference", str(ckpt[1]), "--out", str(out), "--data", data]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--passes", "1", "--device", "cpu"]) == 0
    assert "β=unknown" in capsys.readouterr().out
    assert main(["analyze", str(out), "--only", "spectrum", "--out", str(tmp_path / "a")]) == 0
    table = (tmp_path / "a" / "tables" / "spectrum_runs.csv").read_text()
    assert "beta=unknown" in table and "beta=0 " not in table
    with pytest.raises(InfovitError, match="must be known to train"):
        train(RunFolder(out).config(), tmp_path / "again", progress=False)


def test_objective_is_recorded_when_told(ckpt, tmp_path):
    out = tmp_path / "run"
    argv = ["import-reference", str(ckpt[1]), "--out", str(out), "--beta", "1", "--objective",
            "sqrt_kl"]  # fmt: skip
    assert main(argv) == 0
    run = RunFolder.open(out)
    assert run.config().beta.objective == "sqrt_kl" and run.meta()["objective_known"] is True


def test_bad_inputs_are_one_line_errors(ckpt, tmp_path, capsys):
    torch.save({"not": "tensors"}, tmp_path / "bad.pth")
    assert main(["import-reference", str(tmp_path / "bad.pth"), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "state dict" in err
    assert not (tmp_path / "a").exists()  # nothing written for a refused checkpoint

    out = tmp_path / "b"
    assert main(["import-reference", str(ckpt[1]), "--out", str(out)]) == 0
    assert main(["import-reference", str(ckpt[1]), "--out", str(out)]) == 2  # not overwritten
    assert "already exists" in capsys.readouterr().err
    assert main(["import-reference", str(ckpt[1]), "--out", str(tmp_path / "c"),
                 "--img-size", "18"]) == 2  # fmt: skip
    assert "multiple of the patch size" in capsys.readouterr().err


def test_other_image_size_resamples_positions(ckpt, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["import-reference", str(ckpt[1]), "--out", str(out), "--img-size", "24"]) == 0
    assert "resampled from 4x4 to 6x6" in capsys.readouterr().out
    model, config = load_model(out)
    assert config.model.img_size == 24 and model.grid_size == (6, 6)
