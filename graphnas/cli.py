"""The ``graphnas`` command line (also ``python -m graphnas``). Argument parsing lives here (for
``graphnas latency`` and ``graphnas lookup``, in :mod:`graphnas.cli_latency` and :mod:`graphnas.cli_lookup`).

Commands::

    graphnas run      train a supernet, search under limits, report and render the best architecture,
                      and build a lookup table around it
    graphnas search   the same on a supernet trained before (graphnas train / graphnas run)
    graphnas latency  build a measured latency table for a space on this device, validate it, predict
    graphnas lookup   best architectures of a lookup table under latency/MAdds/parameter limits
    graphnas train    train a supernet only: checkpoints, exact --resume, weight averaging, torchrun
    graphnas spaces   list the search spaces with their exact sizes
    graphnas sample   write a random architecture of a space as JSON
    graphnas cost     analytic MAdds and parameters of an architecture
    graphnas render   draw an architecture (or a whole space) with graphviz

A :class:`~graphnas.errors.GraphnasError` is printed as one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .checks import INT64_MAX, MAX_LOOKUP_ROWS, MAX_LR, MAX_RESOLUTION, float_arg, int_arg
from .cli_inputs import load_arch, parse_scale
from .errors import GraphnasError

__all__ = ["main", "build_parser", "UsageError"]


class UsageError(GraphnasError):
    """A flag argparse refuses (unknown, missing, out of range): printed as one line like every GraphnasError."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line naming the flag and the command's help (its subcommands inherit it)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _space_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("space", help="space name (see `graphnas spaces`) or a path to a .py file with make_space()")
    p.add_argument("--scale", nargs="*", metavar="KEY=VALUE", help="scale arguments, e.g. resolution=32 width=0.25")


def _load_space(args):
    from .registry import get_space

    return get_space(args.space, **parse_scale(args.scale))


def _run_config(args, **extra):
    """The RunConfig of ``graphnas run`` / ``graphnas search`` flags (unset flags keep RunConfig's defaults)."""
    from dataclasses import replace

    from .workflow import RunConfig

    base = RunConfig()
    train_cfg = replace(base.train, seed=args.seed, **{k: v for k, v in dict(
        epochs=getattr(args, "epochs", None), batch_size=getattr(args, "batch_size", None),
        lr=getattr(args, "lr", None)).items() if v is not None})
    given = {k: v for k, v in dict(space=args.space, data=args.data, data_root=args.data_root,
                                   resolution=args.resolution, strategy=args.strategy, budget=args.budget,
                                   population=args.population, madds=args.madds, params=args.params,
                                   latency=args.latency, latency_table=args.latency_table,
                                   lookup_labels=args.lookup_labels, lookup_rows=args.lookup_rows,
                                   bad_images=args.bad_images, out=args.out).items() if v is not None}
    if args.ops is not None:
        given["ops"] = args.ops
    return replace(base, **given, scale=parse_scale(args.scale), train=train_cfg, lookup=not args.no_lookup,
                   seed=args.seed, progress=not args.quiet, **extra)


def _print_report(report: dict, config) -> None:
    best = report["best"]
    print(f"space {report['space']['name']}: {report['space']['size']:.3e} architectures "
          f"({report['space']['topologies']} topologies)")
    if config.checkpoint:
        print(f"supernet loaded from {config.checkpoint}{' (averaged weights)' if config.averaged else ''}; "
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
              f"{lo:.3f}-{hi:.3f} ms on this machine")
        b = ex["best"]
        acc = f"measured acc {b['measured']:.4f}" if b["measured"] is not None else f"predicted acc {b['predicted']:.4f}"
        print(f"  best under {ex['latency']}: {b['hash']}, {acc}, {b['latency']:.3f} ms; ask for any limit with: "
              f"{ex['command']}")
    pictures = report["files"]["pictures"] + ([lookup["picture"]] if lookup else [])
    print(f"wrote {Path(config.out) / 'report.json'}, {', '.join(pictures)}")


def cmd_run(args) -> int:
    from .workflow import run

    config = _run_config(args, resume=args.resume)
    _print_report(run(config), config)
    return 0


def cmd_search(args) -> int:
    from .workflow import run

    config = _run_config(args, checkpoint=args.checkpoint, averaged=args.averaged)
    _print_report(run(config), config)
    return 0


def cmd_train(args) -> int:
    from dataclasses import replace

    from .distributed import is_main
    from .train import TrainConfig
    from .train_job import TrainJob, run_train_job

    given = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                 weight_decay=args.weight_decay, label_smoothing=args.label_smoothing)
    train_cfg = replace(TrainConfig(), seed=args.seed, nesterov=args.nesterov,
                        **{k: v for k, v in given.items() if v is not None})
    job = TrainJob(space=args.space, scale=parse_scale(args.scale), ops=args.ops, data=args.data,
                   data_root=args.data_root, resolution=args.resolution, bad_images=args.bad_images or "stop",
                   sampler=args.sampler,
                   sampler_options=parse_scale(args.sampler_option, "sampler option"), train=train_cfg, out=args.out,
                   resume=args.resume, average_last_epoch=args.average_last_epoch,
                   checkpoint_every=args.checkpoint_every, device=args.device, progress=not args.quiet)
    supernet, result = run_train_job(job)
    if is_main():
        last = result.history[-1]
        print(f"space {supernet.space.name}: {sum(p.numel() for p in supernet.parameters())} supernet parameters; "
              f"trained steps {result.start_step}-{result.step} of {result.total_steps}")
        print(f"epoch {last['epoch']}: loss {last['loss']:.4f}, train acc {last['accuracy']:.4f}, lr {last['lr']:.3g}"
              + ("; averaged weights of the last epoch stored" if result.averaged_state_dict is not None else ""))
        print(f"wrote {result.checkpoint} and {Path(args.out) / 'train_log.json'}")
    return 0


def cmd_spaces(args) -> int:
    from .registry import get_space, space_names

    from .cost import arch_cost, extreme_archs

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
        from .files import writable_file

        writable_file(args.out, "architecture file")
    space = _load_space(args)
    text = space.sample(args.seed).to_json()
    if args.out:
        from .utils import atomic_write_text

        atomic_write_text(args.out, text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def cmd_cost(args) -> int:
    from .cost import arch_cost

    space = _load_space(args)
    arch = load_arch(space, args.arch)
    cost = arch_cost(arch)
    out = {"hash": arch.hash, "madds": cost.madds, "params": cost.params}
    if cost.bitops:  # quantised spaces: multiply-adds x weight bits x activation bits
        out["bitops"] = cost.bitops
    print(json.dumps({**out, "scale": space.scale}))
    return 0


def cmd_render(args) -> int:
    from .render import check_render_target, render

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


def _job_args(p: argparse.ArgumentParser, d) -> None:
    """The flags ``graphnas run`` and ``graphnas search`` share (``d``: the RunConfig of their defaults)."""
    p.add_argument("--space", help=f"space name or .py file (default: {d.space})")
    p.add_argument("--scale", nargs="*", metavar="KEY=VALUE", help="scale arguments besides the data's channels "
                   "and classes, on top of the space's laptop scale (CPU_SCALE in its module; `graphnas spaces` "
                   "lists it)")
    p.add_argument("--data", help=f"digits (built in), fashion_mnist, cifar10 or imagefolder (default: {d.data})")
    p.add_argument("--data-root", help="folder of the data set (never downloaded)")
    p.add_argument("--bad-images", choices=("stop", "skip"), help="imagefolder: a file that is not a readable image "
                   "stops the job naming it (stop, the default) or is left out with a warning (skip)")
    p.add_argument("--resolution", type=int_arg(4, MAX_RESOLUTION), help="input resolution (default: the space's "
                   "CPU_SCALE resolution, else 16)")
    p.add_argument("--ops", nargs="+", help="operators kept on every edge (default: the space's CPU_OPS, e.g. "
                   "st_nas keeps mbconv_k3_e3_se mbconv_k5_e6_se identity; else all); 'all' searches the whole space")
    p.add_argument("--strategy", help=f"evolution, random or gcn (GCN-NAS: segments, a GCN predictor, "
                   f"super-cells) (default: {d.strategy})")
    p.add_argument("--budget", type=int_arg(1), help=f"architectures to evaluate (default: {d.budget})")
    p.add_argument("--population", type=int_arg(1), help=f"evolution population (default: {d.population})")
    p.add_argument("--madds", help="MAdds limit with a unit, e.g. 1.5M")
    p.add_argument("--params", help="parameter limit with a unit, e.g. 300K")
    p.add_argument("--latency", help="latency limit with a unit, e.g. 4ms, predicted by a measured table of this "
                   "machine (--latency-table, else <out>/latency.db built by the job)")
    p.add_argument("--latency-table", help="latency table of the job's space from `graphnas latency build`")
    p.add_argument("--lookup-labels", type=int_arg(-INT64_MAX, MAX_LOOKUP_ROWS), help=f"architectures of the lookup "
                   f"subspace scored with the supernet to train its GCN (default: {d.lookup_labels})")
    p.add_argument("--lookup-rows", type=int_arg(-INT64_MAX, MAX_LOOKUP_ROWS), help=f"largest lookup subspace "
                   f"around the best architecture (default: {d.lookup_rows})")
    p.add_argument("--no-lookup", action="store_true", help="skip <out>/lookup.db (and the latency table it needs)")
    p.add_argument("--out", help=f"output folder (default: {d.out})")
    p.add_argument("--seed", type=int_arg(0), default=d.seed, help="seed of the search (and, for run, of training "
                   "and the data splits)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphnas", description="Graph-centric one-shot neural architecture search.")
    sub = parser.add_subparsers(dest="command", required=True)

    from dataclasses import replace

    from .train import TrainConfig
    from .workflow import RunConfig

    d, t = RunConfig(), RunConfig().train
    p = sub.add_parser("run", help="train a supernet, search under limits, report and render the best architecture, "
                       "and build a lookup table around it")
    _job_args(p, d)
    p.add_argument("--epochs", type=int_arg(1), help=f"supernet training epochs (default: {t.epochs})")
    p.add_argument("--batch-size", type=int_arg(1), help=f"default: {t.batch_size}")
    p.add_argument("--lr", type=float_arg(0, MAX_LR, lo_open=True), help=f"initial learning rate (default: {t.lr})")
    p.add_argument("--resume", action="store_true", help="reuse <out>/supernet.pt instead of training again")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("search", help="search a supernet trained before (graphnas train's checkpoint.pt or graphnas "
                       "run's supernet.pt) under limits; report, render, lookup table")
    p.add_argument("--checkpoint", required=True, help="the trained supernet; give the same --space, --scale, --ops, "
                   "--data and --resolution as its training run (the data splits follow its seed)")
    p.add_argument("--averaged", action="store_true", help="search the weights averaged over the last training epoch "
                   "(graphnas train --average-last-epoch)")
    _job_args(p, replace(d, out="runs/search"))
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("train", help="train a supernet only (one sampled path per step), with checkpoints, "
                       "exact resume, weight averaging; runs unchanged under torchrun --nproc_per_node N")
    p.add_argument("--space", default="st_nas", help="space name or .py file (default: st_nas)")
    p.add_argument("--scale", nargs="*", metavar="KEY=VALUE", help="scale arguments on top of the space's CPU_SCALE")
    p.add_argument("--ops", nargs="+", help="operators kept on every edge (default: the space's CPU_OPS; 'all')")
    p.add_argument("--data", default="digits", help="digits (built in), fashion_mnist, cifar10 or imagefolder")
    p.add_argument("--data-root", help="folder of the data set (never downloaded)")
    p.add_argument("--bad-images", choices=("stop", "skip"), help="imagefolder: a file that is not a readable image "
                   "stops the job naming it (stop, the default) or is left out with a warning (skip)")
    p.add_argument("--resolution", type=int_arg(4, MAX_RESOLUTION), help="input resolution (default: the space's "
                   "CPU_SCALE resolution, else 16)")
    p.add_argument("--sampler", default="uniform", help="path sampler kind: uniform, stnas, constrained, pool "
                   "(graphnas.samplers.make_sampler; default: uniform)")
    p.add_argument("--sampler-option", nargs="*", metavar="KEY=VALUE", help="sampler options, e.g. p_drop=0.2 "
                   "or madds=300M")
    tc = TrainConfig()
    p.add_argument("--epochs", type=int_arg(1), help=f"default: {tc.epochs}")
    p.add_argument("--batch-size", type=int_arg(1), help=f"global batch, split over torchrun processes "
                   f"(default: {tc.batch_size})")
    p.add_argument("--lr", type=float_arg(0, MAX_LR, lo_open=True), help=f"initial learning rate, cosine-annealed "
                   f"to 0 (default: {tc.lr})")
    p.add_argument("--momentum", type=float_arg(0, 1, hi_open=True), help=f"SGD momentum; 0 decouples consecutive "
                   f"paths (default: {tc.momentum})")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (with --momentum > 0)")
    p.add_argument("--weight-decay", type=float_arg(0, 1, hi_open=True), help=f"default: {tc.weight_decay}")
    p.add_argument("--label-smoothing", type=float_arg(0, 1, hi_open=True), help=f"default: {tc.label_smoothing}")
    p.add_argument("--seed", type=int_arg(0), default=0)
    p.add_argument("--out", default="runs/train", help="folder of checkpoint.pt and train_log.json (default: runs/train)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from <out>/checkpoint.pt (start from scratch if there is none), or from the "
                   "given file (which must exist)")
    p.add_argument("--average-last-epoch", action="store_true", help="also store the mean of the weights over the "
                   "iterations of the last epoch (SE-NAS)")
    p.add_argument("--checkpoint-every", type=int_arg(0), default=0, metavar="STEPS",
                   help="checkpoint every STEPS steps as well as at every epoch end (default: 0, epoch ends only)")
    p.add_argument("--device", default="cpu", help="cpu, cuda (cuda:LOCAL_RANK under torchrun), cuda:N or auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("spaces", help="list the search spaces: exact size, MAdds and parameters of the smallest "
                       "and largest architecture at the default (paper) scale")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_spaces)

    p = sub.add_parser("sample", help="write a random architecture of a space as JSON")
    _space_args(p)
    p.add_argument("--seed", type=int_arg(0), default=None)
    p.add_argument("--out", default=None, help="file to write (default: print)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("cost", help="analytic MAdds and parameters of an architecture")
    _space_args(p)
    p.add_argument("--arch", required=True, help="architecture JSON file")
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("render", help="draw an architecture (or the whole space) with graphviz")
    _space_args(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--arch", help="architecture JSON file")
    group.add_argument("--random", action="store_true", help="draw a random architecture")
    p.add_argument("--seed", type=int_arg(0), default=None)
    p.add_argument("--out", default=None, help="output path without extension")
    p.add_argument("--formats", nargs="+", default=["svg", "png"], help="image formats (svg, png, pdf, ...; "
                   "default: svg png)")
    p.set_defaults(func=cmd_render)

    from .cli_latency import add_latency_parser

    add_latency_parser(sub)

    from .cli_lookup import add_lookup_parser

    add_lookup_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input). A torchrun worker ends here
    (:func:`graphnas.distributed.finish`)."""
    from .distributed import finish

    try:
        args = build_parser().parse_args(argv)
        status = args.func(args)
    except GraphnasError as err:
        print(f"graphnas: error: {err}", file=sys.stderr)
        status = 2
    return finish(status)


if __name__ == "__main__":
    sys.exit(main())
