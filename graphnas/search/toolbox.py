"""DEAP as graphnas's search engine: the toolbox every evolutionary strategy runs on.

DEAP does the generic work: individuals carry a ``deap.base.Fitness``, NSGA-II's non-dominated sorting,
crowding distance and selection are ``deap.tools.selNSGA2`` / ``sortNondominated``, top-k is
``deap.tools.selBest``. graphnas writes only what needs to know the space:

* individuals are choice vectors (a ``list`` of ints with the :class:`Architecture` attached as ``.arch``),
  their classes made by :func:`make_classes` through ``deap.creator`` when a search starts, never at import;
* ``toolbox.individual``: a feasible random architecture not evaluated yet;
* ``toolbox.mate``: ``space.crossover`` (``uniform`` as in SPOS, ``one_point`` as in ST-NAS), the child made
  feasible;
* ``toolbox.mutate``: ``space.mutate`` (each choice resampled with probability ``mutation_prob``), feasible;
* ``toolbox.evaluate`` / ``toolbox.map``: ``toolbox.map(toolbox.evaluate, individuals)`` scores a whole
  generation in one call of the estimator's batch scoring (``score_many``, sharded over torchrun ranks), and
  sets every individual's fitness: accuracy up, then each cost objective down.

**Hard constraints.** No architecture that violates a limit is ever evaluated. A candidate is made feasible
by rejection (up to ``tries`` proposals), then by repair: starting from the proposal closest to the limits,
one choice at a time is resampled, a move kept when it does not take the candidate further outside the
limits (relative violation summed over limits), for at most ``repair_steps`` moves. An analytic limit no
architecture meets fails before any search, naming the smallest (largest) value the space reaches; a limit
nothing is found within fails naming the values seen (the repair walks towards the smallest).

All randomness comes from one numpy Generator, so a search is a function of its seed and its scores.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Sequence

from deap import base, creator, tools

from ..cost.limits import METRICS, check_satisfiable, describe_seen, metric_measure
from ..checks import check_int
from ..errors import ConstraintError, GraphnasError
from ..utils import as_rng
from .history import score_all
from .result import Record, make_record

if TYPE_CHECKING:
    from ..space.architecture import Architecture

__all__ = ["make_classes", "make_toolbox", "Evaluations", "Feasible", "objective_measures", "OBJECTIVES",
           "parse_objectives", "crowded_tournament", "fill", "search_budget"]

#: What an objective may be: ``accuracy`` (the score, maximised) or a cost metric (minimised).
OBJECTIVES = ("accuracy",) + tuple(METRICS)


def parse_objectives(objectives) -> tuple[str, ...]:
    """``"accuracy,madds"`` or a sequence as a tuple: ``accuracy`` first, then one or more distinct costs."""
    if isinstance(objectives, str):
        objectives = [o.strip() for o in objectives.split(",")]
    objectives = tuple(objectives)
    for o in objectives:
        if o not in OBJECTIVES:
            raise GraphnasError(f"unknown objective '{o}'; objectives are accuracy and costs among "
                                f"{', '.join(METRICS)}, e.g. accuracy,madds")
    if not objectives or objectives[0] != "accuracy" or "accuracy" in objectives[1:] or len(objectives) < 2 \
            or len(set(objectives)) != len(objectives):
        raise GraphnasError(f"objectives {','.join(objectives)} must be accuracy followed by one or more distinct "
                            f"costs, e.g. accuracy,madds or accuracy,latency")
    return objectives


def objective_measures(objectives: Sequence[str], constraints: Sequence = (), measures: dict | None = None,
                       latency=None) -> dict[str, Callable]:
    """``metric -> measure(arch)`` for every cost objective: ``measures[metric]`` when given, else the measure
    of a limit on that metric, else graphnas's model (analytic costs; ``latency`` for latency)."""
    by_limit = {c.metric: c.measure for c in constraints}
    out = {}
    for metric in objectives[1:]:
        if measures and metric in measures:
            out[metric] = measures[metric]
        elif metric in by_limit:
            out[metric] = by_limit[metric]
        else:
            try:
                out[metric] = metric_measure(metric, latency)
            except ConstraintError:
                raise GraphnasError(f"objective {metric} has no cost model: pass a latency table (--latency-table, "
                                    f"or --latency to build one) or choose accuracy,madds") from None
    return out


def make_classes(n_costs: int) -> tuple[type, type]:
    """``(Fitness, Individual)`` for accuracy up and ``n_costs`` costs down, made with ``deap.creator`` the first
    time a search asks for them (``creator`` classes are module globals; the same weights reuse the same ones)."""
    weights = (1.0,) + (-1.0,) * n_costs
    suffix = f"{n_costs}" if n_costs else ""
    fitness, individual = f"GraphnasFitness{suffix}", f"GraphnasIndividual{suffix}"
    if not hasattr(creator, fitness):
        creator.create(fitness, base.Fitness, weights=weights)
    if not hasattr(creator, individual):
        creator.create(individual, list, fitness=getattr(creator, fitness), arch=None)
    return getattr(creator, fitness), getattr(creator, individual)


class Evaluations:
    """Every architecture a search evaluates, each once, scored in batches.

    ``evaluate`` is a callable ``evaluate(arch) -> score`` or an estimator with ``score_many(archs)`` (then a
    generation is one call, sharded under torchrun). Records (score and costs) are kept in evaluation order;
    at most ``budget`` architectures are ever evaluated.
    """

    def __init__(self, evaluate: Callable, constraints: Sequence = (), measures: dict | None = None,
                 budget: int | None = None, bar=None) -> None:
        self.evaluate, self.constraints = evaluate, list(constraints)
        self.measures = dict(measures or {})
        self.budget = budget
        self.records: dict[str, Record] = {}
        self.bar = bar

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, arch_hash: str) -> bool:
        return arch_hash in self.records

    @property
    def left(self) -> int:
        return math.inf if self.budget is None else self.budget - len(self.records)

    def add(self, archs: Sequence) -> list[Record]:
        """Evaluate the architectures not evaluated yet (one batch), record them; the records of ``archs``."""
        todo = list({a.hash: a for a in archs if a.hash not in self.records}.values())
        if len(todo) > self.left:
            raise GraphnasError(f"{len(todo)} architectures to evaluate but {self.left} left in the budget")
        if todo:
            for arch, score in zip(todo, score_all(self.evaluate, todo), strict=True):
                if not math.isfinite(score):
                    raise GraphnasError(f"the estimator scored architecture {arch.hash} {score}; scores must be "
                                        f"finite numbers")
                record = make_record(arch, score, self.constraints)
                for metric, measure in self.measures.items():  # an objective's own measure is what it sorts by
                    record.costs[metric] = float(measure(arch))
                self.records[arch.hash] = record
            if self.bar is not None:
                self.bar.update(len(todo))
                self.bar.set_postfix(best=f"{max(r.score for r in self.records.values()):.4f}")
        return [self.records[a.hash] for a in archs]


class Feasible:
    """Candidates that meet every limit: rejection, then repair by mutation (see the module doc).

    Args:
        space (SearchSpace): where candidates live.
        constraints (sequence of Limit): all must hold.
        rng (Generator): the search's randomness.
        tries (int): proposals before repairing (default: 100).
        repair_steps (int): one-choice moves of a repair (default: 20 per choice edge).
    """

    def __init__(self, space, constraints: Sequence, rng, tries: int = 100, repair_steps: int | None = None) -> None:
        self.space, self.constraints, self.rng = space, list(constraints), rng
        self.tries = tries
        self.repair_steps = 20 * space.num_edges if repair_steps is None else repair_steps
        self.lowest: dict[str, float] = {}
        self.highest: dict[str, float] = {}
        self.found = not self.constraints  # a feasible architecture has been seen
        check_satisfiable(space, self.constraints)

    def violation(self, arch) -> float:
        total = 0.0
        for c in self.constraints:
            value = float(c.measure(arch))
            self.lowest[c.metric] = min(self.lowest.get(c.metric, math.inf), value)
            self.highest[c.metric] = max(self.highest.get(c.metric, -math.inf), value)
            total += c.violation(value)
        self.found = self.found or total == 0.0
        return total

    def __call__(self, propose: Callable, exclude=()) -> "Architecture | None":
        """A feasible architecture not in ``exclude`` (hashes) from ``propose()``, repaired if need be; ``None``
        when every feasible candidate found was excluded (the search has used up what it can reach).

        Raises:
            ConstraintError: when no feasible architecture has been seen at all (:meth:`unmet`).
        """
        closest, closest_v = None, math.inf
        for _ in range(self.tries):
            arch = propose()
            v = self.violation(arch)
            if v == 0.0 and arch.hash not in exclude:
                return arch
            if v < closest_v or (v == closest_v and v > 0):
                closest, closest_v = arch, v
        if not self.constraints or closest_v == 0.0:
            return self._step_away(closest, exclude)
        return self._repair(closest, closest_v, exclude)

    def _step_away(self, arch, exclude):
        """Feasible but already evaluated: a few one-choice moves to an unseen feasible neighbour."""
        for _ in range(self.repair_steps):
            cand = self.space.mutate(arch, 1.0 / self.space.num_edges, self.rng)
            if cand.hash in exclude:
                continue
            if not self.constraints or self.violation(cand) == 0.0:
                return cand
        return None

    def _repair(self, arch, v, exclude):
        for _ in range(self.repair_steps):
            cand = self.space.mutate(arch, 1.0 / self.space.num_edges, self.rng)
            cv = self.violation(cand)
            if cv <= v:
                arch, v = cand, cv
                if v == 0.0 and arch.hash not in exclude:
                    return arch
        if v == 0.0:
            return self._step_away(arch, exclude)
        if not self.found:
            raise self.unmet()
        return None

    def unmet(self) -> ConstraintError:
        """The error when nothing feasible was found: each limit with the values seen."""
        return ConstraintError(f"no architecture met {describe_seen(self.constraints, self.lowest, self.highest)} "
                               f"after {self.tries} random tries and {self.repair_steps} repair steps; loosen the "
                               f"limit")


def crowded_tournament(population: list, k: int, rng) -> list:
    """``k`` parents by binary tournament on NSGA-II's crowded comparison (lower front, then larger crowding
    distance; ties to the first drawn). Fronts from ``deap.tools.sortNondominated``, distances from
    ``deap.tools.emo.assignCrowdingDist`` (what ``selNSGA2`` computes)."""
    fronts = tools.sortNondominated(population, len(population))
    rank = {}
    for r, front in enumerate(fronts):
        tools.emo.assignCrowdingDist(front)
        for ind in front:
            rank[id(ind)] = r
    chosen = []
    for _ in range(k):
        a, b = (population[int(i)] for i in rng.integers(len(population), size=2))
        better = (rank[id(a)], -a.fitness.crowding_dist) <= (rank[id(b)], -b.fitness.crowding_dist)
        chosen.append(a if better else b)
    return chosen


def make_toolbox(space, evaluations: Evaluations, constraints: Sequence = (), rng=None,
                 objectives: Sequence[str] = ("accuracy",), crossover: str = "uniform", mutation_prob: float = 0.1,
                 tries: int = 100) -> base.Toolbox:
    """The DEAP toolbox of a search over ``space`` (see the module doc).

    Registered: ``individual()``, ``mate(a, b)``, ``mutate(ind)`` (each returns a new feasible, not yet
    evaluated individual, or ``None`` when none is within reach), ``evaluate`` and ``map`` (``map(evaluate,
    individuals)`` scores them in one batch and sets their fitness), ``select_best(individuals, k)``
    (``tools.selBest``) and ``select_nsga2(individuals, k)`` (``tools.selNSGA2``). ``toolbox.feasible`` is the
    :class:`Feasible` generator, ``toolbox.rng`` the Generator.
    """
    rng = as_rng(rng)
    if not 0.0 <= mutation_prob <= 1.0:
        raise GraphnasError(f"mutation_prob={mutation_prob!r} must be in [0, 1]")
    _, Individual = make_classes(len(objectives) - 1)
    feasible = Feasible(space, constraints, rng, tries=tries)
    costs = list(objectives[1:])

    def wrap(arch):
        if arch is None:
            return None
        ind = Individual(int(c) for c in arch.choices)
        ind.arch = arch
        return ind

    def taken(extra=()):
        return _Taken(evaluations, extra)

    def individual(pending=()):
        return wrap(feasible(lambda: space.sample(rng), taken(pending)))

    def mate(a, b, pending=()):
        return wrap(feasible(lambda: space.crossover(a.arch, b.arch, rng, kind=crossover), taken(pending)))

    def mutate(ind, pending=()):
        return wrap(feasible(lambda: space.mutate(ind.arch, mutation_prob, rng), taken(pending)))

    def evaluate(ind):
        ind.fitness.values = _fitness(evaluations.add([ind.arch])[0], costs)
        return ind.fitness.values

    def batch_map(func, individuals):
        individuals = list(individuals)
        if getattr(func, "func", func) is not evaluate:  # toolbox.register wraps it in a partial
            return list(map(func, individuals))
        records = evaluations.add([ind.arch for ind in individuals])
        values = [_fitness(r, costs) for r in records]
        for ind, value in zip(individuals, values):
            ind.fitness.values = value
        return values

    tb = base.Toolbox()
    tb.register("individual", individual)
    tb.register("mate", mate)
    tb.register("mutate", mutate)
    tb.register("evaluate", evaluate)
    tb.register("map", batch_map)
    tb.register("select_best", tools.selBest)
    tb.register("select_nsga2", tools.selNSGA2)
    tb.feasible, tb.rng, tb.wrap = feasible, rng, wrap
    return tb


def _fitness(record: Record, costs: list[str]) -> tuple:
    return (record.score,) + tuple(record.costs[m] for m in costs)


class _Taken:
    """Hashes a new candidate must avoid: evaluated, or already chosen for the generation being made."""

    def __init__(self, evaluations: Evaluations, pending) -> None:
        self.evaluations, self.pending = evaluations, {getattr(p, "arch", p).hash for p in pending}

    def __contains__(self, h: str) -> bool:
        return h in self.evaluations or h in self.pending


def fill(make: Callable, n: int) -> list:
    """Up to ``n`` distinct new individuals from ``make(pending)`` (fewer when the feasible ones run out)."""
    out = []
    for _ in range(n):
        ind = make(out)
        if ind is None:
            break
        out.append(ind)
    return out


def search_budget(budget, population: int, generations: int) -> int:
    """Evaluations of a search: ``budget``, else ``population * generations`` (each checked)."""
    check_int("population", population, 1)
    check_int("generations", generations, 1)
    return population * generations if budget is None else check_int("budget", budget, 1)
