"""Data sets for training networks, loaded from local files only (graphnas never downloads).

Every loader returns a :class:`DataSplits` with fixed, seeded train/val/test splits whose items are
``(image, label)``: ``image`` a float tensor ``(C, H, W)`` normalised with statistics of the train
split (or the standard ones for CIFAR-10), ``label`` an int in ``[0, num_classes)``.

* ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, no files needed).
* ``fashion_mnist``: the gzipped IDX files of the Debian package ``dataset-fashion-mnist``.
* ``cifar10``: a local ``cifar-10-batches-py`` folder (torchvision format), read by a restricted unpickler.
* ``imagefolder``: any ``root/<class>/<image>`` tree (torchvision ``ImageFolder``'s layout), each image checked.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import sys
import zlib
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from ..errors import DataError
from ..files import regular_file

__all__ = ["DataSplits", "DATASETS", "BAD_IMAGES", "load_digits", "load_fashion_mnist", "load_cifar10",
           "load_image_folder", "load_dataset", "make_loader"]

DATASETS = ("digits", "fashion_mnist", "cifar10", "imagefolder")
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
_IDX_MAX_ITEMS, _IDX_MAX_SIDE = 10_000_000, 1024  # bounds of an IDX header graphnas believes (Fashion-MNIST: 70k, 28)


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


def _clip(text: str, limit: int = 80) -> str:
    """``text`` on one line, at most ``limit`` characters (for messages about files)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
    """Read a (gzipped) IDX file: images ``(N, rows, cols)`` uint8 (magic 2051) or labels ``(N,)`` (2049).

    The header is checked before the data is read (magic number, dimensions within Fashion-MNIST-like
    bounds), and no more than the header's size is ever read: a damaged or hostile file fails with one
    DataError line, never with a traceback or a huge allocation.
    """
    kind = "images" if magic == 2051 else "labels"
    fix = "re-install dataset-fashion-mnist (apt-get install --reinstall dataset-fashion-mnist) or replace it"
    regular_file(path, "Fashion-MNIST file", fix, DataError)
    head = 16 if kind == "images" else 8
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            header = f.read(head)
            if len(header) < head:
                raise DataError(f"Fashion-MNIST file {path} is truncated ({len(header)} bytes, its header needs "
                                f"{head}): {fix}")
            found, *dims = (int.from_bytes(header[i:i + 4], "big") for i in range(0, head, 4))
            if found != magic:
                raise DataError(f"Fashion-MNIST file {path} has magic number {found}, expected {magic} "
                                f"(IDX {kind}): {fix}")
            limits = [_IDX_MAX_ITEMS] + [_IDX_MAX_SIDE] * (len(dims) - 1)
            if any(not 1 <= d <= m for d, m in zip(dims, limits)):
                raise DataError(f"Fashion-MNIST file {path} has the dimensions {tuple(dims)} in its header, "
                                f"expected {kind} counts in [1, {_IDX_MAX_ITEMS}] and sides in [1, {_IDX_MAX_SIDE}]: "
                                f"{fix}")
            size = math.prod(dims)
            raw = f.read(size + 1)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as e:  # not gzip, a cut gzip stream, a bad CRC
        raise DataError(f"Fashion-MNIST file {path} is unreadable ({type(e).__name__}: {_clip(e)}): {fix}") \
            from None
    if len(raw) != size:
        raise DataError(f"Fashion-MNIST file {path} holds {len(raw)}{'+' if len(raw) > size else ''} data bytes, "
                        f"its header {tuple(dims)} says {size} (truncated or corrupt): {fix}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(dims)


def _read_fashion_part(root: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    files = []
    for stem in (f"{part}-images-idx3-ubyte", f"{part}-labels-idx1-ubyte"):
        path = os.path.join(root, stem + ".gz")
        files.append(path if os.path.lexists(path) or not os.path.lexists(path[:-3]) else path[:-3])
        if not os.path.lexists(files[-1]):
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


class _CifarImages(Dataset):
    """CIFAR-10 images kept as uint8 ``(N, 3, 32, 32)``; items ``(normalised float (3, r, r), int label)``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, resolution: int) -> None:
        self.images, self.labels, self.resolution = images, labels, resolution
        self.mean = torch.tensor(CIFAR10_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CIFAR10_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        x = (self.images[i].float().div_(255) - self.mean) / self.std
        if self.resolution != 32:
            x = F.interpolate(x[None], size=(self.resolution, self.resolution), mode="bilinear", align_corners=False,
                              antialias=True)[0]
        return x, int(self.labels[i])


_CIFAR_MAX_BYTES = 256 << 20  # a genuine batch file is 31 MB
_CIFAR_DTYPES = frozenset({"u1", "|u1", "uint8", "i1", "i2", "i4", "i8", "<i4", "<i8", "u2", "u4", "u8"})


class _NdarrayType:
    """What the name ``numpy.ndarray`` unpickles to: usable only as the type argument of ``_reconstruct``."""


def _cifar_globals() -> dict:
    """The only globals a CIFAR-10 batch file may name, each a guarded stand-in of the numpy function."""
    real_reconstruct = np.zeros(1).__reduce__()[0]
    real_frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    ndarray = _NdarrayType()

    def dtype(name, align=False, copy=True):
        if not isinstance(name, str) or name not in _CIFAR_DTYPES:
            raise pickle.UnpicklingError(f"the dtype {name!r} is not one of a CIFAR batch")
        return np.dtype(name)

    def shape_ok(shape):
        return isinstance(shape, tuple) and len(shape) <= 4 and all(isinstance(d, int) and 0 <= d <= 1 << 28
                                                                    for d in shape) and math.prod(shape) <= 1 << 28

    def reconstruct(kind, shape, code):
        if kind is not ndarray or not shape_ok(shape) or not isinstance(code, (bytes, str)) or len(code) > 4:
            raise pickle.UnpicklingError("an array reconstruction that is not one of a CIFAR batch")
        return real_reconstruct(np.ndarray, shape, code)

    def frombuffer(buf, kind, shape, order):
        if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or not isinstance(kind, np.dtype) \
                or not shape_ok(shape) or order not in ("C", "F"):
            raise pickle.UnpicklingError("an array from a buffer that is not one of a CIFAR batch")
        return real_frombuffer(buf, kind, shape, order)

    def latin1(text, encoding="utf-8"):
        if not isinstance(text, str) or encoding != "latin1":
            raise pickle.UnpicklingError("a codec call that is not one of a CIFAR batch")
        return text.encode("latin1")

    allowed = {("numpy", "ndarray"): ndarray, ("numpy", "dtype"): dtype, ("_codecs", "encode"): latin1}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds (dicts, lists, strings, ints, uint8 arrays) and nothing else:
    a batch file naming any other global is refused, never imported or called."""

    def __init__(self, file, allowed: dict) -> None:
        super().__init__(file, encoding="latin1")
        self.allowed = allowed

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise _ForeignGlobal(f"{module}.{name}") from None


class _ForeignGlobal(pickle.UnpicklingError):
    """A pickle names a global a CIFAR-10 batch never holds."""


def _read_cifar_batch(path: str, fix: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 32, 32) uint8, labels (N,) int64)`` of one ``cifar-10-batches-py`` batch file."""
    regular_file(path, "CIFAR-10 batch file", f"the folder is incomplete or corrupt; {fix}", DataError)
    if os.path.getsize(path) > _CIFAR_MAX_BYTES:
        raise DataError(f"CIFAR-10 batch file {path} is {os.path.getsize(path)} bytes, far more than a batch "
                        f"(31 MB): corrupt; {fix}")
    try:
        with open(path, "rb") as f:
            blob = _CifarUnpickler(f, _cifar_globals()).load()
    except _ForeignGlobal as e:
        raise DataError(f"CIFAR-10 batch file {path} names {_clip(str(e))}, which no CIFAR-10 batch holds; graphnas "
                        f"does not unpickle it (it could run code): {fix}") from None
    except Exception as e:  # noqa: BLE001 - truncated, corrupt or foreign pickle: the same user error
        raise DataError(f"CIFAR-10 batch file {path} is corrupt ({type(e).__name__}: {_clip(str(e))}): {fix}") \
            from None
    if isinstance(blob, dict):
        blob = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in blob.items()}
    data = blob.get("data") if isinstance(blob, dict) else None
    labels = blob.get("labels") if isinstance(blob, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 \
            or len(data) < 1:
        raise DataError(f"CIFAR-10 batch file {path} holds no 'data' array of uint8 rows of 3072 values: {fix}")
    if not isinstance(labels, (list, tuple, np.ndarray)) or len(labels) != len(data) \
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 10 for v in labels):
        raise DataError(f"CIFAR-10 batch file {path} holds no 'labels' list of {len(data)} classes in 0-9: {fix}")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(root: str, resolution: int = 32, val_size: int = 5000, seed: int = 0) -> DataSplits:
    """CIFAR-10 from a local ``cifar-10-batches-py`` folder (never downloaded).

    The batch files are pickles; they are read by an unpickler that builds only what a CIFAR-10 batch
    holds (dicts, lists, strings, numbers, uint8 arrays) and refuses any other global, so a crafted
    batch file cannot run code. Shapes, dtypes and labels are checked.

    Args:
        root (str): folder holding ``cifar-10-batches-py`` (or that folder itself).
        resolution (int, optional): side of the square images (resize if not 32). (default: 32)
        val_size (int, optional): images of the 50k train set held out (seeded) as val. (default: 5000)
        seed (int, optional): seed of the val split. (default: 0)

    Returns:
        DataSplits: images ``(3, resolution, resolution)`` normalised with the standard CIFAR-10
        mean/std, int labels, 10 classes.
    """
    resolution = _check_int("resolution", resolution, 4)
    root = os.path.expanduser(str(root))
    if os.path.basename(os.path.normpath(root)) == "cifar-10-batches-py":
        root = os.path.dirname(os.path.normpath(root))
    folder = os.path.join(root, "cifar-10-batches-py")
    if not os.path.isdir(folder):
        raise DataError(f"CIFAR-10 not found: {folder} does not exist; graphnas never downloads, put the "
                        "extracted cifar-10-batches-py folder (from cifar-10-python.tar.gz) there")
    fix = "graphnas never downloads, replace it with a freshly extracted cifar-10-batches-py"
    parts = []
    for names in ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]):
        batches = [_read_cifar_batch(os.path.join(folder, n), fix) for n in names]
        parts.append(_CifarImages(torch.from_numpy(np.concatenate([b[0] for b in batches])),
                                  torch.from_numpy(np.concatenate([b[1] for b in batches])), resolution))
    full, test = parts
    _check_int("val_size", val_size, 1, len(full) - 1)
    perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed)).tolist()
    return DataSplits("cifar10", Subset(full, sorted(perm[val_size:])), Subset(full, sorted(perm[:val_size])),
                      test, 10, (3, resolution, resolution), CIFAR10_MEAN, CIFAR10_STD)


BAD_IMAGES = ("stop", "skip")  #: what :func:`load_image_folder` does with a file that is not a readable image


def _named(path: str) -> str:
    """A file name of an untrusted tree as message text: itself, or its repr if it holds control characters."""
    return path if path.isprintable() else repr(path)


def _image_problem(path: str) -> str | None:
    """Why ``path`` is not a readable image (not a regular file, not an image, truncated), or None."""
    from PIL import Image

    try:
        regular_file(path, "image", "remove it", DataError)
        with Image.open(path) as im:  # the header, and for PNG the chunks' CRCs
            im.verify()
        with Image.open(path) as im:  # the pixels: a truncated file fails here
            im.load()
    except DataError as e:
        return _clip(str(e).split(";")[0].removeprefix(f"image {path} "))  # "is not a regular file (a FIFO...)"
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds (UnidentifiedImageError, OSError, SyntaxError, ...)
        return f"{type(e).__name__}: {_clip(str(e), 60)}"
    return None


def _scan_image_folder(root: str, bad_images: str) -> tuple[list[str], list[tuple[str, int]]]:
    """Classes (sorted subfolders) and ``(file, class index)`` samples in torchvision ``ImageFolder``'s order,
    each file checked once; symlinked folders are followed, but never twice (no loop)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    try:
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    except OSError as e:
        raise DataError(f"image folder {root} cannot be read ({_clip(e.strerror or e)}): pass root=<a readable "
                        f"folder with one subfolder per class>") from None
    samples, empty = [], []
    for index, name in enumerate(classes):
        found, seen = [], set()
        for folder, subfolders, files in os.walk(os.path.join(root, name), followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:
                subfolders[:] = []
                continue
            seen.add(real)
            found += [os.path.join(folder, f) for f in files if f.lower().endswith(IMG_EXTENSIONS)]
        kept = 0
        for path in sorted(found, key=lambda p: (os.path.dirname(p), os.path.basename(p))):
            problem = _image_problem(path)
            if problem is None:
                samples.append((path, index))
                kept += 1
            elif bad_images == "skip":
                print(f"graphnas: warning: skipped {_named(path)}: not a readable image ({problem})", file=sys.stderr)
            else:
                raise DataError(f"{_named(path)} is not a readable image ({problem}): remove or replace it, or skip "
                                f"such files with bad_images='skip' (--bad-images skip)")
        if not kept:
            empty.append(name)
    if not samples:
        raise DataError(f"no images found under {root}: put images in {root}/<class name>/")
    if empty:
        raise DataError(f"class folder(s) {', '.join(map(_named, empty[:5]))} under {root} hold no readable image: "
                        f"put images in them or remove them")
    return classes, samples


class _ImageFiles(Dataset):
    """The checked image files of a folder; items ``(transform(RGB image), class index)``."""

    def __init__(self, classes: list[str], samples: list[tuple[str, int]], transform) -> None:
        self.classes, self.samples, self.transform = classes, samples, transform
        self.targets = [t for _, t in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        from PIL import Image

        path, target = self.samples[i]
        with open(path, "rb") as f:
            image = Image.open(f).convert("RGB")
        return self.transform(image), target


def load_image_folder(root: str, resolution: int = 32, val_fraction: float = 0.1, test_fraction: float = 0.1,
                      seed: int = 0, bad_images: str = "stop") -> DataSplits:
    """Images in ``root/<class name>/<file>`` (torchvision ``ImageFolder``'s layout and order), RGB, split by seed.

    Every file is checked once when the folder is loaded (a regular file that PIL opens, verifies and
    decodes), so a damaged image fails here, not in the middle of training.

    Args:
        root (str): folder with one subfolder per class.
        resolution (int, optional): images are resized to ``(resolution, resolution)``. (default: 32)
        val_fraction (float, optional): share of images in val (stratified where possible). (default: 0.1)
        test_fraction (float, optional): share of images in test. (default: 0.1)
        seed (int, optional): seed of the split. (default: 0)
        bad_images (str, optional): a file with an image extension that is not a readable image: ``"stop"``
            raises a DataError naming it, ``"skip"`` leaves it out with a warning line on stderr naming it.
            (default: ``"stop"``)

    Returns:
        DataSplits: Subsets yielding images ``(3, resolution, resolution)`` normalised to [-1, 1]
        (mean/std 0.5) and int labels; ``num_classes`` is the number of class folders.
    """
    from torchvision import transforms as T
    resolution = _check_int("resolution", resolution, 4)
    if bad_images not in BAD_IMAGES:
        raise DataError(f"bad_images={bad_images!r}: choose 'stop' (fail naming the file) or 'skip' (leave it out)")
    root = os.path.expanduser(str(root))
    if not os.path.isdir(root):
        raise DataError(f"image folder {root} does not exist: "
                        "pass root=<folder with one subfolder per class>")
    tf = T.Compose([T.Resize((resolution, resolution)), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    full = _ImageFiles(*_scan_image_folder(root, bad_images), tf)
    idx = _three_way(np.asarray(full.targets), val_fraction, test_fraction, seed)
    splits = [Subset(full, i.tolist()) for i in idx]
    return DataSplits("imagefolder", *splits, num_classes=len(full.classes),
                      input_shape=(3, resolution, resolution), mean=(0.5,) * 3, std=(0.5,) * 3)


def load_dataset(name: str, root: str | None = None, resolution: int | None = None, bad_images: str = "stop",
                 **kw) -> DataSplits:
    """Load a data set by name (``digits``, ``fashion_mnist``, ``cifar10``, ``imagefolder``).

    Args:
        name (str): one of :data:`DATASETS` (``-`` and case are ignored: ``Fashion-MNIST`` works).
        root (str, optional): data folder; ignored by ``digits``, defaulted by ``fashion_mnist``,
            required by ``cifar10`` and ``imagefolder``. (default: None)
        resolution (int, optional): image side; None takes each loader's default. (default: None)
        bad_images (str, optional): ``"stop"`` or ``"skip"``: what ``imagefolder`` does with a file that is not a
            readable image (see :func:`load_image_folder`); checked for every data set. (default: ``"stop"``)
        **kw: passed on to the loader (``seed``, ``val_size``, ``val_fraction``, ...).

    Returns:
        DataSplits: the loader's splits.
    """
    if bad_images not in BAD_IMAGES:
        raise DataError(f"bad_images={bad_images!r}: choose 'stop' (fail naming the file) or 'skip' (leave it out)")
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
    if key == "cifar10":
        return load_cifar10(root, **kw)
    return load_image_folder(root, bad_images=bad_images, **kw)


def subsample_train(data: DataSplits, size: int, seed: int = 0) -> DataSplits:
    """``data`` with a seeded, stratified subsample of ``size`` training items (validation and test unchanged,
    the normalisation the loader chose kept); ``size`` at least the split's size keeps it whole."""
    ds = data.train
    _check_int("train_size", size, 1)
    if size >= len(ds):
        return data
    labels = (ds.tensors[1].numpy() if isinstance(ds, TensorDataset)
              else np.array([int(ds[i][1]) for i in range(len(ds))]))
    idx = _subsample("train_size", size, labels, np.arange(len(labels)), seed + 1)
    return replace(data, train=Subset(ds, np.sort(idx).tolist()))


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
