"""NSGA-II over accuracy and costs (ST-NAS's search; Deb et al. 2002), on the DEAP toolbox.

Pseudocode (ST-NAS's schedule is the default)::

    population <- P = 45 feasible random architectures; evaluate them (one batch)
    rank them: non-dominated fronts and crowding distance            (deap.tools.selNSGA2)
    repeat until the budget (P x 22 generations = 990 evaluations) is spent:
        offspring <- P children: two parents by binary tournament on the crowded comparison, their
                     one-point crossover, then each choice resampled with probability 0.1
                     (each child made feasible and not yet evaluated)
        evaluate the offspring (one batch)
        population <- the best P of population + offspring          (deap.tools.selNSGA2)

Objectives: accuracy (the estimator's score) up and one or more costs down (``madds``, ``params``,
``bitops``, ``latency``). Hard limits apply as in every strategy: nothing outside them is evaluated. The
result keeps every evaluation; :meth:`SearchResult.front` is the non-dominated set over the objectives
and :meth:`SearchResult.picks` ST-NAS's top-2 architectures per cost level.
"""

from __future__ import annotations

from typing import Callable, Sequence

from tqdm.auto import tqdm

from ..utils import as_rng
from .result import SearchResult
from .toolbox import (Evaluations, crowded_tournament, fill, make_toolbox, objective_measures, parse_objectives,
                      search_budget)

__all__ = ["nsga2"]


def nsga2(space, evaluate: Callable, constraints: Sequence = (), budget: int | None = None, rng=None,
          objectives: Sequence[str] | str = ("accuracy", "madds"), population: int = 45, generations: int = 22,
          mutation_prob: float = 0.1, crossover: str = "one_point", measures: dict | None = None, latency=None,
          progress: bool = True) -> SearchResult:
    """Run NSGA-II.

    Args:
        space (SearchSpace): where to search.
        evaluate (callable): ``evaluate(arch) -> float`` (higher is better), or an estimator whose
            ``score_many`` then scores each generation in one call.
        constraints (sequence of Limit): no architecture outside them is evaluated or returned.
        budget (int, optional): evaluations in all (default: ``population * generations``).
        rng (int or Generator, optional): seed.
        objectives (str or sequence): ``"accuracy,madds"`` (default), ``"accuracy,latency"``, ... accuracy
            first, then the costs to minimise.
        population (int): population and offspring per generation (default: 45).
        generations (int): generations, the first one random (default: 22).
        mutation_prob (float): per-choice resampling probability after crossover (default: 0.1).
        crossover (str): ``'one_point'`` (ST-NAS, default) or ``'uniform'``.
        measures (dict, optional): ``metric -> measure(arch)`` for cost objectives (e.g. a benchmark's
            latency); default: a limit's measure on that metric, else graphnas's models.
        latency (LatencyModel, optional): measures a ``latency`` objective without a latency limit.
        progress (bool): show a tqdm bar.
    """
    rng = as_rng(rng)
    objectives = parse_objectives(objectives)
    measures = objective_measures(objectives, constraints, measures, latency)
    budget = search_budget(budget, population, generations)
    with tqdm(total=budget, desc="nsga2", disable=not progress, leave=False, unit="arch") as bar:
        ev = Evaluations(evaluate, constraints, measures, budget=budget, bar=bar)
        tb = make_toolbox(space, ev, constraints, rng, objectives, crossover=crossover, mutation_prob=mutation_prob)
        pop = fill(tb.individual, min(population, budget))
        tb.map(tb.evaluate, pop)
        pop = tb.select_nsga2(pop, len(pop))
        while ev.left > 0:
            n, offspring = min(population, ev.left), []
            parents = crowded_tournament(pop, 2 * n, rng)
            for a, b in zip(parents[::2], parents[1::2]):
                child = tb.mate(a, b, offspring)
                if child is not None:
                    child = tb.mutate(child, offspring) or child
                    offspring.append(child)
            if not offspring:  # every feasible architecture within reach is evaluated (tiny spaces)
                break
            tb.map(tb.evaluate, offspring)
            pop = tb.select_nsga2(pop + offspring, population)
    return SearchResult("nsga2", list(ev.records.values()), list(constraints), objectives=objectives,
                        details={"population": [ind.arch.hash for ind in pop]})
