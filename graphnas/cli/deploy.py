"""``graphnas retrain`` and ``graphnas export``: from a found architecture to a trained, exported model.

    graphnas retrain runs/demo/best_arch.json --out runs/retrain --epochs 20
    graphnas retrain runs/demo/lookup.db --row 3f2a9c0d1e5b7a64 --data imagefolder --data-root ~/photos \\
        --scale resolution=32 --out runs/photos
    graphnas export runs/retrain/model.pt                    # runs/retrain/model.torchscript.pt and model.onnx

The architecture comes from a ``best_arch.json``, a ``report.json`` or a lookup table's row
(:mod:`graphnas.jobs.found`); retraining is :mod:`graphnas.jobs.retrain`, exporting
:mod:`graphnas.nets.export` (each file checked against PyTorch before it is written).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_deploy_parsers", "cmd_retrain", "cmd_export"]

RETRAIN_EXAMPLES = """examples:
  graphnas retrain runs/demo/best_arch.json --out runs/retrain              # the search's data and scale
  graphnas retrain runs/demo/report.json --scale resolution=32 --epochs 30   # the same hash at 32 px
  graphnas retrain runs/demo/lookup.db --row 3f2a9c0d1e5b7a64 --data imagefolder --data-root ~/photos
  graphnas retrain runs/demo/report.json --init supernet --epochs 3          # start from the shared weights
  graphnas retrain runs/demo/best_arch.json --out runs/retrain --resume      # after a kill: continues exactly"""

EXPORT_EXAMPLES = """examples:
  graphnas export runs/retrain/model.pt                      # runs/retrain/model.torchscript.pt, model.onnx
  graphnas export runs/retrain/model.pt --formats onnx --out deploy/net
  graphnas export runs/demo/best_arch.json --scale resolution=224 --out deploy/untrained   # untrained weights"""


def cmd_retrain(args) -> int:
    from ..jobs.retrain import RetrainConfig
    from ..options import given_flags, with_values
    from ..train.loop import TrainConfig

    config = with_values(RetrainConfig(source=args.source), given_flags(args, RetrainConfig))
    config.train = given_flags(args, TrainConfig, skip=("seed",))
    from ..jobs.retrain import retrain

    s = retrain(config)
    last = s["history"][-1]
    print(f"retrained {s['hash']} ({s['source']}) on {s['data']['name']} at {s['scale'].get('resolution')} px, "
          f"{s['init']} init: {len(s['history'])} epochs, training loss {last['loss']:.4f}")
    print(f"validation accuracy {s['val_accuracy']:.4f}, test accuracy {s['test_accuracy']:.4f}; "
          f"{s['madds'] / 1e6:.2f}M MAdds, {s['params'] / 1e6:.3f}M params")
    print(f"wrote {s['files']['model']}, {s['files']['summary']}, {s['files']['curves']}; export it with: "
          f"graphnas export {s['files']['model']}")
    return 0


def cmd_export(args) -> int:
    from ..errors import GraphnasError
    from ..nets.export import FORMATS, export_network

    source = Path(args.source)
    extra = {}
    if source.suffix == ".pt":
        from ..jobs.retrain import read_model

        if args.scale or args.resolution or args.row is not None or args.ops:
            raise GraphnasError("a retrained model is exported as it was trained: drop --scale, --resolution, --row "
                                "and --ops (retrain at another scale with graphnas retrain --scale)")
        model = read_model(source, args.space)
        net, untrained = model.net, False
        extra = {k: v for k, v in model.info.items() if k in ("data", "val_accuracy", "test_accuracy")}
        out = args.out or str(source.with_suffix(""))
    else:
        from ..jobs.found import read_found
        from ..nets.compile import Network
        from ..options import parse_pairs
        from ..space.registry import rescaled

        found = read_found(source, args.row, args.space, args.ops)
        scale = parse_pairs(args.scale)
        if args.resolution:
            scale["resolution"] = args.resolution
        space = rescaled(found.space, args.space, **scale) if scale else found.space
        net, untrained = Network(space.from_ops(found.arch.ops)), True
        extra = {"untrained": True}
        out = args.out or str(Path("runs") / "export" / found.arch.hash)
    for fmt in args.formats:  # every format named before any work
        if fmt not in FORMATS:
            raise GraphnasError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    checks = export_network(net, out, args.formats, extra=extra, seed=args.seed)
    for c in checks:
        print(f"wrote {c.path} ({c.format}, {c.runtime}: outputs equal PyTorch's at batch sizes "
              f"{', '.join(map(str, c.batch_sizes))} within {c.tolerance:g} x max(1, |output|); max difference "
              f"{c.max_abs_diff:.2g})")
    print(f"architecture {net.arch.hash} ({len(net.arch.ops)} edges), input (batch, {', '.join(map(str, net.arch.space.input_shape))})"
          + ("; untrained weights: retrain it first (graphnas retrain) for a usable model" if untrained else ""))
    return 0


def add_deploy_parsers(sub) -> None:
    from ..checks import int_arg
    from ..jobs.retrain import RETRAIN_TRAINING, RetrainConfig
    from ..options import add_flags
    from ..train.loop import TrainConfig

    text = ("retrain a found architecture (best_arch.json, report.json or a lookup table row) from scratch or from "
            "the supernet's weights, at any scale, on any data set; checkpoints, exact --resume")
    p = sub.add_parser("retrain", help=text, description=text[0].upper() + text[1:] + ".", epilog=RETRAIN_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="best_arch.json, report.json or lookup table (.db, with --row)")
    add_flags(p, RetrainConfig, RetrainConfig())
    add_flags(p, TrainConfig, TrainConfig(**RETRAIN_TRAINING), skip=("seed",))
    p.set_defaults(func=cmd_retrain)

    text = ("export a retrained model (model.pt) or a found architecture to TorchScript and ONNX, each checked "
            "against PyTorch (and the ONNX file in onnxruntime) before it is written")
    p = sub.add_parser("export", help=text, description=text[0].upper() + text[1:] + ".", epilog=EXPORT_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="model.pt of graphnas retrain, or best_arch.json / report.json / lookup table (.db)")
    p.add_argument("--row", default=None, help="a lookup table's row: its index or hash")
    p.add_argument("--space", default=None, help="the space, when not the one the file names")
    p.add_argument("--scale", nargs="*", metavar="KEY=VALUE", help="scale arguments over the file's (an "
                   "architecture only), e.g. resolution=224")
    p.add_argument("--resolution", type=int_arg(4), default=None, help="input resolution (an architecture only)")
    p.add_argument("--ops", nargs="+", default=None, help="the search's --ops, when not the space's CPU_OPS")
    p.add_argument("--out", default=None, help="the files' path without suffix (default: beside model.pt, else "
                   "runs/export/<hash>)")
    p.add_argument("--formats", nargs="+", default=["torchscript", "onnx"], help="torchscript, onnx "
                   "(default: both)")
    p.add_argument("--seed", type=int_arg(0), default=0, help="the random inputs of the check")
    p.set_defaults(func=cmd_export)
