#!/usr/bin/env python
"""Lookup table over 6^7 = 279,936 architectures: build time, file size, constrained top-10 query time.

The space is FairNAS at CPU scale (16 px, width 0.25, stem stride 1, no head conv) with 12 of its 19
blocks fixed to ``mbconv_k3_e3`` and 7 left free (6 choices each), so MAdds and parameters are the
real analytic counts of real networks. **Predicted accuracies are synthetic** (a seeded array that
grows with MAdds plus noise, as a trained predictor's do: the best predictions sit at the costly end,
which is the hard case for a constrained top-k); the point here is storage and query speed, not
accuracy. Latency comes from a synthetic latency model (arbitrary entry timings, no timing runs)
unless ``--latency-table`` gives a real one built for that space.

For 20 random limits of each kind (latency; MAdds; both), drawn at log-uniform quantiles of the
metric from 0.01% to 100% so that tight limits are covered, the top-10 query is timed (median of
``--repeat`` runs per limit) and its answer compared with a full numpy scan of the same arrays in
memory (mask + partial sort), timed the same way. The same limits are also run as single query plans,
which is how the table's indexes and ``query``'s choice between two plans were settled: the covering
index ``(tier DESC, score DESC, idx, madds, params, latency)`` alone, SQLite's own choice among the
table's indexes, a per-metric index forced, a non-covering ``(tier DESC, score DESC, idx)`` index, and no
index. No row has a measured accuracy here, so every row is in tier 0 and ranks by prediction.

    python tools/bench_lookup.py [--queries 20] [--repeat 3] [--latency-table FILE] [--keep FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib import reset_peak_rss, rss_mb, update_section

import graphnas
from graphnas.cost.model import batch_cost
from graphnas.cost.latency import LatencyModel, space_entries
from graphnas.cost.timing import Measurement
from graphnas.lookup import LookupTable
from graphnas.lookup.store import ORDER
from graphnas.space.encoding import choices_of

FREE = (0, 3, 6, 9, 12, 15, 18)
FIXED_OP = "mbconv_k3_e3"
KINDS = {"latency": ("latency",), "MAdds": ("madds",), "both": ("madds", "latency")}
_SELECT = "SELECT idx, hash, predicted, measured, madds, params, latency FROM archs"


def make_space():
    full = graphnas.get_space("fairnas", resolution=16, width=0.25, stem_stride=1, head_channels=None)
    return full.subspace(fixed={i: FIXED_OP for i in range(full.num_edges) if i not in FREE}, name="fairnas/7free")


def synthetic_latency(space, seed: int = 0) -> LatencyModel:
    rng = np.random.default_rng(seed)
    entries = {e.key: Measurement(float(rng.uniform(0.05, 0.5)), 0.0, 1, True) for e in space_entries(space)}
    return LatencyModel.for_space(space, entries, 0.2, 0.01, device={"backend": "synthetic"},
                                  path="synthetic (bench_lookup.py)")


def timed(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def numpy_top(pred, cols, limits: dict, k: int = 10) -> list[int]:
    """Top-k indices by (predicted desc, index asc) within the limits: a full scan of the arrays."""
    mask = np.ones(len(pred), dtype=bool)
    for m, v in limits.items():
        mask &= cols[m] <= v
    sel = np.flatnonzero(mask)
    if len(sel) > k:
        thr = np.partition(pred[sel], len(sel) - k)[len(sel) - k]
        sel = sel[pred[sel] >= thr]
    return sel[np.lexsort((sel, -pred[sel]))][:k].tolist()


def draw_limits(cols, n: int, rng) -> dict[str, list[dict]]:
    out = {}
    for kind, metrics in KINDS.items():
        out[kind] = []
        for _ in range(n):
            q = 10 ** rng.uniform(-4, 0)
            if len(metrics) == 1:
                out[kind].append({metrics[0]: float(np.quantile(cols[metrics[0]], q))})
            else:  # a real architecture's MAdds, and up to twice its latency: never empty
                j = int(np.argsort(cols["madds"], kind="stable")[int(q * (len(cols["madds"]) - 1))])
                out[kind].append({"madds": float(cols["madds"][j]),
                                  "latency": float(cols["latency"][j] * rng.uniform(1.0, 2.0))})
    return out


def _limits_text(lim: dict) -> str:
    return ", ".join(f"{m} <= {v / 1e6:.3f}M" if m != "latency" else f"latency <= {v:.3f} ms" for m, v in lim.items())


def plan_sql(variant: str, metrics) -> str:
    """The top-10 query of an index plan."""
    if variant == "covering":  # what LookupTable.query runs
        where = " AND ".join(f"+{m} <= ?" for m in metrics)
        return f"{_SELECT} INDEXED BY archs_rank WHERE {where} ORDER BY {ORDER} LIMIT 10"
    where = " AND ".join(f"{m} <= ?" for m in metrics)
    source = {"planner": "", "metric": f" INDEXED BY archs_{metrics[0]}", "noncovering": " INDEXED BY archs_pred",
              "none": " NOT INDEXED"}[variant]
    return f"{_SELECT}{source} WHERE {where} ORDER BY {ORDER} LIMIT 10"


VARIANTS = {
    "covering": "covering index (tier DESC, score DESC, idx, madds, params, latency) only, forced",
    "planner": "SQLite's own choice among the table's indexes (after ANALYZE)",
    "metric": "per-metric index on the (first) limited metric, forced",
    "noncovering": "non-covering index (tier DESC, score DESC, idx), forced",
    "none": "no index: scan the table and sort",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=20, help="random limits per kind (default: 20)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per limit, median taken (default: 3)")
    ap.add_argument("--latency-table", help="a real latency table of the space (graphnas latency build fairnas "
                    "--scale resolution=16 width=0.25 stem_stride=1 head_channels=None)")
    ap.add_argument("--keep", help="keep the lookup table at this path (default: a temporary file)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    load_before = os.getloadavg()[0]
    space = make_space()
    assert space.size == 6 ** 7, space.size
    n = space.size
    rng = np.random.default_rng(args.seed)
    if args.latency_table:
        model, lat_label = LatencyModel.load(args.latency_table, space), f"measured table `{args.latency_table}`"
    else:
        model, lat_label = synthetic_latency(space, args.seed), "synthetic latency model (random entry timings)"
    choices = choices_of(space, np.arange(n))
    cols = {"madds": batch_cost(space, choices, "madds"), "params": batch_cost(space, choices, "params"),
            "latency": model.batch_latency(space, choices)}
    span = np.ptp(cols["madds"]) or 1.0
    pred = 0.6 + 0.2 * (cols["madds"] - cols["madds"].min()) / span + rng.normal(0.0, 0.02, n)  # synthetic

    tmp = Path(tempfile.mkdtemp(prefix="bench_lookup_"))
    path = Path(args.keep) if args.keep else tmp / "fairnas7.lookup.db"
    if path.exists():
        path.unlink()
    try:
        reset_peak_rss()
        rss_before = rss_mb("VmRSS")
        start = time.perf_counter()
        label = "synthetic: 0.6 + 0.2 * normalised MAdds + N(0, 0.02), bench only"
        LookupTable.build(path, space, pred, latency_model=model, meta={"predictor": label}).close()
        build_s = time.perf_counter() - start
        build_peak = rss_mb() - rss_before
        size_mb = path.stat().st_size / 2 ** 20
        start = time.perf_counter()
        table = LookupTable.open(path, space)
        open_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        loaded = np.array(table.conn.execute("SELECT predicted, madds, params, latency FROM archs ORDER BY idx")
                          .fetchall())
        load_ms = (time.perf_counter() - start) * 1e3
        assert np.array_equal(loaded[:, 0], pred) and np.array_equal(loaded[:, 1], cols["madds"])

        limits = draw_limits(cols, args.queries, rng)
        table.query(madds=float(cols["madds"].max()))  # warm the page cache
        rows, sql_t, np_t = [], {}, {}
        for kind, lims in limits.items():
            sql_t[kind], np_t[kind] = [], []
            for lim in lims:
                got, t = timed(lambda: table.query(**lim, top=10), args.repeat)
                want, t_np = timed(lambda: numpy_top(pred, cols, lim), args.repeat)
                assert [r.index for r in got] == want, (kind, lim)
                sql_t[kind].append(t)
                np_t[kind].append(t_np)

        # other index plans: SQLite's own choice among the table's indexes, then forced plans on a copy with an
        # extra non-covering index
        alt = tmp / "variants.db"
        shutil.copy(path, alt)
        conn = sqlite3.connect(alt)
        var_t, plans = {}, {}
        for variant in VARIANTS:
            if variant == "noncovering":
                conn.execute("CREATE INDEX archs_pred ON archs(tier DESC, score DESC, idx)")
                conn.execute("ANALYZE")
                conn.commit()
            var_t[variant] = {}
            for kind, lims in limits.items():
                metrics = KINDS[kind]
                sql = plan_sql(variant, metrics)
                var_t[variant][kind] = []
                for lim in lims:
                    vals = tuple(lim[m] for m in metrics)
                    got, t = timed(lambda: conn.execute(sql, vals).fetchall(), args.repeat)
                    assert [r[0] for r in got] == numpy_top(pred, cols, lim), (variant, kind, lim)
                    var_t[variant][kind].append(t)
                plans[(variant, kind)] = " / ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, vals))
        loose, tight = {"madds": float(np.quantile(cols["madds"], 0.5)), "latency": float(cols["latency"].max())}, \
            {"madds": float(np.quantile(cols["madds"], 0.5)), "latency": float(np.quantile(cols["latency"], 0.005))}
        query_plans = [(lim, " / ".join(table.plan(**lim))) for lim in (loose, tight)]
        conn.close()
        table.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def ms(values, q):
        return f"{np.quantile(np.array(values) * 1e3, q):.2f} ms"

    worst_p95 = max(np.quantile(np.array(v) * 1e3, 0.95) for v in sql_t.values())
    body = [
        "## Lookup table: 279,936 architectures, constrained top-10 queries (issue 7)",
        "",
        f"`python tools/bench_lookup.py --queries {args.queries} --repeat {args.repeat}"
        + (f" --latency-table {args.latency_table}" if args.latency_table else "") + "`",
        "",
        f"Space `{space.name}`: FairNAS at 16 px, width 0.25, 7 free blocks of 6 choices (6^7 = {n:,} architectures), "
        f"real analytic MAdds ({cols['madds'].min() / 1e6:.2f}M-{cols['madds'].max() / 1e6:.2f}M) and parameters; "
        f"**predicted accuracies are synthetic** (0.6 + 0.2 x normalised MAdds + N(0, 0.02), seed {args.seed}: "
        f"correlated with cost like a real predictor's, which is the hard case for a constrained top-k); latency from "
        f"a {lat_label}. Limits: {args.queries} per kind at log-uniform quantiles of the metric (0.01%-100%); "
        f"each time is the median of {args.repeat} runs; every answer equals the numpy scan's. Load average "
        f"(1 min) before / after the run: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
        f"(above 1, other processes shared the CPU and the times are inflated).",
        "",
        f"- build: **{build_s:.1f} s** ({n / build_s:,.0f} architectures/s: costs, latency, hashes, "
        f"inserts in 50k-row transactions, indexes, ANALYZE); file **{size_mb:.1f} MiB** ({size_mb * 2 ** 20 / n:.0f} "
        f"bytes per architecture); peak resident memory during the build {build_peak:.0f} MiB above the "
        f"{rss_before:.0f} MiB the process held before (the predictions and cost arrays included)",
        f"- open: {open_ms:.1f} ms (it checks meta, schema and row count, then reads every row once to check the "
        f"content digest, issue 12); reading the four numeric columns into numpy (what a scan of the stored table "
        f"needs first): {load_ms:.0f} ms",
        "",
        "| limits | query, median | query, 95th pct | numpy scan in memory, median | query / numpy (medians) |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        ratio = np.median(sql_t[kind]) / np.median(np_t[kind])
        body.append(f"| {kind} | {ms(sql_t[kind], 0.5)} | {ms(sql_t[kind], 0.95)} | {ms(np_t[kind], 0.5)} | "
                    f"{ratio:.2f}x |")
    body += ["", f"Goal: a query under 50 ms. Worst 95th percentile over the kinds: **{worst_p95:.2f} ms** "
             f"({'met' if worst_p95 < 50 else 'NOT met'}). A numpy scan of arrays already in memory is faster per "
             f"query (the last column: how many times slower the SQLite query is); it needs the columns in memory "
             f"first ({load_ms:.0f} ms from this table, or recomputing the costs), which the table's queries do not.",
             "",
             "Query plans for the same limits (median / 95th percentile / worst). `query` picks its plan itself: "
             f"it counts the rows within each limit in that metric's index, up to {table.switch_rows:,} "
             f"(max(1000, rows / 32)); below that it range-scans the tightest metric's index and sorts the few rows, "
             "otherwise it walks the covering index in answer order and stops at the 10th match. The other rows are "
             "single plans in raw SQL (no counting, no Row objects):", "",
             "| plan | latency | MAdds | both |", "|---|---|---|---|",
             "| **`query` (counts, then one of the two plans)** | " + " | ".join(
                 f"{ms(sql_t[k], 0.5)} / {ms(sql_t[k], 0.95)} / {max(sql_t[k]) * 1e3:.2f} ms" for k in KINDS) + " |"]
    for variant, label in VARIANTS.items():
        cells = [f"{ms(var_t[variant][k], 0.5)} / {ms(var_t[variant][k], 0.95)} / "
                 f"{max(var_t[variant][k]) * 1e3:.2f} ms" for k in KINDS]
        body.append(f"| {label} | " + " | ".join(cells) + " |")
    body += ["", "`EXPLAIN QUERY PLAN` of `query` (MAdds <= median, latency <= the largest / its 0.5% quantile):", ""]
    body += [f"- {'loose' if k == 0 else 'tight'} ({_limits_text(lim)}): `{plan}`" for k, (lim, plan) in
             enumerate(query_plans)]
    body += ["", "`EXPLAIN QUERY PLAN` of the single plans (limits on MAdds and latency):", ""]
    body += [f"- {variant}: `{plans[(variant, 'both')]}`" for variant in VARIANTS]
    text = "\n".join(body)
    if not args.no_write:
        update_section("lookup", text)
    print(text)


if __name__ == "__main__":
    main()
