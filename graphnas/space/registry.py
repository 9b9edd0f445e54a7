"""The space registry: names -> ``make_space(**scale)`` functions.

Built-in spaces are the modules of the top-level ``spaces`` package (``spaces/st_nas.py`` is the
space ``st_nas``). Users add their own with :func:`register_space`, or point at a file:
``get_space("path/to/my_space.py")`` loads that file's ``make_space``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import GraphnasError, SpaceError
from .searchspace import SearchSpace

__all__ = ["register_space", "get_space", "space_names", "space_factory", "SpaceInfo", "space_info",
           "space_named_by_file", "with_candidates", "rescaled"]

_REGISTRY: dict[str, Callable[..., SearchSpace]] = {}


def register_space(name: str, factory: Callable[..., SearchSpace] | None = None, *, overwrite: bool = False):
    """Register ``factory(**scale) -> SearchSpace`` under ``name`` (usable as a decorator).

    A name already taken (by a registration or a module in ``spaces/``) is refused unless
    ``overwrite=True``.
    """

    def decorator(fn):
        if not overwrite and (name in _REGISTRY or name in _builtin_names()):
            raise SpaceError(f"space '{name}' is already registered; pass overwrite=True to replace it")
        _REGISTRY[name] = fn
        return fn

    return decorator(factory) if factory is not None else decorator


def _builtin_names() -> list[str]:
    import spaces

    return sorted(m.name for m in pkgutil.iter_modules(spaces.__path__) if not m.name.startswith("_"))


def space_names() -> list[str]:
    """All space names: built-in modules and registered factories."""
    return sorted(set(_builtin_names()) | set(_REGISTRY))


@dataclass(frozen=True)
class SpaceInfo:
    """What a space module says about itself besides ``make_space``.

    Args:
        name (str): the space's name.
        paper (str): where it comes from (module attribute ``PAPER``; empty if not given).
        cpu_scale (dict): scale arguments that train in minutes on a laptop CPU (``CPU_SCALE``; the
            paper scale, i.e. ``make_space()``'s defaults, when not given). It may hold ``resolution``.
        cpu_ops (tuple of str, optional): operators a CPU-scale demo keeps (``CPU_OPS``; ``None``: all).
        training (dict): the paper's training settings the job uses unless told otherwise (``TRAINING``):
            ``sampler``, ``sampler_options`` and :class:`~graphnas.train.loop.TrainConfig` fields (ST-NAS:
            its sampler and momentum 0).
        references (dict): published models that are architectures of the space (``REFERENCES``):
            label -> ``(builder() -> Architecture, published)``; in the module ``published`` is MAdds
            (a number) or a dict ``{"madds": ..., "params": ...}`` of the figures the paper gives, here
            always the dict.
    """

    name: str
    paper: str = ""
    cpu_scale: dict = field(default_factory=dict)
    cpu_ops: tuple[str, ...] | None = None
    references: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)


def space_info(name: str) -> SpaceInfo:
    """The :class:`SpaceInfo` of space ``name`` (registered factories carry none: defaults)."""
    module = _space_module(name)
    if module is None:
        return SpaceInfo(name)
    ops = getattr(module, "CPU_OPS", None)
    refs = {label: (build, published if isinstance(published, dict) else {"madds": published})
            for label, (build, published) in getattr(module, "REFERENCES", {}).items()}
    return SpaceInfo(name, getattr(module, "PAPER", ""), dict(getattr(module, "CPU_SCALE", {})),
                     tuple(ops) if ops is not None else None, refs, dict(getattr(module, "TRAINING", {})))


def _space_module(name: str):
    """The module defining space ``name``, or ``None`` for a registered factory."""
    if name in _REGISTRY:
        return None
    if name.endswith(".py"):
        path = Path(name)
        if not path.is_file():
            raise SpaceError(f"space file '{name}' does not exist")
        spec = importlib.util.spec_from_file_location(f"graphnas_user_space_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    elif name in _builtin_names():
        module = importlib.import_module(f"spaces.{name}")
    else:
        raise SpaceError(f"unknown space '{name}'; available: {', '.join(space_names())} "
                         f"(or a path to a .py file defining make_space)")
    return module


def space_factory(name: str) -> Callable[..., SearchSpace]:
    """The ``make_space`` function of space ``name`` (a registered name, a built-in, or a ``.py`` path)."""
    module = _space_module(name)
    if module is None:
        return _REGISTRY[name]
    if not callable(getattr(module, "make_space", None)):
        raise SpaceError(f"space module '{name}' defines no make_space(**scale) function")
    return module.make_space


def get_space(name: str, **scale) -> SearchSpace:
    """Build space ``name`` at the given scale; unknown scale arguments name the valid ones."""
    factory = space_factory(name)
    params = inspect.signature(factory).parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in scale if k not in params and not accepts_any]
    if unknown:
        raise SpaceError(f"space '{name}' has no scale argument {', '.join(map(repr, unknown))}; "
                         f"it takes: {', '.join(params)}")
    checked = {k: _check_scale_type(name, k, v, params.get(k)) for k, v in scale.items()}
    try:
        return factory(**checked)
    except GraphnasError:
        raise
    except (ArithmeticError, ValueError, TypeError, MemoryError, RecursionError) as e:
        # a scale the space cannot be built at (width=1e12, resolution=3, ...): one line, not a traceback
        shown = ", ".join(f"{k}={v!r}" for k, v in checked.items()) or "its defaults"
        raise SpaceError(f"space '{name}' cannot be built at {shown} ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]}); choose other scale arguments") from None


def _check_scale_type(space: str, key: str, value, param):
    """``value`` converted to the type of the parameter's default (int, float, bool), or a SpaceError."""
    default = None if param is None else param.default
    if value is None:  # "off" for optional parts (a head without its 1x1 conv); the space decides
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        kind = "true or false"
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        kind = "an integer"
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)  # NaN and inf: the space refuses them, or cannot be built (below)
        kind = "a number"
    else:
        return value
    raise SpaceError(f"{space}: scale argument {key}={value!r} must be {kind} (default {default!r})")


def space_named_by_file(name, scale, source: str, given: str | None = None) -> SearchSpace:
    """The space that a file graphnas did not just write (a table, a checkpoint) names, built safely.

    Such a file is untrusted: the space it names is built only if it is a built-in or registered
    space. A ``.py`` path in a file is never imported (that would run whatever code the file points
    at); the user's own ``given`` space (a name or a ``.py`` path passed in this call, e.g. ``--space``)
    is used instead, and the caller checks its fingerprint against the file's.

    Args:
        name: the space name stored in the file.
        scale: the scale stored in the file (a dict of scale arguments).
        source (str): what the file is, for messages ("lookup table x.db").
        given (str, optional): the space the user passed in this call.
    """
    if not isinstance(scale, dict) or not all(isinstance(k, str) for k in scale):
        raise SpaceError(f"{source} has a malformed scale {scale!r} (expected an object of scale arguments); "
                         f"rebuild it")
    if given is not None:
        return get_space(given, **scale)
    if not isinstance(name, str):
        raise SpaceError(f"{source} names no space (space {name!r} is not a name); rebuild it")
    if name in _REGISTRY or name in _builtin_names():
        return get_space(name, **scale)
    if name.endswith(".py"):
        raise SpaceError(f"{source} names the space file '{name}'; graphnas never runs code a file names: if you "
                         f"trust that file, pass it yourself with --space (or the space argument)")
    raise SpaceError(f"{source} names the unknown space '{name}'; register it (graphnas.register_space) or pass "
                     f"it with --space")


def with_candidates(root: SearchSpace, candidates, name: str, in_degree: bool | None = None) -> SearchSpace:
    """The subspace of ``root`` whose edges keep ``candidates`` (one list of operator names per edge), named
    ``name``: how a file that stores a subspace's candidates (a lookup table) and :func:`rescaled` rebuild it.
    ``in_degree=False`` drops the root's in-degree constraints (a subspace that meets them by construction);
    ``True`` or ``None`` keeps them.
    ``root`` itself when nothing differs. Raises :class:`SpaceError` for candidates the root does not have."""
    candidates = [list(c) for c in candidates]
    if len(candidates) != root.num_edges:
        raise SpaceError(f"space '{root.name}' has {root.num_edges} choice edges, not {len(candidates)}")
    allowed = {i: c for i, (e, c) in enumerate(zip(root.edges, candidates)) if list(e.candidates) != c}
    space = root.subspace(allowed=allowed, name=name) if allowed else root
    if in_degree is False and space.in_degree:
        from dataclasses import replace

        space = replace(space, in_degree={})
    return space


def rescaled(space: SearchSpace, given: str | None = None, **scale) -> SearchSpace:
    """``space`` (a registered space or a subspace cut from one) at another scale: the root space built again
    with ``scale`` over its own scale arguments, cut to the same candidates. Its fingerprint, so every
    architecture's hash, is unchanged (:attr:`SearchSpace.fingerprint` is scale-free); a space defined in a
    ``.py`` file is rebuilt from ``given`` (the user's own ``--space``), never from a path the space names."""
    root = space
    while root.parent is not None:
        root = root.parent
    new_root = get_space(given, **{**root.scale, **scale}) if given is not None else \
        space_named_by_file(root.name, {**root.scale, **scale}, f"space '{space.name}'")
    out = with_candidates(new_root, [e.candidates for e in space.edges], space.name, bool(space.in_degree))
    if out.fingerprint != space.fingerprint:
        raise SpaceError(f"space '{space.name}' rebuilt at {scale} has another structure (fingerprint "
                         f"{out.fingerprint}, not {space.fingerprint}); the scale arguments change its edges")
    return out
