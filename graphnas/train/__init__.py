"""Training the shared weights: data, path samplers, the training loop, checkpoints, torchrun.

* :mod:`.data` -- data sets (digits, Fashion-MNIST, CIFAR-10, image folders), splits, loaders;
* :mod:`.samplers` -- which path trains each step (uniform, ST-NAS, constrained, pool);
  :mod:`.calibration` -- ST-NAS's p_drop calibrated to a MAdds target;
* :mod:`.loop` -- :class:`TrainConfig`, :func:`train` and :func:`fit` (checkpoints, exact resume, averaging);
* :mod:`.checkpoint` -- the one checkpoint format, read with ``weights_only`` and every field checked;
* :mod:`.averaging` -- the running mean of the weights over the last epoch (SE-NAS);
* :mod:`.distributed` -- data parallelism and sharded scoring under ``torchrun``.
"""

from .loop import CHECKPOINT, LOG, TrainConfig, TrainResult, epoch_order, fit, make_optimizer, train

__all__ = ["TrainConfig", "TrainResult", "train", "fit", "make_optimizer", "epoch_order", "CHECKPOINT", "LOG"]
