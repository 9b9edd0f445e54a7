"""Damaged, crafted and non-regular input files: checkpoints, architecture JSON, data sets on disk.

Every case must end in one GraphnasError line naming the problem (and the field or file) and the fix:
no traceback, no hang, no code run, no model half-loaded.
"""

from __future__ import annotations

import copy
import gzip
import io
import os
import pickle
import signal
import struct
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from graphnas import Architecture, ChoiceEdge, Node, SearchSpace, Stem, Supernet
from graphnas.train.checkpoint import load_checkpoint, read_trained, save_checkpoint
from graphnas.cli.main import main
from graphnas.train.data import load_cifar10, load_dataset, load_digits, load_fashion_mnist, load_image_folder
from graphnas.errors import ArchitectureError, CheckpointError, DataError, GraphnasError
from graphnas.space.registry import get_space
from graphnas.train.samplers import UniformSampler
from graphnas.train.loop import CHECKPOINT, TrainConfig, fit

from test_train import TINY_SPACE_FILE

CONFIG = TrainConfig(epochs=2, batch_size=32, momentum=0.9, seed=1)  # momentum: the optimizer has tensor state
SAMPLES = 64  # 2 steps per epoch


@contextmanager
def no_hang(seconds: int = 30):
    """Fail (instead of hanging the suite) if the block blocks, e.g. on opening a FIFO."""
    def expired(*_):
        raise TimeoutError(f"blocked for {seconds}s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def one_line(err: Exception, *needles: str) -> str:
    msg = str(err)
    assert "\n" not in msg and msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


def space(name: str = "hard8") -> SearchSpace:
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
             ChoiceEdge(1, 2, "stem", ("mbconv_k3_e1", "mbconv_k5_e3")),
             ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1"))]
    return SearchSpace(name, nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))


def supernet(seed: int = 0) -> Supernet:
    torch.manual_seed(seed)
    return Supernet(space())


@pytest.fixture(scope="module")
def data():
    return Subset(load_digits(resolution=8).train, range(SAMPLES))


def train(net, data, out, **kw):
    return fit(net, data, CONFIG, UniformSampler(net.space), progress=False, out=out, average_last_epoch=True,
               checkpoint_every=1, **kw)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, data):
    """Two genuine training checkpoints: in the middle of the averaged last epoch (step 3 of 4), and finished."""
    mid, done = tmp_path_factory.mktemp("mid"), tmp_path_factory.mktemp("done")
    train(supernet(), data, mid, stop_after_steps=4)  # saved after step 3, stopped after step 4
    train(supernet(), data, done)
    load = lambda d: torch.load(d / CHECKPOINT, weights_only=True)  # noqa: E731
    blob = load(mid)
    assert blob["step"] == 3 and blob["average"]["count"] == 1 and blob["optimizer"]["state"]
    return blob, load(done)


def state_of(net) -> dict:
    return {k: v.clone() for k, v in net.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------- non-regular files (defect 3)
def test_fifo_checkpoint_is_refused_not_opened(tmp_path, data):
    os.mkfifo(tmp_path / CHECKPOINT)
    net = supernet()
    with no_hang():
        with pytest.raises(CheckpointError) as info:  # resume=True finds out/checkpoint.pt
            train(net, data, tmp_path, resume=True)
        one_line(info.value, "not a regular file", str(tmp_path / CHECKPOINT))
        with pytest.raises(CheckpointError) as info:  # a named file
            train(net, data, tmp_path / "other", resume=tmp_path / CHECKPOINT)
        one_line(info.value, "not a regular file")
        for reader in (lambda p: load_checkpoint(p), lambda p: read_trained(p)):
            with pytest.raises(CheckpointError, match="not a regular file"):
                reader(tmp_path / CHECKPOINT)
    with pytest.raises(CheckpointError, match="a folder"):
        read_trained(tmp_path)


# ---------------------------------------------------------------------- orphan temporaries (defect 5)
def test_train_resume_removes_temporaries_of_dead_writers_only(tmp_path, capsys):
    space_file = tmp_path / "clitiny.py"
    space_file.write_text(TINY_SPACE_FILE)
    out = tmp_path / "run"
    args = ["train", "--space", str(space_file), "--epochs", "1", "--batch-size", "256", "--out", str(out),
            "--quiet"]
    assert main(args) == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid belongs to no process now: what a SIGKILLed writer leaves behind
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        orphan = out / f".{CHECKPOINT}.{dead.pid}.abcd1234.tmp"
        kept = out / f".{CHECKPOINT}.{live.pid}.abcd1234.tmp"
        for path in (orphan, kept):
            path.write_bytes(b"half a checkpoint")
        assert main(args + ["--resume"]) == 0
        assert not orphan.exists()
        assert kept.exists()  # a running writer's temporary is not touched
        assert (out / CHECKPOINT).is_file()
    finally:
        live.kill()
        live.wait()
    os.mkfifo(out / "fifo.pt")
    with no_hang():
        capsys.readouterr()
        assert main(args + ["--resume", str(out / "fifo.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphnas: error: checkpoint") and "\n" not in err and "not a regular file" in err


# ---------------------------------------------------------------------- training checkpoint fields (defect 9)
def _set(path):
    """A mutation setting ``blob[path[0]][path[1]]... = value``."""
    def mutate(value):
        def apply(blob):
            target = blob
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value(target[path[-1]]) if callable(value) else value
        return apply
    return mutate


def _drop(key):
    def apply(blob):
        del blob[key]
    return apply


def _first(blob, field="model"):
    return next(iter(blob[field]))


def _mut_model_key(blob):
    blob["model"].pop(_first(blob))


def _mut_model_extra(blob):
    blob["model"]["stranger.weight"] = torch.zeros(2)


def _mut_model_shape(blob):
    k = _first(blob)
    blob["model"][k] = torch.zeros(tuple(blob["model"][k].shape) + (2,))


def _mut_model_dtype(blob):
    k = _first(blob)
    blob["model"][k] = blob["model"][k].double()


def _mut_model_nan(blob):
    k = _first(blob)
    blob["model"][k] = torch.full_like(blob["model"][k], float("nan"))


def _mut_momentum_shape(blob):
    state = blob["optimizer"]["state"]
    pid = next(iter(state))
    state[pid]["momentum_buffer"] = torch.zeros(3, 3, 3, 3, 3)


def _mut_avg_key(blob):
    blob["average"]["mean"].pop(next(iter(blob["average"]["mean"])))


def _mut_avg_dtype(blob):
    dtypes = blob["average"]["dtypes"]
    dtypes[next(iter(dtypes))] = "load"  # torch.load is no dtype


CASES = {
    "model missing key": (_mut_model_key, "model"),
    "model unexpected key": (_mut_model_extra, "stranger.weight"),
    "model shape": (_mut_model_shape, "shape"),
    "model dtype": (_mut_model_dtype, "dtype"),
    "model nan": (_mut_model_nan, "NaN"),
    "no optimizer": (_drop("optimizer"), "optimizer"),
    "optimizer not dict": (_set(["optimizer"])("adam"), "optimizer"),
    "momentum shape": (_mut_momentum_shape, "optimizer['state']"),
    "optimizer param id": (_set(["optimizer", "state"])({99: {"momentum_buffer": None}}), "names no parameter"),
    "optimizer lr": (_set(["optimizer", "param_groups", 0, "lr"])("fast"), "['lr']"),
    "optimizer momentum": (_set(["optimizer", "param_groups", 0, "momentum"])(0.5), "['momentum']"),
    "optimizer groups": (_set(["optimizer", "param_groups"])(lambda g: g[:1]), "param_groups"),
    "scheduler lambdas": (_set(["scheduler", "lr_lambdas"])([{"__code__": 1}, None]), "scheduler['lr_lambdas']"),
    "scheduler last_epoch": (_set(["scheduler", "last_epoch"])(1), "last_epoch"),
    "scheduler base_lrs": (_set(["scheduler", "base_lrs"])([1.0, 1.0]), "base_lrs"),
    "step negative": (_set(["step"])(-1), "step"),
    "step beyond total": (_set(["step"])(10 ** 6), "step"),
    "step bool": (_set(["step"])(True), "step"),
    "step text": (_set(["step"])("3"), "step"),
    "epoch": (_set(["epoch"])(5), "epoch"),
    "sampler_rng kind": (_set(["sampler_rng", "bit_generator"])("MT19937"), "sampler_rng"),
    "sampler_rng value": (_set(["sampler_rng", "state", "state"])(-1), "sampler_rng"),
    "sampler_rng tensor": (_set(["sampler_rng"])(torch.zeros(3)), "sampler_rng"),
    "torch_rng size": (_set(["torch_rng"])([torch.zeros(10, dtype=torch.uint8)]), "torch_rng[0]"),
    "torch_rng dtype": (_set(["torch_rng"])(lambda r: [r[0].float()]), "torch_rng[0]"),
    "torch_rng invalid": (_set(["torch_rng"])(lambda r: [torch.full_like(r[0], 255)]), "torch_rng[0]"),
    "torch_rng not list": (_set(["torch_rng"])("seed"), "torch_rng"),
    "torch_rng count": (_set(["torch_rng"])(lambda r: r * 2), "torch_rng"),
    "cuda_rng": (_set(["cuda_rng"])("gpu"), "cuda_rng"),
    "history text": (_set(["history"])("abc"), "history"),
    "history items": (_set(["history"])([1]), "history"),
    "epoch_stats short": (_set(["epoch_stats"])([1.0, 2]), "epoch_stats"),
    "epoch_stats negative": (_set(["epoch_stats"])([-1.0, 0, 0, 0.0]), "epoch_stats"),
    "epoch_stats too many seen": (_set(["epoch_stats"])([1.0, 0, 10 ** 6, 0.0]), "epoch_stats"),
    "world_size zero": (_set(["world_size"])(0), "world_size"),
    "world_size text": (_set(["world_size"])("1"), "world_size"),
    "average dtypes": (_mut_avg_dtype, "average"),
    "average count": (_set(["average", "count"])(7), "average['count']"),
    "average mean": (_mut_avg_key, "average['mean']"),
    "average not dict": (_set(["average"])([1, 2]), "average"),
    "averaged too early": (_set(["averaged_state_dict"])(lambda _: {}), "averaged_state_dict"),
    "meta tensor": (_set(["meta", "scale"])(torch.ones(3)), "meta"),
    "config tensor": (_set(["config", "lr"])(torch.ones(3)), "config"),
    "version tensor": (_set(["version"])(torch.ones(2)), "not a graphnas training checkpoint"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_training_checkpoint_is_refused_and_model_untouched(checkpoints, tmp_path, data, case):
    mutate, needle = CASES[case]
    blob = copy.deepcopy(checkpoints[0])
    mutate(blob)
    save_checkpoint(tmp_path / CHECKPOINT, blob)
    before = (tmp_path / CHECKPOINT).read_bytes()
    net = supernet(seed=5)
    untouched = state_of(net)
    with pytest.raises(CheckpointError) as info:
        train(net, data, tmp_path, resume=True)
    one_line(info.value, needle, str(tmp_path / CHECKPOINT), "delete it")
    assert same_state(net.state_dict(), untouched)
    assert (tmp_path / CHECKPOINT).read_bytes() == before


def test_genuine_checkpoint_still_resumes(checkpoints, tmp_path, data):
    save_checkpoint(tmp_path / CHECKPOINT, checkpoints[0])
    net = supernet(seed=5)
    result = train(net, data, tmp_path, resume=True)
    assert result.start_step == 3 and result.step == 4
    assert same_state(net.state_dict(), checkpoints[1]["model"])


def test_finished_checkpoint_without_averaged_weights_is_refused(checkpoints, tmp_path, data):
    blob = copy.deepcopy(checkpoints[1])
    blob["averaged_state_dict"] = None
    save_checkpoint(tmp_path / CHECKPOINT, blob)
    with pytest.raises(CheckpointError, match="averaged_state_dict"):
        train(supernet(), data, tmp_path, resume=True)


def test_averaged_state_of_wrong_shape_is_refused(checkpoints, tmp_path, data):
    blob = copy.deepcopy(checkpoints[1])
    k = next(iter(blob["averaged_state_dict"]))
    blob["averaged_state_dict"][k] = torch.zeros(1)
    save_checkpoint(tmp_path / CHECKPOINT, blob)
    with pytest.raises(CheckpointError) as info:
        train(supernet(), data, tmp_path, resume=True)
    one_line(info.value, "averaged_state_dict", "shape")


# ---------------------------------------------------------------------- weights for a search: read_trained
@pytest.mark.parametrize("mutate, needle", [
    (lambda s: s.pop(next(iter(s))), "misses"),
    (lambda s: s.update({"x.weight": torch.zeros(1)}), 'unexpected "x.weight"'),
    (lambda s: s.update({next(iter(s)): torch.zeros(1)}), "shape"),
    (lambda s: s.update({next(iter(s)): torch.full_like(next(iter(s.values())), float("inf"))}), "infinite"),
])
def test_read_trained_weights_that_do_not_fit_the_model_are_refused(checkpoints, tmp_path, mutate, needle):
    blob = copy.deepcopy(checkpoints[1])
    mutate(blob["model"])
    save_checkpoint(tmp_path / CHECKPOINT, blob)
    net = supernet(seed=4)
    untouched = state_of(net)
    with pytest.raises(CheckpointError) as info:
        read_trained(tmp_path / CHECKPOINT).load_into(net)
    one_line(info.value, needle)
    assert same_state(net.state_dict(), untouched)


@pytest.mark.parametrize("field, value, needle", [
    ("epoch", "two", "epoch"), ("epoch", True, "epoch"), (("config", "epochs"), "2", "config['epochs']"),
    (("config", "seed"), 1.5, "config['seed']"), ("history", "abc", "history"), ("config", [1], "config"),
    ("model", {"w": "not a tensor"}, "model['w']"), ("meta", torch.ones(2), "meta"), ("model", None, "no model"),
    ("version", 2, "version"),
])
def test_read_trained_refuses_fields_of_the_wrong_type(checkpoints, tmp_path, field, value, needle):
    blob = copy.deepcopy(checkpoints[1])
    if isinstance(field, tuple):
        blob[field[0]][field[1]] = value
    else:
        blob[field] = value
    save_checkpoint(tmp_path / CHECKPOINT, blob)
    with pytest.raises(CheckpointError) as info:
        read_trained(tmp_path / CHECKPOINT).load_into(supernet())
    one_line(info.value, needle)


# ---------------------------------------------------------------------- architecture JSON (defect 9)
ARCH_TEXTS = {
    "deep list": "[" * 100_000 + "]" * 100_000,
    "deep object": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "huge int": '{"format": ' + "7" * 5000 + "}",
    "huge int in choices": '{"format": "graphnas.architecture/1", "space": "st_nas", "ops": [], "choices": [-'
                           + "7" * 5000 + "]}",
    "top-level list": "[1, 2, 3]",
    "top-level number": "42",
    "ops not a list": '{"format": "graphnas.architecture/1", "space": "st_nas", "ops": {"a": 1}}',
    "ops of numbers": '{"format": "graphnas.architecture/1", "space": "st_nas", "ops": [1, 2]}',
    "space object": '{"format": "graphnas.architecture/1", "space": {"name": "st_nas"}, "ops": []}',
    "space with newline": '{"format": "graphnas.architecture/1", "space": "st\\nnas", "ops": []}',
    "op with newline": '{"format": "graphnas.architecture/1", "space": "st_nas", "ops": ["a\\nb"]}',
    "choices object": '{"format": "graphnas.architecture/1", "space": "st_nas", "ops": [], "choices": {}}',
}


@pytest.mark.parametrize("case", sorted(ARCH_TEXTS))
def test_malformed_architecture_json_is_one_line(case):
    sp = get_space("st_nas")
    with pytest.raises(ArchitectureError) as info:
        sp.from_json(ARCH_TEXTS[case])
    assert len(str(info.value)) < 400
    one_line(info.value)


def test_architecture_json_wrong_choices_are_named_briefly():
    sp = get_space("st_nas")
    good = sp.sample(0).to_dict()
    with pytest.raises(ArchitectureError) as info:
        Architecture.from_dict({**good, "choices": list(range(10_000))}, sp)
    assert len(str(info.value)) < 400
    one_line(info.value, "choices")


@pytest.mark.parametrize("case", ["deep list", "huge int"])
def test_cli_malformed_architecture_file(tmp_path, capsys, case):
    path = tmp_path / "arch.json"
    path.write_text(ARCH_TEXTS[case])
    assert main(["cost", "st_nas", "--arch", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("graphnas: error: ")


# ---------------------------------------------------------------------- image folders (defect 9)
def _image_folder(root: Path, n: int = 4) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "emu"):
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def _bad_files(root: Path) -> list[Path]:
    bad = root / "cat" / "bad.png"
    bad.write_text("this is not an image")
    cut = root / "dog" / "cut.png"
    whole = (root / "dog" / "0.png").read_bytes()
    cut.write_bytes(whole[:len(whole) // 2])
    fifo = root / "emu" / "fifo.png"
    os.mkfifo(fifo)
    return [bad, cut, fifo]


def test_image_folder_bad_image_stops_naming_it(tmp_path):
    _image_folder(tmp_path)
    for bad in _bad_files(tmp_path):
        with no_hang(), pytest.raises(DataError) as info:
            load_image_folder(str(tmp_path), resolution=8, val_fraction=0.25, test_fraction=0.25)
        one_line(info.value, str(bad), "not a readable image", "bad_images='skip'", "--bad-images skip")
        bad.unlink()  # the next bad file is named once this one is gone


def test_image_folder_bad_images_skipped_with_a_warning(tmp_path, capsys):
    _image_folder(tmp_path)
    bad = _bad_files(tmp_path)
    with no_hang():
        d = load_dataset("imagefolder", root=str(tmp_path), resolution=8, val_fraction=0.25, test_fraction=0.25,
                         bad_images="skip")
    assert (len(d.train), len(d.val), len(d.test)) == (6, 3, 3) and d.num_classes == 3
    err = capsys.readouterr().err.strip().split("\n")
    assert len(err) == 3
    for path in bad:
        assert any(line.startswith("graphnas: warning: skipped") and str(path) in line for line in err), err
    x, y = d.train[0]  # every kept file loads
    assert x.shape == (3, 8, 8) and 0 <= y < 3


def test_image_folder_class_left_empty_and_bad_option(tmp_path):
    _image_folder(tmp_path, n=2)
    for p in (tmp_path / "emu").iterdir():
        p.write_text("junk")
    with pytest.raises(DataError) as info:
        load_image_folder(str(tmp_path), bad_images="skip")
    one_line(info.value, "emu", "no readable image")
    with pytest.raises(DataError, match="bad_images='maybe'"):
        load_dataset("digits", bad_images="maybe")
    assert load_dataset("digits", resolution=8, bad_images="skip").num_classes == 10  # accepted for every set


def test_image_folder_symlink_loop_terminates(tmp_path):
    _image_folder(tmp_path)
    os.symlink(tmp_path / "cat", tmp_path / "cat" / "again")
    with no_hang():
        d = load_image_folder(str(tmp_path), resolution=8, val_fraction=0.25, test_fraction=0.25)
    assert len(d.train) + len(d.val) + len(d.test) == 12  # the linked folder is not read twice


# ---------------------------------------------------------------------- CIFAR-10 (defect 9)
class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING), as the genuine cifar-10-batches-py files (cPickle) hold them."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256 else
                   pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _dumps(obj, protocol) -> bytes:
    if protocol != "py2":
        return pickle.dumps(obj, protocol=protocol)
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _cifar(root: Path, n: int = 6, protocol: int | str = 2, py2_keys: bool = False) -> dict:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    made = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        key = (lambda k: k) if py2_keys else (lambda k: k.encode())
        blob = {key("batch_label"): key(f"{name} of 6"), key("labels"): labels, key("data"): data,
                key("filenames"): [key(f"img_{i}.png") for i in range(n)]}
        (folder / name).write_bytes(_dumps(blob, protocol))
        made[name] = data, labels
    return made


@pytest.mark.parametrize("protocol, py2_keys", [("py2", False), (2, False), (2, True), (4, False), (5, False)])
def test_cifar10_reads_genuine_batches_exactly(tmp_path, protocol, py2_keys):
    made = _cifar(tmp_path, protocol=protocol, py2_keys=py2_keys)
    d = load_cifar10(str(tmp_path), val_size=5, seed=0)
    assert (len(d.train), len(d.val), len(d.test)) == (25, 5, 6) and d.input_shape == (3, 32, 32)
    x, y = d.test[2]
    data, labels = made["test_batch"]
    back = torch.round((x * torch.tensor(d.std).view(3, 1, 1) + torch.tensor(d.mean).view(3, 1, 1)) * 255)
    assert torch.equal(back.to(torch.uint8), torch.from_numpy(data[2].reshape(3, 32, 32))) and y == labels[2]
    assert load_dataset("cifar10", root=str(tmp_path), resolution=16, val_size=5).train[0][0].shape == (3, 16, 16)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Exploit2(_Exploit):
    def __reduce__(self):
        return (Path.write_text, (self.marker, "owned"))


@pytest.mark.parametrize("kind", [_Exploit, _Exploit2])
def test_cifar10_crafted_pickle_runs_no_code(tmp_path, kind):
    _cifar(tmp_path)
    marker = tmp_path / "marker"
    payload = {b"data": np.zeros((6, 3072), np.uint8), b"labels": [0] * 6, b"evil": kind(marker)}
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError) as info:
        load_cifar10(str(tmp_path))
    one_line(info.value, "data_batch_3", "does not unpickle")
    assert not marker.exists()


@pytest.mark.parametrize("damage, needle", [
    (lambda p: p.write_bytes(p.read_bytes()[:1000]), "corrupt"),
    (lambda p: p.write_bytes(b"garbage"), "corrupt"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((6, 100), np.uint8), b"labels": [0] * 6})), "'data'"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((6, 3072), np.float32), b"labels": [0] * 6})),
     "CIFAR-10 batch file"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((6, 3072), np.uint8), b"labels": [10] * 6})),
     "'labels'"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((6, 3072), np.uint8), b"labels": [0] * 5})),
     "'labels'"),
    (lambda p: p.write_bytes(pickle.dumps([1, 2, 3])), "'data'"),
    (lambda p: (p.unlink(), os.mkfifo(p)), "not a regular file"),
    (lambda p: p.unlink(), "does not exist"),
])
def test_cifar10_damaged_batches_are_refused(tmp_path, damage, needle):
    _cifar(tmp_path)
    damage(tmp_path / "cifar-10-batches-py" / "test_batch")
    with no_hang(), pytest.raises(DataError) as info:
        load_cifar10(str(tmp_path))
    one_line(info.value, "test_batch", needle)


# ---------------------------------------------------------------------- Fashion-MNIST IDX (defect 9)
def _idx(path: Path, magic: int, dims, payload: bytes | None = None, raw: bool = False) -> None:
    data = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in dims)
    data += payload if payload is not None else bytes(int(np.prod(dims)))
    if raw:
        path.write_bytes(data)
    else:
        with gzip.open(path, "wb") as f:
            f.write(data)


def _fashion(root: Path) -> None:
    for part, n in (("train", 30), ("t10k", 10)):
        _idx(root / f"{part}-images-idx3-ubyte.gz", 2051, (n, 28, 28))
        _idx(root / f"{part}-labels-idx1-ubyte.gz", 2049, (n,), bytes(i % 10 for i in range(n)))


def _corrupt_gzip(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[-6] ^= 0xFF  # the CRC / length trailer
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("damage, needle", [
    (lambda p: _idx(p, 2051, (2 ** 31, 28, 28), b""), "dimensions"),
    (lambda p: _idx(p, 2051, (30, 0, 28)), "dimensions"),
    (lambda p: _idx(p, 2051, (30, 28, 28), bytes(30 * 28 * 28 + 5)), "truncated or corrupt"),
    (lambda p: _idx(p, 2051, (30, 28, 28), bytes(100)), "truncated or corrupt"),
    (lambda p: _idx(p, 2049, (30,)), "magic number"),
    (lambda p: p.write_bytes(gzip.compress(b"\x00\x00\x08")), "truncated"),
    (lambda p: p.write_bytes(p.read_bytes()[:-20]), "unreadable"),
    (_corrupt_gzip, "unreadable"),
    (lambda p: (p.unlink(), os.mkfifo(p)), "not a regular file"),
])
def test_fashion_mnist_damaged_idx_is_refused(tmp_path, damage, needle):
    _fashion(tmp_path)
    damage(tmp_path / "train-images-idx3-ubyte.gz")
    with no_hang(), pytest.raises(DataError) as info:
        load_fashion_mnist(root=str(tmp_path), val_size=5)
    one_line(info.value, "train-images-idx3-ubyte", needle, "dataset-fashion-mnist")


def test_fashion_mnist_still_reads_good_files(tmp_path):
    _fashion(tmp_path)
    d = load_fashion_mnist(root=str(tmp_path), val_size=5)
    assert (len(d.train), len(d.val), len(d.test)) == (25, 5, 10)


def test_graphnas_error_family():
    assert issubclass(CheckpointError, GraphnasError) and issubclass(DataError, GraphnasError)


def test_cli_bad_images_flag_stops_or_skips(tmp_path, capsys):
    from graphnas.cli.main import main

    root = tmp_path / "imgs"
    _image_folder(root, n=6)
    (root / "cat" / "bad.png").write_text("this is not an image")
    argv = ["train", "--space", "nb201", "--data", "imagefolder", "--data-root", str(root), "--resolution", "8",
            "--epochs", "1", "--batch-size", "4", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "stop")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "bad.png" in err[0] and "--bad-images skip" in err[0], err
    assert not (tmp_path / "stop").exists()
    assert main([*argv, "--out", str(tmp_path / "skip"), "--bad-images", "skip"]) == 0
    assert "skipped" in capsys.readouterr().err and (tmp_path / "skip" / "checkpoint.pt").is_file()


# ---------------------------------------------------------------------- content digests (silent byte flips)
def _flip_tensor_byte(path: Path, state: dict) -> str:
    """Flip the lowest mantissa bit of one value of a float tensor of ``state`` inside ``path``'s storage
    records; the file still loads, with every value finite and one value changed: only the digest can tell.
    Returns the tensor's name."""
    data = bytearray(path.read_bytes())
    before = _flat(torch.load(path, weights_only=True))
    for name, t in state.items():
        raw = t.detach().cpu().contiguous().numpy().tobytes()
        if t.is_floating_point() and len(raw) >= 32 and raw[:32] in data:
            data[data.find(raw[:32]) + 8] ^= 1  # the first byte of the third float32: its low mantissa bits
            path.write_bytes(bytes(data))
            after = _flat(torch.load(path, weights_only=True))  # still loads, with other numbers in it
            assert after.keys() == before.keys()
            changed = [k for k in after if not torch.equal(after[k], before[k])]
            assert len(changed) == 1 and bool(torch.isfinite(after[changed[0]]).all()), changed
            return name
    raise AssertionError("no float tensor of the state is found in the file")


def _flat(value, prefix: str = "") -> dict:
    """Every tensor inside a loaded blob, by its path."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    return {k: v for key, item in items for k, v in _flat(item, f"{prefix}/{key}").items()}


DAMAGED = "its content does not match its digest"


def test_genuine_files_carry_a_digest_and_round_trip(checkpoints, tmp_path):
    for blob in checkpoints:
        assert isinstance(blob["digest"], str) and len(blob["digest"]) == 32
    save_checkpoint(tmp_path / CHECKPOINT, checkpoints[1])  # re-saving replaces the old digest
    loaded = load_checkpoint(tmp_path / CHECKPOINT)
    assert "digest" not in loaded and same_state(loaded["model"], checkpoints[1]["model"])
    trained = read_trained(tmp_path / CHECKPOINT, averaged=True)
    assert same_state(trained.state_dict, checkpoints[1]["averaged_state_dict"])


def test_flipped_byte_in_a_resumed_checkpoint_is_refused(checkpoints, tmp_path, data):
    path = tmp_path / CHECKPOINT
    save_checkpoint(path, checkpoints[0])
    _flip_tensor_byte(path, checkpoints[0]["model"])
    before = path.read_bytes()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    one_line(info.value, str(path), DAMAGED, "delete it")
    net = supernet(seed=5)
    untouched = state_of(net)
    with pytest.raises(CheckpointError) as info:
        train(net, data, tmp_path, resume=True)
    one_line(info.value, str(path), DAMAGED)
    assert same_state(net.state_dict(), untouched) and path.read_bytes() == before


def test_flipped_byte_in_averaged_weights_is_refused(checkpoints, tmp_path):
    path = tmp_path / CHECKPOINT
    save_checkpoint(path, checkpoints[1])
    averaged = checkpoints[1]["averaged_state_dict"]
    differs = {k: v for k, v in averaged.items() if not torch.equal(v, checkpoints[1]["model"][k])}
    _flip_tensor_byte(path, differs)
    with pytest.raises(CheckpointError) as info:
        read_trained(path, averaged=True)
    one_line(info.value, str(path), DAMAGED)


def test_flipped_byte_in_searched_weights_is_refused_by_the_search_command(checkpoints, tmp_path, capsys):
    path = tmp_path / CHECKPOINT
    save_checkpoint(path, checkpoints[1])
    _flip_tensor_byte(path, checkpoints[1]["model"])
    with pytest.raises(CheckpointError) as info:
        read_trained(path)
    one_line(info.value, str(path), DAMAGED)
    assert main(["search", "--checkpoint", str(path), "--space", "nb201", "--out", str(tmp_path / "o"),
                 "--quiet", "--no-lookup"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphnas: error:") and "\n" not in err and DAMAGED in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("digest, needle", [
    (None, "has no content digest"), (12345, "its digest is 12345"), ("abc", 'its digest is "abc"'),
    (torch.zeros(32), "its digest is a float32 tensor"), ("0" * 32, DAMAGED),
])
def test_missing_or_malformed_digest_is_refused(checkpoints, tmp_path, data, digest, needle):
    blob = dict(checkpoints[0])
    blob.pop("digest")
    if digest is not None:
        blob["digest"] = digest
    path = tmp_path / CHECKPOINT
    torch.save(blob, path)  # by hand: an older graphnas, or a damaged digest
    net = supernet(seed=5)
    untouched = state_of(net)
    for reader in (lambda: load_checkpoint(path), lambda: train(net, data, tmp_path, resume=True),
                   lambda: read_trained(path)):
        with pytest.raises(CheckpointError) as info:
            reader()
        one_line(info.value, str(path), needle, "write it again")
    assert same_state(net.state_dict(), untouched)


def test_values_graphnas_never_writes_are_refused_at_the_digest(checkpoints, tmp_path):
    blob = {**checkpoints[0], "step": 3 + 0j, "digest": "0" * 32}  # weights_only loads a complex number
    torch.save(blob, tmp_path / CHECKPOINT)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / CHECKPOINT)
    one_line(info.value, "a value graphnas does not write", "write it again")
