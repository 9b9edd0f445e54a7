"""Averages of state dicts: the maths behind SE-NAS weight averaging and SGLD parameter expectation.

One rule for every average in graphnas: floating-point tensors (parameters *and* batch-norm running
statistics) are averaged arithmetically; other tensors (``num_batches_tracked``) are copied from
the latest snapshot, since a mean of counters means nothing. Averaging the BN running statistics
gives statistics that belong to the averaged weights no worse than any one snapshot's would; the
estimators recalibrate them anyway when asked to (see :mod:`graphnas.estimate.estimators`).

Kept apart from :mod:`graphnas.estimate.estimators` so the trainer can import it without importing the
estimators (which import the trainer for fine-tuning).
"""

from __future__ import annotations

from typing import Iterable, Mapping

import torch
from torch import Tensor, nn

from ..errors import EstimatorError

__all__ = ["WeightAverager", "running_average"]


class WeightAverager:
    """Running arithmetic mean of a model's state dict, one :meth:`update` per training step.

    The mean is kept in at least float32 (float64 tensors stay float64) on the snapshots' device and
    updated in place as ``mean += (x - mean) / n``, so memory is one extra copy of the weights.

    Example::

        >>> avg = WeightAverager()
        >>> for v in (1.0, 2.0, 6.0):
        ...     avg.update({"w": torch.tensor([v]), "n": torch.tensor(int(v))})
        >>> avg.state_dict()
        {'w': tensor([3.]), 'n': tensor(6)}
        >>> avg.count
        3
    """

    def __init__(self) -> None:
        self._mean: dict[str, Tensor] = {}
        self._dtypes: dict[str, torch.dtype] = {}
        self.count = 0

    def update(self, model: nn.Module | Mapping[str, Tensor]) -> None:
        """Add one snapshot: a module (its ``state_dict()``) or a state dict (tensors are copied)."""
        state = model.state_dict() if isinstance(model, nn.Module) else model
        if self.count and set(state) != set(self._mean):
            diff = sorted(set(state) ^ set(self._mean))
            raise EstimatorError(f"snapshot {self.count + 1} has other keys than the first ({', '.join(diff[:3])}"
                                 f"{', ...' if len(diff) > 3 else ''}): average state dicts of one model only")
        self.count += 1
        for key, value in state.items():
            value = value.detach()
            if self.count == 1:
                self._dtypes[key] = value.dtype
                acc = torch.promote_types(value.dtype, torch.float32) if value.is_floating_point() else value.dtype
                self._mean[key] = value.to(dtype=acc, copy=True)
                continue
            mean = self._mean[key]
            if value.shape != mean.shape:
                raise EstimatorError(f"snapshot {self.count} has {key} of shape {tuple(value.shape)}, the first "
                                     f"{tuple(mean.shape)}: average state dicts of one model only")
            if value.is_floating_point():
                mean.add_(value.to(mean.dtype) - mean, alpha=1.0 / self.count)
            else:
                mean.copy_(value)

    def state_dict(self) -> dict[str, Tensor]:
        """The mean so far, as a new state dict with the snapshots' dtypes (loadable into the model)."""
        if not self.count:
            raise EstimatorError("WeightAverager has no snapshots: call update(model) at least once first")
        return {k: v.to(dtype=self._dtypes[k], copy=True) for k, v in self._mean.items()}

    def to(self, device) -> "WeightAverager":
        """Move the running mean to ``device`` (in place; returns self), e.g. after loading a checkpoint."""
        self._mean = {k: v.to(device) for k, v in self._mean.items()}
        return self

    def state(self) -> dict:
        """What a checkpoint needs to resume the average: ``{"count": n, "mean": {name: tensor}}`` (copies)."""
        return {"count": self.count, "mean": {k: v.clone() for k, v in self._mean.items()},
                "dtypes": {k: str(d).removeprefix("torch.") for k, d in self._dtypes.items()}}

    @classmethod
    def from_state(cls, state: Mapping) -> "WeightAverager":
        """The averager :meth:`state` described, ready for more :meth:`update` calls."""
        try:
            avg = cls()
            avg.count = int(state["count"])
            avg._mean = {k: v.clone() for k, v in state["mean"].items()}
            avg._dtypes = {k: getattr(torch, d) for k, d in state["dtypes"].items()}
            bad = [d for d in avg._dtypes.values() if not isinstance(d, torch.dtype)]  # "load" names a function
            if bad or set(avg._dtypes) != set(avg._mean) or avg.count < 0:
                raise TypeError(f"dtypes name no dtype of each mean ({bad[:1] or 'keys or count differ'})")
        except (KeyError, TypeError, AttributeError) as e:
            raise EstimatorError(f"not a WeightAverager state ({e!r}): pass what WeightAverager.state() returned") \
                from None
        return avg


def running_average(state_dicts: Iterable[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """The mean of ``state_dicts`` (an iterable, consumed once) under :class:`WeightAverager`'s rule.

    >>> running_average([{"w": torch.tensor([0.0, 2.0])}, {"w": torch.tensor([1.0, 4.0])}])
    {'w': tensor([0.5000, 3.0000])}
    """
    avg = WeightAverager()
    for state in state_dicts:
        avg.update(state)
    return avg.state_dict()
