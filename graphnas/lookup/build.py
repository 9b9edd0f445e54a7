"""Writing a lookup table: batched, transactional, resumable (see :mod:`graphnas.lookup`)."""

from __future__ import annotations

import datetime
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cost.model import batch_costs
from ..errors import LookupTableError
from ..files import output_lock
from ..space.encoding import choices_of, indices_of, size_of
from .encoding import arch_hashes
from .orders import DEFAULT_ORDER, answer_scores
from .store import (BATCH, FORMAT, INDEXES, RESERVED, SQL_ERRORS, create, digest, latency_meta, read_meta, resume,
                    space_meta, table_digest)

if TYPE_CHECKING:
    from ..cost.latency import LatencyModel
    from ..space.searchspace import SearchSpace

__all__ = ["build_lookup_table", "check_inputs"]


def build_lookup_table(space: "SearchSpace", path: str | Path, predicted, choices=None, measured=None,
                       latency_model: "LatencyModel | None" = None, meta: dict | None = None, batch: int = BATCH,
                       progress: bool = False, latency=None, latency_source: str | None = None,
                       order: str = DEFAULT_ORDER, out_of_sample=None) -> Path:
    """Write a lookup table (or resume an interrupted build of the same inputs); returns its path.

    :meth:`LookupTable.build <graphnas.lookup.LookupTable.build>` calls this and opens the table.

    Args:
        path (str or Path): the SQLite file; if it exists, it must be a build of the same inputs
            (then it is resumed, or just opened if complete).
        space (SearchSpace): the (sub)space.
        predicted (array_like): ``(N,)`` predicted accuracies: aligned with ``space.index`` order
            (``N = space.size``) when ``choices`` is ``None``, else with the rows of ``choices``.
        choices (array_like, optional): ``(N, E)`` choice vectors (distinct architectures).
        measured (array_like, optional): ``(N,)`` measured accuracies, NaN where unknown.
        latency_model (LatencyModel, optional): predicts each architecture's latency; its table
            must be of ``space``. Without one (and without ``latency``), latency is NULL and latency
            queries are refused.
        latency (array_like, optional): ``(N,)`` latencies in ms aligned like ``predicted``, measured
            elsewhere (a benchmark's table, a device farm), instead of ``latency_model``.
        latency_source (str, optional): where ``latency`` comes from, kept in ``meta['latency']``.
        meta (dict, optional): extra JSON-able metadata, e.g. ``{"predictor": "gcn v3, seed 0",
            "supernet": "<checkpoint sha256>"}``.
        batch (int): rows per transaction (default: :data:`BATCH`).
        progress (bool): show a progress bar.
        order (str): how measured and predicted rows rank together (:mod:`graphnas.lookup.orders`):
            ``"shrinkage"`` (default) or ``"measured-first"``; recorded in ``meta['order']`` with the
            reliability estimate (shrinkage falls back to measured-first, saying why, where it cannot
            estimate, e.g. without ``out_of_sample``).
        out_of_sample (array_like, optional): ``(N,)`` out-of-sample predictions of measured rows (NaN
            elsewhere; ``predict_space``'s ``history["out_of_sample"]``), which the shrinkage order needs.

    Raises:
        LookupTableError: inputs of the wrong shape, NaN predictions, repeated or invalid choice
            vectors, or an existing file that is not a build of the same inputs.
        GraphnasError: another process is writing the same table (held with
            :func:`graphnas.files.output_lock` for the whole build).
    """
    path = Path(path)
    start = time.perf_counter()
    extra = dict(meta or {})
    clash = sorted(set(extra) & RESERVED)
    if clash:
        raise LookupTableError(f"meta key(s) {', '.join(clash)} are written by the build itself; rename them")
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as e:
        raise LookupTableError(f"meta must be JSON-able ({e})") from None
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise LookupTableError(f"batch={batch!r} must be a positive integer")
    size_of(space)  # refuses a space too large for int64 row keys
    predicted, choices, indices, measured = check_inputs(space, predicted, choices, measured)
    ranks = _answer_order(space, order, predicted, choices, indices, measured, out_of_sample)
    extra = {**extra, "order": ranks[2]}
    if latency_model is not None:
        latency_model.check_space(space)
    if latency is not None:
        if latency_model is not None:
            raise LookupTableError("give latency_model or latency (an array), not both")
        latency = np.asarray(latency, dtype=np.float64)
        if latency.shape != predicted.shape or not np.isfinite(latency).all() or (latency < 0).any():
            raise LookupTableError(f"latency must be {predicted.shape[0]} finite non-negative milliseconds "
                                   f"aligned with predicted; got shape {latency.shape}")
    with output_lock(path, "lookup table", folder=False):  # one writer per table: a second one fails at once
        return _write(path, space, predicted, choices, indices, measured, latency_model, latency, latency_source,
                      extra, batch, progress, start, ranks)


def _answer_order(space, order, predicted, choices, indices, measured, out_of_sample):
    """``(tier, score, meta)`` of every row for ``order`` (:func:`graphnas.lookup.orders.answer_scores`), the
    instrument being the analytic parameter count of the measured rows."""
    n = len(predicted)
    if out_of_sample is not None:
        out_of_sample = np.asarray(out_of_sample, dtype=np.float64)
        if out_of_sample.shape != (n,):
            raise LookupTableError(f"out_of_sample must have shape ({n},) aligned with predicted (NaN where none), "
                                   f"got {out_of_sample.shape}")
    params = np.zeros(n)
    if measured is not None and order == "shrinkage" and out_of_sample is not None and \
            np.isfinite(out_of_sample).any():  # without out-of-sample predictions it falls back: no instrument needed
        known = np.flatnonzero(np.isfinite(measured))
        ch = choices[known] if choices is not None else choices_of(space, known)
        params[known] = batch_costs(space, ch)[:, 1]
    return answer_scores(order, predicted, measured, out_of_sample, params)


def _write(path, space, predicted, choices, indices, measured, latency_model, latency, latency_source, extra,
           batch, progress, start, ranks) -> Path:
    """Create or resume the table at ``path`` and write its rows (``build_lookup_table`` holds its lock)."""
    n = len(predicted)
    inputs = digest(space, predicted, choices, measured, latency_model, {**extra, "_latency": latency_source}
                    if latency is not None else extra, latency)
    if path.exists():
        conn, info = resume(path, inputs)
        if info.get("complete"):
            conn.close()
            return path
    else:
        info = {"format": FORMAT, **space_meta(space), "rows": n, "predictor": None, "supernet": None,
                **extra, "latency": latency_meta(latency_model) if latency is None else
                {"device": None, "describe": latency_source or "given per architecture", "table": None,
                 "batch": None}, "inputs": inputs, "done": 0,
                "complete": False, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"), "build_seconds": 0.0, "batch": int(batch)}
        conn = create(path, info)
    try:
        done, spent = int(info["done"]), float(info.get("build_seconds") or 0.0)  # spent: by earlier runs
        if done > n:
            raise LookupTableError(f"lookup table {path} records {done} rows written of {n}; delete it and "
                                   f"build again")
        from tqdm.auto import tqdm

        with tqdm(total=n, initial=done, desc="lookup table", unit="arch", disable=not progress,
                  leave=False) as bar:
            for lo in range(done, n, batch):
                hi = min(n, lo + batch)
                idx = np.arange(lo, hi, dtype=np.int64) if indices is None else indices[lo:hi]
                ch = choices_of(space, idx) if choices is None else choices[lo:hi]
                if latency is not None:
                    lat = latency[lo:hi].tolist()
                elif latency_model is not None:
                    lat = latency_model.batch_latency(space, ch).tolist()
                else:
                    lat = [None] * (hi - lo)
                meas = [None] * (hi - lo) if measured is None else \
                    [None if math.isnan(v) else v for v in measured[lo:hi].tolist()]
                pred = predicted[lo:hi].tolist()
                costs = batch_costs(space, ch).astype(np.float64)  # columns madds, params, bitops
                rows = zip(idx.tolist(), arch_hashes(space, ch), pred, meas, costs[:, 0].tolist(),
                           costs[:, 1].tolist(), lat, ranks[0][lo:hi].tolist(), ranks[1][lo:hi].tolist())
                with conn:
                    conn.executemany("INSERT INTO archs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    conn.executemany("UPDATE meta SET value = ? WHERE key = ?",
                                     [(json.dumps(hi), "done"), (json.dumps(spent + time.perf_counter() - start),
                                                                 "build_seconds")])
                bar.update(hi - lo)
        seconds = spent + time.perf_counter() - start
        with conn:
            conn.execute("BEGIN")  # indexes, statistics and the complete flag commit together
            for sql in INDEXES:
                conn.execute(sql)
            conn.execute("ANALYZE")
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [("build_seconds", json.dumps(seconds)), ("complete", json.dumps(True))])
            # the digest of what a reader will read back (rows and meta), in the same transaction
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('digest', ?)",
                         (json.dumps(table_digest(conn, read_meta(conn, path))),))
    except SQL_ERRORS as e:
        raise LookupTableError(f"writing lookup table {path} failed ({e}); run the build again to resume, or "
                               f"delete the file") from None
    finally:
        conn.close()
    return path


def check_inputs(space, predicted, choices, measured):
    """``(predicted, choices, indices, measured)`` as float64 / int64 arrays, or a LookupTableError."""
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.ndim != 1:
        raise LookupTableError(f"predicted accuracies must be a 1-d array, got shape {predicted.shape}")
    indices = None
    if choices is None:
        if len(predicted) != space.size:
            raise LookupTableError(f"{len(predicted)} predicted accuracies for space '{space.name}' of {space.size} "
                                   f"architectures; give one per architecture in space.index order, or pass "
                                   f"choices=")
    else:
        choices = np.asarray(choices)
        if choices.ndim != 2 or choices.shape[1] != space.num_edges or choices.shape[0] != len(predicted):
            raise LookupTableError(f"choices must have shape ({len(predicted)}, {space.num_edges}) (one choice "
                                   f"vector per predicted accuracy), got {choices.shape}")
        if not np.issubdtype(choices.dtype, np.integer):
            raise LookupTableError(f"choices must be integers, got dtype {choices.dtype}")
        choices = choices.astype(np.int64)
        bad = np.argwhere((choices < 0) | (choices >= space.radices))
        if len(bad):
            k, i = bad[0]
            raise LookupTableError(f"choices row {k}: choice {choices[k, i]} on edge {i} is outside 0.."
                                   f"{space.radices[i] - 1}")
        try:
            indices = indices_of(space, choices)
        except Exception as e:  # in-degree violations: ArchitectureError naming the node
            from ..errors import GraphnasError

            if not isinstance(e, GraphnasError):
                raise
            raise LookupTableError(f"choices: {e}") from None
        uniq, counts = np.unique(indices, return_counts=True)
        if len(uniq) != len(indices):
            dup = int(uniq[np.argmax(counts > 1)])
            rows = np.flatnonzero(indices == dup)[:2].tolist()
            raise LookupTableError(f"choices rows {rows[0]} and {rows[1]} are the same architecture (index {dup}); "
                                   f"give each architecture once")
    if len(predicted) == 0:
        raise LookupTableError("no predicted accuracies: a lookup table needs at least one architecture")
    nan = np.flatnonzero(~np.isfinite(predicted))
    if len(nan):
        raise LookupTableError(f"predicted accuracy of row {nan[0]} is {predicted[nan[0]]}; every prediction must "
                               f"be a finite number")
    if measured is not None:
        measured = np.asarray(measured, dtype=np.float64)
        if measured.shape != predicted.shape:
            raise LookupTableError(f"measured accuracies must have shape {predicted.shape} (NaN where unknown), "
                                   f"got {measured.shape}")
        inf = np.flatnonzero(np.isinf(measured))
        if len(inf):
            raise LookupTableError(f"measured accuracy of row {inf[0]} is {measured[inf[0]]}; give a finite number, "
                                   f"or NaN where unknown")
    return predicted, choices, indices, measured
