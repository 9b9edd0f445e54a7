"""The result type every search strategy returns, and the helpers strategies share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Container, Sequence

import numpy as np

from ..arch import Architecture
from ..cost.model import arch_cost
from ..errors import ConstraintError

__all__ = ["Record", "SearchResult", "pareto_front", "sample_feasible", "make_record"]


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
    """Records that no other record beats in score without costing more (sorted by cost)."""
    front, best = [], -np.inf
    for r in sorted(records, key=lambda r: (r.costs[cost], -r.score)):
        if r.score > best:
            front.append(r)
            best = r.score
    return front


def sample_feasible(propose: Callable[[], Architecture], constraints: Sequence, tries: int = 1000,
                    exclude: Container[str] = (), fix: str = "loosen the limit") -> Architecture | None:
    """Call ``propose()`` until an architecture meets every constraint (at most ``tries`` times).

    Args:
        propose (callable): ``propose() -> Architecture``.
        constraints (sequence of Limit): all must hold.
        tries (int): proposals before giving up (default: 1000).
        exclude (container of str): hashes not to return (architectures already evaluated).
        fix (str): what the error tells the user to do (default: ``"loosen the limit"``).

    Returns:
        The first feasible proposal not in ``exclude``, or ``None`` when feasible proposals came
        but all were excluded (a search has used up the feasible architectures it can reach).

    Raises:
        ConstraintError: naming each limit and the smallest value seen, when no proposal was feasible.
    """
    lowest: dict[str, float] = {}
    any_feasible = False
    for _ in range(tries):
        arch = propose()
        ok = True
        for c in constraints:
            value = c.measure(arch)
            lowest[c.metric] = min(lowest.get(c.metric, np.inf), value)
            ok = ok and value <= c.value
        if ok:
            if not exclude or arch.hash not in exclude:
                return arch
            any_feasible = True
    if any_feasible:
        return None
    detail = ", ".join(f"{c.metric} <= {c.value:g} (smallest seen {lowest[c.metric]:g})" for c in constraints)
    raise ConstraintError(f"no architecture met {detail} in {tries} tries; {fix}")
