"""The ``graphnas`` command line (also ``python -m graphnas``). Argument parsing lives here (for
``graphnas latency`` and ``graphnas lookup``, in :mod:`graphnas.cli.latency` and :mod:`graphnas.cli.lookup`).

Commands::

    graphnas run      train a supernet, search under limits, report and render the best architecture,
                      and build a lookup table around it
    graphnas search   the same on a supernet trained before (graphnas train / graphnas run)
    graphnas latency  build a measured latency table for a space on this device, validate it, predict
    graphnas lookup   best architectures of a lookup table under latency/MAdds/parameter limits
    graphnas predict  fit the accuracy predictor on labelled architectures, write a lookup table of the space
    graphnas train    train a supernet only: checkpoints, exact --resume, weight averaging, torchrun
    graphnas spaces   list the search spaces with their exact sizes
    graphnas sample   write a random architecture of a space as JSON
    graphnas cost     analytic MAdds and parameters of an architecture
    graphnas render   draw an architecture (or a whole space) with graphviz
    graphnas retrain  train a found architecture from scratch (or from the supernet), at any scale, on any data
    graphnas report   one self-contained HTML page of a run
    graphnas export   TorchScript and ONNX of a retrained model or a found architecture, checked against PyTorch

A :class:`~graphnas.errors.GraphnasError` is printed as one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..checks import int_arg
from .inputs import load_arch
from ..options import parse_pairs
from ..errors import GraphnasError
from .common import UsageError, add_command, space_flag, space_name

__all__ = ["main", "build_parser", "UsageError"]


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line naming the flag and the command's help (its subcommands inherit it)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _load_space(args):
    from ..space.registry import get_space

    return get_space(space_name(args), **parse_pairs(args.scale))


#: Output folder of each job command when neither --out nor --config gives one.
DEFAULT_OUT = {"run": "runs/demo", "search": "runs/search", "train": "runs/train"}


def _job_config(args, command: str):
    """The JobConfig of a job command: ``--config FILE`` (else the defaults, with the command's output folder),
    then every flag given (flags are the config's fields: :func:`graphnas.options.add_flags`)."""
    from ..jobs import JobConfig
    from ..options import given_flags, with_values
    from ..train.loop import TrainConfig

    config = JobConfig.load(args.config) if getattr(args, "config", None) else JobConfig(out=DEFAULT_OUT[command])
    config = with_values(config, given_flags(args, JobConfig))
    train = given_flags(args, TrainConfig, skip=("seed",))
    if train:
        config.training.train = {**config.training.train, **train}
    if getattr(args, "checkpoint", None):
        config.search.checkpoint = args.checkpoint
    return config


def _print_report(report: dict, config) -> None:
    best = report["best"]
    print(f"space {report['space']['name']}: {report['space']['size']:.3e} architectures "
          f"({report['space']['topologies']} topologies)")
    if config.search.checkpoint:
        print(f"supernet loaded from {config.search.checkpoint} (estimator {report['config']['search']['estimator']}); "
              f"{report['search']['evaluations']} architectures evaluated in {report['timings']['search_seconds']:.0f} s")
    else:
        print(f"supernet trained in {report['timings']['train_seconds']:.0f} s; {report['search']['evaluations']} "
              f"architectures evaluated in {report['timings']['search_seconds']:.0f} s")
    print(f"best architecture {best['hash']}: val acc {best['val_accuracy']:.4f}, test acc {best['test_accuracy']:.4f}, "
          f"{best['madds'] / 1e6:.2f}M MAdds, {best['params'] / 1e6:.3f}M params"
          + (f", {best['latency_ms']:.2f} ms predicted" if best.get("latency_ms") is not None else "")
          + (f" (limits: {', '.join(report['search']['constraints'])})" if report['search']['constraints'] else ""))
    lookup = report["lookup"]
    if lookup:
        ex = lookup["example"]
        lo, hi = lookup["latency_ms"]
        print(f"lookup table {lookup['table']}: {lookup['rows']} architectures around the best "
              f"({len(lookup['subspace']['free_edges'])} free edges; {lookup['labels']} scored with the supernet, "
              f"{lookup['front']} of them on the front a GCN predicts; the GCN predicts the rest), "
              f"{lo:.3f}-{hi:.3f} ms on this machine, {lookup['order']['name']} order")
        b = ex["best"]
        acc = f"measured acc {b['measured']:.4f}" if b["measured"] is not None else f"predicted acc {b['predicted']:.4f}"
        print(f"  best under {ex['latency']}: {b['hash']}, {acc}, {b['latency']:.3f} ms; ask for any limit with: "
              f"{ex['command']}")
    pictures = report["files"]["pictures"] + ([lookup["picture"]] if lookup else [])
    print(f"wrote {Path(config.out) / 'report.json'}, {', '.join(pictures)}")
    print(f"the run's page: {report['files']['page']} (one self-contained HTML file)")


def cmd_run(args) -> int:
    from ..jobs import run

    config = _job_config(args, args.command)
    report = run(config)
    if report is not None:  # ranks other than 0 under torchrun only train
        _print_report(report, config)
    return 0


def cmd_train(args) -> int:
    from ..train.distributed import is_main
    from ..jobs import train

    supernet, result = train(_job_config(args, "train"))
    if is_main():
        last = result.history[-1]
        print(f"space {supernet.space.name}: {sum(p.numel() for p in supernet.parameters())} supernet parameters; "
              f"trained steps {result.start_step}-{result.step} of {result.total_steps}")
        print(f"epoch {last['epoch']}: loss {last['loss']:.4f}, train acc {last['accuracy']:.4f}, lr {last['lr']:.3g}"
              + ("; averaged weights of the last epoch stored" if result.averaged_state_dict is not None else ""))
        print(f"wrote {result.checkpoint} and {result.checkpoint.parent / 'train_log.json'}")
    return 0


def cmd_report(args) -> int:
    from ..jobs.html_report import write_run_report

    print(f"wrote {write_run_report(args.run_dir, args.out, args.space)}")
    return 0


def cmd_spaces(args) -> int:
    from ..space.registry import get_space, space_names

    from ..cost import arch_cost, extreme_archs

    rows = []
    for name in space_names():
        space = get_space(name)
        d = space.describe()
        low, high = (arch_cost(a) for a in extreme_archs(space))
        d.update(madds=[low.madds, high.madds], params=[low.params, high.params])
        rows.append(d)
        if not args.json:
            print(f"{name:16s} {d['choice_edges']:3d} choice edges ({d['stem_edges']} stem, {d['branch_edges']} branch)  "
                  f"size {d['size']:.4g} (exact: {d['size']})  MAdds {low.madds / 1e6:.1f}M-{high.madds / 1e6:.1f}M  "
                  f"params {low.params / 1e6:.2f}M-{high.params / 1e6:.2f}M")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def cmd_sample(args) -> int:
    if args.out:
        from ..files import writable_file

        writable_file(args.out, "architecture file")
    space = _load_space(args)
    text = space.sample(args.seed).to_json()
    if args.out:
        from ..utils import atomic_write_text

        atomic_write_text(args.out, text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def cmd_cost(args) -> int:
    from ..cost import arch_cost

    space = _load_space(args)
    arch = load_arch(space, args.arch)
    cost = arch_cost(arch)
    out = {"hash": arch.hash, "madds": cost.madds, "params": cost.params}
    if cost.bitops:  # quantised spaces: multiply-adds x weight bits x activation bits
        out["bitops"] = cost.bitops
    print(json.dumps({**out, "scale": space.scale}))
    return 0


def cmd_render(args) -> int:
    from ..render.dag import check_render_target, render

    if args.out:  # before the work; render() checks the default name the same way
        check_render_target(args.out, args.formats)
    space = _load_space(args)
    if args.arch:
        obj = load_arch(space, args.arch)
    elif args.random:
        obj = space.sample(args.seed)
    else:
        obj = space
    out = args.out or (f"{space.name}_{obj.hash}" if obj is not space else f"{space.name}_space")
    for path in render(obj, out, formats=args.formats):
        print(f"wrote {path}")
    return 0


def _job_flags(p: argparse.ArgumentParser, command: str) -> None:
    """The flags of a job command, one per field of the job's config (:class:`graphnas.jobs.JobConfig`):
    ``run`` all of them, ``train`` all but the search's, ``search`` all but the training's (except --device)."""
    from ..jobs import JobConfig, SearchConfig, SetupConfig, TrainingConfig
    from ..options import add_flags
    from ..train.loop import TrainConfig

    d = JobConfig(out=DEFAULT_OUT[command])
    if command != "search":
        p.add_argument("--config", help="a job.json a graphnas job wrote: its options, under the flags given")
    add_flags(p, SetupConfig, d.setup)
    if command == "search":
        add_flags(p, TrainingConfig, d.training, skip=tuple(f for f in vars(d.training) if f != "device"))
    else:
        add_flags(p, TrainingConfig, d.training)
        add_flags(p, TrainConfig, d.train_config(), skip=("seed",))
    if command != "train":
        add_flags(p, SearchConfig, d.search)
    else:  # training searches only with PC-NAS: its strategy, options and the limits its potentials respect
        keep = ("strategy", "strategy_options", "madds", "params", "bitops", "latency", "latency_table")
        add_flags(p, SearchConfig, d.search, skip=tuple(f for f in vars(d.search) if f not in keep))
    add_flags(p, JobConfig, d, skip=("setup", "training", "search"))


#: The examples under each job command's --help.
JOB_EXAMPLES = {
    "run": """examples:
  graphnas run                                   # digits, st_nas at laptop scale, SPOS evolution
  graphnas run --data fashion_mnist --madds 1.5M --strategy evolution --population 50 --generations 20
  graphnas run --strategy nsga2 --objectives accuracy,madds --levels 1M,1.5M,2M --estimator score_expectation
  graphnas run --strategy nsga2 --objectives accuracy,latency --latency 4ms     # measures <out>/latency.db
  graphnas run --strategy pcnas --space pcnas_small --latency 4ms --strategy-option samples=20  # PC-NAS's pool
  graphnas run --strategy senas --space senas --epochs 12 --strategy-option k=6 --strategy-option t=16  # SE-NAS
  graphnas run --resume                          # continue a killed run: training, then the search""",
    "search": """examples:
  graphnas search --checkpoint runs/demo/checkpoint.pt --out runs/s1 --madds 1M:1.5M --strategy evolution
  graphnas search --checkpoint runs/demo/checkpoint.pt --out runs/s2 --strategy nsga2 --objectives accuracy,params
  graphnas search --checkpoint runs/demo/checkpoint.pt --out runs/s2 --strategy nsga2 --resume  # nothing scored twice""",
    "train": """examples:
  graphnas train --epochs 30 --out runs/t1
  graphnas train --sampler stnas --sampler-option target_madds=1.5M --out runs/t2
  graphnas train --strategy pcnas --space pcnas_small --madds 60M --out runs/t4  # PC-NAS; search it: --strategy pcnas
  graphnas train --strategy senas --space senas --out runs/t5  # SE-NAS stages; any --strategy searches its shrunk space
  torchrun --nproc_per_node 2 -m graphnas train --out runs/t3   # data parallel; --resume continues exactly""",
}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="graphnas", description="Graph-centric one-shot neural architecture search.")
    parser.add_argument("--version", action="version", version=f"graphnas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    jobs = {"run": ("train a supernet, search under limits, report and render the best architecture, and build a "
                    "lookup table around it", cmd_run),
            "search": ("search a supernet trained before (the checkpoint.pt of graphnas train or graphnas run) under "
                       "limits; report, render, lookup table", cmd_run),
            "train": ("train a supernet only (one sampled path per step), with checkpoints, exact resume, weight "
                      "averaging; runs unchanged under torchrun --nproc_per_node N", cmd_train)}
    for command, (text, func) in jobs.items():
        p = sub.add_parser(command, help=text, description=text[0].upper() + text[1:] + ".",
                           epilog=JOB_EXAMPLES[command], formatter_class=argparse.RawDescriptionHelpFormatter)
        if command == "search":
            p.add_argument("--checkpoint", required=True, help="the trained supernet; give the same --space, --scale, "
                           "--ops, --data and --resolution as its training run (the data splits follow its seed)")
        _job_flags(p, command)
        p.set_defaults(func=func)

    p = add_command(sub, "spaces", "list the search spaces: exact size, MAdds and parameters of the smallest and "
                    "largest architecture at the default (paper) scale", """
        graphnas spaces
        graphnas spaces --json""")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_spaces)

    p = add_command(sub, "sample", "write a random architecture of a space as JSON", """
        graphnas sample --space st_nas --seed 1 --out arch.json
        graphnas sample --space my_space.py --scale resolution=32     # print it""")
    space_flag(p)
    p.add_argument("--seed", type=int_arg(0), default=None, help="which random architecture (default: any)")
    p.add_argument("--out", default=None, help="file to write (default: print)")
    p.set_defaults(func=cmd_sample)

    p = add_command(sub, "cost", "analytic MAdds and parameters of an architecture", """
        graphnas cost --space st_nas --arch arch.json                          # at the paper scale (224 px)
        graphnas cost --space st_nas --arch arch.json --scale resolution=32 width=0.5""")
    space_flag(p)
    p.add_argument("--arch", required=True, help="architecture JSON file")
    p.set_defaults(func=cmd_cost)

    p = add_command(sub, "render", "draw an architecture (or the whole space) with graphviz", """
        graphnas render --space st_nas --arch arch.json --out arch      # arch.svg, arch.png
        graphnas render --space nb201 --random --seed 3 --formats pdf
        graphnas render --space st_nas --out st_nas_space               # the whole space""")
    space_flag(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--arch", help="architecture JSON file")
    group.add_argument("--random", action="store_true", help="draw a random architecture")
    p.add_argument("--seed", type=int_arg(0), default=None, help="which random architecture (with --random)")
    p.add_argument("--out", default=None, help="output path without extension")
    p.add_argument("--formats", nargs="+", default=["svg", "png"], help="image formats (svg, png, pdf, ...; "
                   "default: svg png)")
    p.set_defaults(func=cmd_render)

    from .latency import add_latency_parser

    add_latency_parser(sub)

    from .lookup import add_lookup_parser

    add_lookup_parser(sub)

    from .predict import add_predict_parser

    add_predict_parser(sub)

    from .deploy import add_deploy_parsers

    add_deploy_parsers(sub)

    p = add_command(sub, "report", "write one self-contained HTML page of a run (the --out folder of graphnas run, "
                    "search, train or retrain)", """
        graphnas report runs/demo                          # runs/demo/report.html (graphnas run writes it too)
        graphnas report runs/retrain --out retrain.html
        graphnas report runs/mine --space my_space.py      # a space defined in a .py file""")
    p.add_argument("run_dir", help="the run's --out folder")
    p.add_argument("--out", default=None, help="the page to write (default: <run_dir>/report.html)")
    p.add_argument("--space", default=None, help="the run's space when it is a .py file (graphnas never imports a "
                   "file a report names), to draw its architectures")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input). A torchrun worker ends here
    (:func:`graphnas.train.distributed.finish`)."""
    from ..train.distributed import finish

    try:
        args = build_parser().parse_args(argv)
        status = args.func(args)
    except GraphnasError as err:
        print(f"graphnas: error: {err}", file=sys.stderr)
        status = 2
    return finish(status)


if __name__ == "__main__":
    sys.exit(main())
