"""Lookup tables (GCN-NAS): every architecture of a (sub)space with its predicted accuracy and costs, in SQLite.

Once a predictor has scored a whole (sub)space, "the best architecture under 17 ms" or "under 330M
MAdds" is a query, answered in milliseconds for any limit, without searching again::

    table = LookupTable.build("fairnas.lookup.db", space, predicted, latency_model=model,
                              meta={"predictor": "gcn v3"})
    best = LookupTable.open("fairnas.lookup.db").query(latency="17ms", madds="330M", top=10)[0]

**Schema.** Table ``archs`` holds one row per architecture::

    idx        INTEGER PRIMARY KEY  mixed-radix rank of the choice vector (SearchSpace.index)
    hash       TEXT NOT NULL        Architecture.hash (16 hex digits)
    predicted  REAL NOT NULL        predicted accuracy
    measured   REAL                 measured accuracy, NULL where unknown
    madds      REAL NOT NULL        multiply-adds (graphnas.cost.model.batch_costs, exact)
    params     REAL NOT NULL        parameters
    latency    REAL                 predicted latency in ms (LatencyModel), NULL without a latency model
    tier       INTEGER NOT NULL     measured-first: 1 where measured is known, else 0; shrinkage: 0
    score      REAL NOT NULL        the rank within a tier: predicted, or measured (shrunk, in shrinkage order)

**Answer order** (:mod:`graphnas.lookup.orders`, recorded in ``meta['order']``): ``ORDER BY tier DESC, score
DESC, idx`` over columns the build fills for the order it was given.

* ``shrinkage`` (the default): one ranking, ``tier`` 0 everywhere; an unmeasured row's ``score`` is its
  prediction, a measured row's its measurement shrunk towards its prediction by how reliable the table
  estimates each to be (from its labels, its predictor's out-of-sample predictions and the parameter count).
  With noisy labels (supernet scores) the highest measurement is mostly the luckiest noise; the shrunk value
  is not. Where the labels are estimated about as reliable as the predictions (exact labels), or no estimate
  can be made, the table ranks measured-first and ``meta['order']`` says why.
* ``measured-first``: measured architectures first (``tier`` 1), by measured accuracy, then the rest by
  prediction. This is GCN-NAS's last step for every limit at once: the predictor chooses which
  architectures to measure (the predicted accuracy-latency front, :mod:`graphnas.lookup.labelling`), and the
  best *measured* one within a limit is the answer; ranking raw measurements and predictions together would
  let an over-predicted unmeasured row (the highest predictions are the most over-estimated) beat the
  measured front. A limit that no measured row meets is answered from predictions.

``tools/bench_lookup_nb201.py`` (exact labels) and ``tools/bench_lookup_noisy.py`` (labels as noisy as
supernet scores) measure both orders (BENCHMARKS.md).

``idx`` *is* the choice vector: with radices ``r_0..r_{E-1}`` (candidates per edge, edge 0 most
significant), ``idx = (...(c_0 * r_1 + c_1) * r_2 + ...) * r_{E-1} + c_{E-1}``, so a row needs no
column per edge and the primary key is the architecture; spaces with in-degree constraints use
their constrained ranking instead (:meth:`~graphnas.space.searchspace.SearchSpace.index`). The radices are
stored in ``meta``, so choices decode without the space. Counts are stored as REAL (SQLite writes
integral REAL values as integers on disk, and reads them back exactly).

Table ``meta`` maps keys to JSON values: ``format`` (:data:`FORMAT`), ``space`` (name), ``root`` (the
space it was cut from), ``scale``, ``input_shape``, ``fingerprint``, ``size`` (of the space), ``rows``,
``radices``, ``candidates`` (per edge, to rebuild a subspace), ``in_degree``, ``predictor`` and
``supernet`` (as given), ``order`` (the answer order used, the one asked for, and the reliability estimate or
why there is none), ``latency (device description and table path, or null), ``inputs`` (a
digest of everything the build was given), ``done`` (input rows committed), ``complete``, ``created``,
``build_seconds``, and ``digest``: :func:`graphnas.digest.content_digest` of the meta (its digest excepted) and
every row, written with ``complete`` (:func:`~graphnas.lookup.store.table_digest`).

**Indexes and query plans** (chosen by measurement: ``tools/bench_lookup.py``, BENCHMARKS.md). A
constrained top-k query is ``WHERE madds <= ? AND latency <= ? ORDER BY tier DESC, score DESC, idx LIMIT k``
(ties broken by ``idx``, so answers are deterministic). Two plans answer it, and
:meth:`LookupTable.query` picks one itself rather than leave it to SQLite's planner (which, without
range statistics, picked much slower plans in the benchmark):

* *many rows within the limits*: walk the covering index ``archs_rank ON archs(tier DESC, score DESC,
  idx, madds, params, latency)`` in answer order, testing the limits on the index entry itself and reading
  the table only for the rows returned, and stop at the ``k``-th match (``EXPLAIN QUERY PLAN``:
  ``SCAN archs USING INDEX archs_rank``, no sort). Cost: index entries passed before the ``k``-th
  match; the whole index at worst (tens of ns per entry).
* *few rows within a limit*: range-scan that metric's index (``archs_madds``, ``archs_params``,
  ``archs_latency``) and sort those rows (``SEARCH archs USING INDEX archs_latency (latency<?)`` +
  ``USE TEMP B-TREE FOR ORDER BY``). Cost: about a microsecond per row within the limit.

"Few" is fewer than :attr:`LookupTable.switch_rows` = ``max(1000, rows // 32)``, found by counting in
each limited metric's index up to that number (a bounded, index-only count). Without the switch, a
tight limit makes the first plan pass nearly every index entry while few rows qualify; without the
first plan, a loose limit makes the second sort most of the table. The per-metric indexes also serve
the ``MIN(...)`` that explains a limit no architecture meets.

**Building** (:meth:`LookupTable.build`) writes ``batch`` rows per transaction, with the count of
committed rows in the same transaction, so an interrupted build resumes from the last committed batch
when it is run again with the same inputs (a digest of them is stored and checked). Indexes,
``ANALYZE``, ``complete`` and the content digest come in one final transaction; :meth:`LookupTable.open` refuses an
incomplete table with a line saying how to finish it. One build writes a table at a time: the build holds
:func:`graphnas.files.output_lock` on it, so a second writer fails at once naming the first.

**Trust.** A table is a file from anywhere; :meth:`LookupTable.open` checks first what names damage most
precisely (:func:`~graphnas.lookup.store.check_rows`): every meta value's type and range, the columns and
indexes, and in one statement answered from the indexes (O(log rows)) the row count, the index range, and the type and range of every indexed column; then the digest of its rows
and meta (:func:`~graphnas.lookup.store.check_digest`), which finds plausible damage too (a count set to
2^63-1, a byte flipped inside a REAL cell): one SELECT of the REAL columns into a float64 array and one
``group_concat`` of the INTEGER and TEXT columns, the fastest of the ways measured (one SELECT per column, or
of all columns turned into arrays, took about twice as long): O(rows), the open time in BENCHMARKS.md (lookup
table section). On a mismatch every row is checked as :meth:`verify` does, so that a damaged row is named where
one is; else the mismatch is. Every row an answer returns is checked further: its values' types and ranges,
and that its index decodes to choices whose hash (computed from the meta's fingerprint and candidates, as
``Architecture.hash`` is) is the stored one (a table whose digest was forged to match).
:meth:`LookupTable.verify` checks every row that way, plus SQLite's ``integrity_check`` (O(rows)). A failing
table raises one :class:`LookupTableError` line saying what is wrong and how to rebuild it.
"""

from ..cost.limits import bound_value as parse_limit
from ..cost.limits import describe_limits, format_limit
from .build import build_lookup_table
from .encoding import arch_hashes
from .labelling import front_layers, label_and_predict
from .store import BATCH, FORMAT, INDEXES
from .table import LIMIT_METRICS, LookupTable, Row

__all__ = ["FORMAT", "BATCH", "INDEXES", "LIMIT_METRICS", "Row", "LookupTable", "build_lookup_table", "arch_hashes",
           "format_limit", "parse_limit", "describe_limits", "front_layers", "label_and_predict"]
