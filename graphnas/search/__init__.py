"""Search strategies: functions ``strategy(space, evaluate, constraints, budget, rng, ...) -> SearchResult``."""

from .evolution import evolution
from .gcn import gcn_search
from .random_search import random_search
from ..cost.limits import sample_feasible
from .result import Record, SearchResult, pareto_front

STRATEGIES = {"evolution": evolution, "random": random_search, "gcn": gcn_search}

__all__ = ["evolution", "random_search", "gcn_search", "Record", "SearchResult", "pareto_front", "sample_feasible", "STRATEGIES"]
