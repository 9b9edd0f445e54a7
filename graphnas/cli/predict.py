"""``graphnas predict``: fit the predictor on labelled architectures and write a lookup table over the whole (sub)space.

    graphnas predict --space nb201 --labels labels.json --out pred.db
    graphnas predict --space fairnas --scale resolution=32 width=0.25 --labels scores.csv --out pred.db \\
        --latency-table latency.db --recipe fast
    python tools/lookup.py --table pred.db --latency 17ms

Labels are JSON or CSV (:mod:`graphnas.lookup.label_file`); the predictor is a named recipe
(:mod:`graphnas.predictor.recipes`, default ``accurate``); the table ranks in ``--order`` (default shrinkage:
:mod:`graphnas.lookup.orders`) and is written with a progress bar, atomically batch by batch: an
interrupted run, started again with the same arguments, fits the same predictor and resumes the table.
"""

from __future__ import annotations

from ..checks import MAX_LOOKUP_ROWS, int_arg

__all__ = ["add_predict_parser", "cmd_predict"]


def cmd_predict(args) -> int:
    import numpy as np

    from ..errors import PredictorError
    from ..lookup import LookupTable
    from ..lookup.orders import DEFAULT_ORDER
    from ..options import parse_pairs
    from ..predictor import for_labels, out_of_sample_array, predict_space
    from ..lookup.label_file import read_labels
    from ..predictor.recipes import recipe
    from ..space.registry import get_space

    from .common import space_name

    space = get_space(space_name(args), **parse_pairs(args.scale))
    if space.in_degree:
        raise PredictorError(f"space '{space.name}' has in-degree constraints, which the Hamming-graph predictor "
                             f"does not cover; predict a subspace without them")
    if space.size > MAX_LOOKUP_ROWS:
        raise PredictorError(f"space '{space.name}' has {space.size:.3g} architectures, more than a lookup table "
                             f"holds ({MAX_LOOKUP_ROWS:,}); cut a subspace (fix some edges) and predict that")
    options = recipe(args.recipe, space)  # unknown recipe: one line before anything is read
    latency = None
    if args.latency_table:
        from ..cost.latency import LatencyModel

        latency = LatencyModel.load(args.latency_table)
        latency.check_space(space)
    labels = read_labels(args.labels, space)
    options = for_labels(options, len(labels))
    if args.epochs is not None:
        options.update(epochs=args.epochs, patience=max(1, args.epochs // 3))
    pred, history = predict_space(space, labels, seed=args.seed, progress=True, **options)
    measured = np.full(space.size, np.nan)
    for v, value in labels.items():
        measured[v] = value
    oos = out_of_sample_array(history["out_of_sample"], space.size)
    order = args.order or DEFAULT_ORDER
    meta = {"predictor": f"gcn, recipe {args.recipe}, {len(labels)} labels from {args.labels}, seed {args.seed}"}
    with LookupTable.build(args.out, space, pred, measured=measured, latency_model=latency, meta=meta,
                           progress=True, order=order, out_of_sample=oos) as table:
        info = table.meta["order"]
        rel = info.get("reliability") or {}
        how = (f"shrinkage (label reliability {rel['labels']:.2f}, prediction reliability {rel['predictions']:.2f})"
               if info["name"] == "shrinkage" else
               f"measured-first{' (asked shrinkage: ' + rel['fallback'] + ')' if rel.get('fallback') else ''}")
        print(f"wrote {table.path}: {len(table):,} architectures of space {space.name}, {len(labels)} labelled; "
              f"answer order {how}")
        limit = "--latency 17ms" if table.has_latency else "--madds 100M"
        print(f"ask it: python tools/lookup.py --table {table.path} {limit}"
              + (f" --space {args.space}" if args.space.endswith(".py") else ""))
    return 0


#: ``graphnas.predictor.recipes.RECIPES`` and ``graphnas.lookup.orders.ORDERS`` by name: the parser is built for
#: every command, and importing those packages (torch_geometric, SQLite tables) would slow each one's start
#: (tests/test_predict_cli.py checks that the names agree).
RECIPE_NAMES = ("accurate", "fast", "gcn-nas")
ORDER_NAMES = ("shrinkage", "measured-first")


def add_predict_parser(sub) -> None:
    """Add ``predict`` to the ``graphnas`` subcommands."""
    from .common import add_command, space_flag

    p = add_command(sub, "predict", "fit the accuracy predictor on labelled architectures (JSON or CSV) and write a "
                    "lookup table over the whole space for graphnas lookup / tools/lookup.py", """
        graphnas predict --space nb201 --labels labels.json --out pred.db
        graphnas predict --space fairnas --scale resolution=32 width=0.25 --labels scores.csv --out pred.db --recipe fast""")
    space_flag(p)
    p.add_argument("--labels", required=True, help="labelled architectures: .json (a list of {\"ops\": [...] or "
                   "\"hash\": ..., \"accuracy\": x}) or .csv (columns ops or hash, and accuracy)")
    p.add_argument("--out", required=True, help="the lookup table to write (SQLite), e.g. pred.db")
    p.add_argument("--recipe", default="accurate", choices=RECIPE_NAMES,
                   help="predictor recipe (default accurate: 5 GCNs on one-hot, cost and path inputs; fast: one "
                        "of them; gcn-nas: GCN-NAS's Gray-code GCN)")
    p.add_argument("--order", choices=ORDER_NAMES, default=None, help="how measured and predicted architectures rank "
                   "together (default shrinkage: each label shrunk towards its prediction by the estimated noise)")
    p.add_argument("--latency-table", help="latency table of the space from `graphnas latency build`: latency "
                   "limits then work on the lookup table")
    p.add_argument("--epochs", type=int_arg(1), default=None, help="training epochs of each predictor instead of the "
                   "recipe's (patience: a third of them)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="seeds the predictor (default 0)")
    p.set_defaults(func=cmd_predict)
