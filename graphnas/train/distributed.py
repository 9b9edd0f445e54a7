"""Data-parallel scale-out under ``torchrun``: the same code runs on one process or on N.

``torchrun --nproc_per_node N script.py`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
:func:`init` reads them and joins the process group (``nccl`` when the model is on CUDA, ``gloo``
otherwise). Without them every function here is a no-op on a single process.

How training stays identical across ranks (:func:`graphnas.train.loop.fit` does this):

1. parameters and buffers are broadcast from rank 0 once, before the first step;
2. every rank owns a sampler Generator seeded alike and draws once per step, so all ranks train
   the same architecture at every step;
3. every global batch (``batch_size`` samples, one seeded permutation per epoch, the same on all
   ranks) is cut into ``world_size`` equal contiguous shards; rank ``r`` trains on shard ``r``;
4. after ``backward`` the gradients of the sampled path's parameters (``path_parameters(arch)``,
   or all parameters of a standalone network), those that received one, are flattened into one
   buffer, all-reduced (sum) and divided by ``world_size``: the gradient of the global batch's mean
   loss. Parameters off the path have no gradient, are not communicated and are not updated;
5. clipping and the optimizer step then see the same gradients on every rank.

Batch-norm statistics are per rank (each normalises its own shard; no SyncBatchNorm), so a run on N
processes differs from one process on the same global batches wherever BN sits on the path; the
weights still stay identical across ranks. Only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import atexit

import os
import sys
from typing import Callable, Sequence

import torch
import torch.distributed as dist

from ..errors import GraphnasError

__all__ = ["env_world", "init", "is_distributed", "rank", "world_size", "is_main", "barrier", "broadcast_module",
           "all_reduce_grads", "all_reduce_sum", "all_gather_objects", "map_shards", "evaluate_many", "local_device"]


def env_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the environment torchrun sets (``(0, 1, 0)`` without it)."""
    try:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    except ValueError:
        raise GraphnasError("RANK/WORLD_SIZE/LOCAL_RANK must be integers; launch with torchrun") from None


def is_distributed() -> bool:
    """Whether a process group of more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def launched_rank() -> int:
    """The rank torchrun gave this process (``RANK``; 0 without torchrun), known before the process group is
    initialised: what decides, at the start of a job, which process writes."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """True on rank 0 (and on a single process): the one that writes files and prints."""
    return rank() == 0


def local_device(kind: str = "cuda") -> torch.device:
    """``cuda:LOCAL_RANK`` for ``kind='cuda'`` (one GPU per process), else the CPU."""
    if kind.startswith("cuda"):
        return torch.device("cuda", env_world()[2])
    return torch.device("cpu")


def init(device: torch.device | str | None = None) -> bool:
    """Join the torchrun process group if the environment asks for one; returns whether it is active.

    Args:
        device (torch.device, optional): where the model lives; CUDA selects ``nccl`` (and sets the
            current device), anything else ``gloo`` (default: the CPU).

    Calling it again, or on a single process (``WORLD_SIZE`` unset or 1), does nothing.
    """
    if is_distributed():
        return True
    _, size, local = env_world()
    if size <= 1:
        return False
    if not dist.is_available():
        raise GraphnasError("WORLD_SIZE > 1 but this torch build has no torch.distributed; run one process")
    device = torch.device(device or "cpu")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device if device.index is not None else local)
    dist.init_process_group(backend=backend)
    atexit.register(_leave)
    return True


def _leave(wait: bool = True) -> None:
    """Leave the process group (after a barrier when ``wait``: every rank done with it before any closes its
    connections). Registered at exit by :func:`init`; :func:`finish` calls it first."""
    if is_distributed():
        try:
            if wait:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def finish(status: int = 0) -> int:
    """End a torchrun worker: leave the group and exit with ``status`` at once; on a single process, return it.

    A gloo worker that leaves the group and then runs the interpreter's teardown still aborts now and then
    after all its work ("terminate called without an active exception", exit -6: 2 of 10 runs of
    tests/test_distributed.py's worker here, 0 of 20 with this), which turns a finished run into a failed
    one. So a worker that is done flushes its output and ends with ``os._exit``. Only a ``status`` of 0
    waits for the other ranks; a failing rank leaves at once (they may never reach the barrier).
    """
    if not is_distributed():
        return status
    _leave(wait=status == 0)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


@torch.no_grad()
def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (no-op on one process)."""
    if not is_distributed():
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src)


def _flat_reduce(tensors: Sequence[torch.Tensor], average: bool) -> None:
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    if average:
        flat /= dist.get_world_size()
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset:offset + n].view_as(t))
        offset += n


@torch.no_grad()
def all_reduce_grads(params: Sequence[torch.nn.Parameter]) -> int:
    """Average the gradients of ``params`` over all ranks, in one flat all-reduce per dtype.

    Parameters without a gradient (``grad is None``) are skipped; every rank must pass the same list
    (same architecture), so the skipped set is the same everywhere. Returns the number of tensors reduced.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not is_distributed():
        return len(grads)
    for dtype in sorted({g.dtype for g in grads}, key=str):
        _flat_reduce([g for g in grads if g.dtype == dtype], average=True)
    return len(grads)


def all_reduce_sum(values: Sequence[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum plain numbers over ranks (float64); returns them unchanged on one process."""
    if not is_distributed():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_gather_objects(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` on one process)."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def map_shards(items: Sequence, fn: Callable[[list], Sequence]) -> list:
    """``fn(items)`` with the items split across ranks: the full ordered list of results on every rank.

    Rank ``r`` calls ``fn`` once on its share, items ``r, r + N, r + 2N, ...`` (possibly empty), which
    must return one result per item; results are gathered (pickled through the process group, so they
    should be small: scores, dicts of costs). On one process it is ``list(fn(items))``.

    >>> map_shards([1, 2, 3], lambda part: [v * v for v in part])
    [1, 4, 9]
    """
    items = list(items)
    r, n = rank(), world_size()
    mine = list(fn(items[r::n]))
    if len(mine) != len(items[r::n]):
        raise GraphnasError(f"map_shards: fn returned {len(mine)} results for {len(items[r::n])} items")
    if n == 1:
        return mine
    shards = all_gather_objects(mine)
    out = [None] * len(items)
    for k, shard in enumerate(shards):
        out[k::n] = shard
    return out


def evaluate_many(items: Sequence, fn: Callable) -> list:
    """``[fn(item) for item in items]``, the items split across ranks (:func:`map_shards`).

    >>> evaluate_many([1, 2, 3], lambda v: v * v)
    [1, 4, 9]
    """
    return map_shards(items, lambda part: [fn(item) for item in part])
