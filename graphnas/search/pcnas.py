"""PC-NAS: progressive shrinking of the space with a pool of partial models, interleaved with supernet training.

Li et al., "Improving One-shot NAS by Suppressing the Posterior Fading" (CVPR 2020), Algorithms 1 and 2.
A *partial model* fixes the operators of the first ``l`` choice edges; its *potential* is the mean accuracy of
random completions of it, each scored on one validation mini-batch::

    train T_w epochs with uniform single-path sampling                      (warm-up)
    pool <- {the empty partial model}
    for each choice edge l = 1 .. L, in order:
        extensions <- every pool member x every candidate of edge l
        potential(e) <- mean over S random completions c of e meeting the limits (drawn until S are found;
                        none outside the limits is scored) of accuracy(c, one validation mini-batch)
        pool <- the P extensions of highest potential
        train T_i epochs, each step on a random completion of a random pool member
    the pool's complete architectures ranked by potential (S mini-batches each): the best is the answer

:class:`PCNAS` is the whole method as a path sampler of :func:`graphnas.train.loop.fit`: it draws the paths
(uniform during the warm-up, a pool member completed at random afterwards) and, through ``before_step``,
updates the pool at each interval boundary with the supernet as it is then. Potentials are scored through the
estimator protocol (:class:`~graphnas.estimate.minibatch.MiniBatchEstimator`, one instance per mini-batch and
``score_many`` over every extension's completion on it: sharded over torchrun ranks). Completion ``j`` of
every extension is scored on the same mini-batch ``j``, so extensions are compared on the same images.

**Resumable at any point.** Completions and mini-batches come from generators seeded by ``(seed, boundary)``,
never from the trainer's; the pool, the boundary reached, the scores of a boundary in progress (a checkpoint
every ``save_every`` mini-batches) and the log of every boundary are the sampler's ``state_dict()``, which the
trainer keeps in its checkpoint. A run killed during the warm-up, an interval or a potential evaluation and
resumed ends with the same pool as an uninterrupted one.

**Schedule.** Training lasts ``T_w + L * T_i`` epochs (:attr:`PCNAS.epochs`): the paper's values
(:data:`PAPER`: P = 5, S = 900, T_w = 100, T_i = 5, on ImageNet, trained as :data:`PAPER_TRAINING`) are the
defaults; :data:`CPU` states the laptop scale ``graphnas run --strategy pcnas`` uses (P = 3, S = 20, T_i = 1,
the warm-up the rest of the job's epochs).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..checks import check_int, shown
from ..cost.limits import check_satisfiable, sample_feasible
from ..errors import CheckpointError, GraphnasError
from ..estimate.minibatch import MiniBatchEstimator
from ..space.architecture import Architecture
from ..train import distributed as dist
from .result import SearchResult, make_record

__all__ = ["PCNAS", "PAPER", "PAPER_TRAINING", "CPU", "JOB_OPTIONS", "pcnas_sampler"]

#: The paper's settings (ImageNet): pool size P, completions per potential S, warm-up T_w and interval T_i epochs.
PAPER = dict(pool=5, samples=900, warmup=100, interval=5)
#: The paper's supernet training (ImageNet): Nesterov SGD 0.9, cosine 0.1 -> 5e-4, weight decay 1e-4, as
#: :class:`~graphnas.train.loop.TrainConfig` fields: ``TrainConfig(**PAPER_TRAINING, epochs=pcnas.epochs)``.
PAPER_TRAINING = dict(lr=0.1, final_lr_ratio=0.005, momentum=0.9, nesterov=True, weight_decay=1e-4)
#: The laptop-CPU scale of ``graphnas run --strategy pcnas``: a pool of 3 (the CPU-scale chain spaces keep 3
#: operators per edge where the paper keeps 5 of 20), 20 completions, one epoch per interval; the warm-up is what
#: the job's epochs leave (``epochs - L * interval``).
CPU = dict(pool=3, samples=20, interval=1)
#: The options a job passes as ``--strategy-option KEY=VALUE`` (the warm-up is the job's epochs minus L x T_i).
JOB_OPTIONS = ("pool", "samples", "interval", "batch_size", "bn", "save_every")

_COMPLETION, _BATCH = 0x50434E, 0x424154  # generator streams: completions and mini-batches of a boundary
_TRIES = 20  # completions drawn per one kept, at most, before an extension is judged infeasible


class PCNAS:
    """PC-NAS as a path sampler with a partial-model pool (see the module docstring).

    Args:
        space (SearchSpace): a space without in-degree constraints (chain spaces, ST-NAS).
        val_set (Dataset): validation ``(image, label)`` items the potentials are scored on.
        limits (sequence of Limit): completions outside them are never scored; checked before training.
        pool (int): P, partial models kept at each boundary (default: 5).
        samples (int): S, completions (and mini-batches) per potential (default: 900).
        warmup (int): T_w, epochs of uniform sampling before the first boundary (default: 100).
        interval (int): T_i, epochs between boundaries (default: 5).
        batch_size (int): images per potential mini-batch (default: 64).
        seed (int): seeds the completions and mini-batches (default: 0).
        bn (str): BN statistics of a potential: ``"batch"`` (the mini-batch's, default) or ``"running"``.
        save_every (int, optional): checkpoint every this many mini-batches of a boundary (default: S / 10).
        score (callable, optional): ``score(model, archs, images, labels) -> accuracies``, replacing the
            supernet's (tests use a synthetic one).
        progress (bool): show a bar per boundary (default: ``True``).
    """

    def __init__(self, space, val_set, limits: Sequence = (), *, pool: int = PAPER["pool"],
                 samples: int = PAPER["samples"], warmup: int = PAPER["warmup"], interval: int = PAPER["interval"],
                 batch_size: int = 64, seed: int = 0, bn: str = "batch", save_every: int | None = None,
                 score: Callable | None = None, progress: bool = True) -> None:
        if space.in_degree:
            raise GraphnasError(f"PC-NAS needs a space without in-degree constraints ('{space.name}' has them): "
                                f"a partial model completed edge by edge could break 'exactly k inputs'")
        self.space, self.val_set, self.limits = space, val_set, list(limits)
        self.pool_size = check_int("PC-NAS pool (P)", pool, 1)
        self.samples = check_int("PC-NAS samples (S)", samples, 1)
        self.warmup = check_int("PC-NAS warmup (T_w, epochs)", warmup, 1)
        self.interval = check_int("PC-NAS interval (T_i, epochs)", interval, 1)
        self.batch_size = check_int("PC-NAS batch_size", batch_size, 1)
        self.seed = check_int("seed", seed, 0)
        if bn not in ("batch", "running"):
            raise GraphnasError(f"PC-NAS bn={shown(bn)} is not a mode; choose batch or running")
        self.bn = bn
        self.save_every = check_int("PC-NAS save_every", save_every if save_every is not None
                                    else max(1, self.samples // 10), 1)
        self.score = score or self._supernet_score
        self.progress = progress
        self.radices = np.asarray(space.radices, dtype=np.int64)
        self.edges = [i for i, r in enumerate(self.radices) if r > 1]
        if not self.edges:
            raise GraphnasError(f"space '{space.name}' has no edge with a choice; PC-NAS has nothing to search")
        if len(val_set) < 1:
            raise GraphnasError("PC-NAS needs validation images to score potentials on; the validation set is empty")
        check_satisfiable(space, self.limits, f"space '{space.name}'")
        if self.limits:  # a latency limit has no provable minimum: look for one completion before any training
            rng = np.random.default_rng([self.seed, _COMPLETION])
            sample_feasible(lambda: space.sample(rng), self.limits, tries=1000,
                            fix="loosen the limit: PC-NAS scores only completions within it")
        self.level = 0
        self.pool = self._empty()
        self.pending: dict | None = None
        self.log: list[dict] = []
        self.images = 0

    # ------------------------------------------------------------------ the schedule
    @property
    def num_levels(self) -> int:
        """L: the choice edges, one interval each."""
        return len(self.edges)

    @property
    def epochs(self) -> int:
        """Training epochs of the whole method: ``T_w + L * T_i``."""
        return self.warmup + self.num_levels * self.interval

    def boundary_epoch(self, level: int) -> int:
        """The epoch at whose start boundary ``level`` (0-based) updates the pool."""
        return self.warmup + level * self.interval

    def _empty(self) -> np.ndarray:
        row = np.where(self.radices > 1, -1, 0).astype(np.int64)
        return row[None, :]

    # ------------------------------------------------------------------ sampling
    def complete(self, partial: np.ndarray, rng: np.random.Generator) -> Architecture:
        """``partial`` (a choice vector, -1 where free) with every free choice drawn uniformly."""
        drawn = (rng.random(len(self.radices)) * self.radices).astype(np.int64)
        return Architecture(self.space, np.where(partial >= 0, partial, drawn))

    def __call__(self, rng: np.random.Generator) -> Architecture:
        if self.level == 0:
            return self.space.sample(rng)
        return self.complete(self.pool[int(rng.integers(len(self.pool)))], rng)

    def describe(self) -> dict:
        return {"kind": "pcnas", "space": self.space.name, "fingerprint": self.space.fingerprint,
                "pool": self.pool_size, "samples": self.samples, "warmup": self.warmup, "interval": self.interval,
                "batch_size": self.batch_size, "bn": self.bn, "seed": self.seed,
                "limits": [repr(lim) for lim in self.limits]}

    def __repr__(self) -> str:
        return (f"PCNAS(space={self.space.name!r}, P={self.pool_size}, S={self.samples}, T_w={self.warmup}, "
                f"T_i={self.interval}, level={self.level}/{self.num_levels})")

    # ------------------------------------------------------------------ potentials
    def _supernet_score(self, model, archs, images, labels) -> list[float]:
        return MiniBatchEstimator(model, images, labels, self.bn).score_many(archs)

    def _extensions(self, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pool member x every candidate of the level's edge: ``(partials, parent rows, candidates)``."""
        edge = self.edges[level]
        parents = np.repeat(np.arange(len(self.pool)), self.radices[edge])
        ops = np.tile(np.arange(self.radices[edge]), len(self.pool))
        partials = self.pool[parents].copy()
        partials[:, edge] = ops
        return partials, parents, ops

    def _completions(self, partials: np.ndarray, key) -> list[list[Architecture]]:
        """Up to S completions of each partial model within the limits, from a generator seeded by ``key``."""
        rng = np.random.default_rng([self.seed, _COMPLETION, *key])
        out = []
        for partial in partials:
            if (partial >= 0).all():  # complete: its only completion is itself
                arch = Architecture(self.space, partial)
                out.append([arch] * self.samples if self._feasible(arch) else [])
                continue
            kept, tries = [], 0
            while len(kept) < self.samples and tries < _TRIES * self.samples:
                arch = self.complete(partial, rng)
                tries += 1
                if self._feasible(arch):
                    kept.append(arch)
            out.append(kept)
        return out

    def _feasible(self, arch: Architecture) -> bool:
        return all(lim(arch) for lim in self.limits)

    def _batch(self, key, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Validation mini-batch ``j`` of a boundary: consecutive slices of seeded permutations."""
        n, b = len(self.val_set), min(self.batch_size, len(self.val_set))
        per = n // b
        perm = np.random.default_rng([self.seed, _BATCH, *key, j // per]).permutation(n)
        items = [self.val_set[int(i)] for i in perm[(j % per) * b:(j % per + 1) * b]]
        return torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items])

    def _potentials(self, model, completions: list[list[Architecture]], key, checkpoint=None,
                    desc: str = "potentials") -> np.ndarray:
        """``(n, S)`` scores (-1 where an extension has fewer completions), resuming ``self.pending``."""
        n = len(completions)
        if self.pending is None or self.pending["key"] != list(key):
            self.pending = {"key": list(key), "done": 0, "scores": torch.full((n, self.samples), -1.0,
                                                                                dtype=torch.float64)}
        scores = self.pending["scores"]
        with tqdm(total=self.samples, initial=self.pending["done"], desc=desc, leave=False, unit="batch",
                  disable=not self.progress or not dist.is_main()) as bar:
            for j in range(self.pending["done"], self.samples):
                rows = [e for e in range(n) if len(completions[e]) > j]
                if rows:
                    images, labels = self._batch(key, j)
                    got = self.score(model, [completions[e][j] for e in rows], images, labels)
                    scores[rows, j] = torch.as_tensor(got, dtype=torch.float64)
                    self.images += len(rows) * len(labels)
                self.pending["done"] = j + 1
                bar.update(1)
                if checkpoint is not None and (j + 1) % self.save_every == 0 and j + 1 < self.samples:
                    checkpoint()
        return scores.numpy()

    @staticmethod
    def _mean(scores: np.ndarray, counts: Sequence[int]) -> np.ndarray:
        """Mean of each row's first ``count`` scores; -inf for a row without completions."""
        return np.array([scores[e, :c].mean() if c else -np.inf for e, c in enumerate(counts)])

    @staticmethod
    def _order(potential: np.ndarray) -> list[int]:
        """Rows with completions by potential, highest first (ties: the earlier row)."""
        return sorted((e for e in range(len(potential)) if np.isfinite(potential[e])), key=lambda e: (-potential[e], e))

    def before_step(self, step: int, steps_per_epoch: int, model, checkpoint=None) -> None:
        """The trainer's hook: update the pool at every boundary ``step`` has reached (collective under torchrun)."""
        while self.level < self.num_levels and step >= self.boundary_epoch(self.level) * steps_per_epoch:
            self.update_pool(model, checkpoint)

    def update_pool(self, model, checkpoint=None) -> None:
        """One boundary: score every extension of the pool on the next edge, keep the top P."""
        level = self.level
        partials, parents, ops = self._extensions(level)
        completions = self._completions(partials, (level,))
        counts = [len(c) for c in completions]
        if not any(counts):
            raise GraphnasError(f"PC-NAS: no completion of the pool within the limits at edge {self.edges[level]} "
                                f"after {_TRIES * self.samples} draws per extension; loosen the limit")
        scores = self._potentials(model, completions, (level,), checkpoint,
                                  desc=f"potentials {level + 1}/{self.num_levels}")
        potential = self._mean(scores, counts)
        kept = self._order(potential)[:self.pool_size]
        self.log.append({"level": level, "edge": self.edges[level], "parents": parents.tolist(), "ops": ops.tolist(),
                         "potentials": [float(p) if np.isfinite(p) else -1.0 for p in potential],
                         "counts": counts, "kept": kept})
        self.pool = partials[kept]
        self.level += 1
        self.pending = None
        if checkpoint is not None:
            checkpoint()

    def ranking(self, model) -> list[tuple[Architecture, float]]:
        """The pool's complete architectures ranked by potential (S mini-batches each; ties by pool order)."""
        if self.level < self.num_levels:
            raise GraphnasError(f"PC-NAS has fixed {self.level} of {self.num_levels} edges; train to the end "
                                f"({self.epochs} epochs) before ranking its pool")
        completions = self._completions(self.pool, (self.num_levels,))
        scores = self._potentials(model, completions, (self.num_levels,), desc="final potentials")
        self.pending = None
        potential = self._mean(scores, [len(c) for c in completions])
        return [(Architecture(self.space, self.pool[e]), float(potential[e])) for e in self._order(potential)]

    def result(self, model) -> SearchResult:
        """:meth:`ranking` as a :class:`SearchResult` (score: the potential; ``details``: the boundaries' log)."""
        records = [make_record(arch, p, self.limits) for arch, p in self.ranking(model)]
        return SearchResult("pcnas", records, list(self.limits),
                            details={"log": self.log, "validation_images": self.images, "options": self.describe()})

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict:
        pending = None if self.pending is None else {"key": list(self.pending["key"]), "done": self.pending["done"],
                                                     "scores": self.pending["scores"].clone()}
        return {"options": self.describe(), "level": self.level, "pool": torch.as_tensor(self.pool),
                "pending": pending, "log": [dict(entry) for entry in self.log], "images": self.images}

    def load_state_dict(self, state: dict) -> None:
        self.level = int(state["level"])
        self.pool = state["pool"].numpy().astype(np.int64)
        p = state["pending"]
        self.pending = None if p is None else {"key": list(p["key"]), "done": int(p["done"]),
                                               "scores": p["scores"].clone().to(torch.float64)}
        self.log = [dict(entry) for entry in state["log"]]
        self.images = int(state["images"])

    def check_state(self, state, path="checkpoint") -> None:
        """Check an untrusted ``sampler_state`` (types, shapes, ranges) before :meth:`load_state_dict`: one
        CheckpointError line naming what does not fit."""
        def bad(what: str, fix: str = "delete it or use another --out folder") -> CheckpointError:
            return CheckpointError(f"checkpoint {path} {what}; {fix}")

        if not isinstance(state, dict) or not isinstance(state.get("options"), dict) \
                or state["options"].get("kind") != "pcnas":
            raise bad("was not written by a PC-NAS run (no PC-NAS pool in it)",
                      "resume it with the strategy that trained it, or train PC-NAS into another --out folder")
        keys = {"options", "level", "pool", "pending", "log", "images"}
        if set(state) != keys:
            raise bad(f"holds a PC-NAS state with keys {sorted(state)}, expected {sorted(keys)}")
        mine = self.describe()
        if state["options"] != mine:
            diff = sorted(k for k in mine if state["options"].get(k) != mine[k]) or sorted(state["options"])
            raise bad(f"is of a PC-NAS run with other settings ({', '.join(diff)} differ)",
                      "resume with the same space, options and limits, or use another --out folder")
        level = state["level"]
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= self.num_levels:
            raise bad(f"has PC-NAS level {shown(level)}, expected an integer in [0, {self.num_levels}]")
        pool = state["pool"]
        if not isinstance(pool, torch.Tensor) or pool.dtype != torch.int64 or pool.dim() != 2 \
                or pool.shape[1] != len(self.radices) or not 1 <= len(pool) <= max(self.pool_size, 1):
            raise bad(f"has a PC-NAS pool {shown(pool)}, expected an int64 tensor (<= {self.pool_size}, "
                      f"{len(self.radices)})")
        fixed = np.zeros(len(self.radices), dtype=bool)
        fixed[self.radices <= 1] = True
        fixed[self.edges[:level]] = True
        p = pool.numpy()
        if (p[:, fixed] < 0).any() or (p[:, ~fixed] != -1).any() or (p >= self.radices).any():
            raise bad(f"has a PC-NAS pool whose choices do not fix exactly the first {level} choice edges")
        if level == 0 and len(pool) != 1:
            raise bad("has a PC-NAS pool of several members before the first boundary")
        images = state["images"]
        if not isinstance(images, int) or isinstance(images, bool) or images < 0:
            raise bad(f"has PC-NAS images {shown(images)}, expected a non-negative integer")
        log = state["log"]
        if not isinstance(log, list) or len(log) != level or not all(_log_entry_ok(e, k, self) for k, e in
                                                                       enumerate(log)):
            raise bad(f"has a PC-NAS log that is not {level} boundary records (level, edge, parents, ops, "
                      f"potentials, counts, kept) of this space")
        pending = state["pending"]
        if pending is not None:
            ok = isinstance(pending, dict) and set(pending) == {"key", "done", "scores"}
            n = len(pool) * (self.radices[self.edges[level]] if level < self.num_levels else 1)
            ok = ok and pending["key"] in ([level], [self.num_levels]) and isinstance(pending["done"], int) \
                and not isinstance(pending["done"], bool) and 0 <= pending["done"] <= self.samples
            ok = ok and isinstance(pending["scores"], torch.Tensor) and pending["scores"].dtype == torch.float64 \
                and tuple(pending["scores"].shape) in ((n, self.samples), (len(pool), self.samples))
            ok = ok and bool(torch.isfinite(pending["scores"]).all()) and bool(
                ((pending["scores"] >= -1) & (pending["scores"] <= 1)).all())
            if not ok:
                raise bad("has a PC-NAS boundary in progress that does not fit its pool (key, done, scores)")


def pcnas_sampler(space, val_set, limits: Sequence, epochs: int, *, seed: int = 0, progress: bool = True,
                  **options) -> PCNAS:
    """The PC-NAS sampler of a job that trains ``epochs`` epochs: :data:`CPU`'s settings under ``options``, and
    the warm-up what the intervals leave (``T_w = epochs - L * T_i``, at least 1)."""
    options = {**CPU, **options}
    interval = check_int("PC-NAS interval (T_i, epochs)", options["interval"], 1)
    levels = int((np.asarray(space.radices) > 1).sum())
    warmup = epochs - levels * interval
    if warmup < 1:
        raise GraphnasError(f"PC-NAS on '{space.name}' trains a warm-up, then {interval} epoch(s) for each of its "
                            f"{levels} choice edges: --epochs {epochs} leaves no warm-up; give --epochs "
                            f"{levels * interval + 1} or more (or --strategy-option interval=1)")
    return PCNAS(space, val_set, limits, warmup=warmup, seed=seed, progress=progress, **options)


def _ints(values, low: int, high: int) -> bool:
    return isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
                                            for v in values)


def _log_entry_ok(entry, level: int, pcnas: PCNAS) -> bool:
    """Whether a log record read from a checkpoint is one :meth:`PCNAS.update_pool` writes for ``level``."""
    keys = {"level", "edge", "parents", "ops", "potentials", "counts", "kept"}
    if not isinstance(entry, dict) or set(entry) != keys or entry["level"] != level \
            or entry["edge"] != pcnas.edges[level]:
        return False
    n = len(entry["ops"])
    pots = entry["potentials"]
    return (_ints(entry["parents"], 0, max(pcnas.pool_size, 1) - 1) and len(entry["parents"]) == n
            and _ints(entry["ops"], 0, int(pcnas.radices[entry["edge"]]) - 1)
            and _ints(entry["counts"], 0, pcnas.samples) and len(entry["counts"]) == n
            and _ints(entry["kept"], 0, max(n - 1, 0)) and 1 <= len(entry["kept"]) <= pcnas.pool_size
            and isinstance(pots, list) and len(pots) == n
            and all(isinstance(v, float) and -1.0 <= v <= 1.0 for v in pots))
