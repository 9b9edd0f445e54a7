"""The result type every search strategy returns, and the helpers strategies share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..space.architecture import Architecture
from ..cost.model import arch_cost
from .pareto import front

__all__ = ["Record", "SearchResult", "pareto_front", "make_record"]


@dataclass(frozen=True)
class Record:
    """One evaluated architecture: its score (higher is better) and costs."""

    arch: Architecture
    score: float
    costs: dict

    def to_dict(self) -> dict:
        return {"hash": self.arch.hash, "score": self.score, "costs": dict(self.costs), "ops": list(self.arch.ops)}


def make_record(arch: Architecture, score: float, constraints: Sequence = ()) -> Record:
    """A :class:`Record` with MAdds, parameters and every constraint's measured value."""
    cost = arch_cost(arch)
    costs = {"madds": cost.madds, "params": cost.params}
    for c in constraints:
        costs.setdefault(c.metric, c.measure(arch))
    return Record(arch, float(score), costs)


@dataclass
class SearchResult:
    """What a strategy returns.

    Attributes:
        strategy (str): its name.
        history (list of Record): every evaluation in order.
        best (Record): the highest-scoring feasible record.
        pareto (list of Record): records not dominated in (score up, MAdds down), by MAdds.
        constraints (list): the limits that were applied.
        details (dict): what a strategy leaves besides records (the gcn strategy: its last subspace and
            the predicted score of every architecture in it); not part of :meth:`to_dict`.
    """

    strategy: str
    history: list[Record]
    constraints: list = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def best(self) -> Record:
        return max(self.history, key=lambda r: r.score)

    @property
    def pareto(self) -> list[Record]:
        return pareto_front(self.history)

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "constraints": [repr(c) for c in self.constraints],
                "evaluations": len(self.history), "best": self.best.to_dict(),
                "pareto": [r.to_dict() for r in self.pareto], "history": [r.to_dict() for r in self.history]}


def pareto_front(records: Sequence[Record], cost: str = "madds") -> list[Record]:
    """Records that no other record beats in score without costing more, sorted by cost
    (:func:`graphnas.search.pareto.front`)."""
    on = front([r.costs[cost] for r in records], [r.score for r in records])
    return [records[i] for i in on.tolist()]
