"""Random search: the baseline every strategy must beat."""

from __future__ import annotations

from typing import Callable, Sequence

from tqdm.auto import tqdm

from ..utils import as_rng
from ..cost.limits import sample_feasible
from .result import SearchResult, make_record

__all__ = ["random_search"]


def random_search(space, evaluate: Callable, constraints: Sequence = (), budget: int = 100, rng=None,
                  progress: bool = True) -> SearchResult:
    """Evaluate ``budget`` distinct feasible architectures drawn uniformly (fewer if the space is smaller)."""
    rng = as_rng(rng)
    records = {}
    for _ in tqdm(range(budget), desc="random", disable=not progress, leave=False, unit="arch"):
        arch = sample_feasible(lambda: space.sample(rng), constraints, exclude=records)
        if arch is None:  # every feasible architecture the sampler finds is already evaluated
            break
        records[arch.hash] = make_record(arch, evaluate(arch), constraints)
    return SearchResult("random", list(records.values()), list(constraints))
