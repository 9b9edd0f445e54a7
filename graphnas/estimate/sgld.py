"""Samples of a supernet's shared weights by stochastic gradient Langevin dynamics (ST-NAS, Algorithm 2).

:func:`sgld_samples` continues training from the trained weights, one path per step, adding Gaussian noise
``xi ~ N(0, I)`` after every gradient step, and keeps the weights after each epoch. Two noise scales:

* ``noise="eq9"`` is ST-NAS's Eq. 9 as written::

      theta <- theta - alpha * g + sqrt(2 * alpha) * xi

  with ``g`` the gradient of graphnas's training loss, a *batch mean*, and ``alpha`` the final learning
  rate of supernet training. This is the method as the paper states it and the one to compare with it.
* ``noise="tempered"`` (the default) samples the tempered posterior ``p(theta | D) ~ exp(-U(theta) / T)``, where
  ``U = sum_i loss_i`` over the ``N`` training images. Its Langevin update is
  ``theta <- theta - eps * grad U + sqrt(2 * eps * T) * xi``; on a batch ``grad U = N * g``, so with
  ``alpha = eps * N``::

      theta <- theta - alpha * g + sqrt(2 * alpha * T / N) * xi

  Eq. 9 is this update for a *summed* loss; with a mean loss it adds ``sqrt(N / T)`` times more noise than
  the posterior has (224x on 50,000 images), which drives the weights far from the trained minimum.
  ``T = 1`` samples the posterior itself, ``T = 0`` is plain SGD.

The default is ``tempered`` because it is what ranks: on the ranking benchmark (BENCHMARKS.md "ranking";
Fashion-MNIST, 50,000 training images, 20 samples, BN recalibrated) score and parameter expectation reach
Kendall tau 0.48 / 0.45 with it (median of 3 supernets) and 0.16 / 0.00 with Eq. 9's noise, which leaves
every sample at chance accuracy at this data size.

Noise goes only to tensors that received a gradient this step (the sampled path); the other operators
stay where they are instead of random-walking with nothing to hold them. A tensor shared by an operator
family gets noise as a whole, also outside the slice a narrow candidate used.

Under torchrun every rank draws the same samples (same seed, same data, no communication).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..checks import check_float, check_int
from ..train.data import make_loader
from ..errors import EstimatorError
from .score import _clone, _device, _load
from ..train.samplers import Sampler

__all__ = ["NOISE", "noise_std", "sgld_samples"]

#: SGLD noise forms: name -> one-line description (``noise=`` of :func:`sgld_samples`).
NOISE = {
    "tempered": "sqrt(2 * alpha * T / N) * xi, the tempered posterior of the mean loss over N images (the default)",
    "eq9": "sqrt(2 * alpha) * xi, ST-NAS Eq. 9 as written",
}


def noise_std(noise: str, alpha: float, num_images: int, temperature: float | None = None) -> float:
    """Standard deviation of the Langevin noise per step and tensor element.

    Args:
        noise (str): a form of :data:`NOISE`.
        alpha (float): the step size.
        num_images (int): ``N``, the training images (``tempered`` only).
        temperature (float, optional): ``T`` of ``tempered`` (default 1); ``eq9`` takes none.

    Returns:
        float: ``sqrt(2 * alpha)`` (``eq9``) or ``sqrt(2 * alpha * T / N)`` (``tempered``).
    """
    if noise not in NOISE:
        raise EstimatorError(f"unknown SGLD noise {noise!r}: choose one of {', '.join(NOISE)}")
    if noise == "eq9":
        if temperature is not None:
            raise EstimatorError(f"temperature={temperature!r} applies to noise='tempered' only; Eq. 9 has none "
                                 f"(drop temperature, or pass noise='tempered')")
        return math.sqrt(2.0 * alpha)
    temperature = 1.0 if temperature is None else check_float("temperature", temperature, 0, error=EstimatorError)
    return math.sqrt(2.0 * alpha * temperature / num_images)


def sgld_samples(supernet, weights, train_set, sampler: Sampler, alpha: float, num_samples: int = 4,
                 batch_size: int = 64, seed: int = 0, noise: str = "tempered", temperature: float | None = None,
                 weight_decay: float = 0.0, progress: bool = True, desc: str = "sgld",
                 steps_per_sample: int | None = None) -> list[dict[str, Tensor]]:
    """Samples of the shared weights by SGLD, one kept after each pass over the data (or ``steps_per_sample`` steps).

    Continues training from ``weights``, one path from ``sampler`` per step, with the update
    ``theta <- theta - alpha * (g + weight_decay * theta) + std * xi`` on the tensors that received a
    gradient, ``std`` as ``noise`` says (module docstring). The supernet runs in train mode, so BN
    running statistics move as in training and each sample carries its own (recalibrated per sample
    when an estimator recalibrates).

    Args:
        supernet (Supernet): workspace; it holds ``weights`` again on return.
        weights (dict, optional): the trained supernet's state_dict to start from; ``None``: the
            weights ``supernet`` holds.
        train_set (Dataset): training images; ``N = len(train_set)``.
        sampler (callable): ``sampler(rng) -> Architecture``, as in training.
        alpha (float): step size: the final learning rate of supernet training, > 0.
        num_samples (int, optional): ``K``: samples to keep, one after each epoch (or each ``steps_per_sample``
            steps). (default: 4)
        batch_size (int, optional): images per step (last incomplete batch dropped). (default: 64)
        seed (int, optional): seeds the batch order, the paths and the noise. (default: 0)
        noise (str, optional): ``"eq9"`` or ``"tempered"`` (:data:`NOISE`). (default: ``"tempered"``)
        temperature (float, optional): ``T`` of ``noise="tempered"``; 1 samples the posterior, 0 is
            plain SGD. (default: 1 there; ``eq9`` takes none)
        weight_decay (float, optional): L2 term (a Gaussian prior) on tensors with ``ndim > 1``, as
            :func:`graphnas.train.loop.make_optimizer` applies it. (default: 0.0)
        progress (bool, optional): show a tqdm bar. (default: ``True``)
        steps_per_sample (int, optional): steps between samples; ``None``: one epoch (the batches continue
            across epoch ends, each epoch in a new order). ST-NAS keeps 20 samples; at one per epoch that is
            20 passes over the data, so a shorter interval makes many samples affordable. (default: None)

    Returns:
        list of dict: ``K`` state_dicts (copies), the ``k``-th taken after ``(k + 1) * steps_per_sample`` steps.
    """
    alpha = check_float("alpha (the final learning rate of supernet training)", alpha, 0, lo_open=True,
                        error=EstimatorError)
    weight_decay = check_float("weight_decay", weight_decay, 0, error=EstimatorError)
    num_samples = check_int("num_samples (one SGLD sample per epoch)", num_samples, 1, error=EstimatorError)
    batch_size = check_int("batch_size", batch_size, 1, error=EstimatorError)
    n = len(train_set)
    std = noise_std(noise, alpha, n, temperature)
    loader = make_loader(train_set, batch_size, shuffle=True, seed=seed, drop_last=True)
    if len(loader) == 0:
        raise EstimatorError(f"batch_size {batch_size} exceeds the {n} training images: pass batch_size <= {n}")
    every = len(loader) if steps_per_sample is None else check_int("steps_per_sample", steps_per_sample, 1,
                                                                   error=EstimatorError)
    start = _clone(supernet.state_dict() if weights is None else weights)
    _load(supernet, start)
    device = _device(supernet) or torch.device("cpu")
    generator = torch.Generator(device=device).manual_seed(seed)
    rng = np.random.default_rng(seed)
    loss_fn = nn.CrossEntropyLoss()
    was_training = supernet.training
    supernet.train()
    samples = []
    bar = tqdm(total=num_samples * every, desc=desc, disable=not progress, leave=False, unit="step")

    def batches():
        while True:  # a DataLoader with shuffle draws a new order each pass
            yield from loader

    stream = batches()
    try:
        for _ in range(num_samples):
            for _, (x, y) in zip(range(every), stream):
                x, y = x.to(device), y.to(device)
                supernet.zero_grad(set_to_none=True)
                loss_fn(supernet(x, sampler(rng)), y).backward()
                with torch.no_grad():
                    for p in supernet.parameters():
                        if p.grad is None:  # not on this step's path
                            continue
                        step = p.grad + weight_decay * p if weight_decay and p.ndim > 1 else p.grad
                        p.sub_(alpha * step)
                        if std:
                            p.add_(torch.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype),
                                   alpha=std)
                bar.update(1)
            samples.append(_clone(supernet.state_dict()))
    finally:
        bar.close()
        supernet.zero_grad(set_to_none=True)
        supernet.load_state_dict(start)
        supernet.train(was_training)
    return samples
