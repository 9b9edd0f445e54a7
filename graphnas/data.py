"""Data sets for training networks, loaded from local files only (graphnas never downloads).

Every loader returns a :class:`DataSplits` with fixed, seeded train/val/test splits whose items are
``(image, label)``: ``image`` a float tensor ``(C, H, W)`` normalised with statistics of the train
split (or the standard ones for CIFAR-10), ``label`` an int in ``[0, num_classes)``.

* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, no files needed).
* ``fashion_mnist``: the gzipped IDX files of the Debian package ``dataset-fashion-mnist``.
* ``cifar10``: a local ``cifar-10-batches-py`` folder (torchvision format).
* ``imagefolder``: any ``root/<class>/<image>`` tree (torchvision ``ImageFolder``).
"""

from __future__ import annotations

import gzip
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from .errors import DataError

__all__ = ["DataSplits", "DATASETS", "load_digits", "load_fashion_mnist", "load_cifar10",
           "load_image_folder", "load_dataset", "make_loader"]

DATASETS = ("digits", "fashion_mnist", "cifar10", "imagefolder")
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@dataclass
class DataSplits:
    """Train/val/test splits of one data set; items are ``(image (C, H, W) float, label)``.

    ``mean``/``std`` are the per-channel statistics the images were normalised with.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``, else a one-line DataError naming the limit."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        limit = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise DataError(f"{name} must be an integer {limit}, got {value!r}")
    return int(value)


def _take(labels: np.ndarray, idx: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, ``n`` taken), stratified by ``labels`` where possible, else random."""
    from sklearn.model_selection import train_test_split
    try:
        rest, taken = train_test_split(idx, test_size=n, random_state=seed, stratify=labels[idx])
    except ValueError:  # a class too small, or fewer samples than classes on one side
        perm = np.random.default_rng(seed).permutation(idx)
        rest, taken = perm[n:], perm[:n]
    return np.sort(rest), np.sort(taken)


def _three_way(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int):
    """Seeded (stratified where possible) train/val/test index arrays for fractions of ``labels``."""
    n = len(labels)
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1) \
            or min(n_val, n_test, n - n_val - n_test) < 1:
        raise DataError(f"val_fraction={val_fraction} and test_fraction={test_fraction} leave an empty split "
                        f"of {n} samples: each must be >= {1 / n:.3g} and their sum < {1 - 1 / n:.4g}")
    rest, test = _take(labels, np.arange(n), n_test, seed)
    train, val = _take(labels, rest, n_val, seed)
    return train, val, test


def _to_float(images, resolution: int) -> torch.Tensor:
    """``(N, H, W)`` uint8 (0-255) -> ``(N, 1, resolution, resolution)`` float in [0, 1], in chunks."""
    images = torch.as_tensor(np.asarray(images))
    out = torch.empty(len(images), 1, resolution, resolution)
    for s in range(0, len(images), 8192):
        x = images[s:s + 8192].unsqueeze(1).float().div_(255)
        if x.shape[-2:] != (resolution, resolution):
            x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                              antialias=resolution < max(x.shape[-2:]))
        out[s:s + 8192] = x
    return out


def _normalised(name, xs, ys, num_classes) -> DataSplits:
    """Normalise the three ``(N, 1, r, r)`` tensors with the train split's mean/std; wrap as splits."""
    mean, std = xs[0].mean().item(), xs[0].std().item() or 1.0
    sets = [TensorDataset(x.sub_(mean).div_(std), torch.as_tensor(y, dtype=torch.long))
            for x, y in zip(xs, ys)]
    return DataSplits(name, *sets, num_classes=num_classes, input_shape=tuple(xs[0].shape[1:]),
                      mean=(mean,), std=(std,))


def load_digits(resolution: int = 16, seed: int = 0, val_fraction: float = 0.2,
                test_fraction: float = 0.2) -> DataSplits:
    """scikit-learn's bundled 8x8 handwritten digits, upsampled (bilinear) to ``resolution``.

    Args:
        resolution (int, optional): side of the square images, >= 4. (default: 16)
        seed (int, optional): seed of the stratified split. (default: 0)
        val_fraction (float, optional): share of the 1,797 images in val. (default: 0.2)
        test_fraction (float, optional): share of the 1,797 images in test. (default: 0.2)

    Returns:
        DataSplits: TensorDatasets of images ``(1, resolution, resolution)`` and 0-dim long labels,
        10 classes, normalised with the train split's mean/std.
    """
    from sklearn.datasets import load_digits as sk_digits
    resolution = _check_int("resolution", resolution, 4)
    data = sk_digits()
    labels = data.target.astype(np.int64)
    idx = _three_way(labels, val_fraction, test_fraction, seed)
    images = data.images.astype(np.float32) * (255 / 16)  # 0-16 -> the 0-255 scale _to_float expects
    xs = [_to_float(images[i], resolution) for i in idx]
    return _normalised("digits", xs, [labels[i] for i in idx], 10)


def _subsample(name: str, size: int | None, labels: np.ndarray, idx: np.ndarray, seed: int) -> np.ndarray:
    """``size`` of ``idx`` (stratified where possible), or all of ``idx`` when ``size`` is None."""
    if size is None or _check_int(name, size, 1, len(idx)) == len(idx):
        return idx
    return _take(labels, idx, size, seed)[1]


def _read_idx(path: str, magic: int) -> np.ndarray:
    """Read a (gzipped) IDX file: images ``(N, rows, cols)`` uint8 (magic 2051) or labels ``(N,)`` (2049)."""
    kind = "images" if magic == 2051 else "labels"
    fix = "re-install dataset-fashion-mnist (apt-get install --reinstall dataset-fashion-mnist) or replace it"
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"Fashion-MNIST file {path} is unreadable ({e}): {fix}") from None
    head = 16 if kind == "images" else 8
    if len(raw) < head:
        raise DataError(f"Fashion-MNIST file {path} is truncated ({len(raw)} bytes, its header needs "
                        f"{head}): {fix}")
    found, *dims = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, head, 4))
    if found != magic:
        raise DataError(f"Fashion-MNIST file {path} has magic number {found}, expected {magic} "
                        f"(IDX {kind}): {fix}")
    if len(raw) != head + math.prod(dims):
        raise DataError(f"Fashion-MNIST file {path} holds {len(raw) - head} data bytes, its header "
                        f"{tuple(dims)} says {math.prod(dims)} (truncated or corrupt): {fix}")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(dims)


def _read_fashion_part(root: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    files = []
    for stem in (f"{part}-images-idx3-ubyte", f"{part}-labels-idx1-ubyte"):
        path = os.path.join(root, stem + ".gz")
        files.append(path if os.path.isfile(path) or not os.path.isfile(path[:-3]) else path[:-3])
        if not os.path.isfile(files[-1]):
            raise DataError(f"Fashion-MNIST file {path} is missing: install the Debian package "
                            "dataset-fashion-mnist or pass root=<folder with the four *-ubyte.gz files>")
    images, labels = _read_idx(files[0], 2051), _read_idx(files[1], 2049)
    if len(images) != len(labels) or (len(labels) and labels.max() >= 10):
        raise DataError(f"Fashion-MNIST {part} files in {root} disagree ({len(images)} images, {len(labels)} "
                        "labels, labels must be 0-9): re-install dataset-fashion-mnist or replace them")
    return images, labels.astype(np.int64)


def load_fashion_mnist(root: str | None = None, resolution: int = 28, train_size: int | None = None,
                       val_size: int = 10000, test_size: int | None = None, seed: int = 0) -> DataSplits:
    """Fashion-MNIST (10 clothing classes, 28x28 grey) from local gzipped IDX files.

    Args:
        root (str, optional): folder with ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``.
            (default: ``/usr/share/datasets/fashion-mnist``, Debian package ``dataset-fashion-mnist``)
        resolution (int, optional): side of the square images (bilinear resize if not 28). (default: 28)
        train_size (int, optional): seeded stratified subsample of the train split; None keeps all
            ``60000 - val_size``. (default: None)
        val_size (int, optional): images of the 60k train file held out (stratified) as val. (default: 10000)
        test_size (int, optional): seeded subsample of the 10k test file; None keeps all. (default: None)
        seed (int, optional): seed of the splits and subsamples. (default: 0)

    Returns:
        DataSplits: TensorDatasets of images ``(1, resolution, resolution)`` and 0-dim long labels,
        normalised with the train split's mean/std.
    """
    root = os.path.expanduser(str(root)) if root is not None else FASHION_MNIST_ROOT
    resolution = _check_int("resolution", resolution, 4)
    if not os.path.isdir(root):
        raise DataError(f"Fashion-MNIST not found at {root}: install the Debian package "
                        "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
                        "or pass root=<folder with the *-ubyte.gz files>")
    train_x, train_y = _read_fashion_part(root, "train")
    test_x, test_y = _read_fashion_part(root, "t10k")
    if train_x.shape[1:] != test_x.shape[1:] or len(test_x) == 0:
        raise DataError(f"Fashion-MNIST files in {root} disagree: train images {train_x.shape[1:]}, test "
                        f"{test_x.shape}: re-install dataset-fashion-mnist or replace them")
    _check_int("val_size", val_size, 1, len(train_y) - 1)
    rest, val = _take(train_y, np.arange(len(train_y)), val_size, seed)
    rest = _subsample("train_size", train_size, train_y, rest, seed + 1)
    test = _subsample("test_size", test_size, test_y, np.arange(len(test_y)), seed + 2)
    xs = [_to_float(train_x[rest], resolution), _to_float(train_x[val], resolution),
          _to_float(test_x[test], resolution)]
    return _normalised("fashion_mnist", xs, [train_y[rest], train_y[val], test_y[test]], 10)


def load_cifar10(root: str, resolution: int = 32, val_size: int = 5000, seed: int = 0) -> DataSplits:
    """CIFAR-10 from a local ``cifar-10-batches-py`` folder (never downloaded).

    Args:
        root (str): folder holding ``cifar-10-batches-py`` (or that folder itself).
        resolution (int, optional): side of the square images (resize if not 32). (default: 32)
        val_size (int, optional): images of the 50k train set held out (seeded) as val. (default: 5000)
        seed (int, optional): seed of the val split. (default: 0)

    Returns:
        DataSplits: images ``(3, resolution, resolution)`` normalised with the standard CIFAR-10
        mean/std, int labels, 10 classes.
    """
    from torchvision import datasets, transforms as T
    resolution = _check_int("resolution", resolution, 4)
    root = os.path.expanduser(str(root))
    if os.path.basename(os.path.normpath(root)) == "cifar-10-batches-py":
        root = os.path.dirname(os.path.normpath(root))
    folder = os.path.join(root, "cifar-10-batches-py")
    if not os.path.isdir(folder):
        raise DataError(f"CIFAR-10 not found: {folder} does not exist; graphnas never downloads, put the "
                        "extracted cifar-10-batches-py folder (from cifar-10-python.tar.gz) there")
    tf = [T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    if resolution != 32:
        tf.append(T.Resize((resolution, resolution), antialias=True))
    try:
        full = datasets.CIFAR10(root, train=True, transform=T.Compose(tf), download=False)
        test = datasets.CIFAR10(root, train=False, transform=T.Compose(tf), download=False)
    except RuntimeError:  # torchvision's integrity (md5) check failed
        raise DataError(f"CIFAR-10 at {folder} is incomplete or corrupt (md5 check failed): graphnas never "
                        "downloads, replace it with a freshly extracted cifar-10-batches-py") from None
    _check_int("val_size", val_size, 1, len(full) - 1)
    perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed)).tolist()
    return DataSplits("cifar10", Subset(full, sorted(perm[val_size:])), Subset(full, sorted(perm[:val_size])),
                      test, 10, (3, resolution, resolution), CIFAR10_MEAN, CIFAR10_STD)


def load_image_folder(root: str, resolution: int = 32, val_fraction: float = 0.1, test_fraction: float = 0.1,
                      seed: int = 0) -> DataSplits:
    """Images in ``root/<class name>/<file>`` (torchvision ``ImageFolder``), RGB, split by seed.

    Args:
        root (str): folder with one subfolder per class.
        resolution (int, optional): images are resized to ``(resolution, resolution)``. (default: 32)
        val_fraction (float, optional): share of images in val (stratified where possible). (default: 0.1)
        test_fraction (float, optional): share of images in test. (default: 0.1)
        seed (int, optional): seed of the split. (default: 0)

    Returns:
        DataSplits: Subsets yielding images ``(3, resolution, resolution)`` normalised to [-1, 1]
        (mean/std 0.5) and int labels; ``num_classes`` is the number of class folders.
    """
    from torchvision import datasets, transforms as T
    resolution = _check_int("resolution", resolution, 4)
    root = os.path.expanduser(str(root))
    if not os.path.isdir(root):
        raise DataError(f"image folder {root} does not exist: "
                        "pass root=<folder with one subfolder per class>")
    tf = T.Compose([T.Resize((resolution, resolution)), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    try:
        full = datasets.ImageFolder(root, transform=tf)
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(f"no images found under {root} ({e}): put images in {root}/<class name>/") from None
    idx = _three_way(np.asarray(full.targets), val_fraction, test_fraction, seed)
    splits = [Subset(full, i.tolist()) for i in idx]
    return DataSplits("imagefolder", *splits, num_classes=len(full.classes),
                      input_shape=(3, resolution, resolution), mean=(0.5,) * 3, std=(0.5,) * 3)


def load_dataset(name: str, root: str | None = None, resolution: int | None = None, **kw) -> DataSplits:
    """Load a data set by name (``digits``, ``fashion_mnist``, ``cifar10``, ``imagefolder``).

    Args:
        name (str): one of :data:`DATASETS` (``-`` and case are ignored: ``Fashion-MNIST`` works).
        root (str, optional): data folder; ignored by ``digits``, defaulted by ``fashion_mnist``,
            required by ``cifar10`` and ``imagefolder``. (default: None)
        resolution (int, optional): image side; None takes each loader's default. (default: None)
        **kw: passed on to the loader (``seed``, ``val_size``, ``val_fraction``, ...).

    Returns:
        DataSplits: the loader's splits.
    """
    key = str(name).strip().lower().replace("-", "_")
    aliases = {"fashionmnist": "fashion_mnist", "image_folder": "imagefolder", "cifar_10": "cifar10"}
    key = aliases.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")
    if resolution is not None:
        kw["resolution"] = resolution
    if key == "digits":
        return load_digits(**kw)
    if key == "fashion_mnist":
        return load_fashion_mnist(root=root, **kw)
    if root is None:
        raise DataError(f"data set {key} needs a local folder: pass root=<path> (graphnas never downloads)")
    return (load_cifar10 if key == "cifar10" else load_image_folder)(root, **kw)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A single-process DataLoader whose shuffle order is fixed by ``seed``.

    Args:
        dataset (Dataset): items ``(image (C, H, W), label)``.
        batch_size (int): samples per batch, >= 1.
        shuffle (bool): reshuffle every epoch (the sequence of epochs is reproducible from ``seed``).
        seed (int, optional): seed of the loader's own ``torch.Generator``. (default: 0)
        drop_last (bool, optional): drop a last incomplete batch. (default: False)

    Returns:
        DataLoader: yields ``(images (B, C, H, W) float, labels (B,) long)``.
    """
    return DataLoader(dataset, batch_size=_check_int("batch_size", batch_size, 1), shuffle=shuffle,
                      num_workers=0, drop_last=drop_last, generator=torch.Generator().manual_seed(seed))
