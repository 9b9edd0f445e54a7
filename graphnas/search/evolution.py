"""Evolutionary search under cost constraints (SPOS, Guo et al. 2020, Algorithm 1).

Pseudocode::

    population <- P feasible random architectures; evaluate them
    repeat until the evaluation budget is spent:
        parents <- the top K architectures evaluated so far
        children <- P/2 mutations of random parents (each choice resampled with prob. m)
                  + P/2 uniform crossovers of two random parents
                  (resampled until feasible and not yet evaluated)
        evaluate the children

Every architecture is evaluated once (scores are cached by hash); infeasible ones never are. The
search stops early when no unseen feasible architecture turns up in 1000 proposals.
"""

from __future__ import annotations

from typing import Callable, Sequence

from tqdm.auto import tqdm

from ..utils import as_rng
from ..cost.limits import sample_feasible
from .result import Record, SearchResult, make_record

__all__ = ["evolution"]


def evolution(space, evaluate: Callable, constraints: Sequence = (), budget: int = 200, rng=None,
              population: int = 20, parents: int = 5, mutation_prob: float = 0.1, progress: bool = True) -> SearchResult:
    """Run SPOS evolution.

    Args:
        space (SearchSpace): where to search.
        evaluate (callable): ``evaluate(arch) -> float`` (higher is better).
        constraints (sequence of Limit): every returned architecture meets all of them.
        budget (int): maximum number of evaluations (default: 200).
        rng (int or Generator, optional): seed.
        population (int): architectures per generation (default: 20).
        parents (int): top-K kept as parents (default: 5).
        mutation_prob (float): per-choice resampling probability (default: 0.1).
        progress (bool): show a tqdm bar.
    """
    rng = as_rng(rng)
    seen: dict[str, Record] = {}
    bar = tqdm(total=budget, desc="evolution", disable=not progress, leave=False, unit="arch")

    def add(arch) -> bool:
        if arch is None or len(seen) >= budget:
            return False
        seen[arch.hash] = make_record(arch, evaluate(arch), constraints)
        bar.update(1)
        bar.set_postfix(best=f"{max(r.score for r in seen.values()):.4f}")
        return True

    def fresh(propose):
        return sample_feasible(propose, constraints, exclude=seen)

    for _ in range(population):
        if not add(fresh(lambda: space.sample(rng))):
            break
    while len(seen) < budget:
        before = len(seen)
        top = sorted(seen.values(), key=lambda r: -r.score)[:parents]
        pick = lambda: top[rng.integers(len(top))].arch  # noqa: E731
        for k in range(population):
            if k < population // 2:
                add(fresh(lambda: space.mutate(pick(), mutation_prob, rng)))
            else:
                add(fresh(lambda: space.crossover(pick(), pick(), rng)))
        if len(seen) == before:  # every feasible architecture within reach is evaluated (tiny spaces)
            break
    bar.close()
    return SearchResult("evolution", list(seen.values()), list(constraints))
