"""Checkpoints: tensors and plain containers only, written atomically, refused when they do not fit.

One format: the training checkpoint (:func:`save_checkpoint` / :func:`load_checkpoint`) that
:func:`graphnas.train.loop.fit` writes as ``<out>/checkpoint.pt`` for every job (``graphnas run``, ``train``), which
``--resume`` continues and ``graphnas search`` reads (:func:`read_trained`)::

      format        "graphnas-train"          version       1
      meta          {"space", "fingerprint", "scale"} or {"model": class name} (+ "arch": hash)
      config        TrainConfig.to_dict() plus the run options that change the result
      step, epoch   global steps done, epochs done (step // steps_per_epoch)
      model         model.state_dict()        optimizer, scheduler   their state_dicts
      sampler_rng   numpy bit_generator.state (a dict of ints and strings)
      sampler_state the sampler's own state_dict() when it has one, else None
      torch_rng     [torch.get_rng_state() of every rank]   cuda_rng  [per-device states] or None
      epoch_stats   loss sum, correct, seen, seconds of the epoch in progress
      history       one dict per finished epoch
      average       {"sum": {name: float64 tensor}, "count": int} while averaging, else None
      averaged_state_dict  the averaged weights once the last epoch is done, else None
      world_size    processes that trained it
      digest        content_digest of all the fields above (every file graphnas writes)

Files are written with ``torch.save`` to a temporary file renamed onto the target
(:func:`graphnas.utils.atomic_target`), so a kill never leaves half a file, and read with
``torch.load(..., weights_only=True)``: nothing but tensors and plain containers is ever unpickled.
Every file carries a ``digest`` (:func:`graphnas.digest.content_digest` of its other fields), recomputed
by :func:`_read` before any field is used: a byte flipped inside tensor data leaves a file that loads and
passes every check below with other numbers, and is refused by the digest instead. A file without one
(an older graphnas) is refused too: write it again.
A file that cannot be read, or was made for another space or config, raises one
:class:`~graphnas.errors.CheckpointError` line naming the file and the fix; nothing is written
before that check. A file that is not a regular file (a FIFO would block ``torch.load``) is refused
before it is opened. Every field a resume or a search reads is checked against what it is loaded into
(:func:`check_resume_state`, :meth:`Trained.load_into`) before anything is loaded:
state-dict keys, shapes, dtypes and finite values, optimizer and scheduler states, RNG states, step,
epoch, history, statistics and averages; a refused file leaves the model untouched.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from .averaging import WeightAverager
from ..checks import shown
from ..digest import DIGEST_CHARS, content_digest
from ..errors import CheckpointError
from ..files import regular_file
from ..utils import atomic_target

__all__ = ["FORMAT", "VERSION", "model_meta", "save_checkpoint", "load_checkpoint", "check_meta", "check_config",
           "rng_state", "set_rng_state", "load_averaged", "Trained", "read_trained", "read_sampler_state",
           "check_resume_state"]

FORMAT = "graphnas-train"
VERSION = 1


def model_meta(model: nn.Module) -> dict:
    """What a checkpoint must match: the space's name, structural fingerprint and scale.

    For a standalone :class:`~graphnas.nets.compile.Network` the architecture hash is added; a module with
    no ``space`` attribute is identified by its class name only.
    """
    space = getattr(model, "space", None)
    if space is None:
        return {"model": type(model).__name__}
    meta = {"space": space.name, "fingerprint": space.fingerprint, "scale": dict(space.scale)}
    arch = getattr(model, "arch", None)
    if arch is not None:
        meta["arch"] = arch.hash
    return meta


def rng_state(rng: np.random.Generator) -> dict:
    """The state of a numpy Generator as plain ints and strings (what ``weights_only`` loads)."""
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    """Restore a state written by :func:`rng_state` (the bit generator kinds must match)."""
    rng.bit_generator.state = state


#: The key of a file's content digest, and the fix for a file whose content does not match it.
DIGEST = "digest"
REDO = "delete it and write it again (rerun the `graphnas train` or `graphnas run` that wrote it)"


def save_checkpoint(path: str | Path, blob: dict) -> Path:
    """``torch.save`` ``blob`` (tensors and plain containers) to ``path`` atomically, with its content digest
    (``blob``'s own ``digest`` key, if any, is replaced)."""
    path = Path(path)
    body = {k: v for k, v in blob.items() if k != DIGEST}
    body[DIGEST] = content_digest(body)  # hashed before the key is added: what _check_digest recomputes
    with atomic_target(path) as tmp:
        torch.save(body, tmp)
    return path


def _check_digest(path: Path, blob: dict) -> dict:
    """``blob`` without its digest, once the digest is there and matches the content; else one CheckpointError."""
    saved = blob.get(DIGEST)
    if saved is None:
        raise CheckpointError(f"checkpoint {path} has no content digest (written by an older graphnas, or not by "
                              f"graphnas); {REDO}")
    body = {k: v for k, v in blob.items() if k != DIGEST}
    if not isinstance(saved, str) or len(saved) != DIGEST_CHARS:
        raise CheckpointError(f"checkpoint {path} is damaged: its digest is {shown(saved, 60)}, expected "
                              f"{DIGEST_CHARS} hexadecimal characters; {REDO}")
    try:
        actual = content_digest(body)
    except Exception as err:  # noqa: BLE001 - TypeError, RuntimeError, RecursionError: the same user error
        # a value graphnas never writes (a complex number, a sparse tensor, ...) that weights_only still loads
        raise CheckpointError(f"checkpoint {path} is damaged or was not written by graphnas: it holds a value "
                              f"graphnas does not write ({type(err).__name__}); {REDO}") from None
    if actual != saved:
        raise CheckpointError(f"checkpoint {path} is damaged: its content does not match its digest (a byte "
                              f"changed on disk); {REDO}")
    return body


def _read(path: Path, fix: str, missing: str | None = None) -> dict:
    """The dict a checkpoint file holds (``torch.load(weights_only=True)``), its digest checked and removed, or
    one CheckpointError line.

    A path that is not a regular file (a FIFO would block ``torch.load`` forever, a folder fails deep in
    it) is refused first; ``missing`` is the fix for a file that does not exist (default: ``fix``).
    """
    if missing is not None and not os.path.lexists(path):
        raise CheckpointError(f"checkpoint {path} does not exist; {missing}")
    regular_file(path, "checkpoint", fix, CheckpointError)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist; {missing or fix}") from None
    except Exception as err:  # noqa: BLE001 - truncated, corrupt or foreign: the same user error
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}: truncated or not a "
                              f"graphnas file); {fix}") from None
    if not isinstance(blob, dict):
        raise CheckpointError(f"checkpoint {path} is unreadable (holds a {type(blob).__name__}, not a dict); {fix}")
    return _check_digest(path, blob)


# ---------------------------------------------------------------------- field checks
class _Bad(Exception):
    """A field that does not fit (internal): its message becomes one CheckpointError line."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_field(value, where: str, low: int, high: int | None = None) -> int:
    if not _is_int(value) or value < low or (high is not None and value > high):
        want = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise _Bad(f"{where} is {shown(value)}, expected an integer {want}")
    return value


def _plain(value, where: str, depth: int = 0) -> None:
    """Refuse anything but JSON-like data (dict with str keys, list, str, int, float, bool, None)."""
    if depth > 32:
        raise _Bad(f"{where} is nested too deeply")
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _plain(v, f"{where}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Bad(f"{where} has the key {shown(k)}; keys must be strings")
            _plain(v, f"{where}[{k!r}]", depth + 1)
    else:
        raise _Bad(f"{where} holds {shown(value)}; only plain values are expected there")


def _check_tensor(value, where: str, shape=None, dtype=None) -> None:
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.is_quantized:
        raise _Bad(f"{where} is {shown(value)}, expected a dense tensor")
    if shape is not None and value.shape != shape:
        raise _Bad(f"{where} has shape {tuple(value.shape)}, expected {tuple(shape)}")
    if dtype is not None and value.dtype != dtype:
        raise _Bad(f"{where} has dtype {str(value.dtype).removeprefix('torch.')}, expected "
                   f"{str(dtype).removeprefix('torch.')}")
    if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
        raise _Bad(f"{where} holds NaN or infinite values (a diverged run or a damaged file)")


def _keys_like(value: dict, ref: dict, where: str) -> None:
    missing = [k for k in ref if k not in value]
    extra = [k for k in value if k not in ref]
    if missing or extra:
        def few(keys):
            return ", ".join(shown(k, 60) for k in keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        parts = ([f"misses {few(missing)}"] if missing else []) + ([f"has unexpected {few(extra)}"] if extra else [])
        raise _Bad(f"{where} {' and '.join(parts)}")


def _like(value, ref, where: str) -> None:
    """Raise :class:`_Bad` unless ``value`` has the structure of ``ref``: the same dict keys and list lengths,
    tensors of the same shape and dtype (finite), scalars of the same type (finite numbers)."""
    if isinstance(ref, torch.Tensor):
        _check_tensor(value, where, ref.shape, ref.dtype)
    elif isinstance(ref, dict):
        if not isinstance(value, dict):
            raise _Bad(f"{where} is {shown(value)}, expected a dict")
        _keys_like(value, ref, where)
        for k in ref:
            _like(value[k], ref[k], f"{where}[{k!r}]")
    elif isinstance(ref, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(ref):
            raise _Bad(f"{where} is {shown(value)}, expected a list of {len(ref)}")
        for i, (v, r) in enumerate(zip(value, ref)):
            _like(v, r, f"{where}[{i}]")
    elif isinstance(ref, bool):
        if not isinstance(value, bool):
            raise _Bad(f"{where} is {shown(value)}, expected true or false")
    elif isinstance(ref, int):
        if not _is_int(value):
            raise _Bad(f"{where} is {shown(value)}, expected an integer")
    elif isinstance(ref, float):
        if not _is_number(value):
            raise _Bad(f"{where} is {shown(value)}, expected a finite number")
    elif ref is None:
        if value is not None:
            raise _Bad(f"{where} is {shown(value)}, expected None")
    elif type(value) is not type(ref):
        raise _Bad(f"{where} is {shown(value)}, expected a {type(ref).__name__}")


def _state_dict_like(value, ref: dict, where: str) -> None:
    """A state dict (str -> tensor) with exactly ``ref``'s keys, shapes and dtypes, all finite."""
    if not isinstance(value, dict):
        raise _Bad(f"{where} is {shown(value)}, expected a state dict")
    _keys_like(value, ref, where)
    for k, r in ref.items():
        _check_tensor(value[k], f"{where}[{k!r}]", r.shape, r.dtype)


def _tensor_dict(value, where: str) -> dict:
    """A dict of str -> finite dense tensor (shapes checked later against a model)."""
    if not isinstance(value, dict) or not value:
        raise _Bad(f"{where} is {shown(value)}, expected a non-empty state dict")
    for k, v in value.items():
        if not isinstance(k, str):
            raise _Bad(f"{where} has the key {shown(k)}; keys must be parameter names")
        _check_tensor(v, f"{where}[{k!r}]")
    return value


@contextmanager
def _refuse(path: Path, fix: str) -> Iterator[None]:
    """Turn a :class:`_Bad` raised inside into one CheckpointError line about ``path``."""
    try:
        yield
    except _Bad as err:
        raise CheckpointError(f"checkpoint {path} is damaged or was not written by graphnas: {err}; {fix}") from None


def _check_optimizer(saved, optimizer: torch.optim.Optimizer) -> None:
    ref = optimizer.state_dict()
    if not isinstance(saved, dict):
        raise _Bad(f"optimizer is {shown(saved)}, expected an optimizer state dict")
    _keys_like(saved, ref, "optimizer")
    groups = saved["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(ref["param_groups"]):
        raise _Bad(f"optimizer['param_groups'] is {shown(groups)}, expected a list of {len(ref['param_groups'])}")
    shapes = {}
    for i, (group, ref_group, live) in enumerate(zip(groups, ref["param_groups"], optimizer.param_groups)):
        where = f"optimizer['param_groups'][{i}]"
        _like(group, ref_group, where)
        for key, want in ref_group.items():
            if key != "lr" and group[key] != want:
                raise _Bad(f"{where}[{key!r}] is {shown(group[key])}, expected {shown(want)} (the training options)")
        if group["lr"] < 0:
            raise _Bad(f"{where}['lr'] is {shown(group['lr'])}, expected a learning rate >= 0")
        shapes.update({pid: (p.shape, p.dtype) for pid, p in zip(ref_group["params"], live["params"])})
    state = saved["state"]
    if not isinstance(state, dict):
        raise _Bad(f"optimizer['state'] is {shown(state)}, expected a dict")
    for pid, entry in state.items():
        where = f"optimizer['state'][{shown(pid)}]"
        if not _is_int(pid) or pid not in shapes:
            raise _Bad(f"{where} names no parameter of this model (ids 0..{len(shapes) - 1})")
        if not isinstance(entry, dict):
            raise _Bad(f"{where} is {shown(entry)}, expected a dict")
        shape, dtype = shapes[pid]
        for key, value in entry.items():
            at = f"{where}[{shown(key)}]"
            if not isinstance(key, str):
                raise _Bad(f"{at}: keys must be strings")
            if isinstance(value, torch.Tensor):
                _check_tensor(value, at, shape if value.ndim else value.shape, dtype if value.ndim else None)
            elif value is not None and not _is_number(value):
                raise _Bad(f"{at} is {shown(value)}, expected a tensor, a number or None")


def _check_rng(saved, world: int) -> None:
    """``sampler_rng``: a numpy bit generator state; ``torch_rng``: one CPU generator state per rank."""
    _plain(saved["sampler_rng"], "sampler_rng")
    if not isinstance(saved["sampler_rng"], dict):
        raise _Bad(f"sampler_rng is {shown(saved['sampler_rng'])}, expected a numpy bit generator state")
    probe = np.random.default_rng(0)
    if saved["sampler_rng"].get("bit_generator") != probe.bit_generator.state["bit_generator"]:
        raise _Bad(f"sampler_rng is for the bit generator {shown(saved['sampler_rng'].get('bit_generator'))}, "
                   f"expected {probe.bit_generator.state['bit_generator']!r}")
    try:
        set_rng_state(probe, saved["sampler_rng"])  # numpy checks every field (types, ranges)
    except Exception as err:  # noqa: BLE001 - ValueError, TypeError, OverflowError, KeyError
        raise _Bad(f"sampler_rng is not a valid numpy generator state ({type(err).__name__}: "
                   f"{shown(str(err), 60)})") from None
    rngs, ref = saved["torch_rng"], torch.get_rng_state()
    if not isinstance(rngs, (list, tuple)) or len(rngs) != world:
        raise _Bad(f"torch_rng is {shown(rngs)}, expected a list of {world} generator states (one per process)")
    for i, state in enumerate(rngs):
        _check_tensor(state, f"torch_rng[{i}]", ref.shape, torch.uint8)
        try:
            torch.Generator().set_state(state)
        except RuntimeError as err:
            raise _Bad(f"torch_rng[{i}] is not a valid torch generator state ({shown(str(err), 60)})") from None
    cuda = saved["cuda_rng"]
    if cuda is not None:
        if not isinstance(cuda, (list, tuple)):
            raise _Bad(f"cuda_rng is {shown(cuda)}, expected None or a list of CUDA generator states")
        count = torch.cuda.device_count() if torch.cuda.is_available() else None
        if count is not None and len(cuda) > count:
            raise _Bad(f"cuda_rng holds {len(cuda)} CUDA generator states, this machine has {count} GPUs")
        for i, state in enumerate(cuda):
            shape = torch.cuda.get_rng_state(i).shape if count else None
            _check_tensor(state, f"cuda_rng[{i}]", shape, torch.uint8)


def check_resume_state(path: str | Path, blob: dict, model: nn.Module, optimizer: torch.optim.Optimizer,
                       scheduler, sampler=None, *, steps_per_epoch: int, epochs: int, batch_size: int,
                       average_last_epoch: bool, fix: str = "delete it or use another --out folder") -> None:
    """Check every field :func:`graphnas.train.loop.fit` reads from a training checkpoint against what it is loaded
    into, before anything is modified; a field that does not fit raises one CheckpointError line naming it.

    Args:
        path: the checkpoint file (for messages).
        blob (dict): what :func:`load_checkpoint` returned (format, meta and config already checked).
        model, optimizer, scheduler: what ``model``, ``optimizer`` and ``scheduler`` are loaded into.
        sampler: the path sampler: ``sampler.check_state(state, path)`` checks ``sampler_state`` when it has one
            (raising a one-line CheckpointError), else its ``state_dict()``, when it has one, is the shape of
            ``sampler_state``.
        steps_per_epoch, epochs, batch_size, average_last_epoch: of the run that resumes.
    """
    path = Path(path)
    total = steps_per_epoch * epochs
    with _refuse(path, fix):
        fields = ("step", "epoch", "model", "optimizer", "scheduler", "sampler_rng", "sampler_state", "torch_rng",
                  "cuda_rng", "epoch_stats", "history", "average", "averaged_state_dict", "world_size")
        missing = [k for k in fields if k not in blob]
        if missing:
            raise _Bad(f"it has no {', '.join(missing)}")
        step = _int_field(blob["step"], "step", 0, total)
        _int_field(blob["epoch"], "epoch", step // steps_per_epoch, step // steps_per_epoch)
        world = _int_field(blob["world_size"], "world_size", 1, 1 << 16)
        reference = model.state_dict()
        _state_dict_like(blob["model"], reference, "model")
        _check_optimizer(blob["optimizer"], optimizer)
        _like(blob["scheduler"], scheduler.state_dict(), "scheduler")
        for key in ("base_lrs", "lr_lambdas"):
            if blob["scheduler"][key] != scheduler.state_dict()[key]:
                raise _Bad(f"scheduler[{key!r}] is {shown(blob['scheduler'][key])}, expected "
                           f"{shown(scheduler.state_dict()[key])} (the training options)")
        if blob["scheduler"]["last_epoch"] != step:
            raise _Bad(f"scheduler['last_epoch'] is {blob['scheduler']['last_epoch']}, expected the step {step}")
        _check_rng(blob, world)
        if hasattr(sampler, "check_state"):  # a sampler whose state changes shape (PC-NAS's pool) checks it itself
            sampler.check_state(blob["sampler_state"], path)
        elif blob["sampler_state"] is not None and hasattr(sampler, "load_state_dict") \
                and hasattr(sampler, "state_dict"):
            _like(blob["sampler_state"], sampler.state_dict(), "sampler_state")
        stats = blob["epoch_stats"]
        if not isinstance(stats, (list, tuple)) or len(stats) != 4 or not all(map(_is_number, stats)) \
                or not _is_int(stats[1]) or not _is_int(stats[2]) or min(stats) < 0 or stats[1] > stats[2] \
                or stats[2] > (step % steps_per_epoch) * batch_size:
            raise _Bad(f"epoch_stats is {shown(stats)}, expected [loss sum, correct, seen, seconds] of the "
                       f"{step % steps_per_epoch} steps of the epoch in progress")
        history = blob["history"]
        if not isinstance(history, list) or len(history) != step // steps_per_epoch:
            raise _Bad(f"history is {shown(history)}, expected a list of {step // steps_per_epoch} dicts, one per "
                       f"finished epoch")
        for i, entry in enumerate(history):
            _plain(entry, f"history[{i}]")
            if not isinstance(entry, dict) or entry.get("epoch") != i + 1:
                raise _Bad(f"history[{i}] is {shown(entry)}, expected a dict of epoch {i + 1}")
        done_in_last = step - (epochs - 1) * steps_per_epoch
        if blob["average"] is not None:
            if not (average_last_epoch and 0 < done_in_last < steps_per_epoch):
                raise _Bad("average is set outside the last epoch of a run with --average-last-epoch")
            ref_avg = WeightAverager()
            ref_avg.update({k: v.detach().to("meta") for k, v in reference.items()})
            _like(blob["average"], {**ref_avg.state(), "count": 0}, "average")
            for key, want in ref_avg.state()["dtypes"].items():
                if blob["average"]["dtypes"][key] != want:
                    raise _Bad(f"average['dtypes'][{key!r}] is {shown(blob['average']['dtypes'][key])}, expected "
                               f"{want!r} (the model's)")
            if blob["average"]["count"] != done_in_last:
                raise _Bad(f"average['count'] is {blob['average']['count']}, expected the {done_in_last} steps done "
                           f"in the last epoch")
        if blob["averaged_state_dict"] is not None:
            if not (average_last_epoch and step == total):
                raise _Bad("averaged_state_dict is set before the end of a run with --average-last-epoch")
            _state_dict_like(blob["averaged_state_dict"], reference, "averaged_state_dict")
        elif average_last_epoch and step == total:
            raise _Bad("averaged_state_dict is missing although the run averaged its finished last epoch")


def load_checkpoint(path: str | Path, meta: dict | None = None, config: dict | None = None,
                    defaults: dict | None = None) -> dict:
    """Read a training checkpoint, checking its format, and its meta and config when given.

    The fields a resume reads are checked against the model by :func:`check_resume_state` (``fit`` calls it).

    Args:
        path (str or Path): the file written by :func:`save_checkpoint`.
        meta (dict, optional): what :func:`model_meta` gives for the model about to be loaded.
        config (dict, optional): the training options of the run that resumes.
        defaults (dict, optional): the value of an option the checkpoint does not name (it predates it).

    Raises:
        CheckpointError: missing, not a regular file, unreadable/truncated, not a training checkpoint, or
            another space/config.
    """
    path = Path(path)
    fix = "delete it or use another --out folder"
    blob = _read(path, fix, missing="check the path, or start without resuming")
    fmt, version = blob.get("format"), blob.get("version")
    if not isinstance(fmt, str) or fmt != FORMAT or not _is_int(version) or version != VERSION:
        raise CheckpointError(f"checkpoint {path} is not a graphnas training checkpoint (format "
                              f"{shown(fmt)} version {shown(version)}, expected {FORMAT!r} "
                              f"version {VERSION}); {fix}")
    with _refuse(path, fix):
        for key in ("meta", "config"):
            _plain(blob.get(key), key)
            if not isinstance(blob.get(key), dict):
                raise _Bad(f"{key} is {shown(blob.get(key))}, expected a dict")
    if meta is not None:
        check_meta(path, blob.get("meta"), meta)
    if config is not None:
        check_config(path, blob.get("config"), config, defaults)
    return blob


def check_meta(path: Path, saved: dict | None, meta: dict,
               fix: str = "use another --out folder or delete it") -> None:
    """Refuse a checkpoint of another space (name or fingerprint), scale, architecture or model class."""
    if saved == meta:
        return
    saved = saved if isinstance(saved, dict) else {}
    if "space" in meta and saved.get("space") is not None:
        what = f"space {shown(saved['space'])}"
        if saved.get("space") == meta["space"] and saved.get("fingerprint") != meta.get("fingerprint"):
            what += f" with fingerprint {shown(saved.get('fingerprint'))} (other edges or operators)"
        elif saved.get("space") == meta["space"] and saved.get("scale") != meta.get("scale"):
            what += f" at scale {shown(saved.get('scale'), 200)}"
        elif saved.get("space") == meta["space"]:
            what += f" architecture {shown(saved.get('arch'))}"
        now = f"'{meta['space']}'" + (f" at scale {meta.get('scale')}" if saved.get("scale") != meta.get("scale") else "")
    else:
        what, now = shown(saved, 300), f"{meta}"
    raise CheckpointError(f"checkpoint {path} was made for {what}, not {now}; {fix}")


def check_config(path: Path, saved: dict | None, config: dict, defaults: dict | None = None) -> None:
    """Refuse a checkpoint trained with other options (resuming would not continue the same run); an option
    the checkpoint does not name counts as ``defaults[option]`` (it was written before the option existed)."""
    if isinstance(saved, dict):
        saved = {**{k: v for k, v in (defaults or {}).items() if k in config}, **saved}
    else:
        saved = {}
    diff = [f"{k} {shown(saved.get(k), 40)} -> {config.get(k)!r}" for k in sorted(set(saved) | set(config))
            if saved.get(k) != config.get(k)]
    if diff:
        more = f" and {len(diff) - 8} more" if len(diff) > 8 else ""
        raise CheckpointError(f"checkpoint {path} was made with other training options ({', '.join(diff[:8])}{more}); "
                              f"resume with the same options, or use another --out folder or delete it")


def load_averaged(path: str | Path, meta: dict | None = None) -> dict:
    """The ``averaged_state_dict`` of a finished training checkpoint (see ``average_last_epoch``)."""
    blob = load_checkpoint(path, meta)
    if blob.get("averaged_state_dict") is None:
        raise CheckpointError(f"checkpoint {path} holds no averaged weights (trained without --average-last-epoch, "
                              f"or its last epoch is not finished); train with --average-last-epoch")
    with _refuse(Path(path), "delete it or use another --out folder"):
        return _tensor_dict(blob["averaged_state_dict"], "averaged_state_dict")


@dataclass
class Trained:
    """Finished supernet weights read for a search (:func:`read_trained`).

    Attributes:
        path (Path): the file.
        state_dict (dict): the weights (the averaged ones when asked for).
        meta (dict): the space's ``name``/``fingerprint``/``scale`` it was trained for.
        history (list of dict): one dict per training epoch.
        options (dict): the training options the checkpoint was made with (its ``config``: TrainConfig fields
            and the run options), for estimators that continue training (SGLD, fine-tuning).
        seed (int): the training seed, which also seeded the data splits (a search must reuse them, or it
            would score paths on images the supernet trained on).
        sampler_state: the path sampler's own state as saved, unchecked (a PC-NAS pool: its sampler checks it).
    """

    path: Path
    state_dict: dict
    meta: dict
    history: list
    seed: int
    options: dict
    sampler_state: object = None

    def check_model(self, model: nn.Module) -> None:
        """Refuse a model of another space or scale than the one trained (one line naming the flags to pass)."""
        check_meta(self.path, self.meta, model_meta(model), fix="pass the same --space, --scale, --ops, --data and "
                   "--resolution as the training run")

    def load_into(self, model: nn.Module) -> None:
        """Load the weights, refusing a model of another space or scale, or weights that do not fit it (missing
        or unexpected names, other shapes or dtypes): ``model`` is left untouched then."""
        self.check_model(model)
        with _refuse(self.path, "pass a checkpoint.pt written by `graphnas train` or `graphnas run`"):
            _state_dict_like(self.state_dict, model.state_dict(), "weights")
        model.load_state_dict(self.state_dict)


def read_sampler_state(path: str | Path):
    """The ``sampler_state`` of a training checkpoint (``weights_only``, digest checked), unchecked: the sampler
    that reads it checks it (SE-NAS rebuilds its space and private weights from it before resuming)."""
    path = Path(path)
    fix = "delete it or use another --out folder"
    blob = _read(path, fix)
    if blob.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is unreadable (format {shown(blob.get('format'))}: not a graphnas "
                              f"training checkpoint); {fix}")
    return blob.get("sampler_state")


def read_trained(path: str | Path, averaged: bool = False, unfinished: bool = False) -> Trained:
    """Read a finished supernet: the training checkpoint of ``graphnas train`` or ``graphnas run``
    (``checkpoint.pt``): its final weights, or with ``averaged`` the mean over its last epoch.
    ``unfinished=True`` also reads a checkpoint of an epoch before the last (one ``fit`` kept with
    ``keep_epochs``, say); its ``history`` then ends at that epoch.

    Raises:
        CheckpointError: missing, not a regular file or unreadable file, not a training checkpoint, a field of
            the wrong type, training not finished, or no averaged weights when ``averaged`` is asked for.
    """
    path = Path(path)
    fix = "pass the checkpoint.pt a `graphnas train` or `graphnas run` wrote"
    blob = _read(path, fix, missing=fix)
    keys = ("space", "fingerprint", "scale")
    with _refuse(path, fix):
        if blob.get("format") != FORMAT:
            raise CheckpointError(f"checkpoint {path} is unreadable (format {shown(blob.get('format'))}: not a "
                                  f"graphnas training checkpoint); {fix}")
        if not _is_int(blob.get("version")) or blob["version"] != VERSION:
            raise _Bad(f"version is {shown(blob.get('version'))}, expected {VERSION}")
        for key in ("meta", "config", "history"):
            _plain(blob.get(key), key)
        config, meta, history = blob.get("config"), blob.get("meta"), blob.get("history")
        if not isinstance(config, dict) or not isinstance(meta, dict):
            raise _Bad(f"config is {shown(config)} and meta {shown(meta)}, expected dicts")
        total = _int_field(config.get("epochs"), "config['epochs']", 1)
        seed = _int_field(config.get("seed"), "config['seed']", 0)
        done = _int_field(blob.get("epoch"), "epoch", 0, total)
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise _Bad(f"history is {shown(history)}, expected a list of dicts")
        if done < total and not unfinished:
            raise CheckpointError(f"checkpoint {path} is at epoch {done} of {total}; finish training first with "
                                  f"`graphnas train --resume` (same options)")
        state = blob.get("averaged_state_dict") if averaged else blob.get("model")
        if state is None and not averaged:
            raise _Bad("it holds no model weights")
        if state is None:
            raise CheckpointError(f"checkpoint {path} holds no averaged weights; train with --average-last-epoch, "
                                  f"or search its final weights (another --estimator than weight_averaging)")
        state = _tensor_dict(state, "averaged_state_dict" if averaged else "model")
    return Trained(path, state, {k: meta.get(k) for k in keys}, list(history), seed, dict(config),
                   blob.get("sampler_state"))
