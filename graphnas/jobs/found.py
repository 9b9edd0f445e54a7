"""A found architecture, wherever a run left it: ``best_arch.json``, a ``report.json``, a lookup table's row.

:func:`read_found` reads any of the three (untrusted files: every field checked, a space a file names only
built when it is built in or registered, never a ``.py`` path it names) into a :class:`Found`: the space the
architecture was found in, at the search's scale, and the architecture. :func:`named_space` rebuilds the
space that a file names by name, scale and fingerprint -- an architecture file, a report, a supernet
checkpoint -- including the ``<space>/ops`` subspace a job searches (its operators restricted to the space's
``CPU_OPS`` or the job's ``--ops``). :func:`graphnas.space.registry.rescaled` then moves it to another scale
without changing a hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GraphnasError
from ..files import read_json

__all__ = ["Found", "read_found", "named_space", "run_setup", "FoundError"]

_HASH = re.compile(r"[0-9a-f]{16}")


class FoundError(GraphnasError):
    """A found-architecture file (or row) that cannot be read."""


@dataclass
class Found:
    """An architecture a search found, in the space it was found in.

    Attributes:
        space (SearchSpace): the space of the search (a lookup table's: its subspace), at the search's scale.
        arch (Architecture): the architecture, of ``space``.
        source (str): what it was read from, for messages and records.
        setup (dict): what the file says of the search's set-up (a report's ``data``, ``resolution``, ``ops``).
        supernet (str, optional): the search's supernet checkpoint, when the file names one.
    """

    space: object
    arch: object
    source: str
    setup: dict = field(default_factory=dict)
    supernet: str | None = None


def _read_json(path: Path, what: str, fix: str) -> dict:
    return read_json(path, what, fix, FoundError, kind=dict)


def _text(value, name: str, source: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise FoundError(f"{source}: {name} must be a short text, got {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def named_space(name, scale, source: str, given: str | None = None, ops=None, fingerprint=None):
    """The space a file names: ``name`` (a registered space, or ``<space>/ops``: the subspace a job searches)
    at ``scale``, with ``fingerprint`` when the file gives one.

    ``<space>/ops`` is rebuilt with ``ops`` (the job's ``--ops``) when given, else with the space's ``CPU_OPS``;
    ``given`` is the user's own ``--space`` (a name or a ``.py`` file), used instead of the name in the file.
    Raises :class:`FoundError` when no such space has the file's fingerprint.
    """
    from ..space.registry import space_info, space_named_by_file
    from .setup import restrict_ops

    name = _text(name, "its space", source)
    root_name = name if name.endswith(".py") else name.split("/")[0]  # a path is refused whole, never imported
    root = space_named_by_file(root_name, scale, source, given)
    tries = []
    if ops:
        tries.append(restrict_ops(root, list(ops)))
    elif name.endswith("/ops") and given is None:
        cpu = space_info(root_name).cpu_ops
        if cpu:
            tries.append(restrict_ops(root, cpu))
    tries.append(root)
    if fingerprint is None:
        return tries[0]
    for space in tries:
        if space.fingerprint == fingerprint:
            return space
    built = f"'{root.name}'" + (f" with --ops {' '.join(ops)}" if ops else "")
    raise FoundError(f"{source} was made in space '{name}' (fingerprint {_short(fingerprint)}), but {built} built "
                     f"here has fingerprint {tries[0].fingerprint}: pass the search's --space and --ops")


def _arch_file(data: dict, path: Path, given, ops) -> Found:
    from ..space.architecture import Architecture

    source = f"architecture file {path}"
    scale = data.get("scale")
    if not isinstance(scale, dict):
        raise FoundError(f"{source}: \"scale\" must be an object of scale arguments, got {_short(scale)}")
    setup = run_setup(path.parent)  # a job's best_arch.json: its job.json says the --ops and data it ran with
    job_ops = setup.pop("ops", None)
    space = named_space(data.get("space"), scale, source, given, ops or job_ops, data.get("fingerprint"))
    arch = Architecture.from_dict({**data, "space": space.name}, space)
    if "hash" in data and data["hash"] != arch.hash:
        raise FoundError(f"{source}: \"hash\" {_short(data['hash'])} is not the hash of its ops ({arch.hash}); "
                         f"fix or drop \"hash\"")
    checkpoint = path.parent / "checkpoint.pt"
    return Found(space, arch, source, setup, supernet=str(checkpoint) if checkpoint.is_file() else None)


def run_setup(folder: Path) -> dict:
    """The set-up of the job whose output folder ``folder`` is (its ``job.json``, checked), or ``{}``."""
    job = folder / "job.json"
    if not job.is_file():
        return {}
    from .config import JobConfig

    setup = JobConfig.load(job).setup
    kept = {"data": setup.data, "data_root": setup.data_root, "resolution": setup.resolution, "ops": setup.ops}
    return {k: v for k, v in kept.items() if v is not None and v != ["all"]}


def _report(data: dict, path: Path, given, ops) -> Found:
    source = f"report {path}"
    try:
        setup, described, best = data["config"]["setup"], data["space"], data["best"]
        shape = data["data"]["input_shape"]
    except (KeyError, TypeError):
        raise FoundError(f"{source} lacks config.setup, space, data or best; pass the report.json of graphnas run "
                         f"or graphnas search") from None
    for part, what in ((setup, "config.setup"), (described, "space"), (best, "best")):
        if not isinstance(part, dict):
            raise FoundError(f"{source}: {what} must be an object")
    if not isinstance(best.get("ops"), list):
        raise FoundError(f"{source}: best.ops must be a list of operator names")
    job_ops = setup.get("ops")
    if job_ops is not None and (not isinstance(job_ops, list) or not all(isinstance(o, str) for o in job_ops)):
        raise FoundError(f"{source}: config.setup.ops must be a list of operator names or null")
    use_ops = ops or (job_ops if job_ops and job_ops != ["all"] else None)
    space = named_space(described.get("name"), described.get("scale"), source, given, use_ops)
    arch = space.from_ops(best["ops"])
    if best.get("hash") != arch.hash:
        raise FoundError(f"{source}: its best architecture has hash {_short(best.get('hash'))} but its ops give "
                         f"{arch.hash} in space '{space.name}' here: pass the search's --space and --ops")
    supernet = data.get("files", {}).get("supernet") if isinstance(data.get("files"), dict) else None
    keep = {k: setup[k] for k in ("data", "data_root", "resolution") if isinstance(setup.get(k), (str, int))}
    if isinstance(shape, list):
        keep["input_shape"] = shape
    return Found(space, arch, source, keep, supernet if isinstance(supernet, str) else None)


def _table_row(path: Path, row, given) -> Found:
    from ..lookup import LookupTable

    if row is None:
        raise FoundError(f"lookup table {path}: say which architecture with --row INDEX or HASH (the columns "
                         f"`graphnas lookup` prints)")
    with LookupTable.open(path, root=given) as table:
        text = str(row).strip().lower()
        if _HASH.fullmatch(text):
            found = table.row_by_hash(text)
        elif text.isdigit() and len(text) <= 19:
            found = table.row(int(text))
        else:
            raise FoundError(f"--row {_short(row)} is neither an index (a whole number) nor a hash (16 hex digits)")
        arch = table.arch(found)
        return Found(table.space, arch, f"lookup table {path} row {found.index}",
                     {"predicted": found.predicted, "measured": found.measured})


def read_found(path, row=None, given: str | None = None, ops=None) -> Found:
    """The architecture in ``path``: an architecture JSON (``best_arch.json``, ``graphnas sample``), a
    ``report.json`` (its best architecture) or a lookup table (``.db``; the row ``row``, an index or a hash).

    Args:
        path: the file.
        row (str or int, optional): a lookup table's row (its ``index`` or ``hash``); only for a table.
        given (str, optional): the user's ``--space``, instead of the space the file names.
        ops (list of str, optional): the search's ``--ops`` (else the report's, else the space's ``CPU_OPS``).
    """
    path = Path(path)
    fix = "pass a best_arch.json, a report.json or a lookup table (.db with --row)"
    if path.suffix == ".db":
        return _table_row(path, row, given)
    if row is not None:
        raise FoundError(f"--row picks a row of a lookup table (.db), not of {path}")
    data = _read_json(path, "architecture file", fix)
    from ..space.architecture import FORMAT

    if data.get("format") == FORMAT:
        return _arch_file(data, path, given, ops)
    if "best" in data and "config" in data:
        return _report(data, path, given, ops)
    raise FoundError(f"{path} is neither an architecture (\"format\": \"{FORMAT}\") nor a report.json; {fix}")
