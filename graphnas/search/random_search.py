"""Random search: the baseline every strategy must beat."""

from __future__ import annotations

from typing import Callable, Sequence

from tqdm.auto import tqdm

from ..utils import as_rng
from .result import SearchResult
from .toolbox import Evaluations, fill, make_toolbox, search_budget

__all__ = ["random_search"]


def random_search(space, evaluate: Callable, constraints: Sequence = (), budget: int | None = 100, rng=None,
                  population: int = 50, progress: bool = True) -> SearchResult:
    """Evaluate ``budget`` distinct feasible architectures drawn uniformly (fewer if the space is smaller), in
    batches of ``population`` (each one call of the estimator's ``score_many``)."""
    rng = as_rng(rng)
    budget = search_budget(budget, population, 1)
    with tqdm(total=budget, desc="random", disable=not progress, leave=False, unit="arch") as bar:
        ev = Evaluations(evaluate, constraints, budget=budget, bar=bar)
        tb = make_toolbox(space, ev, constraints, rng)
        while ev.left > 0:
            batch = fill(tb.individual, min(population, ev.left))
            if not batch:  # every feasible architecture the sampler finds is already evaluated
                break
            tb.map(tb.evaluate, batch)
    return SearchResult("random", list(ev.records.values()), list(constraints))
