"""Checkpoints: tensors and plain containers only, written atomically, refused when they do not fit.

One mechanism serves two kinds of file:

* **weights** (:func:`save_weights` / :func:`load_weights`): ``{"state_dict", "meta"}``, what
  ``graphnas run`` keeps as ``supernet.pt``;
* **training checkpoints** (:func:`save_checkpoint` / :func:`load_checkpoint`), what
  :func:`graphnas.train.fit` writes as ``<out>/checkpoint.pt``::

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

Files are written with ``torch.save`` to a temporary file renamed onto the target
(:func:`graphnas.utils.atomic_target`), so a kill never leaves half a file, and read with
``torch.load(..., weights_only=True)``: nothing but tensors and plain containers is ever unpickled.
A file that cannot be read, or was made for another space or config, raises one
:class:`~graphnas.errors.CheckpointError` line naming the file and the fix; nothing is written
before that check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import CheckpointError
from .utils import atomic_target

__all__ = ["FORMAT", "VERSION", "model_meta", "save_checkpoint", "load_checkpoint", "check_meta", "check_config",
           "rng_state", "set_rng_state", "save_weights", "load_weights", "load_averaged", "Trained", "read_trained"]

FORMAT = "graphnas-train"
VERSION = 1


def model_meta(model: nn.Module) -> dict:
    """What a checkpoint must match: the space's name, structural fingerprint and scale.

    For a standalone :class:`~graphnas.compile.Network` the architecture hash is added; a module with
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


def save_checkpoint(path: str | Path, blob: dict) -> Path:
    """``torch.save`` ``blob`` (tensors and plain containers) to ``path`` atomically."""
    path = Path(path)
    with atomic_target(path) as tmp:
        torch.save(blob, tmp)
    return path


def _read(path: Path, fix: str) -> dict:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist; check the path, or start without resuming") from None
    except Exception as err:  # noqa: BLE001 - truncated, corrupt or foreign: the same user error
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}: truncated or not a "
                              f"graphnas file); {fix}") from None
    if not isinstance(blob, dict):
        raise CheckpointError(f"checkpoint {path} is unreadable (holds a {type(blob).__name__}, not a dict); {fix}")
    return blob


def load_checkpoint(path: str | Path, meta: dict | None = None, config: dict | None = None) -> dict:
    """Read a training checkpoint, checking its format, and its meta and config when given.

    Args:
        path (str or Path): the file written by :func:`save_checkpoint`.
        meta (dict, optional): what :func:`model_meta` gives for the model about to be loaded.
        config (dict, optional): the training options of the run that resumes.

    Raises:
        CheckpointError: unreadable/truncated file, not a training checkpoint, or another space/config.
    """
    path = Path(path)
    fix = "delete it or use another --out folder"
    blob = _read(path, fix)
    if blob.get("format") != FORMAT or blob.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} is not a graphnas training checkpoint (format "
                              f"{blob.get('format')!r} version {blob.get('version')!r}, expected {FORMAT!r} "
                              f"version {VERSION}); {fix}")
    if meta is not None:
        check_meta(path, blob.get("meta"), meta)
    if config is not None:
        check_config(path, blob.get("config"), config)
    return blob


def check_meta(path: Path, saved: dict | None, meta: dict,
               fix: str = "use another --out folder or delete it") -> None:
    """Refuse a checkpoint of another space (name or fingerprint), scale, architecture or model class."""
    if saved == meta:
        return
    saved = saved or {}
    if "space" in meta and saved.get("space") is not None:
        what = f"space '{saved['space']}'"
        if saved.get("space") == meta["space"] and saved.get("fingerprint") != meta.get("fingerprint"):
            what += f" with fingerprint {saved.get('fingerprint')} (other edges or operators)"
        elif saved.get("space") == meta["space"] and saved.get("scale") != meta.get("scale"):
            what += f" at scale {saved.get('scale')}"
        elif saved.get("space") == meta["space"]:
            what += f" architecture {saved.get('arch')}"
        now = f"'{meta['space']}'" + (f" at scale {meta.get('scale')}" if saved.get("scale") != meta.get("scale") else "")
    else:
        what, now = f"{saved}", f"{meta}"
    raise CheckpointError(f"checkpoint {path} was made for {what}, not {now}; {fix}")


def check_config(path: Path, saved: dict | None, config: dict) -> None:
    """Refuse a checkpoint trained with other options (resuming would not continue the same run)."""
    saved = saved or {}
    diff = [f"{k} {saved.get(k)!r} -> {config.get(k)!r}" for k in sorted(set(saved) | set(config))
            if saved.get(k) != config.get(k)]
    if diff:
        raise CheckpointError(f"checkpoint {path} was made with other training options ({', '.join(diff)}); "
                              f"resume with the same options, or use another --out folder or delete it")


def save_weights(module: nn.Module, path: str | Path, meta: dict) -> None:
    """``torch.save`` a state dict (tensors only) plus plain metadata, atomically (temp file + rename)."""
    save_checkpoint(path, {"state_dict": module.state_dict(), "meta": meta})


def load_weights(module: nn.Module, path: str | Path, meta: dict) -> None:
    """Load weights written by :func:`save_weights`, refusing a file made for another space, scale or config."""
    path = Path(path)
    blob = _read(path, "delete it or run without --resume")
    if "state_dict" not in blob or "meta" not in blob:
        raise CheckpointError(f"checkpoint {path} is unreadable (no state_dict/meta: not a weights file); "
                              f"delete it or run without --resume")
    if blob["meta"] != meta:
        raise CheckpointError(f"checkpoint {path} was made for {blob['meta']}, not {meta}; use another --out folder")
    module.load_state_dict(blob["state_dict"])


def load_averaged(path: str | Path, meta: dict | None = None) -> dict:
    """The ``averaged_state_dict`` of a finished training checkpoint (see ``average_last_epoch``)."""
    blob = load_checkpoint(path, meta)
    if blob.get("averaged_state_dict") is None:
        raise CheckpointError(f"checkpoint {path} holds no averaged weights (trained without --average-last-epoch, "
                              f"or its last epoch is not finished); train with --average-last-epoch")
    return blob["averaged_state_dict"]


@dataclass
class Trained:
    """Finished supernet weights read for a search (:func:`read_trained`).

    Attributes:
        path (Path): the file.
        state_dict (dict): the weights (the averaged ones when asked for).
        meta (dict): the space's ``name``/``fingerprint``/``scale`` it was trained for.
        history (list of dict): one dict per training epoch (a weights file: where it came from).
        seed (int): the training seed, which also seeded the data splits (a search must reuse them, or it
            would score paths on images the supernet trained on).
    """

    path: Path
    state_dict: dict
    meta: dict
    history: list
    seed: int

    def load_into(self, model: nn.Module) -> None:
        """Load the weights, refusing a model of another space or scale."""
        check_meta(self.path, self.meta, model_meta(model), fix="pass the same --space, --scale, --ops, --data and "
                   "--resolution as the training run")
        model.load_state_dict(self.state_dict)


def read_trained(path: str | Path, averaged: bool = False) -> Trained:
    """Read a finished supernet: a training checkpoint of ``graphnas train`` (``checkpoint.pt``: its final
    weights, or with ``averaged`` the mean over its last epoch) or a weights file of ``graphnas run``
    (``supernet.pt``).

    Raises:
        CheckpointError: missing or unreadable file, neither kind, training not finished, or no averaged
            weights when ``averaged`` is asked for.
    """
    path = Path(path)
    fix = "pass a checkpoint.pt written by `graphnas train` or a supernet.pt written by `graphnas run`"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; {fix}")
    blob = _read(path, fix)
    keys = ("space", "fingerprint", "scale")
    if blob.get("format") == FORMAT:
        config = blob.get("config") or {}
        done, total = int(blob.get("epoch") or 0), int(config.get("epochs") or 0)
        if done < total:
            raise CheckpointError(f"checkpoint {path} is at epoch {done} of {total}; finish training first with "
                                  f"`graphnas train --resume` (same options)")
        state = blob.get("averaged_state_dict") if averaged else blob.get("model")
        if state is None:
            raise CheckpointError(f"checkpoint {path} holds no averaged weights; train with --average-last-epoch, or "
                                  f"search its final weights (no --averaged)")
        meta, history, seed = blob.get("meta") or {}, list(blob.get("history") or []), int(config.get("seed", 0))
    elif "state_dict" in blob and "meta" in blob:
        if averaged:
            raise CheckpointError(f"{path} is a weights file of `graphnas run` and holds no averaged weights; drop "
                                  f"--averaged")
        meta, state = blob["meta"], blob["state_dict"]
        history, seed = [{"loaded_from": str(path)}], int((meta.get("train") or {}).get("seed", 0))
    else:
        raise CheckpointError(f"checkpoint {path} is unreadable (neither a training checkpoint nor a weights file); "
                              f"{fix}")
    return Trained(path, state, {k: meta.get(k) for k in keys}, history, seed)
