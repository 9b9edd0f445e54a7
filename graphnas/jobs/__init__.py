"""Jobs: the one pipeline behind ``graphnas run``, ``train`` and ``search``, over one composed config.

* :mod:`.config` -- :class:`JobConfig` (setup, training, search), its layers of defaults, ``job.json``;
* :mod:`.setup` -- the data set and the space at the data's shape;
* :mod:`.training` -- the device and :func:`graphnas.train.loop.fit` with the configured sampler;
* :mod:`.estimator` -- the estimator the search scores paths with;
* :mod:`.search` -- limits, strategy, best architecture, lookup table;
* :mod:`.job` -- :func:`run` (train or load, then search) and :func:`train` (train only).
"""

from .config import JOB_TRAINING, JobConfig, SearchConfig, SetupConfig, TrainingConfig, resolve
from .job import run, train
from .setup import restrict_ops, run_space

__all__ = ["JobConfig", "SetupConfig", "TrainingConfig", "SearchConfig", "JOB_TRAINING", "resolve", "run", "train",
           "restrict_ops", "run_space"]
