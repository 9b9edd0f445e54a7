"""Retrain a found architecture: from scratch, or from the supernet's weights, at any scale, on any data set.

``graphnas retrain`` reads the architecture wherever the search left it (:mod:`graphnas.jobs.found`), builds
its space again at the scale asked for (the data set's resolution, channels and classes, and ``--scale``:
:func:`graphnas.space.registry.rescaled`, so its hash is the search's), trains the standalone network with the
one trainer (:func:`graphnas.train.loop.fit`: checkpoints every epoch, exact ``--resume``, progress bars; the
validation accuracy after every epoch joins the history), then writes to ``--out``:

* ``model.pt`` -- the trained weights with the architecture, its space (name, root, scale, candidates), the
  data's normalisation and the accuracies (tensors and plain containers: ``weights_only`` loads it, with a
  content digest); :func:`read_model` reads it back for ``graphnas export``;
* ``retrain.json`` -- what was trained, how, the history and the final validation and test accuracy;
* ``curves.png`` -- loss and accuracy per epoch; ``arch.json`` -- the architecture at the new scale;
* ``checkpoint.pt`` / ``train_log.json`` -- the trainer's, for ``--resume``.

``--init supernet`` starts from the weights the path has in the search's supernet (``Supernet.extract``): the
supernet must have been trained at the same width, channels and classes (the resolution may differ).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..checks import MAX_RESOLUTION
from ..errors import GraphnasError
from ..options import Choice, Int, check_fields, option
from ..train.loop import TrainConfig
from .config import SetupConfig

__all__ = ["FoundSetup", "RetrainConfig", "RETRAIN_TRAINING", "retrain", "read_model", "MODEL_FORMAT", "Model"]

#: The trainer's settings for a retrained network unless the command line says otherwise: SGD with Nesterov
#: momentum, cosine to zero, a few epochs (a laptop-scale network; raise --epochs for a real retraining).
RETRAIN_TRAINING = {"epochs": 10, "batch_size": 64, "lr": 0.1, "momentum": 0.9, "nesterov": True,
                    "final_lr_ratio": 0.0}
MODEL_FORMAT = "graphnas-model/1"
MODEL, SUMMARY, CURVES, ARCH = "model.pt", "retrain.json", "curves.png", "arch.json"


@dataclass
class FoundSetup(SetupConfig):
    """:class:`~graphnas.jobs.config.SetupConfig` whose space and data default to the search's."""

    space: str | None = option(None, "the space, when not the one the file names (a .py file with make_space() "
                                     "must be given: graphnas never imports a file a file names)")
    data: str | None = option(None, "digits (built in), fashion_mnist, cifar10 or imagefolder (default: the "
                                    "search's, else digits)")
    scale: dict = option(help="scale arguments over the search's, e.g. resolution=32 width=0.5 (the architecture "
                              "keeps its hash)", factory=dict, what="scale argument")
    ops: list | None = option(None, "the search's --ops, when the file does not say them (a best_arch.json away "
                                    "from its run folder)")
    resolution: int | None = option(None, "input resolution (default: the search's)", Int(4, MAX_RESOLUTION))


@dataclass
class RetrainConfig:
    """Everything ``graphnas retrain`` does; ``setup`` fields left ``None`` come from the search."""

    source: str = option("", "the found architecture: a best_arch.json, a report.json or a lookup table (.db)",
                         cli=False)
    row: str | None = option(None, "a lookup table's row: its index or hash (the columns `graphnas lookup` prints)")
    setup: FoundSetup = option(help="", factory=FoundSetup)
    train: dict = option(help="TrainConfig fields over RETRAIN_TRAINING (--epochs, --lr, ...)", factory=dict,
                         cli=False)
    init: str = option("scratch", "start from fresh weights (scratch) or from the path's weights in the search's "
                                  "supernet (supernet)", Choice(("scratch", "supernet")))
    checkpoint: str | None = option(None, "the supernet for --init supernet (default: the one the report or the "
                                          "architecture's run folder names)")
    out: str = option("runs/retrain", "output folder")
    seed: int = option(0, "seeds training and the data splits", Int(0))
    resume: bool | str = option(False, "continue from <out>/checkpoint.pt (from scratch if there is none), or "
                                       "from the given file", metavar="CHECKPOINT")
    device: str = option("cpu", "cpu, cuda, cuda:N or auto")
    quiet: bool = option(False, "no progress bars")

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{**RETRAIN_TRAINING, **self.train, "seed": self.seed})

    def check(self) -> "RetrainConfig":
        check_fields(self)
        unknown = sorted(set(self.train) - {f.name for f in fields(TrainConfig)} - {"seed"})
        if unknown:
            raise GraphnasError(f"unknown training option(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(f.name for f in fields(TrainConfig))}")
        if "seed" in self.train:
            raise GraphnasError("the retraining's seed is --seed (RetrainConfig.seed), not a training option")
        self.train_config().validate()
        return self


@dataclass
class Model:
    """A retrained network read back (:func:`read_model`)."""

    net: object
    info: dict = field(default_factory=dict)


def _space_record(space) -> dict:
    from ..lookup.store import space_meta

    meta = space_meta(space)
    return {k: meta[k] for k in ("space", "root", "scale", "fingerprint", "candidates", "in_degree")}


def _space_from_record(record: dict, source: str, given: str | None):
    from ..space.registry import space_named_by_file, with_candidates

    try:
        root = space_named_by_file(record["root"], record["scale"], source, given)
        space = with_candidates(root, record["candidates"], record["space"], bool(record["in_degree"]))
    except (KeyError, TypeError, IndexError):
        raise GraphnasError(f"{source} does not describe its space (root, scale, candidates); retrain it again "
                            f"with graphnas retrain") from None
    if space.fingerprint != record.get("fingerprint"):
        raise GraphnasError(f"{source} was trained in space '{record.get('space')}' of another structure (fingerprint "
                            f"{str(record.get('fingerprint'))[:20]}, here {space.fingerprint}); retrain it with this "
                            f"version of graphnas")
    return space


def _plot_curves(history: list, path: Path, title: str) -> Path:
    from ..render.figures import new_figure, save_figure

    epochs = [h["epoch"] for h in history]
    fig = new_figure(8, 3.2)
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [h["loss"] for h in history], "o-", label="training loss")
    left.set_xlabel("epoch")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.plot(epochs, [100 * h["accuracy"] for h in history], "o-", label="training accuracy")
    right.plot(epochs, [100 * h["val_accuracy"] for h in history], "s-", label="validation accuracy")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy (%)")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, right, path, "png")


def _supernet_weights(config: RetrainConfig, found, space, arch, net) -> str:
    """Load the path's weights from the search's supernet into ``net``; returns the checkpoint used."""
    from ..nets.supernet import Supernet
    from ..space.registry import rescaled
    from ..train.checkpoint import read_trained
    from .found import run_setup, named_space

    path = config.checkpoint or found.supernet
    if path is None:
        raise GraphnasError(f"--init supernet: {found.source} names no supernet; give it with --checkpoint "
                            f"<run>/checkpoint.pt")
    trained = read_trained(path)
    meta = trained.meta
    if meta.get("fingerprint") == found.space.fingerprint:  # the search's own supernet (a report, a best_arch)
        trained_space = found.space
    else:  # a lookup table's subspace, or another file: the supernet's space, with its job's --ops
        ops = config.setup.ops or run_setup(Path(path).parent).get("ops")
        trained_space = named_space(meta.get("space"), meta.get("scale"), f"checkpoint {path}", config.setup.space,
                                    ops, meta.get("fingerprint"))
    at = {k: space.scale[k] for k in ("resolution",) if k in space.scale}
    supernet = Supernet(rescaled(trained_space, config.setup.space, **at))
    try:
        supernet.load_state_dict(trained.state_dict)
        path_net = supernet.extract(supernet.space.from_ops(arch.ops))
        net.load_state_dict(path_net.state_dict())
    except (RuntimeError, GraphnasError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise GraphnasError(f"--init supernet: the supernet {path} does not fit this network ({first}); it must "
                            f"have been trained at the same width, channels and classes (the resolution may "
                            f"differ), or retrain with --init scratch") from None
    return str(path)


def retrain(config: RetrainConfig) -> dict:
    """Retrain ``config.source``'s architecture (module docstring); returns the summary written as
    ``retrain.json``."""
    from ..estimate.score import accuracy
    from ..files import output_lock
    from ..nets.compile import Network
    from ..space.registry import rescaled
    from ..train.data import load_dataset, subsample_train
    from ..train.loop import fit
    from ..train.checkpoint import save_checkpoint
    from ..utils import atomic_write_json, atomic_write_text
    from .found import read_found
    from .training import pick_device

    config.check()
    start = time.perf_counter()
    setup = config.setup
    found = read_found(config.source, config.row, setup.space, setup.ops)
    resolution = setup.resolution or setup.scale.get("resolution") or found.setup.get("resolution") \
        or found.space.scale.get("resolution")
    data_name = setup.data or found.setup.get("data") or "digits"
    # the search's data folder only with the search's data set (another set needs its own --data-root)
    root = setup.data_root or (found.setup.get("data_root") if data_name == found.setup.get("data") else None)
    data = load_dataset(data_name, root=root, resolution=resolution, seed=config.seed,
                        bad_images=setup.bad_images)
    if setup.train_size is not None:
        data = subsample_train(data, setup.train_size, config.seed)
    c, h, _ = data.input_shape
    scale = {**{k: v for k, v in setup.scale.items() if k != "resolution"}, "resolution": h, "in_channels": c,
             "num_classes": data.num_classes}
    space = rescaled(found.space, setup.space, **scale)
    arch = space.from_ops(found.arch.ops)
    device = pick_device(config.device)
    out = Path(config.out)
    with output_lock(out, "graphnas retrain"):
        import torch

        torch.manual_seed(config.seed)  # the fresh weights are the seed's: a run repeats, a killed one resumes to it
        net = Network(arch)
        init_from = _supernet_weights(config, found, space, arch, net) if config.init == "supernet" else None
        net.to(device)
        train_config = config.train_config()

        def validate(epoch, model):
            return {"val_accuracy": accuracy(model, data.val)}

        result = fit(net, data.train, train_config, progress=not config.quiet, desc=f"retrain {arch.hash}",
                     out=out, resume=config.resume, on_epoch=validate)
        history = result.history
        val_acc, test_acc = accuracy(net, data.val), accuracy(net, data.test)
        from ..cost import arch_cost

        cost = arch_cost(arch)
        summary = {
            "source": found.source, "hash": arch.hash, "ops": list(arch.ops), "space": space.name,
            "scale": dict(space.scale), "found_scale": dict(found.space.scale), "init": config.init,
            "supernet": init_from,
            "data": {"name": data.name, "train": len(data.train), "val": len(data.val), "test": len(data.test),
                     "input_shape": list(data.input_shape), "num_classes": data.num_classes,
                     "mean": list(data.mean), "std": list(data.std)},
            "training": train_config.to_dict(), "history": history, "val_accuracy": val_acc,
            "test_accuracy": test_acc, "madds": cost.madds, "params": cost.params,
            "config": asdict(config), "seconds": time.perf_counter() - start,
            "files": {k: str(out / v) for k, v in (("model", MODEL), ("summary", SUMMARY), ("curves", CURVES),
                                                   ("arch", ARCH), ("checkpoint", "checkpoint.pt"))},
        }
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        save_checkpoint(out / MODEL, {"format": MODEL_FORMAT, "space": _space_record(space), "ops": list(arch.ops),
                                      "hash": arch.hash, "state_dict": state, "data": summary["data"],
                                      "val_accuracy": val_acc, "test_accuracy": test_acc})
        atomic_write_text(out / ARCH, arch.to_json() + "\n")
        _plot_curves(history, out / CURVES, f"{arch.hash} on {data.name} at {h} px: test accuracy "
                                            f"{100 * test_acc:.2f}%")
        atomic_write_json(out / SUMMARY, summary)
    return summary


def read_model(path, given: str | None = None) -> Model:
    """A ``model.pt`` of ``graphnas retrain``: the network with its weights, and what the file says of it
    (``hash``, ``ops``, ``data``, accuracies). Untrusted: ``weights_only``, digest and every field checked."""
    from ..nets.compile import Network
    from ..train.checkpoint import _read

    path = Path(path)
    fix = "pass the model.pt graphnas retrain wrote"
    blob = _read(path, fix, missing=fix)
    source = f"model {path}"
    if blob.get("format") != MODEL_FORMAT:
        raise GraphnasError(f"{source} is not a graphnas retrained model (format {str(blob.get('format'))[:40]!r}); "
                            f"{fix}")
    if not isinstance(blob.get("space"), dict) or not isinstance(blob.get("ops"), list) \
            or not isinstance(blob.get("state_dict"), dict):
        raise GraphnasError(f"{source} lacks its space, ops or weights; {fix}")
    space = _space_from_record(blob["space"], source, given)
    arch = space.from_ops(blob["ops"])
    if blob.get("hash") != arch.hash:
        raise GraphnasError(f"{source}: its hash {str(blob.get('hash'))[:20]!r} is not its ops' ({arch.hash}); {fix}")
    net = Network(arch)
    from ..train.checkpoint import _state_dict_like, _refuse

    with _refuse(path, fix):
        _state_dict_like(blob["state_dict"], net.state_dict(), "weights")
    net.load_state_dict(blob["state_dict"])
    info = {k: blob.get(k) for k in ("hash", "ops", "data", "val_accuracy", "test_accuracy")}
    _check_info(info, source, fix)
    return Model(net.eval(), info)


def _check_info(info: dict, source: str, fix: str) -> None:
    """What a model.pt says of its training (exported as metadata): accuracies in [0, 1], the data's name, shape,
    classes and normalisation of the right types."""
    def bad(what):
        return GraphnasError(f"{source}: {what}; {fix}")

    for key in ("val_accuracy", "test_accuracy"):
        v = info[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise bad(f"{key} must be a number in [0, 1], got {str(v)[:40]!r}")
    data = info["data"]
    if not isinstance(data, dict):
        raise bad("its data record is not an object")
    shape, classes = data.get("input_shape"), data.get("num_classes")
    if not (isinstance(data.get("name"), str) and len(data["name"]) <= 200 and isinstance(shape, list)
            and len(shape) == 3 and all(type(n) is int and 0 < n <= 1 << 16 for n in shape)
            and type(classes) is int and 0 < classes <= 1 << 20):
        raise bad("its data record lacks a name, an input shape [channels, height, width] or a class count")
    for key in ("mean", "std"):
        v = data.get(key)
        if not (isinstance(v, list) and len(v) == shape[0] and all(
                type(x) in (int, float) and abs(x) < 1e6 and (key == "mean" or x > 0) for x in v)):  # NaN fails abs
            raise bad(f"its data record's {key} must be {shape[0]} numbers (one per channel"
                      + (", above 0)" if key == "std" else ")"))
