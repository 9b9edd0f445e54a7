"""The result type every search strategy returns, and the helpers strategies share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..space.architecture import Architecture
from ..cost.model import arch_cost
from .pareto import front, nondominated

__all__ = ["Record", "SearchResult", "pareto_front", "make_record", "cost_levels"]


@dataclass(frozen=True)
class Record:
    """One evaluated architecture: its score (higher is better) and costs."""

    arch: Architecture
    score: float
    costs: dict

    def to_dict(self) -> dict:
        return {"hash": self.arch.hash, "score": self.score, "costs": dict(self.costs), "ops": list(self.arch.ops)}


def make_record(arch: Architecture, score: float, constraints: Sequence = ()) -> Record:
    """A :class:`Record` with analytic MAdds and parameters, and every constraint's measured value (a limit's own
    measure of a metric replaces the analytic one: it is what the limit was checked against)."""
    cost = arch_cost(arch)
    costs = {"madds": cost.madds, "params": cost.params}
    for c in constraints:
        costs[c.metric] = float(c.measure(arch))
    return Record(arch, float(score), costs)


@dataclass
class SearchResult:
    """What a strategy returns.

    Attributes:
        strategy (str): its name.
        history (list of Record): every evaluation in order.
        best (Record): the strategy's choice (``chosen``) where it made one, else the highest-scoring feasible
            record.
        pareto (list of Record): records not dominated in (score up, first cost objective down), by that cost.
        constraints (list): the limits that were applied.
        objectives (tuple of str): ``accuracy`` and the costs the search traded it against (default: MAdds).
        details (dict): what a strategy leaves besides records (the gcn strategy: its last subspace and
            the predicted score of every architecture in it; nsga2: its final population's hashes); not part
            of :meth:`to_dict`.
        chosen (str, optional): the hash of the record the strategy chose by its own rule (the gcn search's
            best re-evaluated prediction); ``None``: the highest score.
    """

    strategy: str
    history: list[Record]
    constraints: list = field(default_factory=list)
    details: dict = field(default_factory=dict)
    objectives: tuple = ("accuracy", "madds")
    chosen: str | None = None

    @property
    def best(self) -> Record:
        if self.chosen is not None:
            for r in self.history:
                if r.arch.hash == self.chosen:
                    return r
        return max(self.history, key=lambda r: r.score)

    @property
    def pareto(self) -> list[Record]:
        return pareto_front(self.history, self.objectives[1])

    def front(self) -> list[Record]:
        """The records no other dominates over every objective (accuracy up, each cost down), in history order."""
        points = [[r.score] + [r.costs[m] for m in self.objectives[1:]] for r in self.history]
        return [self.history[i] for i in nondominated(points).tolist()] if points else []

    def picks(self, levels: Sequence[float] | None = None, per_level: int = 2, cost: str | None = None) -> list[dict]:
        """ST-NAS's picks: for each cost level, the ``per_level`` best-scoring records whose ``cost`` (default: the
        first cost objective) is at most the level. Levels default to :func:`cost_levels` of the history."""
        cost = cost or self.objectives[1]
        values = [r.costs[cost] for r in self.history]
        levels = cost_levels(values) if levels is None else sorted(float(v) for v in levels)
        out = []
        for level in levels:
            within = sorted((r for r in self.history if r.costs[cost] <= level), key=lambda r: -r.score)
            out.append({"cost": cost, "level": level, "records": within[:per_level]})
        return out

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "constraints": [repr(c) for c in self.constraints],
                "objectives": list(self.objectives), "evaluations": len(self.history),
                "best": self.best.to_dict(), "pareto": [r.to_dict() for r in self.pareto],
                "front": [r.to_dict() for r in self.front()],
                "picks": [{**p, "records": [r.to_dict() for r in p["records"]]} for p in self.picks()],
                "history": [r.to_dict() for r in self.history]}


def cost_levels(values: Sequence[float], n: int = 4) -> list[float]:
    """``n`` cost levels spread over ``values``: the 25th, 50th, 75th and 100th percentiles for ``n = 4``."""
    import numpy as np

    if not len(values):
        return []
    return sorted({float(np.percentile(values, 100 * (k + 1) / n)) for k in range(n)})


def pareto_front(records: Sequence[Record], cost: str = "madds") -> list[Record]:
    """Records that no other record beats in score without costing more, sorted by cost
    (:func:`graphnas.search.pareto.front`)."""
    on = front([r.costs[cost] for r in records], [r.score for r in records])
    return [records[i] for i in on.tolist()]
