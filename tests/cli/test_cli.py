"""The command line: help with examples everywhere, one-line errors, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infovit.cli.main import build_parser, main

TINY = [
    "--model.depth", "1", "--model.embed_dim", "32", "--model.num_heads", "2",
    "--model.bottleneck.rank", "2", "--model.bottleneck.hidden", "0",
    "--data.spec", "synthetic:grid=4,n_train=64,n_val=32", "--data.batch_size", "32",
    "--optim.epochs", "1", "--optim.device", "cpu",
]  # fmt: skip


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


def test_every_command_has_help_with_examples(capsys):
    commands = _commands()
    assert {"train", "eval", "demo"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "example" in out.lower(), name


def test_python_dash_m_entry_point():
    res = subprocess.run(
        [sys.executable, "-m", "infovit", "--help"], capture_output=True, text=True
    )
    assert res.returncode == 0 and "train" in res.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--beta.value", "-1"], "beta.value"),
        (["--beta.value", "nan"], "beta.value"),
        (["--model.base", "vit_does_not_exist"], "unknown timm model"),
        (["--model.base", "resnet18"], "not a timm VisionTransformer"),
        (["--data.spec", "imagefolder:/nonexistent/folder"], "does not exist"),
    ],
)
def test_bad_input_one_line_error_nothing_written(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--quiet", *TINY, *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("infovit: error:") and message in err and "\n" not in err
    assert not out.exists() or not any(out.iterdir())


def test_train_eval_resume_round_trip(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--quiet", *TINY]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--passes", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passes"] == 3 and 0 <= result["top1"] <= 100 and result["kl_per_image"] > 0
    assert main(["eval", str(out), "--noise", "mean"]) == 0
    assert "top-1" in capsys.readouterr().out
    assert main(["train", "--resume", str(out), "--quiet"]) == 0  # finished: nothing to do
    assert main(["train", "--resume", str(out), "--out", "x"]) == 2
    assert main(["eval", str(tmp_path)]) == 2  # not a run folder


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--out", str(out), "--quiet", *TINY])
    (out / "checkpoints" / "best" / "model.safetensors").write_bytes(b"garbage")
    assert main(["eval", str(out)]) == 2
    assert "is damaged" in capsys.readouterr().err


def test_worker_wrapped_errors_stay_one_line():
    from infovit.cli.main import one_line
    from infovit.errors import InfovitError

    wrapped = InfovitError(
        "Caught InfovitError in DataLoader worker process 0.\nOriginal Traceback:\n  File x\n"
        "infovit.errors.InfovitError: cannot read image 'a.jpg'"
    )
    assert one_line(wrapped) == "cannot read image 'a.jpg'"
