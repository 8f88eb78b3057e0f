"""Real-data loaders against small fixtures in the same on-disk formats."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from infovit.data import build_dataset, imagenet100_wnids, parse_data_spec
from infovit.errors import InfovitError


def _write_images(folder, n, size=(40, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / f"{i}.JPEG")


def test_parse_specs():
    assert parse_data_spec("cifar10:/x").root == "/x"
    assert parse_data_spec("synthetic:grid=4,noise=0.1").options == {"grid": 4, "noise": 0.1}
    for bad in ("mnist:/x", "cifar10", "synthetic:bogus=1"):
        with pytest.raises(InfovitError):
            parse_data_spec(bad)


def test_imagenet100_class_list_is_shipped():
    wnids = imagenet100_wnids()
    assert len(wnids) == len(set(wnids)) == 100 and all(w.startswith("n") for w in wnids)


def test_imagenet100_from_imagenet_layout(tmp_path):
    wnids = imagenet100_wnids()
    for split in ("train", "val"):
        for w in wnids:
            _write_images(tmp_path / split / w, 1)
    _write_images(tmp_path / "train" / "n99999999", 1)  # a class outside the subset: ignored
    ds = build_dataset(f"imagenet100:{tmp_path}", "train", img_size=32, augment="paper")
    assert len(ds) == 100 and ds.classes == wnids
    img, label = ds[5]
    folder = ds.samples[5][0].split("/")[-2]
    assert img.shape == (3, 32, 32) and label == wnids.index(folder)  # CMC order, not sorted


def test_imagenet100_missing_classes_is_an_error(tmp_path):
    _write_images(tmp_path / "val" / imagenet100_wnids()[0], 1)
    with pytest.raises(InfovitError, match="class folders are missing"):
        build_dataset(f"imagenet100:{tmp_path}", "val", img_size=32)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(InfovitError, match="does not exist"):
        build_dataset(f"imagefolder:{tmp_path}/nope", "train", img_size=32)
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(InfovitError, match="no usable images"):
        build_dataset(f"imagefolder:{tmp_path}", "train", img_size=32)
    (tmp_path / "train" / "a" / "bad.jpg").write_bytes(b"not an image")
    ds = build_dataset(f"imagefolder:{tmp_path}", "train", img_size=32)
    with pytest.raises(InfovitError, match=r"bad\.jpg"):
        ds[0]


def test_cifar10_fixture(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 9]}
        with open(base / name, "wb") as f:
            pickle.dump(batch, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    train = build_dataset(f"cifar10:{tmp_path}", "train", img_size=32, augment="small")
    val = build_dataset(f"cifar10:{tmp_path}", "val", img_size=32)
    assert len(train) == 20 and len(val) == 4 and val.classes[9] == "c9"
    assert val[3][0].shape == (3, 32, 32) and val[3][1] == 9


def test_cifar10_refuses_code_in_pickles(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(base / "test_batch", "wb") as f:
        pickle.dump({"data": Evil(), "labels": []}, f)
    with pytest.raises(InfovitError, match="refusing"):
        build_dataset(f"cifar10:{tmp_path}", "val", img_size=32)


def test_stl10_fixture(tmp_path):
    base = tmp_path / "stl10_binary"
    base.mkdir()
    x = np.zeros((3, 3, 96, 96), dtype=np.uint8)
    x[1, 0, 10, 20] = 255  # column-major: channel 0, column 10, row 20
    x.tofile(base / "test_X.bin")
    np.array([1, 2, 10], dtype=np.uint8).tofile(base / "test_y.bin")
    ds = build_dataset(f"stl10:{tmp_path}", "val", img_size=96, augment="none")
    assert len(ds) == 3 and ds.targets == [0, 1, 9]
    assert ds.data[1][20, 10, 0] == 255  # [H, W, C]
    with pytest.raises(InfovitError, match="missing"):
        build_dataset(f"stl10:{tmp_path}", "train", img_size=96)


@pytest.mark.parametrize("size", [224, 32])
def test_paper_preset_is_the_paper_codes_torchvision_transform(size):
    """The ``paper`` preset gives, draw for draw, the paper's code's composition (App. A):
    the same seed, the same augmented tensor; evaluation resizes 256/224 and centre-crops."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms as T
    from torchvision.transforms import InterpolationMode

    from infovit.data.transforms import build_transform

    normalize = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    bicubic = InterpolationMode.BICUBIC
    code_train = T.Compose([
        T.RandomResizedCrop(size, scale=(0.08, 1), interpolation=bicubic),
        T.RandomHorizontalFlip(), T.RandAugment(num_ops=2, magnitude=9), T.ToTensor(), normalize,
    ])  # fmt: skip
    code_eval = T.Compose([T.Resize(int(size * 256 / 224), interpolation=bicubic),
                           T.CenterCrop(size), T.ToTensor(), normalize])  # fmt: skip
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8))
    ours = build_transform(size, train=True, augment="paper")
    outputs = set()
    for seed in range(12):
        torch.manual_seed(seed)
        a = ours(image)
        torch.manual_seed(seed)
        b = code_train(image)
        assert a.shape == (3, size, size) and torch.equal(a, b)
        outputs.add(a.sum().item())
    assert len(outputs) == 12  # it is random
    eval_ours = build_transform(size, train=False, augment="paper")
    assert torch.equal(eval_ours(image), code_eval(image))


def test_run_folder_records_its_transforms(tmp_path):
    import json

    from infovit.training import load_config, train

    for c in range(2):
        for split in ("train", "val"):
            folder = tmp_path / "data" / split / f"c{c}"
            folder.mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (20, 20), (100 * c, 50, 50 + i)).save(folder / f"{i}.jpg")
    overrides = ["--data.spec", f"imagefolder:{tmp_path / 'data'}", "--data.augment", "paper",
                 "--data.batch_size", "4", "--data.workers", "0", "--model.img_size", "16",
                 "--model.patch_size", "4", "--model.depth", "1", "--model.embed_dim", "32",
                 "--model.num_heads", "2", "--optim.epochs", "1",
                 "--optim.device", "cpu"]  # fmt: skip
    run = train(load_config(None, overrides), tmp_path / "run", progress=False)
    data = json.loads((run.path / "run.json").read_text())["data"]
    assert "RandAugment(num_ops=2, magnitude=9" in data["train_transform"]
    assert "Resize(size=18" in data["val_transform"] and "CenterCrop" in data["val_transform"]
