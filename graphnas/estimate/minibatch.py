"""The cheapest estimator: a path's accuracy on one mini-batch (PC-NAS's potentials).

PC-NAS scores thousands of random completions at every interval boundary, each on a single validation
mini-batch. :class:`MiniBatchEstimator` is that score under the estimator protocol
(:class:`~graphnas.estimate.score.Estimator`): one instance holds one mini-batch, ``score_many(archs)`` runs
every architecture on it (sharded over torchrun ranks), results are cached by hash.

Batch norm. A supernet's running statistics mix every path it trained, so they misjudge any one path, and
recalibrating each of thousands of completions would cost more than scoring them. By default (``bn="batch"``)
every BN layer normalises with the mini-batch's own statistics (BN in training mode, the rest of the network
in eval mode), and the running statistics are put back afterwards; ``bn="running"`` uses the running ones.
"""

from __future__ import annotations

import torch

from ..errors import EstimatorError
from .score import _BN, Estimator, EvalData, _bn_kept, _device

__all__ = ["MiniBatchEstimator"]

_MODES = ("batch", "running")


class MiniBatchEstimator(Estimator):
    """Top-1 accuracy of each path on one mini-batch ``(images, labels)``.

    Args:
        supernet (Supernet): the shared weights (not changed: BN statistics are restored).
        images (Tensor): ``(B, C, H, W)`` images.
        labels (Tensor): ``(B,)`` class indices.
        bn (str): ``"batch"`` (BN normalises with the mini-batch's statistics, default) or ``"running"``.

    The supernet is put back in the mode (train or eval) it was in.
    """

    name = "minibatch"

    def __init__(self, supernet, images: torch.Tensor, labels: torch.Tensor, bn: str = "batch") -> None:
        if bn not in _MODES:
            raise EstimatorError(f"bn={bn!r} is not a mode; choose one of {', '.join(_MODES)}")
        if images.dim() < 2 or labels.dim() != 1 or len(images) != len(labels) or not len(labels):
            raise EstimatorError(f"a mini-batch needs (B, ...) images and (B,) labels with B > 0, got "
                                 f"{tuple(images.shape)} and {tuple(labels.shape)}")
        super().__init__(supernet, EvalData(None, [(images, labels)]), recal=False)
        device = _device(supernet)
        self.images, self.labels, self.bn = images.to(device), labels.to(device), bn

    @torch.no_grad()
    def _score(self, archs: list, bar) -> list[float]:
        net = self.supernet
        was_training = net.training
        net.eval()
        if self.bn == "batch":
            for m in net.modules():
                if isinstance(m, _BN):
                    m.train()
        scores = []
        try:
            with _bn_kept(net):
                for arch in archs:
                    logits = net(self.images, arch)
                    scores.append((logits.argmax(1) == self.labels).float().mean().item())
                    bar.update(1)
        finally:
            net.train(was_training)
        return scores
