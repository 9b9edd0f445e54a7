"""``graphnas latency build|validate|predict``: measured latency tables from the command line.

    graphnas latency build --space st_nas --cpu-scale --threads 2 --out st_nas.lat.db
    graphnas latency validate --table st_nas.lat.db --archs 100 --plot latency.png
    graphnas latency predict --table st_nas.lat.db --arch best_arch.json
"""

from __future__ import annotations

import json

from ..checks import INT64_MAX, float_arg, int_arg
from ..errors import LatencyError
from .common import add_command, space_flag, space_name

__all__ = ["add_latency_parser"]

#: Most whole networks ``--fit-networks`` / ``--archs`` may time (their pool of candidates is 40 times larger).
MAX_NETWORKS = 10_000
#: Largest ``--batch`` of a latency table (an input of this batch must fit in memory).
MAX_BATCH = 4096


def _space_of(args, meta: dict | None = None):
    """The space from ``args.space`` (+ scale), or the one the table was built for."""
    from ..space.registry import get_space, space_info, space_named_by_file

    from ..options import parse_pairs

    if getattr(args, "space_positional", None) or getattr(args, "space", None):
        space_name(args)
        scale = dict(space_info(args.space).cpu_scale) if getattr(args, "cpu_scale", False) else {}
        space = get_space(args.space, **{**scale, **parse_pairs(args.scale)})
    else:  # the table is untrusted: only a built-in or registered space by its name
        space = space_named_by_file(meta.get("space"), meta.get("scale"), f"latency table {args.table}")
    ops = getattr(args, "ops", None)
    if not ops and meta is not None and meta.get("ops"):
        present = {op for e in space.edges for op in e.candidates} - {"none"}
        ops = meta["ops"] if not present <= set(meta["ops"]) else None  # a table of a subspace: draw from it
    if ops:
        from ..jobs import restrict_ops

        space = restrict_ops(space, ops)
    return space


def _backend(args, device: dict | None = None):
    """The backend the flags ask for; unset flags take the table's ``device`` values when given."""
    from ..cost.backends import make_backend

    device = device or {}
    return make_backend(args.backend or device.get("backend", "torch"), args.device or device.get("device", "cpu"),
                        args.threads if args.threads is not None else device.get("threads"))


def cmd_build(args) -> int:
    space_name(args)  # --space (or the positional form), or one line saying to give it
    from ..cost.latency import build_latency_table, space_entries
    from ..cost.timing import TimingConfig

    from ..files import writable_file

    space = _space_of(args)
    timing = TimingConfig(tol=args.tolerance, budget_s=args.budget)
    backend = _backend(args)
    writable_file(args.out, "latency table")  # before the work: a folder, an unwritable or too long path
    print(f"timing {len(space_entries(space))} entries of {space.name} ({space.input_shape[1]} px, batch {args.batch}) "
          f"on {backend.describe()}")
    model = build_latency_table(space, args.out, backend, batch=args.batch, timing=timing,
                                fit_networks=args.fit_networks, progress=not args.quiet)
    c = model.meta["correction"]
    print(f"wrote {args.out}: {len(model.entries)} entries in {model.meta['build_seconds']:.1f} s; correction "
          f"c0 {c['const_ms']:+.3f} ms, c1 {c['per_call_ms'] * 1e3:+.1f} us per module call "
          f"(fitted on {c['networks']} networks, rms residual {c.get('rms_residual_ms', 0):.3f} ms)")
    return 0


def cmd_validate(args) -> int:
    from ..cost.latency import LatencyModel, plot_validation, validate
    from ..cost.timing import TimingConfig

    if args.plot:  # before the timing: a bad plot path fails first
        from ..render.figures import check_plot_target

        check_plot_target(args.plot, "the validation plot", LatencyError)
    model = LatencyModel.load(args.table)
    space = _space_of(args, model.meta)
    backend = _backend(args, model.device)
    v = validate(model, space, backend, n=args.archs, seed=args.seed, timing=TimingConfig(tol=args.tolerance),
                 progress=not args.quiet, store_path=args.table)
    s = v.summary()
    if args.plot:
        plot_validation(v, args.plot)
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print(f"{s['networks']} networks, {s['measured_ms'][0]:.3f}-{s['measured_ms'][1]:.3f} ms measured: "
              f"{s['within_10pct']:.0%} predicted within 10% (median error {s['median_abs_error']:.1%}, 90th "
              f"percentile {s['p90_abs_error']:.1%}), Kendall tau {s['kendall_tau']:.3f}")
        print(f"machine drift since the build: {s['drift']:.3f}x (within 10% before rescaling: "
              f"{s['within_10pct_raw']:.0%}); median spread of a network's calls {s['median_spread']:.1%}"
              + (f"; plot {args.plot}" if args.plot else ""))
    return 0


def cmd_predict(args) -> int:
    from .inputs import load_arch
    from ..cost.latency import LatencyModel

    model = LatencyModel.load(args.table)
    if not args.any_device:
        try:
            model.check_device(_backend(args, model.device))
        except LatencyError as err:
            raise LatencyError(f"{err} (or pass --any-device to predict for the table's device anyway)") from None
    space = _space_of(args, model.meta)
    if args.arch:
        arch = load_arch(space, args.arch)
    else:
        arch = space.sample(args.seed)
    total, calls = model.parts(arch)
    out = {"hash": arch.hash, "latency_ms": model.latency(arch), "sum_of_entries_ms": total, "module_calls": calls,
           "batch": model.batch, "device": model.device}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{arch.hash}: {out['latency_ms']:.3f} ms predicted (batch {model.batch}, {model.describe_device()}; "
              f"entries {total:.3f} ms + correction for {calls} module calls)")
    return 0


def add_latency_parser(sub) -> None:
    """Add ``latency build|validate|predict`` to the ``graphnas`` subcommands."""
    p = add_command(sub, "latency", "measured latency tables: build one for a space on this device, validate it "
                    "against whole networks, predict an architecture's latency", """
        graphnas latency build --space st_nas --cpu-scale --out latency.db
        graphnas latency validate --table latency.db
        graphnas latency predict --table latency.db --arch arch.json""")
    lsub = p.add_subparsers(dest="latency_command", required=True)

    def device_args(q, what: str) -> None:
        q.add_argument("--backend", help=f"torch or onnxruntime ({what})")
        q.add_argument("--device", help=f"cpu or cuda ({what})")
        q.add_argument("--threads", type=int_arg(-INT64_MAX), help=f"CPU threads ({what})")

    q = add_command(lsub, "build", "time every distinct operator instance of a space and fit the correction", """
        graphnas latency build --space st_nas --cpu-scale --out latency.db
        graphnas latency build --space fairnas --scale resolution=32 width=0.25 --batch 8 --out fair.db
        graphnas latency build --space st_nas --cpu-scale --backend onnxruntime --out latency_ort.db""")
    space_flag(q)
    q.add_argument("--cpu-scale", action="store_true", help="start from the space's laptop scale (CPU_SCALE)")
    q.add_argument("--ops", nargs="+", help="keep only these operators on every edge")
    q.add_argument("--out", required=True, help="SQLite file to write (resumed if it exists for the same "
                   "space, scale, batch and device)")
    q.add_argument("--batch", type=int_arg(-INT64_MAX, MAX_BATCH), default=1, help="batch size (default: 1)")
    device_args(q, "default: torch on cpu with torch's current threads")
    q.add_argument("--fit-networks", type=int_arg(0, MAX_NETWORKS), default=16, help="whole networks timed to fit "
                   "the correction (default: 16)")
    q.add_argument("--tolerance", type=float_arg(0, 1, True, True), default=0.02, help="repeat until each median "
                   "moves less than this, in (0, 1) (default: 0.02)")
    q.add_argument("--budget", type=float_arg(0, lo_open=True), default=2.0, help="seconds of timing per entry at "
                   "most (default: 2)")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_build)

    q = add_command(lsub, "validate", "time random whole networks and report the prediction's error and tau", """
        graphnas latency validate --table latency.db --archs 50 --plot validate.png""")
    q.add_argument("--table", required=True)
    q.add_argument("--space", help="space to draw from (default: the table's, at its scale)")
    q.add_argument("--scale", nargs="*", metavar="KEY=VALUE")
    q.add_argument("--ops", nargs="+", help="keep only these operators (default: the operators the table covers)")
    q.add_argument("--archs", type=int_arg(1, MAX_NETWORKS), default=100, help="networks to time (default: 100)")
    q.add_argument("--seed", type=int_arg(0), default=1)
    device_args(q, "default: the table's")
    q.add_argument("--tolerance", type=float_arg(0, 1, True, True), default=0.02, help="repeat until each median "
                   "moves less than this, in (0, 1) (default: 0.02)")
    q.add_argument("--plot", help="scatter plot of predicted vs measured (PNG/SVG/PDF)")
    q.add_argument("--json", action="store_true")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_validate)

    q = add_command(lsub, "predict", "predicted latency of an architecture", """
        graphnas latency predict --table latency.db --arch arch.json
        graphnas latency predict --table latency.db --random --seed 3 --json""")
    q.add_argument("--table", required=True)
    g = q.add_mutually_exclusive_group(required=True)
    g.add_argument("--arch", help="architecture JSON file")
    g.add_argument("--random", action="store_true", help="a random architecture of the table's space")
    q.add_argument("--seed", type=int_arg(0), default=None)
    q.add_argument("--space", help="space of the architecture (default: the table's, at its scale)")
    q.add_argument("--scale", nargs="*", metavar="KEY=VALUE")
    q.add_argument("--ops", nargs="+", help="keep only these operators (default: the operators the table covers)")
    device_args(q, "checked against the table's; default: the table's values on this machine")
    q.add_argument("--any-device", action="store_true", help="predict even if the table was measured elsewhere")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_predict)
