"""The job's data and space: the data set at the space's laptop scale, the space at the data's shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..train.data import load_dataset, subsample_train
from ..errors import GraphnasError
from ..space.registry import get_space, space_info
from .config import FALLBACK_RESOLUTION, SetupConfig

if TYPE_CHECKING:
    from ..space.searchspace import SearchSpace

__all__ = ["restrict_ops", "run_space", "load_setup"]


def restrict_ops(space, ops) -> "SearchSpace":
    """The subspace of ``space`` keeping only operators in ``ops`` (and ``none``) on every edge.

    An edge left with no operator keeps its original candidates, so the subspace stays connected.
    """
    from ..ops.registry import NONE, get_op

    for op in ops:
        get_op(op)  # unknown names fail here with the list of valid ones
    wanted = set(ops) | {NONE}
    allowed = {}
    for i, e in enumerate(space.edges):
        kept = [op for op in e.candidates if op in wanted]
        if any(op != NONE for op in kept):
            allowed[i] = kept
    if not allowed:
        raise GraphnasError(f"none of the operators {', '.join(ops)} is a candidate in space '{space.name}'")
    return space.subspace(allowed=allowed, name=f"{space.name}/ops")


def run_space(name: str, data, scale: dict, ops=None) -> "SearchSpace":
    """Space ``name`` at ``scale`` for data set ``data`` (its resolution, channels and classes).

    ``ops=None`` keeps the space's ``CPU_OPS`` (all operators if it has none); ``["all"]`` keeps all.
    """
    c, h, _ = data.input_shape
    space = get_space(name, **{**scale, "resolution": h, "in_channels": c, "num_classes": data.num_classes})
    if ops is None:
        ops = space_info(name).cpu_ops
    if ops and list(ops) != ["all"]:
        space = restrict_ops(space, ops)
    return space


def load_setup(setup: SetupConfig, seed: int):
    """``(data, space)`` of a job: the data split by ``seed`` at the resolution of the config, else of the
    space's ``CPU_SCALE``, else :data:`~graphnas.jobs.config.FALLBACK_RESOLUTION`; the space at the rest of
    ``CPU_SCALE`` updated with ``setup.scale``, restricted to ``setup.ops``."""
    scale = {**space_info(setup.space).cpu_scale, **setup.scale}
    resolution = setup.resolution or scale.pop("resolution", FALLBACK_RESOLUTION)
    scale.pop("resolution", None)
    data = load_dataset(setup.data, root=setup.data_root, resolution=resolution, seed=seed,
                        bad_images=setup.bad_images)
    if setup.train_size is not None:
        data = subsample_train(data, setup.train_size, seed)
    return data, run_space(setup.space, data, scale, setup.ops)
