"""The one job's config: what is trained on, how it is trained, how it is searched.

:class:`JobConfig` composes three parts, each a dataclass of :func:`graphnas.options.option` fields (which
give ``check()`` and the command line's flags their types, ranges and help):

* :class:`SetupConfig` -- space, scale, operators, data set, resolution;
* :class:`TrainingConfig` -- path sampler, optimiser options (a dict of
  :class:`~graphnas.train.loop.TrainConfig` fields), weight averaging, checkpoints, device;
* :class:`SearchConfig` -- strategy, budget, limits, estimator, lookup table.

Training options are layered: :class:`~graphnas.train.loop.TrainConfig`'s defaults, then :data:`JOB_TRAINING` (the
job's laptop-CPU settings), then the space module's ``TRAINING`` (its paper's settings, e.g. ST-NAS:
its sampler), then what the user gave. :func:`resolve` returns the config with every layer
applied; that resolved config is what the job runs and writes as ``<out>/job.json``, and
:meth:`JobConfig.from_dict` reads it back (``graphnas run --config <out>/job.json`` repeats a job).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ..checks import INT64_MAX, MAX_LOOKUP_ROWS, MAX_RESOLUTION, shown
from ..errors import GraphnasError
from ..options import Choice, Float, Int, check_fields, option
from ..train.loop import TrainConfig

__all__ = ["SetupConfig", "TrainingConfig", "SearchConfig", "JobConfig", "JOB_TRAINING", "resolve",
           "FALLBACK_RESOLUTION", "TRAINED_BY"]

#: Resolution of the job when neither the config nor the space's ``CPU_SCALE`` gives one.
FALLBACK_RESOLUTION = 16

#: The job's training settings on top of :class:`~graphnas.train.loop.TrainConfig`'s: short, small-batch runs that
#: train the laptop-scale supernets in minutes. A space's ``TRAINING`` and the user's options come after.
JOB_TRAINING = {"epochs": 30, "batch_size": 32, "lr": 0.05, "momentum": 0.9, "nesterov": True}


def _samplers() -> tuple:
    from ..train.samplers import SAMPLERS

    return tuple(sorted(SAMPLERS))


def _strategies() -> tuple:
    from ..search import STRATEGIES

    return tuple(STRATEGIES) + ("pcnas", "senas")


def _pcnas_options() -> tuple:
    from ..search.pcnas import JOB_OPTIONS

    return JOB_OPTIONS, "the choice edges x interval"


def _senas_options() -> tuple:
    from ..search.senas_stages import JOB_OPTIONS

    return JOB_OPTIONS, "stages x stage_epochs"


#: Strategies that search while the supernet trains, with their own path sampler: their options and warm-up.
TRAINED_BY = {"pcnas": _pcnas_options, "senas": _senas_options}


def _estimators() -> tuple:
    from ..estimate.estimators import ESTIMATORS

    return tuple(ESTIMATORS)


@dataclass
class SetupConfig:
    """What the supernet is and what it learns from."""

    space: str = option("st_nas", "space name (see `graphnas spaces`) or .py file with make_space()")
    scale: dict = option(help="scale arguments on top of the space's laptop scale (CPU_SCALE in its module)",
                         factory=dict, what="scale argument")
    ops: list | None = option(None, "operators kept on every edge (default: the space's CPU_OPS, else all); "
                                    "'all' keeps all")
    data: str = option("digits", "digits (built in), fashion_mnist, cifar10 or imagefolder")
    data_root: str | None = option(None, "folder of the data set (never downloaded)")
    train_size: int | None = option(None, "train on a seeded, stratified subsample of this many training images "
                                          "(default: all)", Int(1))
    resolution: int | None = option(None, "input resolution (default: the space's CPU_SCALE resolution, else 16)",
                                    Int(4, MAX_RESOLUTION))
    bad_images: str = option("stop", "imagefolder: a file that is not a readable image stops the job naming it "
                                     "(stop) or is left out with a warning (skip)", Choice(("stop", "skip")))


@dataclass
class TrainingConfig:
    """How the supernet is trained (:func:`graphnas.train.loop.fit`)."""

    sampler: str | None = option(None, "path sampler: uniform, stnas, constrained or pool (default: the space's "
                                       "paper sampler, else uniform)", Choice(_samplers))
    sampler_options: dict = option(help="sampler options, e.g. p_drop=0.2 or target_madds=1.9M (stnas without "
                                        "either: calibrated to --madds when given, else p_drop=0.5)",
                                   factory=dict, flag="--sampler-option", what="sampler option")
    train: dict = option(help="TrainConfig fields that differ from the defaults (the command line's --epochs, "
                              "--lr, ... land here)", factory=dict, cli=False)
    average_last_epoch: bool = option(False, "also keep the mean of the weights over the last epoch's iterations "
                                             "(SE-NAS; the weight_averaging estimator searches them)")
    checkpoint_every: int = option(0, "checkpoint every this many steps as well as at epoch ends (0: epoch ends)",
                                   Int(0), metavar="STEPS")
    device: str = option("cpu", "cpu, cuda (cuda:LOCAL_RANK under torchrun), cuda:N or auto")


@dataclass
class SearchConfig:
    """How the trained supernet is searched, and the lookup table built around the best architecture."""

    checkpoint: str | None = option(None, "a supernet trained before (<out>/checkpoint.pt of graphnas train or "
                                          "run): searched instead of training one", cli=False)
    strategy: str = option("evolution", "evolution (SPOS: top-k parents, mutation and crossover under hard limits), "
                                        "nsga2 (ST-NAS: NSGA-II over --objectives), random, gcn (GCN-NAS: "
                                        "segments, a GCN predictor, super-cells), pcnas (PC-NAS: a pool of "
                                        "partial models shrunk edge by edge during training) or senas (SE-NAS: "
                                        "the space shrunk by operator scores and its merged layers given private "
                                        "weights during training, then evolution over the shrunk space)",
                           Choice(_strategies))
    strategy_options: dict = option(help="strategy options, e.g. samples=20 (pcnas: pool, samples, interval, "
                                         "batch_size, bn, save_every; its warm-up is --epochs minus the choice "
                                         "edges x interval. senas: stages, stage_epochs, k, t, samples, per_edge, "
                                         "mode, images, score_with; its warm-up is --epochs minus stages x "
                                         "stage_epochs)", factory=dict, flag="--strategy-option",
                                    what="strategy option")
    budget: int | None = option(None, "architectures to evaluate (default: population x generations)", Int(1))
    population: int = option(20, "evolution/nsga2 population, random's batch (the papers: 50 for SPOS evolution, "
                                  "45 for ST-NAS's NSGA-II)", Int(1))
    generations: int = option(10, "evolution/nsga2 generations, the first one random (the papers: 20 and 22)",
                              Int(1))
    crossover: str | None = option(None, "evolution/nsga2 crossover: uniform or one_point (default: each paper's, "
                                         "uniform for SPOS evolution, one_point for ST-NAS's NSGA-II)",
                                   Choice(("uniform", "one_point")))
    mutation_prob: float = option(0.1, "evolution/nsga2: each choice of a child resampled with this probability",
                                  Float(0.0, 1.0))
    segments: str | None = option(None, "gcn: segment sizes over the free choice edges, in order, e.g. 7,6,6 "
                                        "(GCN-NAS on FairNAS's 19 layers; default: consecutive edges while a "
                                        "segment's subspace stays within 20,000 architectures)")
    top_k: int = option(6, "gcn: the best sub-architectures of a segment kept as the next one's super-cell "
                           "(GCN-NAS: 6)", Int(1))
    select: str = option("reevaluated", "gcn: each segment's architecture is the best of the re-evaluated top "
                                        "predictions (reevaluated, GCN-NAS's Step 3) or of every architecture "
                                        "scored (measured)", Choice(("reevaluated", "measured")))
    objectives: str = option("accuracy,madds", "nsga2's objectives: accuracy, then the costs it trades against "
                                               "(madds, params, bitops, latency), e.g. accuracy,latency")
    levels: str | None = option(None, "cost levels of the top-2 picks per level (ST-NAS), in the first cost "
                                      "objective's unit, e.g. 1M,1.5M,2M (default: its quartiles over the search)")
    madds: str | float | None = option(None, "MAdds limit with a unit, e.g. 1.5M, or a range LOW:HIGH, e.g. 1M:1.5M")
    params: str | float | None = option(None, "parameter limit with a unit, e.g. 300K (or LOW:HIGH)")
    bitops: str | float | None = option(None, "BitOps limit with a unit, e.g. 2G (mixed-precision spaces: "
                                               "multiply-adds x weight bits x activation bits; or LOW:HIGH)")
    latency: str | float | None = option(None, "latency limit with a unit, e.g. 4ms (or LOW:HIGH), from a measured "
                                       "table of this machine (--latency-table, else <out>/latency.db built by "
                                       "the job)")
    latency_table: str | None = option(None, "latency table of the job's space from `graphnas latency build`")
    estimator: str | None = option(None, "how a path is scored with the shared weights (default: "
                                         "weight_averaging for senas, SE-NAS's Eq. 4, else single_checkpoint)",
                                   Choice(_estimators))
    estimator_options: dict = option(help="estimator options, e.g. recal=false or num_samples=3",
                                     factory=dict, flag="--estimator-option", what="estimator option")
    recal_samples: int = option(256, "training images that recalibrate a path's batch norm before scoring",
                                Int(1))
    lookup: bool = option(True, "build <out>/lookup.db around the best architecture (and the latency table "
                                "it needs)")
    lookup_labels: int = option(200, "architectures of the lookup subspace scored with the supernet to train "
                                     "its GCN", Int(-INT64_MAX, MAX_LOOKUP_ROWS))
    lookup_rows: int = option(20_000, "largest lookup subspace around the best architecture",
                              Int(-INT64_MAX, MAX_LOOKUP_ROWS))
    lookup_order: str = option("shrinkage", "how the lookup table ranks measured against predicted architectures: "
                                            "shrinkage (each label shrunk towards its prediction by the label noise "
                                            "the table estimates) or measured-first", Choice(("shrinkage",
                                                                                            "measured-first")))


@dataclass
class JobConfig:
    """Everything ``graphnas run`` / ``train`` / ``search`` do, in one JSON-serialisable object."""

    setup: SetupConfig = option(help="", factory=SetupConfig)
    training: TrainingConfig = option(help="", factory=TrainingConfig)
    search: SearchConfig = option(help="", factory=SearchConfig)
    out: str = option("runs/demo", "output folder")
    seed: int = option(0, "seeds training, the data splits and the search", Int(0))
    resume: bool | str = option(False, "continue training from <out>/checkpoint.pt (from scratch if there is "
                                       "none), or from the given file, and the search from "
                                       "<out>/search_history.json (nothing evaluated twice)", metavar="CHECKPOINT")
    quiet: bool = option(False, "no progress bars")

    def check(self) -> "JobConfig":
        """Every field's type and range, the training options and the lookup sizes; one line for the first
        that is wrong. Returns ``self``."""
        check_fields(self)
        unknown = sorted(set(self.training.train) - {f.name for f in fields(TrainConfig)} - {"seed"})
        if unknown:
            raise GraphnasError(f"unknown training option(s) {', '.join(unknown)}; choose from "
                                f"{', '.join(f.name for f in fields(TrainConfig))}")
        if "seed" in self.training.train:
            raise GraphnasError("training.train must not set seed: the job's seed seeds training (give seed=...)")
        self.train_config().validate()
        s = self.search
        from ..search.toolbox import parse_objectives

        parse_objectives(s.objectives)
        if s.strategy_options:
            if s.strategy not in TRAINED_BY:
                raise GraphnasError(f"--strategy-option is for pcnas and senas; strategy {s.strategy} takes its "
                                    f"options as flags (--population, --generations, --crossover, ...)")
            known, warmup = TRAINED_BY[s.strategy]()
            bad = sorted(set(s.strategy_options) - set(known))
            if bad:
                raise GraphnasError(f"unknown {s.strategy} option {shown(bad[0])}; its options are "
                                    f"{', '.join(known)} (the warm-up is --epochs minus {warmup})")
        if s.strategy == "senas" and not isinstance(self.resume, bool):
            raise GraphnasError("--strategy senas resumes from its own stage checkpoints under <out>/senas; give "
                                "--resume without a file")
        if s.segments is not None:
            parts = [p.strip() for p in str(s.segments).split(",")]
            if not all(p.isdigit() and int(p) > 0 for p in parts):
                raise GraphnasError(f"--segments {s.segments!r} must be positive sizes separated by commas, e.g. 7,6,6")
        if s.lookup and (s.lookup_labels < 8 or s.lookup_rows < 2):
            raise GraphnasError(f"lookup_labels={s.lookup_labels} and lookup_rows={s.lookup_rows} are too small; "
                                f"give at least 8 labels and 2 rows (or no lookup table)")
        return self

    def train_config(self) -> TrainConfig:
        """The :class:`~graphnas.train.loop.TrainConfig` of this config's layers (see the module docstring)."""
        return TrainConfig(**{**JOB_TRAINING, **self.training.train, "seed": self.seed})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "JobConfig":
        """A config from :meth:`to_dict`'s form (``job.json``): unknown keys and wrong types are one line."""
        if not isinstance(d, dict):
            raise GraphnasError(f"a job config is a JSON object, got {type(d).__name__}")
        parts = {"setup": SetupConfig, "training": TrainingConfig, "search": SearchConfig}
        top = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in d.items():
            if key not in top:
                raise GraphnasError(f"unknown job config key {shown(key)}; the keys are {', '.join(sorted(top))}")
            if key in parts:
                if not isinstance(value, dict):
                    raise GraphnasError(f"job config {key} must be an object, got {type(value).__name__}")
                known = {f.name for f in fields(parts[key])}
                bad = sorted(set(value) - known)
                if bad:
                    raise GraphnasError(f"unknown job config key {key}.{shown(bad[0])}; the keys of {key} are "
                                        f"{', '.join(sorted(known))}")
                value = parts[key](**value)
            kwargs[key] = value
        return cls(**kwargs).check()

    @classmethod
    def load(cls, path: str | Path) -> "JobConfig":
        """Read a ``job.json`` (a regular UTF-8 JSON file; anything else is one line)."""
        from ..files import read_json

        return cls.from_dict(read_json(path, "job config", "pass the job.json a graphnas job wrote"))


def resolve(config: JobConfig) -> JobConfig:
    """``config`` with the space's paper training settings (``TRAINING`` in its module) under the user's, and
    the stnas sampler's p_drop: calibrated to the job's MAdds limit when there is one, else 0.5 (every
    topology equally likely). ``--strategy senas`` trains with SE-NAS's linear decay and searches with the
    weight-averaged estimator unless told otherwise. Checked; the input is not changed."""
    from ..space.registry import space_info

    config.check()
    paper = dict(space_info(config.setup.space).training)
    training = config.training
    paper_sampler, paper_options = paper.pop("sampler", None), paper.pop("sampler_options", {})
    sampler = training.sampler or paper_sampler or "uniform"
    strategy = config.search.strategy
    if strategy in TRAINED_BY:  # its own sampler: PC-NAS's pool, SE-NAS's current space (uniform during warm-up)
        if training.sampler not in (None, "uniform") or training.sampler_options:
            raise GraphnasError(f"--strategy {strategy} trains with its own path sampler (uniform during the "
                                f"warm-up); drop --sampler {training.sampler or ''} and --sampler-option")
        sampler, paper_sampler = "uniform", None
    if strategy == "senas":  # SE-NAS's linear decay, unless the command line says otherwise
        paper["lr_schedule"] = "linear"
    estimator = config.search.estimator or ("weight_averaging" if strategy == "senas" else "single_checkpoint")
    options = {**(paper_options if sampler == paper_sampler else {}), **training.sampler_options}
    if sampler == "stnas" and "p_drop" not in options and "target_madds" not in options:
        options = {**options, **({"target_madds": config.search.madds} if config.search.madds else {"p_drop": 0.5})}
    average = training.average_last_epoch or estimator == "weight_averaging"
    training = replace(training, sampler=sampler, sampler_options=options, train={**paper, **training.train},
                       average_last_epoch=average)
    return replace(config, training=training, search=replace(config.search, estimator=estimator)).check()
