"""Real-data loaders against small fixtures in the same on-disk formats."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
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
