"""Evolutionary search under hard cost limits (SPOS, Guo et al. 2020, Algorithm 1), on the DEAP toolbox.

Pseudocode (the paper's values are the defaults)::

    population <- P = 50 feasible random architectures; evaluate them (one batch)
    repeat until the budget (P x 20 iterations = 1,000 evaluations) is spent:
        parents <- the top k = 10 architectures evaluated so far          (deap.tools.selBest)
        children <- P/2 mutations of random parents (each choice resampled with probability 0.1)
                  + P/2 uniform crossovers of two random parents
                  (each made feasible and not yet evaluated: rejection, then repair by mutation)
        evaluate the children (one batch)

No architecture is evaluated twice (records are kept by hash) and none that violates a limit is evaluated
at all. The search stops early when no unseen feasible child turns up (tiny spaces).
"""

from __future__ import annotations

from typing import Callable, Sequence

from tqdm.auto import tqdm

from ..utils import as_rng
from .result import SearchResult
from .toolbox import Evaluations, fill, make_toolbox, search_budget

__all__ = ["evolution"]


def evolution(space, evaluate: Callable, constraints: Sequence = (), budget: int | None = None, rng=None,
              population: int = 50, generations: int = 20, parents: int = 10, mutation_prob: float = 0.1,
              crossover: str = "uniform", progress: bool = True) -> SearchResult:
    """Run SPOS evolution.

    Args:
        space (SearchSpace): where to search.
        evaluate (callable): ``evaluate(arch) -> float`` (higher is better), or an estimator whose
            ``score_many`` then scores each generation in one call.
        constraints (sequence of Limit): no architecture outside them is evaluated or returned.
        budget (int, optional): evaluations in all (default: ``population * generations``).
        rng (int or Generator, optional): seed.
        population (int): architectures per generation (default: 50).
        generations (int): generations, the first one random (default: 20).
        parents (int): top-k kept as parents (default: 10).
        mutation_prob (float): per-choice resampling probability (default: 0.1).
        crossover (str): ``'uniform'`` (SPOS, default) or ``'one_point'``.
        progress (bool): show a tqdm bar.
    """
    rng = as_rng(rng)
    budget = search_budget(budget, population, generations)
    with tqdm(total=budget, desc="evolution", disable=not progress, leave=False, unit="arch") as bar:
        ev = Evaluations(evaluate, constraints, budget=budget, bar=bar)
        tb = make_toolbox(space, ev, constraints, rng, crossover=crossover, mutation_prob=mutation_prob)
        evaluated = fill(tb.individual, min(population, budget))
        tb.map(tb.evaluate, evaluated)
        while ev.left > 0:
            top = tb.select_best(evaluated, parents)
            pick = lambda: top[int(rng.integers(len(top)))]  # noqa: E731
            n, children = min(population, ev.left), []
            for k in range(n):
                child = tb.mutate(pick(), children) if k < n // 2 else tb.mate(pick(), pick(), children)
                if child is not None:
                    children.append(child)
            if not children:  # every feasible architecture within reach is evaluated (tiny spaces)
                break
            tb.map(tb.evaluate, children)
            evaluated += children
    return SearchResult("evolution", list(ev.records.values()), list(constraints))

