"""SE-NAS's staged training: warm-up, then shrink, merge and expand, stage after stage (Algorithm 1, Section 3.4).

    stage 0   train uniformly over the space for ``warmup`` epochs (the paper: 100)
    stage s   score every operator (:func:`~graphnas.search.senas.operator_scores`) with the weights averaged over
              the last epoch of stage s-1 (Eq. 4), remove the ``k`` lowest (:func:`~graphnas.search.senas.shrink`),
              merge adjacent layer spaces up to ``t`` partial models (:func:`~graphnas.search.senas.merge_groups`),
              give each partial model of a merged group its own weights (:meth:`Supernet.expand`), and train
              uniformly over the shrunk space for ``stage_epochs`` (the paper: 5)

:class:`SENAS` is the path sampler of every stage (uniform over the current space) and holds the state that
decides it: the space, the groups and the log of every stage. Each stage is one :func:`~graphnas.train.loop.fit`
into ``<out>/senas/stage_<s>/`` with its own checkpoint, whose ``sampler_state`` is that state, so a run killed at
any step resumes exactly (:meth:`SENAS.train`: the last stage that has a checkpoint is read, the supernet expanded
as it says, and training goes on); a boundary interrupted while scoring is scored again, with the same draws and
the same weights, so to the same result. The finished supernet's checkpoint is copied to ``<out>/checkpoint.pt``.

The stages share one learning-rate schedule over all ``warmup + stages x stage_epochs`` epochs: stage s runs from
the rate the whole run's schedule has at its first epoch to the rate at its last (exact for ``linear``, SE-NAS's;
``cosine`` keeps its ends at each boundary). Each stage starts a fresh optimizer (momentum buffers start again at
a boundary, as the parameters change there), and seeds its batch order and paths with ``seed + s``.

Scores. By default (``score_with="averaged"``) a path is scored on ``images`` validation images in one batch,
batch norm normalising with the batch's statistics (:class:`~graphnas.estimate.minibatch.MiniBatchEstimator`),
with the weights averaged over the stage's last epoch; ``evaluator(supernet, averaged, final)`` replaces that by
any estimator (``graphnas run --strategy-option score_with=estimator``: the job's ``--estimator``).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..checks import check_int, shown
from ..errors import CheckpointError, GraphnasError
from ..estimate.minibatch import MiniBatchEstimator
from ..files import remove_stale_temporaries
from ..train import distributed as dist
from ..train.checkpoint import read_sampler_state
from ..train.loop import CHECKPOINT, LOG, TrainConfig, TrainResult, fit
from ..utils import atomic_copy, atomic_write_json
from .senas import MODES, merge_groups, operator_scores, shrink

__all__ = ["SENAS", "PAPER", "CPU", "JOB_OPTIONS", "senas_sampler", "stage_dir", "is_senas_state"]

#: The paper's settings (Section 4): 100 warm-up epochs, 5 per stage, 10 operators removed per stage, child spaces
#: of up to 50 partial models, 1,000 architectures sampled per operator.
PAPER = dict(warmup=100, stage_epochs=5, k=10, t=50, samples=1000)
#: graphnas's laptop-CPU settings (``graphnas run --strategy senas``): two stages of two epochs.
CPU = dict(stages=2, stage_epochs=2, k=6, t=16, samples=24, images=512)
#: What ``--strategy-option`` sets for ``--strategy senas`` (the warm-up is ``--epochs`` minus the stages).
JOB_OPTIONS = ("stages", "stage_epochs", "k", "t", "samples", "per_edge", "mode", "images", "score_with")
SCORERS = ("averaged", "estimator")
_KEYS = {"options", "stage", "log"}
_ENTRY = {"stage", "allowed", "removed", "groups", "params", "scores", "history"}


def is_senas_state(state) -> bool:
    """Whether a checkpoint's (untrusted) ``sampler_state`` says an SE-NAS run wrote it (its contents unchecked)."""
    return isinstance(state, dict) and isinstance(state.get("options"), dict) and state["options"].get("kind") == "senas"


def stage_dir(out: str | Path, stage: int) -> Path:
    """The folder of stage ``stage``'s checkpoint and log under a run's ``out``."""
    return Path(out) / "senas" / f"stage_{stage}"


def _factor(schedule: str, floor: float, done: float) -> float:
    """The whole run's learning-rate factor after ``done`` (0..1) of it (:func:`graphnas.train.loop.make_optimizer`)."""
    return floor + (1 - floor) * ((1 - done) if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * done)))


class SENAS:
    """SE-NAS over ``space``: the stages' path sampler and the state that decides them (module docstring).

    Args:
        space (SearchSpace): a chain space (one cell) without in-degree constraints.
        val_set (Dataset): where the default scorer takes its ``images`` validation images.
        limits (sequence of Limit): architectures outside them are never scored; a removal that would leave no
            architecture within an analytic limit is skipped.
        stages (int): shrink stages after the warm-up.
        stage_epochs (int): epochs of training after each shrink.
        k (int): operators removed per stage (the paper: 10).
        t (int): largest merged child space, in partial models (the paper: 50).
        samples (int): architectures drawn per operator for its SI (the paper: 1,000).
        per_edge (int, optional): at most this many removals per edge and stage (1: FairNAS's fairness).
        mode (str): ``"si_sc"`` (Eq. 7) or ``"si"``.
        images (int): validation images the default scorer scores each path on.
        score_with (str): ``"averaged"`` (default) or ``"estimator"`` (``evaluator`` required).
        evaluator (callable, optional): ``evaluator(supernet, averaged, final) -> estimator`` for
            ``score_with="estimator"``.
        seed (int): seeds the draws of every stage's scores.
        progress (bool): progress bars.
    """

    def __init__(self, space, val_set, limits: Sequence = (), *, stages: int = CPU["stages"],
                 stage_epochs: int = CPU["stage_epochs"], k: int = CPU["k"], t: int = CPU["t"],
                 samples: int = CPU["samples"], per_edge: int | None = None, mode: str = "si_sc",
                 images: int = CPU["images"], score_with: str = "averaged",
                 evaluator: Callable | None = None, seed: int = 0, progress: bool = True) -> None:
        check_int("SE-NAS stages", stages, 1)
        check_int("SE-NAS stage_epochs", stage_epochs, 1)
        check_int("SE-NAS k (operators removed per stage)", k, 1)
        check_int("SE-NAS t (largest merged child space)", t, 1)
        check_int("SE-NAS samples (architectures per operator)", samples, 1)
        check_int("SE-NAS images", images, 1)
        if per_edge is not None:
            check_int("SE-NAS per_edge", per_edge, 1)
        if mode not in MODES:
            raise GraphnasError(f"unknown SE-NAS score mode {shown(mode)}; choose one of {', '.join(MODES)}")
        if score_with not in SCORERS:
            raise GraphnasError(f"unknown SE-NAS score_with {shown(score_with)}; choose one of {', '.join(SCORERS)}")
        if score_with == "estimator" and evaluator is None:
            raise GraphnasError("SE-NAS score_with=estimator needs an evaluator(supernet, averaged, final)")
        if space.in_degree:
            raise GraphnasError(f"SE-NAS needs a space without in-degree constraints ('{space.name}' has them)")
        self.root = space
        self.val_set = val_set
        self.limits = list(limits)
        self.stages, self.stage_epochs, self.k, self.t = stages, stage_epochs, k, t
        self.samples, self.per_edge, self.mode, self.images = samples, per_edge, mode, images
        self.score_with, self.evaluator = score_with, evaluator
        self.seed, self.progress = seed, progress
        self.edges = [e for e, edge in enumerate(space.edges) if len(edge.candidates) > 1]
        if not self.edges:
            raise GraphnasError(f"space '{space.name}' has no edge with a choice; SE-NAS has nothing to shrink")
        if self.limits:
            from ..cost.limits import check_satisfiable

            check_satisfiable(space, self.limits)  # an unmeetable MAdds limit: one line, before any training
        self.stage = 0
        self.space = space
        self.groups: list[list[int]] = []
        self.log = [self._entry(0, space, [], [], None)]

    # ------------------------------------------------------------------ the sampler of a stage
    def __call__(self, rng: np.random.Generator):
        """A uniformly random architecture of the current space, as one of the whole space."""
        return self.root.from_ops(self.space.sample(rng).ops)

    def describe(self) -> dict:
        return {"kind": "senas", "space": self.root.name, "fingerprint": self.root.fingerprint,
                "stages": self.stages, "stage_epochs": self.stage_epochs, "k": self.k, "t": self.t,
                "samples": self.samples, "per_edge": self.per_edge, "mode": self.mode, "images": self.images,
                "score_with": self.score_with, "seed": self.seed, "limits": [lim.describe() for lim in self.limits]}

    def __repr__(self) -> str:
        return f"SENAS(space={self.root.name!r}, stage={self.stage}/{self.stages}, k={self.k}, t={self.t})"

    # ------------------------------------------------------------------ state
    def _entry(self, stage: int, space, removed: list, groups: list, scores) -> dict:
        return {"stage": stage, "allowed": {str(e): list(space.edges[e].candidates) for e in self.edges},
                "removed": [[int(e), op] for e, op in removed], "groups": [list(g) for g in groups],
                "params": None, "scores": scores, "history": []}

    def _space_of(self, allowed: dict):
        cut = {int(e): ops for e, ops in allowed.items() if len(ops) < len(self.root.edges[int(e)].candidates)}
        return self.root.subspace(allowed=cut, name=f"{self.root.name}/senas{self.stage}") if cut else self.root

    def state_dict(self) -> dict:
        return {"options": self.describe(), "stage": self.stage, "log": [dict(e) for e in self.log]}

    def load_state_dict(self, state: dict) -> None:
        self.stage = int(state["stage"])
        self.log = [dict(e) for e in state["log"]]
        self.space = self._space_of(self.log[-1]["allowed"])
        self.groups = [list(g) for g in self.log[-1]["groups"]]

    def check_state(self, state, path="checkpoint", options: bool = True) -> None:
        """Check an untrusted ``sampler_state`` before :meth:`load_state_dict`: one CheckpointError line naming
        what does not fit (another strategy's state, other options, a space, group or log that is not this run's).
        ``options=False`` leaves out the comparison of the run's options (a search reads a finished run under
        limits of its own)."""
        def bad(what: str, fix: str = "delete it or use another --out folder") -> CheckpointError:
            return CheckpointError(f"checkpoint {path} {what}; {fix}")

        if not is_senas_state(state):
            raise bad("was not written by an SE-NAS run (no SE-NAS stages in it)",
                      "resume it with the strategy that trained it, or train SE-NAS into another --out folder")
        if set(state) != _KEYS:
            raise bad(f"holds an SE-NAS state with keys {sorted(state)}, expected {sorted(_KEYS)}")
        mine = self.describe()
        if options and state["options"] != mine:
            diff = sorted(k for k in mine if state["options"].get(k) != mine[k]) or sorted(state["options"])
            raise bad(f"is of an SE-NAS run with other settings ({', '.join(diff)} differ)",
                      "resume with the same space, options and limits, or use another --out folder")
        stage, log = state["stage"], state["log"]
        if not isinstance(stage, int) or isinstance(stage, bool) or not 0 <= stage <= self.stages:
            raise bad(f"has SE-NAS stage {shown(stage)}, expected an integer in [0, {self.stages}]")
        if not isinstance(log, list) or len(log) != stage + 1:
            raise bad(f"has an SE-NAS log of {shown(log)}, expected {stage + 1} stage records")
        previous, groups = {str(e): list(self.root.edges[e].candidates) for e in self.edges}, []
        for s, entry in enumerate(log):
            problem = _entry_problem(entry, s, previous, groups, self)
            if problem:
                raise bad(f"has a damaged SE-NAS record of stage {s} ({problem})")
            previous, groups = entry["allowed"], entry["groups"]

    # ------------------------------------------------------------------ the stages
    @property
    def num_stages(self) -> int:
        return self.stages + 1

    def stage_config(self, config: TrainConfig, stage: int) -> TrainConfig:
        """Stage ``stage``'s :class:`TrainConfig`: its epochs, its part of the whole run's schedule, its seed."""
        warmup = self.warmup(config.epochs)
        first = 0 if stage == 0 else warmup + (stage - 1) * self.stage_epochs
        last = warmup if stage == 0 else first + self.stage_epochs
        f0, f1 = (_factor(config.lr_schedule, config.final_lr_ratio, e / config.epochs) for e in (first, last))
        return replace(config, epochs=last - first, lr=config.lr * f0, final_lr_ratio=min(1.0, f1 / f0),
                       seed=config.seed + stage)

    def warmup(self, epochs: int) -> int:
        """The warm-up's epochs when the whole run has ``epochs``; one line when they do not cover the stages."""
        warmup = epochs - self.stages * self.stage_epochs
        if warmup < 1:
            raise GraphnasError(f"SE-NAS needs --epochs above stages x stage_epochs = {self.stages} x "
                                f"{self.stage_epochs} (the rest is the warm-up); got {epochs}: raise --epochs or "
                                f"lower stages/stage_epochs")
        return warmup

    def _scorer(self, supernet, averaged: dict, final: dict):
        if self.score_with == "estimator":
            return self.evaluator(supernet, averaged, final)
        supernet.load_state_dict(averaged)
        n = min(self.images, len(self.val_set))
        order = np.random.default_rng([self.seed, 7]).permutation(len(self.val_set))[:n]
        images = torch.stack([torch.as_tensor(self.val_set[int(i)][0]) for i in order])
        labels = torch.as_tensor([int(self.val_set[int(i)][1]) for i in order])
        return MiniBatchEstimator(supernet, images, labels)

    def advance(self, supernet, averaged: dict, history: list) -> None:
        """The boundary after the current stage: score with ``averaged``, shrink, merge, expand ``supernet``
        (training goes on from the weights it holds now)."""
        final = {k: v.detach().clone() for k, v in supernet.state_dict().items()}
        self.log[-1] = {**self.log[-1], "history": [dict(h) for h in history]}
        self.stage += 1
        evaluate = self._scorer(supernet, averaged, final)
        scores = operator_scores(self.space, evaluate, self.samples, self.limits,
                                 rng=np.random.default_rng([self.seed, self.stage]), mode=self.mode)
        supernet.load_state_dict(final)
        shrunk, removed = shrink(self.space, scores, self.k, self.per_edge, limits=self.limits)
        self.groups = merge_groups(shrunk, self.groups, self.t, self.edges)
        self.log.append(self._entry(self.stage, shrunk, removed, self.groups, scores.to_dict()))
        self.space = self._space_of(self.log[-1]["allowed"])
        supernet.expand(self.groups, self.space)
        self.log[-1]["params"] = supernet.parameter_counts()

    def _resume_point(self, supernet, out: Path) -> int:
        """The last stage with a checkpoint under ``out`` (its state loaded, ``supernet`` expanded as it says),
        or 0 with nothing there."""
        for stage in range(self.num_stages - 1, -1, -1):
            path = stage_dir(out, stage) / CHECKPOINT
            if path.exists():
                state = read_sampler_state(path)
                self.check_state(state, path)
                if state["stage"] != stage:
                    raise CheckpointError(f"checkpoint {path} holds SE-NAS stage {state['stage']}, not {stage}; "
                                          f"delete {out / 'senas'} or use another --out folder")
                self.load_state_dict(state)
                if self.groups:
                    supernet.expand(self.groups, self.space)
                return stage
        return 0

    def train(self, supernet, train_set, config: TrainConfig, out: str | Path, *, resume: bool = False,
              checkpoint_every: int = 0, stop_after_steps: int | None = None) -> TrainResult:
        """Run every stage (module docstring) on ``supernet`` (a fresh one, or one to resume into) and return the
        whole run's :class:`TrainResult` (``history``: every stage's epochs, each with its ``stage``;
        ``averaged_state_dict``: the last stage's last-epoch mean; ``checkpoint``: ``<out>/checkpoint.pt``).

        ``resume``: continue from the last stage checkpoint under ``out`` (from scratch when there is none);
        without it, stage folders left there by an earlier run are removed first. ``stop_after_steps`` is a test
        hook: return after this many steps of this call, as a killed run would.
        """
        config.validate()
        self.warmup(config.epochs)
        out = Path(out)
        start = 0
        if resume:
            if dist.launched_rank() == 0:  # a killed writer's temporaries (output_lock cleans <out> only)
                for stage in range(self.num_stages):
                    remove_stale_temporaries(stage_dir(out, stage))
            start = self._resume_point(supernet, out)
        elif (out / "senas").exists() and dist.launched_rank() == 0:
            shutil.rmtree(out / "senas")
        per_epoch = len(train_set) // config.batch_size
        done_steps, result = 0, None
        for stage in range(start, self.num_stages):
            if stage > start:
                self.advance(supernet, result.averaged_state_dict, result.history)
            if self.log[-1]["params"] is None:
                self.log[-1]["params"] = supernet.parameter_counts()
            budget = None if stop_after_steps is None else stop_after_steps - done_steps
            result = fit(supernet, train_set, self.stage_config(config, stage), self, progress=self.progress,
                         desc=f"SE-NAS stage {stage}/{self.stages}", out=stage_dir(out, stage),
                         resume=resume and stage == start, average_last_epoch=True,
                         checkpoint_every=checkpoint_every, stop_after_steps=budget)
            done_steps += result.step - result.start_step
            if result.step < result.total_steps:  # stopped by the test hook
                return replace(result, history=self.history(result.history))
        history, final = self.history(result.history), out / CHECKPOINT
        if dist.is_main():
            atomic_copy(result.checkpoint, final)
            atomic_write_json(out / LOG, {"strategy": "senas", "stages": self.stages, "history": history,
                                          "checkpoint": str(final)})
        dist.barrier()  # the other ranks read <out>/checkpoint.pt next (the search's digest of it)
        total = per_epoch * config.epochs
        return TrainResult(history, result.averaged_state_dict, final, total - done_steps, total, total)

    def history(self, current: list) -> list:
        """Every finished stage's epochs and ``current``'s (the running stage's), each with its ``stage``."""
        done = [{**h, "stage": e["stage"]} for e in self.log[:-1] for h in e["history"]]
        return done + [{**h, "stage": self.stage} for h in current]


def _entry_problem(entry, stage: int, previous: dict, groups: list, senas: SENAS) -> str | None:
    """What is wrong with one untrusted stage record, or ``None``."""
    if not isinstance(entry, dict) or set(entry) != _ENTRY:
        return f"keys {sorted(entry) if isinstance(entry, dict) else shown(entry)}, expected {sorted(_ENTRY)}"
    if entry["stage"] != stage or isinstance(entry["stage"], bool):
        return f"stage {shown(entry['stage'])}"
    allowed = entry["allowed"]
    if not isinstance(allowed, dict) or set(allowed) != set(previous):
        return "its operators per edge are not those of this space's choice edges"
    removed = []
    for key, ops in allowed.items():
        before = previous[key]
        if not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops) \
                or [o for o in before if o in ops] != ops:
            return f"edge {key} keeps {shown(ops)}, not a non-empty part of {before}"
        removed += [[int(key), o] for o in before if o not in ops]
    got = entry["removed"]
    if not isinstance(got, list) or not all(isinstance(r, list) and len(r) == 2 for r in got) \
            or sorted(map(str, got)) != sorted(map(str, removed)):
        return "its removed operators do not match the operators it keeps"
    if stage > 0 and len(removed) > senas.k:
        return f"{len(removed)} operators removed, more than k={senas.k}"
    new = entry["groups"]
    if not isinstance(new, list) or not all(isinstance(g, list) and len(g) > 1 and all(
            isinstance(i, int) and not isinstance(i, bool) and i in senas.edges for i in g) for g in new):
        return f"groups {shown(new)}"
    flat = [i for g in new for i in g]
    if len(set(flat)) != len(flat) or any(not any(set(o) <= set(g) for g in new) for o in groups):
        return f"groups {shown(new)} overlap or drop an earlier group"
    if any(math.prod(len(allowed[str(i)]) for i in g) > senas.t for g in new):
        return f"a group of {shown(new)} has more than t={senas.t} partial models"
    if entry["params"] is not None and not (isinstance(entry["params"], dict) and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in entry["params"].values())):
        return f"params {shown(entry['params'])}"
    if not isinstance(entry["history"], list) or not all(isinstance(h, dict) for h in entry["history"]):
        return "history is not a list of epoch records"
    if (stage == 0) != (entry["scores"] is None) or not (entry["scores"] is None or isinstance(entry["scores"], dict)):
        return f"scores {shown(entry['scores'])}"
    return None


def senas_sampler(space, val_set, limits: Sequence = (), *, seed: int = 0, progress: bool = True,
                  evaluator: Callable | None = None, **options) -> SENAS:
    """:class:`SENAS` with graphnas's CPU settings (:data:`CPU`) under ``options`` (the job's
    ``--strategy-option``); an unknown option is one line."""
    bad = sorted(set(options) - set(JOB_OPTIONS))
    if bad:
        raise GraphnasError(f"unknown senas option {shown(bad[0])}; its options are {', '.join(JOB_OPTIONS)} (the "
                            f"warm-up is --epochs minus stages x stage_epochs)")
    return SENAS(space, val_set, limits, **{**CPU, **options}, evaluator=evaluator, seed=seed, progress=progress)
