"""Tests of graphnas.train.data: local data sets, seeded splits, loaders and the errors users see."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest
import torch

from graphnas.train.data import (DATASETS, DataSplits, load_cifar10, load_dataset, load_digits, load_fashion_mnist,
                           load_image_folder, make_loader)
from graphnas.errors import DataError

FASHION_ROOT = "/usr/share/datasets/fashion-mnist"


def _all(ds):
    """Stack a TensorDataset's images and labels."""
    return ds.tensors[0], ds.tensors[1]


# ---------------------------------------------------------------- digits

@pytest.mark.parametrize("resolution", [8, 20])
def test_digits_shapes_and_split_sizes(resolution):
    d = load_digits(resolution=resolution)
    assert isinstance(d, DataSplits) and d.name == "digits"
    assert d.num_classes == 10 and d.input_shape == (1, resolution, resolution)
    assert len(d.train) + len(d.val) + len(d.test) == 1797
    assert (len(d.val), len(d.test)) == (359, 359)
    x, y = d.train[0]
    assert x.shape == (1, resolution, resolution) and x.dtype == torch.float32
    assert 0 <= int(y) < 10


def test_digits_splits_partition_the_data_and_are_stratified():
    from sklearn.datasets import load_digits as sk_digits
    d = load_digits(resolution=8)  # no resize: images map back exactly to the 0-16 originals
    rows = []
    for split in (d.train, d.val, d.test):
        x, y = _all(split)
        assert set(y.tolist()) == set(range(10)), "every class must appear in every split"
        counts = torch.bincount(y, minlength=10).float() / len(y)
        assert counts.min() > 0.07 and counts.max() < 0.13  # ~10% each, as in the full set
        raw = torch.round((x * d.std[0] + d.mean[0]) * 16).reshape(len(x), 64).long()
        rows += [tuple(r) + (int(c),) for r, c in zip(raw.tolist(), y)]
    sk = sk_digits()
    orig = [tuple(r) + (int(c),) for r, c in zip(sk.data.astype(int).tolist(), sk.target)]
    assert sorted(rows) == sorted(orig)  # same multiset: disjoint splits that cover all 1797 images


def test_digits_train_split_is_normalised():
    x, _ = _all(load_digits(resolution=16).train)
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-4
    xv, _ = _all(load_digits(resolution=16).val)
    assert abs(xv.mean().item()) < 0.2  # val uses train statistics: close to, not exactly, 0


def test_digits_is_deterministic_per_seed():
    torch.manual_seed(1)
    np.random.seed(1)
    a = load_digits(seed=3)
    torch.manual_seed(2)
    np.random.seed(2)
    b = load_digits(seed=3)
    c = load_digits(seed=4)
    for s in ("train", "val", "test"):
        assert torch.equal(getattr(a, s).tensors[0], getattr(b, s).tensors[0])
        assert torch.equal(getattr(a, s).tensors[1], getattr(b, s).tensors[1])
    for s in ("train", "val", "test"):
        assert not torch.equal(getattr(a, s).tensors[0], getattr(c, s).tensors[0])


@pytest.mark.parametrize("kw, needle", [({"resolution": 3}, ">= 4"), ({"val_fraction": 0.0}, "empty split"),
                                        ({"val_fraction": 0.5, "test_fraction": 0.5}, "empty split")])
def test_digits_bad_arguments(kw, needle):
    with pytest.raises(DataError, match=needle) as e:
        load_digits(**kw)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- Fashion-MNIST (synthetic IDX files)

def _write_idx(path, magic, array, truncate=0):
    data = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    data += array.astype(np.uint8).tobytes()
    with gzip.open(path, "wb") as f:
        f.write(data[:len(data) - truncate])


def _fake_fashion(root, n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    parts = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        _write_idx(os.path.join(root, f"{part}-images-idx3-ubyte.gz"), 2051, images)
        _write_idx(os.path.join(root, f"{part}-labels-idx1-ubyte.gz"), 2049, labels)
        parts[part] = images, labels
    return parts


def test_fashion_mnist_reads_idx_files_exactly(tmp_path):
    parts = _fake_fashion(tmp_path)
    d = load_fashion_mnist(root=str(tmp_path), val_size=6)
    assert d.num_classes == 10 and d.input_shape == (1, 28, 28)
    assert (len(d.train), len(d.val), len(d.test)) == (24, 6, 10)
    # the test file comes back whole, in order, exactly (up to the affine normalisation)
    xt, yt = _all(d.test)
    assert yt.tolist() == parts["t10k"][1].tolist()
    back = torch.round((xt * d.std[0] + d.mean[0]) * 255).squeeze(1).to(torch.uint8)
    assert torch.equal(back, torch.from_numpy(parts["t10k"][0]))
    # train + val partition the train file
    rows = []
    for split in (d.train, d.val):
        x, y = _all(split)
        raw = torch.round((x * d.std[0] + d.mean[0]) * 255).reshape(len(x), -1).long()
        rows += [tuple(r) + (int(c),) for r, c in zip(raw.tolist(), y)]
    img, lab = parts["train"]
    assert sorted(rows) == sorted(tuple(r) + (int(c),) for r, c in zip(img.reshape(30, -1).tolist(), lab))
    x, _ = _all(d.train)
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3


def test_fashion_mnist_resize_and_subsample(tmp_path):
    _fake_fashion(tmp_path, n_train=60, n_test=20)
    kw = dict(root=str(tmp_path), resolution=14, val_size=20, train_size=20, test_size=10, seed=1)
    d = load_fashion_mnist(**kw)
    assert (len(d.train), len(d.val), len(d.test)) == (20, 20, 10)
    assert d.input_shape == (1, 14, 14) and d.train[0][0].shape == (1, 14, 14)
    assert set(d.train.tensors[1].tolist()) == set(range(10))  # stratified subsample keeps all classes
    e = load_fashion_mnist(**kw)
    assert torch.equal(d.train.tensors[0], e.train.tensors[0])


@pytest.mark.parametrize("what", ["magic", "truncated", "not_gzip", "missing"])
def test_fashion_mnist_corrupt_files_raise(tmp_path, what):
    parts = _fake_fashion(tmp_path)
    path = os.path.join(tmp_path, "train-images-idx3-ubyte.gz")
    if what == "magic":
        _write_idx(path, 2049, parts["train"][0])
    elif what == "truncated":
        _write_idx(path, 2051, parts["train"][0], truncate=100)
    elif what == "not_gzip":
        with open(path, "wb") as f:
            f.write(b"this is not gzip data at all")
    else:
        os.remove(path)
    with pytest.raises(DataError, match="train-images-idx3-ubyte") as e:
        load_fashion_mnist(root=str(tmp_path))
    assert "\n" not in str(e.value) and "dataset-fashion-mnist" in str(e.value)


def test_fashion_mnist_label_count_mismatch_raises(tmp_path):
    _fake_fashion(tmp_path)
    _write_idx(os.path.join(tmp_path, "t10k-labels-idx1-ubyte.gz"), 2049, np.zeros(9))
    with pytest.raises(DataError, match="disagree"):
        load_fashion_mnist(root=str(tmp_path))


def test_fashion_mnist_bad_sizes_raise(tmp_path):
    _fake_fashion(tmp_path)
    with pytest.raises(DataError, match="val_size"):
        load_fashion_mnist(root=str(tmp_path), val_size=30)
    with pytest.raises(DataError, match="train_size"):
        load_fashion_mnist(root=str(tmp_path), val_size=10, train_size=21)


def test_fashion_mnist_missing_root_names_the_package(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist") as e:
        load_fashion_mnist(root=str(tmp_path / "nowhere"))
    assert "nowhere" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.skipif(not os.path.isdir(FASHION_ROOT), reason=f"real Fashion-MNIST absent from {FASHION_ROOT} "
                    "(apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_real_files():
    d = load_dataset("fashion-mnist", train_size=1000, val_size=500)
    assert d.num_classes == 10 and d.input_shape == (1, 28, 28)
    assert (len(d.train), len(d.val), len(d.test)) == (1000, 500, 10000)
    assert d.test[0][0].shape == (1, 28, 28)
    assert torch.bincount(d.test.tensors[1]).tolist() == [1000] * 10
    assert set(d.train.tensors[1].tolist()) == set(range(10))


# ---------------------------------------------------------------- ImageFolder, CIFAR-10, load_dataset

def test_image_folder(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "emu"):
        os.makedirs(tmp_path / c)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    d = load_dataset("imagefolder", root=str(tmp_path), resolution=8, val_fraction=0.25, test_fraction=0.25)
    assert d.num_classes == 3 and d.input_shape == (3, 8, 8)
    assert (len(d.train), len(d.val), len(d.test)) == (6, 3, 3)
    idx = [set(s.indices) for s in (d.train, d.val, d.test)]
    assert set.union(*idx) == set(range(12)) and sum(map(len, idx)) == 12
    x, y = d.val[0]
    assert x.shape == (3, 8, 8) and -1 <= x.min() and x.max() <= 1 and 0 <= y < 3
    assert sorted(d.test[i][1] for i in range(3)) == [0, 1, 2]  # stratified


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(str(tmp_path / "nope"))
    with pytest.raises(DataError, match="no images"):
        load_image_folder(str(tmp_path))


def test_cifar10_missing_root(tmp_path):
    with pytest.raises(DataError, match="never downloads") as e:
        load_cifar10(str(tmp_path))
    assert "cifar-10-batches-py" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DataError, match="root="):
        load_dataset("cifar10")
    os.makedirs(tmp_path / "cifar-10-batches-py")  # present but empty: torchvision's md5 check fails
    with pytest.raises(DataError, match="corrupt") as e:
        load_dataset("cifar10", root=str(tmp_path / "cifar-10-batches-py"))
    assert "download=True" not in str(e.value)


def test_unknown_data_set_lists_names():
    with pytest.raises(DataError) as e:
        load_dataset("imagenet")
    assert "imagenet" in str(e.value) and all(n in str(e.value) for n in DATASETS)


def test_load_dataset_defaults_resolution():
    assert load_dataset("digits").input_shape == (1, 16, 16)
    assert load_dataset("Digits", resolution=12, seed=1).input_shape == (1, 12, 12)


# ---------------------------------------------------------------- make_loader

def test_make_loader_is_reproducible():
    ds = load_digits(resolution=8).train
    order = lambda seed: [b[1].tolist() for b in make_loader(ds, 64, shuffle=True, seed=seed)]  # noqa: E731
    assert order(5) == order(5)
    assert order(5) != order(6)
    xb, yb = next(iter(make_loader(ds, 32, shuffle=False)))
    assert xb.shape == (32, 1, 8, 8) and yb.shape == (32,) and yb.dtype == torch.long
    assert torch.equal(yb, ds.tensors[1][:32])
    batches = list(make_loader(ds, 100, shuffle=True, drop_last=True))
    assert len(batches) == len(ds) // 100 and all(len(b[1]) == 100 for b in batches)
    with pytest.raises(DataError):
        make_loader(ds, 0, shuffle=True)
