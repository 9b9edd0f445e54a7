"""Search strategies: functions ``strategy(space, evaluate, constraints, budget, rng, ...) -> SearchResult``.

evolution (SPOS), nsga2 (ST-NAS) and random run on one DEAP toolbox (:mod:`.toolbox`); gcn is GCN-NAS's
predictor-guided search."""

from .evolution import evolution
from .nsga2 import nsga2
from .gcn import gcn_search
from .random_search import random_search
from ..cost.limits import sample_feasible
from .result import Record, SearchResult, pareto_front

STRATEGIES = {"evolution": evolution, "nsga2": nsga2, "random": random_search, "gcn": gcn_search}

__all__ = ["evolution", "nsga2", "random_search", "gcn_search", "Record", "SearchResult", "pareto_front",
           "sample_feasible", "STRATEGIES"]
