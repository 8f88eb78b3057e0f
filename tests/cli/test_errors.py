"""Every bad input of the catalogue (docs/errors.md) is a one-line error, and creates nothing.

Each case runs ``infovit`` in-process and checks: exit code 2, exactly one line on stderr
starting with ``infovit: error:``, the expected words in it, and no run folder left behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infovit.cli.main import main
from infovit.data.checks import check_model_fits_data, check_same_classes
from infovit.errors import InfovitError
from infovit.training import load_config, train

CATALOGUE = Path(__file__).parents[2] / "docs" / "errors.md"

# Trains in well under a second: every train case must fail before any of it runs.
TINY = [
    "--model.depth", "1", "--model.embed_dim", "32", "--model.num_heads", "2",
    "--model.bottleneck.rank", "2", "--model.bottleneck.hidden", "0",
    "--data.spec", "synthetic:grid=4,n_train=64,n_val=32", "--data.batch_size", "32",
    "--optim.epochs", "1", "--optim.device", "cpu",
]  # fmt: skip
TRAIN = ["train", "--out", "{out}", "--quiet", *TINY]
# A β ladder of two milestones, no ramp (each case breaks one part of it).
LADDER = ["--beta.schedule", "ladder", "--beta.milestones", "[0.1,1]", "--beta.warmup_epochs",
          "0", "--beta.hold_epochs", "4"]  # fmt: skip
# An image-folder run: 16 px images in 4-px patches, small batches, no worker processes.
FOLDER = ["--model.img_size", "16", "--model.patch_size", "4", "--data.augment", "none",
          "--data.batch_size", "2", "--data.workers", "0"]  # fmt: skip


@dataclass
class Case:
    id: str
    argv: list[str]
    expect: str
    yaml: str | None = None  # written to {cfg}
    marks: list = field(default_factory=list)


C = Case
CASES = [
    # --- config types
    C(
        "int-from-text",
        [*TRAIN, "--data.batch_size", "abc"],
        "data.batch_size must be an integer, got 'abc'",
    ),
    C(
        "int-from-fraction",
        [*TRAIN, "--optim.epochs", "1.5"],
        "optim.epochs must be an integer, got 1.5",
    ),
    C(
        "int-from-bool",
        [*TRAIN, "--optim.epochs", "true"],
        "optim.epochs must be an integer, got true",
    ),
    C(
        "float-from-bool",
        [*TRAIN, "--beta.value", "true"],
        "beta.value must be a number or null, got true",
    ),
    C("float-from-text", [*TRAIN, "--optim.lr", "fast"], "optim.lr must be a number, got 'fast'"),
    C("float-not-finite", [*TRAIN, "--optim.lr", "nan"], "optim.lr must be a finite number"),
    C(
        "bool-from-int",
        [*TRAIN, "--model.class_token", "1"],
        "model.class_token must be true or false, got 1",
    ),
    C(
        "null-not-optional",
        [*TRAIN, "--optim.epochs", "null"],
        "optim.epochs must be an integer, got null",
    ),
    C(
        "text-from-yaml-bool",
        ["train", "{cfg}", "--out", "{out}"],
        "optim.amp must be a string, got false",
        yaml="optim: {amp: off}\n",
    ),
    C(
        "text-from-number",
        ["train", "{cfg}", "--out", "{out}"],
        "model.base must be a string, got 5",
        yaml="model: {base: 5}\n",
    ),
    C(
        "section-scalar",
        ["train", "{cfg}", "--out", "{out}"],
        "config section 'data' must be a mapping",
        yaml="data: 5\n",
    ),
    C(
        "section-list",
        ["train", "{cfg}", "--out", "{out}"],
        "config section 'optim' must be a mapping",
        yaml="optim: [1, 2]\n",
    ),
    C(
        "nested-section-scalar",
        [*TRAIN, "--model.bottleneck", "8"],
        "config section 'model.bottleneck' must be a mapping",
    ),
    C(
        "override-into-scalar",
        ["train", "{cfg}", "--out", "{out}", "--data.batch_size", "8"],
        "which the config gives as the plain value 5",
        yaml="data: 5\n",
    ),
    C("unknown-option", [*TRAIN, "--optim.epoch", "3"], "did you mean 'epochs'?"),
    C(
        "unknown-section",
        ["train", "{cfg}", "--out", "{out}"],
        "unknown config section(s) ['trainer']",
        yaml="trainer: {epochs: 3}\n",
    ),
    C("override-without-value", [*TRAIN, "--beta.value"], "override --beta.value needs a value"),
    C("config-file-missing", ["train", "{tmp}/nope.yaml", "--out", "{out}"], "does not exist"),
    C("config-file-folder", ["train", "{tmp}", "--out", "{out}"], "is a folder; give a YAML file"),
    C(
        "config-file-not-yaml",
        ["train", "{cfg}", "--out", "{out}"],
        "is not valid YAML at line 3, column 10",
        yaml="model:\n  base: [vit\n  variant: ib\n",
    ),
    C(
        "config-file-not-mapping",
        ["train", "{cfg}", "--out", "{out}"],
        "must hold a mapping of sections",
        yaml="- a list\n",
    ),
    # --- config ranges
    C("epochs-zero", [*TRAIN, "--optim.epochs", "0"], "optim.epochs must be ≥ 1"),
    C("lr-zero", [*TRAIN, "--optim.lr", "0"], "optim.lr must be > 0"),
    C(
        "weight-decay-negative",
        [*TRAIN, "--optim.weight_decay", "-0.1"],
        "optim.weight_decay must be ≥ 0",
    ),
    C(
        "warmup-negative",
        [*TRAIN, "--optim.warmup_epochs", "-1"],
        "optim.warmup_epochs must be ≥ 0",
    ),
    C(
        "min-lr-above-lr",
        [*TRAIN, "--optim.min_lr", "1"],
        "optim.min_lr (1.0) must not exceed optim.lr",
    ),
    C("grad-clip-negative", [*TRAIN, "--optim.grad_clip", "-1"], "optim.grad_clip must be > 0"),
    C("batch-size-zero", [*TRAIN, "--data.batch_size", "0"], "data.batch_size must be ≥ 1"),
    C("workers-negative", [*TRAIN, "--data.workers", "-1"], "data.workers must be ≥ 0"),
    C(
        "optim-eval-passes-zero",
        [*TRAIN, "--optim.eval_passes", "0"],
        "optim.eval_passes must be ≥ 1",
    ),
    C("seed-negative", [*TRAIN, "--optim.seed", "-1"], "optim.seed must be in [0, 2³²)"),
    C(
        "amp-unknown",
        [*TRAIN, "--optim.amp", "fp8"],
        "optim.amp must be one of auto, off, bf16, fp16",
    ),
    C(
        "eval-noise-unknown",
        [*TRAIN, "--optim.eval_noise", "none"],
        "optim.eval_noise must be 'sample'",
    ),
    C("beta-negative", [*TRAIN, "--beta.value", "-1"], "beta.value must be a finite number ≥ 0"),
    C(
        "beta-convention-unknown",
        [*TRAIN, "--beta.convention", "total"],
        "beta.convention must be one of mean, sum",
    ),
    C(
        "beta-schedule-unknown",
        [*TRAIN, "--beta.schedule", "cosine"],
        "beta.schedule must be one of",
    ),
    C(
        "beta-warmup-negative",
        [*TRAIN, "--beta.warmup_epochs", "-5"],
        "beta.warmup_epochs must be ≥ 0",
    ),
    C(
        "beta-log-start-zero",
        [*TRAIN, "--beta.schedule", "log", "--beta.start", "0"],
        "beta.start must be > 0",
    ),
    C(
        "ladder-milestones-empty",
        [*TRAIN, *LADDER, "--beta.milestones", "[]"],
        "beta.milestones must be a non-empty list of β values for the ladder schedule",
    ),
    C(
        "ladder-milestone-not-positive",
        [*TRAIN, *LADDER, "--beta.milestones", "[0.1,0]"],
        "beta.milestones[1] must be > 0, got 0.0",
    ),
    C(
        "ladder-milestone-not-finite",
        [*TRAIN, *LADDER, "--beta.milestones", "[0.1,.inf]"],
        "beta.milestones[1] must be a finite number, got inf",
    ),
    C(
        "ladder-not-monotone",
        [*TRAIN, *LADDER, "--beta.milestones", "[1,0.1,1]"],
        "beta.milestones must be strictly ascending or strictly descending",
    ),
    C(
        "ladder-hold-zero",
        [*TRAIN, *LADDER, "--beta.hold_epochs", "0"],
        "beta.hold_epochs must be ≥ 1, got 0",
    ),
    C(
        "ladder-too-long",
        [*TRAIN, *LADDER, "--beta.hold_epochs", "1"],
        "the β ladder takes 2 epochs (0 of ramp + 2 milestones × 1), more than optim.epochs 1",
    ),
    C(
        "ladder-settle-needs-constant-lr",
        [*TRAIN, *LADDER, "--beta.settle.window", "1", "--optim.epochs", "9"],
        "beta.settle needs --optim.ladder_lr constant (got rewarm)",
    ),
    C(
        "ladder-lr-unknown",
        [*TRAIN, "--optim.ladder_lr", "warm"],
        "optim.ladder_lr must be one of rewarm, constant, cosine, got 'warm'",
    ),
    C(
        "beta-log-start-above-value",
        [*TRAIN, "--beta.schedule", "log", "--beta.start", "10"],
        "must not exceed beta.value",
    ),
    C(
        "augment-unknown",
        [*TRAIN, "--data.augment", "foo"],
        "data.augment must be one of paper, timm, small, none",
    ),
    C(
        "variant-unknown",
        [*TRAIN, "--model.variant", "resnet"],
        "unknown variant 'resnet': model.variant must be one of ib, no_attn, vit",
    ),
    C("depth-zero", [*TRAIN, "--model.depth", "0"], "model.depth must be ≥ 1"),
    C("heads-zero", [*TRAIN, "--model.num_heads", "0"], "model.num_heads must be ≥ 1"),
    C(
        "img-size-zero",
        [*TRAIN, "--data.spec", "imagefolder:/x", "--model.img_size", "0"],
        "model.img_size must be ≥ 1",
    ),
    C(
        "width-not-divisible",
        [*TRAIN, "--model.embed_dim", "33"],
        "model.embed_dim 33 is not divisible by model.num_heads 2",
    ),
    C(
        "width-not-divisible-by-base-heads",
        ["train", "--out", "{out}", "--model.embed_dim", "32"],
        "model.num_heads 3 (that of vit_tiny_patch16_224)",
    ),
    C(
        "patch-not-dividing-synthetic",
        [*TRAIN, "--model.patch_size", "3"],
        "model.patch_size 3 does not divide the synthetic images of 16 px",
    ),
    C(
        "patch-not-dividing-image",
        [*TRAIN, "--data.spec", "imagefolder:/x", "--model.img_size", "100"],
        "model.patch_size 16 (that of vit_tiny_patch16_224) does not divide model.img_size 100",
    ),
    C(
        "img-size-vs-synthetic",
        [*TRAIN, "--model.img_size", "32"],
        "model.img_size 32 does not match the synthetic images of 16 px",
    ),
    C("mlp-ratio-zero", [*TRAIN, "--model.mlp_ratio", "0"], "model.mlp_ratio must be > 0"),
    C(
        "drop-path-one",
        [*TRAIN, "--model.drop_path_rate", "1"],
        "model.drop_path_rate must be in [0, 1)",
    ),
    C("reg-tokens-negative", [*TRAIN, "--model.reg_tokens", "-1"], "model.reg_tokens must be ≥ 0"),
    C("num-classes-zero", [*TRAIN, "--model.num_classes", "0"], "model.num_classes must be ≥ 1"),
    C("rank-zero", [*TRAIN, "--model.bottleneck.rank", "0"], "model.bottleneck.rank must be ≥ 1"),
    C(
        "hidden-negative",
        [*TRAIN, "--model.bottleneck.hidden", "-1"],
        "model.bottleneck.hidden must be ≥ 0",
    ),
    C(
        "logvar-range-empty",
        [*TRAIN, "--model.bottleneck.logvar_min", "20"],
        "must be below logvar_max",
    ),
    C(
        "base-unknown",
        [*TRAIN, "--model.base", "vit_tiny_patch16_2244"],
        "did you mean vit_tiny_patch16_224",
    ),
    C("base-not-a-vit", [*TRAIN, "--model.base", "resnet18"], "not a timm VisionTransformer"),
    # --- data specs
    C("data-set-unknown", [*TRAIN, "--data.spec", "mnist:/x"], "unknown data set 'mnist'"),
    C("data-set-upper-case", [*TRAIN, "--data.spec", "Synthetic"], "data set names are lower case"),
    C("data-root-missing", [*TRAIN, "--data.spec", "cifar10"], "needs a root folder"),
    C(
        "synthetic-option-unknown",
        [*TRAIN, "--data.spec", "synthetic:gird=4"],
        "unknown synthetic option 'gird'; did you mean 'grid'?",
    ),
    C(
        "synthetic-option-not-a-number",
        [*TRAIN, "--data.spec", "synthetic:grid=abc"],
        "synthetic option grid must be an integer, got 'abc'",
    ),
    C(
        "synthetic-option-without-value",
        [*TRAIN, "--data.spec", "synthetic:grid"],
        "synthetic option 'grid' needs a value",
    ),
    C(
        "synthetic-option-twice",
        [*TRAIN, "--data.spec", "synthetic:grid=4,grid=5"],
        "is given twice",
    ),
    C(
        "synthetic-n-val-zero",
        [*TRAIN, "--data.spec", "synthetic:n_val=0"],
        "synthetic option n_val must be ≥ 1",
    ),
    C(
        "synthetic-n-train-zero",
        [*TRAIN, "--data.spec", "synthetic:n_train=0"],
        "synthetic option n_train must be ≥ 1",
    ),
    C(
        "synthetic-grid-one",
        [*TRAIN, "--data.spec", "synthetic:grid=1"],
        "synthetic option grid must be ≥ 2",
    ),
    C(
        "synthetic-patch-small",
        [*TRAIN, "--data.spec", "synthetic:patch=2"],
        "synthetic option patch must be ≥ 3",
    ),
    C(
        "synthetic-tints-zero",
        [*TRAIN, "--data.spec", "synthetic:tints=0"],
        "synthetic option tints must be ≥ 1",
    ),
    C(
        "synthetic-symbols-one",
        [*TRAIN, "--data.spec", "synthetic:symbols=1"],
        "synthetic option symbols must be ≥ 2",
    ),
    C(
        "synthetic-symbols-too-many",
        [*TRAIN, "--data.spec", "synthetic:patch=3,grid=4,symbols=9"],
        "exceeds the 8 distinct patterns",
    ),
    C(
        "synthetic-noise-negative",
        [*TRAIN, "--data.spec", "synthetic:noise=-1"],
        "synthetic option noise must be a finite number ≥ 0",
    ),
    C(
        "synthetic-tint-noise-negative",
        [*TRAIN, "--data.spec", "synthetic:tint_noise=-0.5"],
        "synthetic option tint_noise must be a finite number ≥ 0",
    ),
    C(
        "synthetic-stray-tiles-too-many",
        [*TRAIN, "--data.spec", "synthetic:stray_tiles=0.8"],
        "synthetic option stray_tiles must be in [0, 0.75) for 4 tints",
    ),
    C(
        "synthetic-bit-cue-not-a-probability",
        [*TRAIN, "--data.spec", "synthetic:bit_cue=1.5"],
        "synthetic option bit_cue must be a probability in [0, 1], got 1.5",
    ),
    C(
        "synthetic-curriculum-without-ambiguity",
        [*TRAIN, "--data.spec", "synthetic:ambiguity_ramp=8"],
        "synthetic options ambiguity_from and ambiguity_ramp schedule the tiles' ambiguity",
    ),
    C(
        "data-folder-missing",
        [*TRAIN, "--data.spec", "imagefolder:/nonexistent/folder", *FOLDER],
        "does not exist",
    ),
    C(
        "class-folder-empty",
        [*TRAIN, "--data.spec", "imagefolder:{empty_class}", *FOLDER],
        "no usable images",
    ),
    C(
        "fewer-images-than-a-batch",
        [*TRAIN, "--data.spec", "synthetic:grid=4,n_train=16"],
        "fewer than one batch",
    ),
    C(
        "weights-file-missing",
        [*TRAIN, "--model.weights", "{tmp}/none.safetensors"],
        "weights file",
    ),
    # --- data / model compatibility
    C(
        "val-missing-a-class",
        [*TRAIN, "--data.spec", "imagefolder:{missing_class}", *FOLDER],
        "differ from those of",
    ),
    C(
        "eval-class-count",
        ["eval", "{run}", "--data", "imagefolder:{four}"],
        "the model predicts 8 classes but --data imagefolder:",
    ),
    C(
        "eval-class-names",
        ["eval", "{run}", "--data", "imagefolder:{eight}"],
        "differ from those the model was trained on",
    ),
    C(
        "eval-synthetic-classes",
        ["eval", "{run}", "--data", "synthetic:grid=4,tints=2"],
        "the model predicts 8 classes",
    ),
    C(
        "eval-image-size",
        ["eval", "{run}", "--data", "synthetic:grid=6"],
        "has 24 px images but the model takes 16 px",
    ),
    C("eval-data-unknown", ["eval", "{run}", "--data", "mnist:/x"], "unknown data set 'mnist'"),
    # --- command-line flags
    C(
        "eval-batch-size-zero",
        ["eval", "{run}", "--batch-size", "0"],
        "--batch-size must be at least 1",
    ),
    C(
        "eval-batch-size-negative",
        ["eval", "{run}", "--batch-size", "-4"],
        "--batch-size must be at least 1",
    ),
    C("eval-passes-zero", ["eval", "{run}", "--passes", "0"], "--passes must be at least 1"),
    C("eval-seed-out-of-range", ["eval", "{run}", "--seed", "-1"], "--seed: must be in [0, 2³²)"),
    C("analyze-seed-not-an-int", ["analyze", "{run}", "--seed", "x"], "an integer, got 'x'"),
    C("flag-not-an-int", ["eval", "{run}", "--batch-size", "abc"], "invalid int value: 'abc'"),
    C("flag-bad-choice", ["eval", "{run}", "--checkpoint", "middle"], "invalid choice: 'middle'"),
    C("eval-device-unknown", ["eval", "{run}", "--device", "tpu"], "unknown device 'tpu'"),
    C("eval-override", ["eval", "{run}", "--beta.value", "1"], "are for 'infovit train'"),
    C(
        "train-device-unknown",
        [*TRAIN, "--optim.device", "tpu"],
        "optim.device must be auto, cpu, cuda or cuda:N",
    ),
    C("train-without-out", ["train", *TINY], "say where the run goes with --out"),
    C("out-is-a-file", ["train", "--out", "{file}", *TINY], "is a file; give a folder path"),
    C("out-below-a-file", ["train", "--out", "{file}/run", *TINY], "is a file, not a folder"),
    C(
        "resume-with-out",
        ["train", "--resume", "{tmp}", "--out", "{out}"],
        "--resume RUN takes no config",
    ),
    C("flag-unknown", ["train", "--out", "{out}", "--bogus"], "unrecognized arguments: --bogus"),
    C("command-unknown", ["frobnicate"], "invalid choice: 'frobnicate'"),
    C("demo-seed-out-of-range", ["demo", "--out", "{out}", "--seed", "-1"], "--seed must be in"),
    C(
        "demo-task-bad-option",
        ["demo", "--out", "{out}", "--task", "hue_noise=-1"],
        "synthetic option hue_noise must be a finite number ≥ 0",
    ),
    C(
        "demo-task-sets-size",
        ["demo", "--out", "{out}", "--task", "n_train=64"],
        "--task sets n_train, which the demo's recipe fixes",
    ),
    # --- infovit report
    C("report-path-missing", ["report", "{tmp}/nope", "--out", "{out}"], "does not exist"),
    C("report-path-is-a-file", ["report", "{file}", "--out", "{out}"], "is a file; give a run"),
    C(
        "report-not-a-known-folder",
        ["report", "{tmp}", "--out", "{out}"],
        "is not a run, sweep, analysis, geometry or compare-heads folder",
    ),
    C(
        "report-no-analysis",
        ["report", "{run}", "--no-analyze", "--out", "{out}"],
        "no analysis of run found",
    ),
    C("report-out-is-a-file", ["report", "{run}", "--out", "{file}"], "is a file; give a folder"),
    C(
        "report-out-not-a-report",
        ["report", "{run}", "--no-analyze", "--out", "{tmp}"],
        "exists and is not an infovit report",
    ),
]


def _jpegs(root: Path, classes: dict[str, list[str]]) -> Path:
    """``{split: [class, ...]}`` → ROOT/split/class/{0,1}.jpg (8×8 noise JPEGs)."""
    rng = np.random.default_rng(0)
    for split, names in classes.items():
        for name in names:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg")
    return root


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    """Shared inputs: a trained 8-class 16-px synthetic run and small image folders."""
    base = tmp_path_factory.mktemp("errors")
    run = base / "run"
    train(load_config(None, TINY), run, progress=False)
    four = ["a", "b", "c", "d"]
    eight = [f"k{i}" for i in range(8)]
    (base / "empty_class" / "train" / "b").mkdir(parents=True)
    return {
        "run": str(run),
        "four": str(_jpegs(base / "four", {"train": four, "val": four})),
        "eight": str(_jpegs(base / "eight", {"train": eight, "val": eight})),
        "missing_class": str(_jpegs(base / "missing", {"train": four, "val": four[:3]})),
        "empty_class": str(_jpegs(base / "empty_class", {"train": ["a"], "val": ["a"]})),
    }


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_is_one_line_error(case, places, tmp_path, capsys):
    out = tmp_path / "run"
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    cfg = tmp_path / "c.yaml"
    if case.yaml is not None:
        cfg.write_text(case.yaml)
    names = {**places, "out": str(out), "tmp": str(tmp_path), "file": str(afile), "cfg": str(cfg)}
    argv = [arg.format(**names) for arg in case.argv]
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("infovit: error: "), err
    assert case.expect in err, err
    assert not out.exists(), "a run folder was created"


def test_catalogue_lists_every_case():
    """docs/errors.md and this file describe the same bad inputs, one row per case."""
    text = CATALOGUE.read_text(encoding="utf-8").split("## Run folders and checkpoints")[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", text, flags=re.MULTILINE)
    assert len(rows) == len(set(rows)), "duplicate ids in docs/errors.md"
    assert sorted(rows) == sorted(c.id for c in CASES)


@pytest.mark.parametrize(
    "val, expect",
    [
        (["a", "b"], r"missing in val: \['c'\]"),
        (["a", "b", "c", "d"], r"only in val: \['d'\]"),
        (["a", "c", "b"], "the same names in another order"),
        (["a", "b", "x"], r"missing in val: \['c'\]; only in val: \['x'\]"),
    ],
)
def test_val_classes_must_match_train_classes(val, expect):
    check_same_classes(["a", "b", "c"], ["a", "b", "c"], "train/", "val/")  # the same: fine
    with pytest.raises(InfovitError, match=expect) as err:
        check_same_classes(["a", "b", "c"], val, "ROOT/train", "ROOT/val")
    assert "ROOT/train" in str(err.value) and "ROOT/val" in str(err.value)
    assert "\n" not in str(err.value)


WORKER = (
    "Caught InfovitError in DataLoader worker process 0.\n"
    "Original Traceback (most recent call last):\n"
    '  File "x.py", line 1, in _load_rgb\n'
    "PIL.UnidentifiedImageError: cannot identify image file 'a.jpg'\n\n"
    "The above exception was the direct cause of the following exception:\n\n"
    "Traceback (most recent call last):\n"
    '  File "x.py", line 2, in __getitem__\n'
    "infovit.errors.InfovitError: cannot read image 'a.jpg'; remove or replace the file\n"
)


@pytest.mark.parametrize(
    "message, line",
    [
        (WORKER, "cannot read image 'a.jpg'; remove or replace the file"),  # not the cause
        (WORKER.replace("infovit.errors.InfovitError", "infovit.x.Locked"), "cannot read image"),
        ("first line says it\n  details below", "first line says it"),
        ("", "InfovitError (no message)"),
    ],
)
def test_one_line_keeps_the_line_that_says_what_is_wrong(message, line):
    from infovit.cli.main import one_line

    assert one_line(InfovitError(message)).startswith(line)


def test_model_fits_data_checks_names_only_when_recorded():
    """Runs that did not record class names (imported ones) are checked by count alone."""

    class Data:
        classes = ("a", "b")

    check_model_fits_data(2, None, Data(), "data X")
    check_model_fits_data(2, ["a", "b"], Data(), "data X")
    with pytest.raises(InfovitError, match="predicts 3 classes but data X has 2"):
        check_model_fits_data(3, None, Data(), "data X")
    with pytest.raises(InfovitError, match=r"missing in the data: \['c'\]"):
        check_model_fits_data(2, ["a", "c"], Data(), "data X")
