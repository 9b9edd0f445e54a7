"""``graphnas lookup``: the best architectures of a lookup table under cost limits.

    graphnas lookup --table fairnas.lookup.db --latency 17ms --top 5
    graphnas lookup --table fairnas.lookup.db --madds 330M --params 5M --json
    graphnas lookup --table fairnas.lookup.db --flops 330M --render best.svg --plot table.png

Tables are written by :meth:`graphnas.lookup.LookupTable.build` (see :mod:`graphnas.lookup`). Every
limit needs its unit (``17ms``, ``330M``); nothing is printed before the query has succeeded (and
the picture, with ``--render``, is written), so an error leaves only its one line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..checks import int_arg

__all__ = ["add_lookup_parser", "cmd_lookup"]

FLOPS_HELP = ("alias of --madds: graphnas counts multiply-adds, and like NAS-Bench-201 and most NAS papers' "
              "'FLOPs' does not double them, so 330M FLOPs here means 330M MAdds")


def _count(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3f}{unit}"
    return f"{value:g}"


def _table_text(table, rows, limits: dict) -> str:
    from ..cost.limits import METRICS

    m = table.meta
    head = (f"lookup table {table.path}: space {m['space']} ({m['rows']} architectures"
            + (f", predictor {m['predictor']}" if m.get("predictor") else "")
            + (f", latency on {m['latency']['describe']}" if m.get("latency") else "")
            + f", {table.order} order)")
    under = " and ".join(f"{METRICS[k]} <= {v}" for k, v in limits.items()) or "no limit"
    lines = [head, f"best {len(rows)} under {under}:"]
    cols = ["rank", "index", "hash", "predicted", "measured", "MAdds", "params", "latency"]
    cells = [[str(k + 1), str(r.index), r.hash, f"{r.predicted:.4f}",
              "-" if r.measured is None else f"{r.measured:.4f}", _count(r.madds), _count(r.params),
              "-" if r.latency is None else f"{r.latency:.3f} ms"] for k, r in enumerate(rows)]
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(cols)]
    lines.append("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def cmd_lookup(args) -> int:
    from ..errors import LookupTableError
    from ..lookup import LookupTable

    out = None
    if args.render:  # outputs checked before the table is opened: a bad path fails first, and alone
        from ..render.dag import check_render_target

        out = Path(args.render)
        fmt = out.suffix.lstrip(".") or "svg"
        out = check_render_target(out.with_suffix("") if out.suffix else out, [fmt])
    if args.plot:
        from ..render.figures import check_plot_target

        check_plot_target(args.plot, "a lookup plot", LookupTableError)
    madds = args.madds if args.madds is not None else args.flops
    given = {k: v for k, v in (("madds", madds), ("params", args.params), ("latency", args.latency)) if v is not None}
    with LookupTable.open(args.table, root=args.space) as table:
        rows = table.query(**given, top=args.top)
        space = None
        if args.render or args.json:
            try:
                space = table.space
            except LookupTableError:
                if args.render:
                    raise
        written = []
        if args.render:
            from ..render.dag import render

            arch = space.arch(list(rows[0].choices))
            written = [str(p) for p in render(arch, out, formats=[fmt])]
        if args.plot:
            from ..lookup.plot import plot_table

            metric = next(iter(given), "latency" if table.has_latency else "madds")
            written.append(str(plot_table(table, args.plot, metric, mark=rows[0].index)))
        if args.json:
            out_rows = []
            for r in rows:
                d = r.to_dict()
                if space is not None:
                    d["ops"] = [e.candidates[c] for e, c in zip(space.edges, r.choices)]
                out_rows.append(d)
            parsed = table.limits(**given)
            limits = {k: {"given": v, "value": parsed[k]} for k, v in given.items()}
            print(json.dumps({"table": table.describe(), "limits": limits, "rows": out_rows, "rendered": written},
                             indent=2))
        else:
            print(_table_text(table, rows, given))
            if written:
                print(f"wrote {', '.join(written)}")
    return 0


def add_lookup_parser(sub) -> None:
    """Add ``lookup`` to the ``graphnas`` subcommands."""
    from .common import add_command

    p = add_command(sub, "lookup", "the best architectures of a lookup table (every architecture of a space with its "
                    "predicted or measured accuracy and costs) under latency, MAdds and parameter limits, in the "
                    "table's answer order (shrinkage or measured-first)", """
        graphnas lookup --table runs/demo/lookup.db --latency 17ms
        graphnas lookup --table runs/demo/lookup.db --madds 1.5M --params 300K --top 5 --json
        graphnas lookup --table runs/demo/lookup.db --latency 4ms --render best.svg --plot table.png""")
    p.add_argument("--table", required=True, help="SQLite lookup table written by graphnas.lookup.LookupTable.build")
    p.add_argument("--space", metavar="NAME_OR_FILE", help="the table's space, when it is defined in a .py file "
                   "(graphnas never imports a file a table names; its fingerprint must match the table's)")
    p.add_argument("--latency", metavar="LIMIT", help="latency limit with a unit, e.g. 17ms, 250us or 0.02s (the "
                   "table's latency model; refused if it was built without one)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--madds", metavar="LIMIT", help="multiply-add limit with a unit (K, M, G, T), e.g. 330M")
    g.add_argument("--flops", metavar="LIMIT", help=FLOPS_HELP)
    p.add_argument("--params", metavar="LIMIT", help="parameter limit with a unit, e.g. 5M or 300K")
    p.add_argument("--top", type=int_arg(1), default=10, help="how many architectures (default: 10)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--render", metavar="FILE", help="draw the best architecture with graphviz, e.g. best.svg "
                   "(format from the extension: svg, png or pdf; a .dot file is written next to it)")
    p.add_argument("--plot", metavar="FILE", help="draw the table, e.g. table.png: accuracy against the first limited "
                   "metric (latency when none is given), the answer under every limit, the best answer circled")
    p.set_defaults(func=cmd_lookup)
