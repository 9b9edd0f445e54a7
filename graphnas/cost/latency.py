"""Measured latency: a per-operator table for one space on one device, and the model that adds it up.

**Entries.** An architecture's network is a stem, the operators of its live edges (in every cell of
their template), the preprocessing of the cell inputs they read, fixed blocks, additions where
several edges enter a node, concatenations, and a head. Each is an :class:`~graphnas.cost.terms.Entry`
(kind, operator, input channels, output channels, stride, input resolution), listed by the per-edge term
table the analytic model shares (:mod:`graphnas.cost.terms`); a space has a few hundred distinct ones
however many architectures it holds (:func:`space_entries`). :func:`build_latency_table` times each once on
the chosen backend (:mod:`graphnas.cost.timing`) and stores the medians in SQLite
(:mod:`graphnas.cost.latency_store`) with the device's description.

**Prediction.** ``latency(arch) = sum of its entries + c0 + c1 * calls``: the sum is what each part
costs alone; ``c0`` and ``c1`` (a constant and a per-module-call term, ``calls`` = operator modules the
network runs) are fitted by least squares on a few whole networks timed at build time, to absorb what
a sum misses (the executor's own overhead, caches). :class:`LatencyModel` answers ``latency(arch)``
for constraints, search and lookup tables, and :meth:`LatencyModel.batch_latency` for many choice
vectors at once: both are the term table's sum with measured leaves (:meth:`LatencyModel.table`), one
architecture being the one-row case. :func:`validate` times fresh networks and reports how far the prediction is off.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import LatencyError
from ..files import output_lock
from ..ops.registry import NONE, get_op
from ..ops.stemhead import HeadBlock, StemBlock
from .latency_store import REBUILD, LatencyStore
from .model import batch_cost
from .terms import Entry, TermTable, arch_entries, term_sum, term_sums, term_table, terms
from .timing import REFERENCE_INPUT, Backend, Measurement, TimingConfig, TorchBackend, measure_many, reference_module

if TYPE_CHECKING:
    from ..space.architecture import Architecture
    from ..space.searchspace import SearchSpace

__all__ = ["Entry", "LEAF_FIELDS", "space_entries", "entry_module", "root_space", "spread_archs", "LatencyModel",
           "build_latency_table", "measure_networks", "Validation", "validate", "plot_validation"]


def root_space(space: "SearchSpace") -> "SearchSpace":
    """The space a (sub)space was cut from (itself if it is not a subspace)."""
    while space.parent is not None:
        space = space.parent
    return space


def space_entries(space: "SearchSpace") -> list[Entry]:
    """The distinct entries any architecture of ``space`` can run, in a fixed order.

    Additions are listed only for nodes that more than one choice edge can enter.
    """
    t = terms(space)
    indeg = Counter(e.dst for e in space.edges)
    found = dict.fromkeys(t.fixed)
    for row in t.edges:
        for entries in row:
            found.update(dict.fromkeys(entries))
    for row in t.inputs:
        for entries in row:
            found.update(dict.fromkeys(entries))
    for n, entries in enumerate(t.adds):
        if indeg[n] > 1:
            found.update(dict.fromkeys(entries))
    return list(found)


class _Add(nn.Module):
    """``x + other`` for a fixed ``other`` of ``x``'s shape (a buffer, so every backend can export it)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("other", torch.randn(shape, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return x + self.other


class _Concat(nn.Module):
    """``x`` concatenated with fixed tensors of the other widths, along channels."""

    def __init__(self, batch: int, widths: Sequence[int], res: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.rest = nn.ParameterList([nn.Parameter(torch.randn(batch, c, res, res, generator=gen), requires_grad=False)
                                      for c in widths[1:]])

    def forward(self, x):
        return torch.cat([x, *self.rest], dim=1)


def entry_module(space: "SearchSpace", entry: Entry, batch: int = 1) -> nn.Module:
    """A fresh module that runs ``entry`` (as the network of an architecture of ``space`` would) on inputs
    of shape ``(batch, entry.c_in, entry.res, entry.res)``."""
    if entry.kind == "op":
        return get_op(entry.op).factory(entry.c_in, entry.c_out, entry.stride)
    if entry.kind == "stem":
        s = space.stem
        return StemBlock(entry.c_in, s.channels, entry.c_out, entry.stride, s.pool, act=s.act, kernel=s.kernel)
    if entry.kind == "head":
        return HeadBlock(entry.c_in, space.head.channels, entry.c_out, 0.0, space.head.bn)
    if entry.kind == "add":
        return _Add((batch, entry.c_in, entry.res, entry.res))
    if entry.kind == "concat":
        return _Concat(batch, [int(w) for w in entry.op[len("concat("):-1].split("+")], entry.res)
    raise LatencyError(f"unknown latency entry kind '{entry.kind}'")


# ---------------------------------------------------------------------- architectures to time
def spread_archs(space: "SearchSpace", n: int, rng=0, exclude: Sequence[str] = ()) -> list["Architecture"]:
    """``n`` distinct architectures spread evenly over the MAdds range of ``space``.

    A pool of random architectures (half uniform, half with each optional edge dropped at a random
    rate, so sparse topologies appear too) is sorted by MAdds and sampled at evenly spaced ranks.
    Hashes in ``exclude`` are left out (to validate on networks the fit did not see).
    """
    from ..utils import as_rng

    rng = as_rng(rng)
    skip = set(exclude)
    pool_size = max(40 * n, 2000)
    if space.in_degree:
        archs = {}
        for _ in range(pool_size // 4):
            a = space.sample(rng)
            archs.setdefault(a.hash, a)
        pool = list(archs.values())
    else:
        choices = rng.integers(0, space.radices, size=(pool_size, space.num_edges))
        has_none = [NONE in e.candidates for e in space.edges]
        none_idx = np.array([e.candidates.index(NONE) if NONE in e.candidates else 0 for e in space.edges])
        half = pool_size // 2
        drop = (rng.random((half, space.num_edges)) < rng.random((half, 1))) & np.array(has_none)
        choices[:half] = np.where(drop, none_idx, choices[:half])
        choices = np.unique(choices, axis=0)
        pool = [space.arch(c) for c in choices]
    pool = [a for a in pool if a.hash not in skip]
    if len(pool) <= n:
        return pool
    madds = batch_cost(space, np.array([a.choices for a in pool]))
    order = np.argsort(madds, kind="stable")
    picks = np.unique(np.round(np.linspace(0, len(pool) - 1, n)).astype(int))
    return [pool[order[k]] for k in picks]


#: The numbers of a latency leaf (see :meth:`LatencyModel.table`).
LEAF_FIELDS = ("ms", "calls")

#: Whole networks are timed this many at a time, for the fit and for validation alike: how many other
#: networks run between two bursts of one changes how warm its caches are, so both use the same.
NETWORK_CHUNK = 16


def measure_networks(archs: Sequence["Architecture"], backend: Backend, batch: int = 1,
                     timing: TimingConfig = TimingConfig(), burst: int = 5) -> tuple[list[Measurement], Measurement]:
    """Latency of the whole compiled network of each architecture, and of the reference workload timed
    alongside (call inside ``backend.session()``).

    Each network runs back to back in bursts of ``burst`` calls, as a deployed model does, and the
    bursts of all networks are interleaved so that the machine's drift falls on all of them alike
    (:func:`~graphnas.cost.timing.measure_many`). All the networks are held in memory at once.
    """
    from ..nets.compile import compile as compile_arch

    fns = [backend.prepare(compile_arch(a), (batch, *a.space.input_shape)) for a in archs]
    return _with_reference(backend, fns, timing, burst)


def _with_reference(backend: Backend, fns, timing: TimingConfig, burst: int) -> tuple[list[Measurement], Measurement]:
    out = measure_many([backend.prepare(reference_module(), REFERENCE_INPUT), *fns], timing, burst=burst)
    return out[1:], out[0]


def _rescaled(m: Measurement, factor: float) -> Measurement:
    return Measurement(m.ms * factor, m.spread, m.runs, m.stable)


def _read(store: LatencyStore) -> tuple[dict, dict, dict]:
    """``(meta, entries, fit networks)`` of a table with every timing brought to one machine speed
    (:meth:`LatencyStore.rescaled`); ``meta['reference_ms']`` is the anchor (the median reference timing).
    Fit networks map hash -> measurement."""
    meta = store.meta()
    meta["reference_ms"], entries, fit = store.rescaled()
    return meta, entries, fit


def _chunks(items: Sequence, size: int):
    for k in range(0, len(items), size):
        yield items[k:k + size]


# ---------------------------------------------------------------------- the model
class LatencyModel:
    """Predicted latency from a table (see the module doc). Load one with :meth:`load`.

    Args:
        meta (dict): the table's metadata (space, scale, batch, device, correction, ...).
        entries (dict): entry key -> :class:`~graphnas.cost.timing.Measurement`.
        path (str, optional): where the table lives, for messages.
    """

    def __init__(self, meta: dict, entries: dict, path: str | None = None) -> None:
        self.meta = meta
        self.entries = entries
        self.path = path
        corr = meta.get("correction") or {}
        self.c0 = float(corr.get("const_ms", 0.0))
        self.c1 = float(corr.get("per_call_ms", 0.0))
        self._tables: dict[int, tuple] = {}

    @classmethod
    def for_space(cls, space: "SearchSpace", entries: dict, c0: float = 0.0, c1: float = 0.0, batch: int = 1,
                  device: dict | None = None, path: str | None = None) -> "LatencyModel":
        """A model of ``space`` from entry timings given in memory (entry key -> Measurement), e.g. timed
        elsewhere or made up for tests, with correction ``c0 + c1 * calls``; no file involved."""
        meta = {**_space_meta(space), "batch": batch, "device": device or {"backend": "given"},
                "correction": {"const_ms": c0, "per_call_ms": c1}, "complete": True}
        return cls(meta, entries, path)

    @classmethod
    def load(cls, path: str | Path, space: "SearchSpace | None" = None,
             backend: Backend | dict | None = None) -> "LatencyModel":
        """Read the table at ``path``; with ``space`` (``backend``) check that it was built for it."""
        store = LatencyStore.open(path)
        try:
            meta, entries, _ = _read(store)
        finally:
            store.close()
        if not meta.get("complete"):
            raise LatencyError(f"latency table {path} is incomplete ({len(entries)} entries timed, no correction "
                               f"fitted); finish it by running the same `graphnas latency build` again")
        model = cls(meta, entries, str(path))
        if space is not None:
            model.check_space(space)
        if backend is not None:
            model.check_device(backend)
        return model

    @property
    def device(self) -> dict:
        return self.meta["device"]

    @property
    def batch(self) -> int:
        return int(self.meta["batch"])

    @property
    def reference_ms(self) -> float:
        """The reference workload's latency when the table was built (see :func:`build_latency_table`)."""
        return float(self.meta.get("reference_ms") or 1.0)

    def describe_device(self) -> str:
        d = self.device
        where = d.get("gpu") or d.get("cpu", "?")
        return f"{d.get('backend')} {d.get('device')} ({where}, {d.get('threads')} threads)"

    def check_space(self, space: "SearchSpace") -> None:
        """Refuse a space other than the table's (the root space's name, scale and input shape must match)."""
        root = root_space(space)
        want = (self.meta["space"], _jsonable(self.meta["scale"]), list(self.meta["input_shape"]))
        have = (root.name, _jsonable(space.scale), list(space.input_shape))
        if want != have:
            raise LatencyError(f"latency table {self.path} was built for space '{want[0]}' at scale {want[1]}, "
                               f"not '{have[0]}' at {have[1]}; build one with `graphnas latency build --space {have[0]}` "
                               f"and the same scale")

    def check_device(self, backend: Backend | dict) -> None:
        """Refuse a device other than the table's (every field of its description must match)."""
        want = self.device
        have = backend.describe() if isinstance(backend, Backend) else backend
        diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        if diff:
            shown = ", ".join(f"{k}: table {want.get(k)!r} vs {have.get(k)!r}" for k in diff)
            raise LatencyError(f"latency table {self.path} was measured on another device ({shown}); build a table "
                               f"on this device with `graphnas latency build`")

    def table(self, space: "SearchSpace") -> TermTable:
        """The term table of ``space`` whose leaves are this model's timings (:data:`LEAF_FIELDS`): the summed
        milliseconds of a term's entries (NaN where this table lacks one: an error only for an architecture
        that runs it) and the module calls of an edge or a cell input (the ``calls`` of the correction)."""
        got = self._tables.get(id(space))
        if got is not None and got[0] is space:
            return got[1]
        self.check_space(space)

        def leaf(entries, part: str) -> tuple[float, int]:
            ms = sum(self.entries[e.key].ms if e.key in self.entries else float("nan") for e in entries)
            return ms, len(entries) if part in ("edge", "input") else 0

        table = term_table(space, leaf, LEAF_FIELDS, np.float64)
        self._tables[id(space)] = (space, table)
        return table

    def parts(self, arch: "Architecture") -> tuple[float, int]:
        """``(sum of the entries of arch, operator module calls)``: the model's inputs before correction (the
        one-row case of :meth:`batch_latency`'s sums)."""
        total, calls = term_sum(arch.space, self.table(arch.space), arch.choices)
        return float(total), int(calls)

    def latency(self, arch: "Architecture") -> float:
        """Predicted latency of ``arch`` in milliseconds, on the table's device and batch size."""
        total, calls = self.parts(arch)
        if math.isnan(total):
            self._raise_missing(arch)
        ms = total + self.c0 + self.c1 * calls
        return ms if math.isfinite(ms) else self._finite(ms, arch.hash)  # the hash only for the message

    def _finite(self, ms, what: str):
        """``ms`` if every prediction in it is a finite number (crafted huge timings can sum to infinity)."""
        if not np.all(np.isfinite(ms)):
            raise LatencyError(f"latency table {self.path} predicts {ms if np.ndim(ms) == 0 else 'infinity'} ms for "
                               f"{what}: its timings or correction are out of range; {REBUILD}")
        return ms

    def _raise_missing(self, arch: "Architecture") -> None:
        space = arch.space
        e = next(e for e in arch_entries(space, arch.choices) if e.key not in self.entries)
        raise LatencyError(f"latency table {self.path} has no entry for {e} (kind {e.kind}), which architecture "
                           f"{arch.hash} of space '{space.name}' needs; build the table for this space and its "
                           f"operators (graphnas latency build resumes the file and adds what is missing)")

    def batch_latency(self, space: "SearchSpace", choices: np.ndarray) -> np.ndarray:
        """:meth:`latency` of every choice vector in ``choices`` (``(N, E)``) at once: ``(N,)`` ms."""
        choices = np.asarray(choices)
        total, calls = term_sums(space, self.table(space), choices).T
        bad = np.flatnonzero(np.isnan(total))
        if len(bad):
            self._raise_missing(space.arch(choices[bad[0]]))
        return self._finite(total + self.c0 + self.c1 * calls, f"{len(choices)} architectures")

    def __repr__(self) -> str:
        return (f"LatencyModel(space={self.meta['space']!r}, batch={self.batch}, device={self.describe_device()!r}, "
                f"entries={len(self.entries)})")


def _jsonable(value):
    import json

    return json.loads(json.dumps(value))


def _fit_correction(rows: Sequence[tuple[float, int, float]]) -> dict:
    """Least squares of ``measured - sum = c0 + c1 * calls`` over ``(sum, calls, measured)`` rows."""
    if not rows:
        return {"const_ms": 0.0, "per_call_ms": 0.0, "networks": 0}
    sums, calls, measured = (np.array(x, dtype=float) for x in zip(*rows))
    if len(rows) == 1 or np.ptp(calls) == 0:
        coef = np.array([float(np.mean(measured - sums)), 0.0])
    else:
        coef, *_ = np.linalg.lstsq(np.stack([np.ones_like(calls), calls], 1), measured - sums, rcond=None)
    resid = measured - (sums + coef[0] + coef[1] * calls)
    return {"const_ms": float(coef[0]), "per_call_ms": float(coef[1]), "networks": len(rows),
            "rms_residual_ms": float(np.sqrt(np.mean(resid ** 2)))}


# ---------------------------------------------------------------------- building
def _space_meta(space: "SearchSpace") -> dict:
    """What a table records of its space, and :meth:`LatencyModel.check_space` compares."""
    return {"space": root_space(space).name, "scale": _jsonable(space.scale), "input_shape": list(space.input_shape),
            "num_classes": space.num_classes}


def _table_meta(space: "SearchSpace", backend: Backend, batch: int, timing: TimingConfig) -> dict:
    from .. import __version__

    return {**_space_meta(space), "batch": batch, "device": backend.describe(), "timing": timing.to_dict(),
            "graphnas": __version__}


def build_latency_table(space: "SearchSpace", path: str | Path, backend: Backend | None = None, batch: int = 1,
                        timing: TimingConfig = TimingConfig(), fit_networks: int = 16, seed: int = 0,
                        progress: bool = True, chunk_size: int = 64) -> LatencyModel:
    """Time every entry of ``space`` on ``backend`` and fit the correction; returns the model.

    The table at ``path`` is created, or resumed when it exists (it must then be for the same space,
    scale, batch size and device). ``fit_networks`` whole networks spread over the cost range are
    timed to fit ``c0`` and ``c1``. Entries are timed interleaved, ``chunk_size`` at a time, and each chunk
    is committed when done, so an interruption loses at most one chunk. Every chunk is timed together
    with a fixed reference workload (:func:`~graphnas.cost.timing.reference_module`) and stored raw with
    that reference timing; reading the table brings every chunk to the median reference speed
    (:func:`_read`), so a machine that drifts while the table is built does not skew its entries.
    The table is locked for the whole build (:func:`graphnas.files.output_lock`): a second build of
    it fails at once naming the first. A 0-byte or header-only file a killed build left is replaced.
    """
    if batch < 1:
        raise LatencyError(f"batch size must be at least 1; got {batch}")
    backend = backend or TorchBackend("cpu")
    meta = _table_meta(space, backend, batch, timing)
    path = Path(path)
    with output_lock(path, "latency table", folder=False):  # one writer: a second build fails at once
        return _build_locked(space, path, backend, batch, timing, meta, fit_networks, seed, progress, chunk_size)


def _build_locked(space, path: Path, backend: Backend, batch: int, timing: TimingConfig, meta: dict,
                  fit_networks: int, seed: int, progress: bool, chunk_size: int) -> LatencyModel:
    start = time.perf_counter()
    if os.path.lexists(path) and not LatencyStore.unstarted(path):
        store = LatencyStore.open(path)
        old = store.meta()
        keys = ("space", "scale", "input_shape", "batch", "device")
        if any(_jsonable(old.get(k)) != _jsonable(meta[k]) for k in keys):
            diff = [k for k in keys if _jsonable(old.get(k)) != _jsonable(meta[k])]
            store.close()
            shown = ", ".join(repr(old.get(k)) for k in diff)
            raise LatencyError(f"latency table {path} exists for another {'/'.join(diff)} ({shown}); choose another "
                               f"--out or delete it")
    else:  # nothing there, or a file a build killed as it started left (replaced)
        store = LatencyStore.create(path, meta)
    try:
        done = store.entries()
        todo = [e for e in space_entries(space) if e.key not in done]
        fit_archs = spread_archs(space, fit_networks, rng=seed) if fit_networks else []
        timed = {h for h, *_ in store.networks("fit")}
        untimed = [a for a in fit_archs if a.hash not in timed]
        if todo or untimed:  # until the correction is refitted, the table is not whole
            store.set_meta(complete=False)
        with backend.session(), tqdm(total=len(todo), desc="latency entries", disable=not progress, leave=False,
                                     unit="entry") as bar:
            for chunk in _chunks(todo, chunk_size):
                fns = [backend.prepare(entry_module(space, e, batch), (batch, e.c_in, e.res, e.res)) for e in chunk]
                measured, ref = _with_reference(backend, fns, timing, burst=1)
                store.put_entries(zip(chunk, measured), ref.ms)
                bar.update(len(chunk))
            for chunk in _chunks(untimed, NETWORK_CHUNK):
                measured, ref = measure_networks(chunk, backend, batch, timing)
                store.put_networks("fit", zip(chunk, measured), ref.ms)
        meta, entries, fit = _read(store)
        model = LatencyModel({**meta, "correction": None}, entries, str(path))
        correction = _fit_correction([(*model.parts(a), fit[a.hash].ms) for a in fit_archs])
        seconds = float(meta.get("build_seconds", 0.0)) + time.perf_counter() - start
        ops = sorted(set(meta.get("ops", [])) | {op for e in space.edges for op in e.candidates if op != NONE})
        store.set_meta(correction=correction, complete=True, build_seconds=seconds, entries=len(entries),
                       reference_ms=meta["reference_ms"], ops=ops)
        meta = store.meta()
    finally:
        store.close()
    return LatencyModel(meta, entries, str(path))


# ---------------------------------------------------------------------- validation
@dataclass
class Validation:
    """Predicted vs measured latency of whole networks.

    Attributes:
        hashes (list): the architectures.
        predicted, measured (ndarray): milliseconds, at the speed the table was built at (measured
            times are divided by ``drift``).
        spread (ndarray): each measurement's interquartile range over its median.
        seconds (float): wall time spent compiling and timing the networks.
        drift (float): how much slower the machine ran the reference workload now than when the
            table was built (1.05 = 5% slower); ``raw_measured`` undoes the rescaling.
    """

    hashes: list
    predicted: np.ndarray
    measured: np.ndarray
    spread: np.ndarray
    seconds: float
    drift: float = 1.0

    @property
    def raw_measured(self) -> np.ndarray:
        return self.measured * self.drift

    @property
    def rel_error(self) -> np.ndarray:
        return (self.predicted - self.measured) / self.measured

    def summary(self) -> dict:
        from ..estimate.ranking import kendall_tau

        err = np.abs(self.rel_error)
        return {"networks": len(self.hashes), "median_abs_error": float(np.median(err)),
                "p90_abs_error": float(np.quantile(err, 0.9)), "within_10pct": float(np.mean(err <= 0.10)),
                "kendall_tau": kendall_tau(self.predicted, self.measured) if len(self.hashes) > 1 else float("nan"),
                "measured_ms": [float(self.measured.min()), float(self.measured.max())],
                "median_spread": float(np.median(self.spread)), "seconds_per_network": self.seconds / len(self.hashes),
                "drift": self.drift,
                "within_10pct_raw": float(np.mean(np.abs(self.predicted - self.raw_measured)
                                                  <= 0.1 * self.raw_measured))}


def validate(model: LatencyModel, space: "SearchSpace", backend: Backend, n: int = 100, seed: int = 1,
             timing: TimingConfig = TimingConfig(), progress: bool = True, store_path: str | Path | None = None,
             chunk_size: int = NETWORK_CHUNK) -> Validation:
    """Time ``n`` fresh networks spread over the cost range (none of the fit networks) and compare.

    The backend must describe the table's device. The networks are timed with the reference workload,
    and measured times are rescaled by its drift since the build (``Validation.drift``; the raw
    figures stay available). With ``store_path`` (the table), the timed networks are stored under
    role ``'validate'`` and reused by a rerun. Networks are timed ``chunk_size`` at a time, as the fit
    networks were (see :func:`measure_networks`).
    """
    model.check_space(space)
    model.check_device(backend)
    # storing the timed networks writes the table: one writer at a time, as for build_latency_table
    with output_lock(store_path, "latency table", folder=False) if store_path else nullcontext():
        return _validate(model, space, backend, n, seed, timing, progress, store_path, chunk_size)


def _validate(model: LatencyModel, space: "SearchSpace", backend: Backend, n: int, seed: int, timing: TimingConfig,
              progress: bool, store_path, chunk_size: int) -> Validation:
    fit = set()
    store = LatencyStore.open(store_path) if store_path else None
    try:
        if store is not None:
            fit = {h for h, *_ in store.networks("fit")}
            old = {h: (m, ref) for h, _, m, ref in store.networks("validate")}
        else:
            old = {}
        archs = spread_archs(space, n, rng=seed, exclude=fit)
        start = time.perf_counter()
        measured = []
        todo = [a for a in archs if a.hash not in old]
        with backend.session(), tqdm(total=len(todo), desc="validate", disable=not progress, leave=False,
                                     unit="net") as bar:
            for chunk in _chunks(todo, chunk_size):
                measured, ref = measure_networks(chunk, backend, model.batch, timing)
                old.update((a.hash, (m, ref.ms)) for a, m in zip(chunk, measured))
                if store is not None:
                    store.put_networks("validate", zip(chunk, measured), ref.ms)
                bar.update(len(chunk))
        drift = [old[a.hash][1] / model.reference_ms for a in archs]
        measured = [_rescaled(old[a.hash][0], 1 / d) for a, d in zip(archs, drift)]
        seconds = time.perf_counter() - start
    finally:
        if store is not None:
            store.close()
    return Validation([a.hash for a in archs], np.array([model.latency(a) for a in archs]),
                      np.array([m.ms for m in measured]), np.array([m.spread for m in measured]), seconds,
                      float(np.mean(drift)))


def plot_validation(v: Validation, path: str | Path, title: str | None = None) -> Path:
    """Scatter of predicted vs measured latency with the +-10% band, written to ``path`` (PNG/SVG/PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils import atomic_target

    s = v.summary()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    lo, hi = float(min(v.measured.min(), v.predicted.min())), float(max(v.measured.max(), v.predicted.max()))
    xs = np.linspace(lo * 0.9, hi * 1.1, 10)
    ax.plot(xs, xs, color="black", lw=1)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="grey", alpha=0.2, label="+-10%")
    ax.scatter(v.measured, v.predicted, s=12)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(title or f"within 10%: {s['within_10pct']:.0%}, tau {s['kendall_tau']:.3f}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    return path
