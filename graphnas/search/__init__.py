"""Search strategies: functions ``strategy(space, evaluate, constraints, budget, rng, ...) -> SearchResult``.

evolution (SPOS), nsga2 (ST-NAS) and random run on one DEAP toolbox (:mod:`.toolbox`); gcn is GCN-NAS's
predictor-guided search; pcnas (:class:`.pcnas.PCNAS`) searches during training, as the path sampler of the
training loop, so it is not a function of a trained supernet like the others; so does SE-NAS
(:class:`.senas_stages.SENAS`: shrinking, merging and expanding between training stages), whose operator scores and
shrinking are in :mod:`.senas`."""

from .evolution import evolution
from .nsga2 import nsga2
from .gcn import gcn_search
from .random_search import random_search
from .pcnas import PCNAS
from .senas_stages import SENAS
from ..cost.limits import sample_feasible
from .result import Record, SearchResult, pareto_front

STRATEGIES = {"evolution": evolution, "nsga2": nsga2, "random": random_search, "gcn": gcn_search}

__all__ = ["evolution", "nsga2", "random_search", "gcn_search", "Record", "SearchResult", "pareto_front",
           "sample_feasible", "STRATEGIES", "PCNAS", "SENAS"]
