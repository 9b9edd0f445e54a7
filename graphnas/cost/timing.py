"""Timing a module on a device: backends, and a median that repeats until it is stable.

A :class:`Backend` turns a module and an input shape into a zero-argument callable that runs one
inference (and waits for the device), inside a :meth:`Backend.session` that fixes what must stay
fixed while timing (CPU threads, ``torch.inference_mode``, denormals flushed). :func:`measure_many`
times such callables interleaved: warm-up, then rounds of passes that call each one once, until
every median moves by less than ``tol`` between rounds (or the time budget runs out), and reports
each median, its spread and whether it settled. Everything graphnas times (table entries, whole
networks) goes through it.

Backends: :class:`TorchBackend` (CPU with a fixed thread count, or CUDA with synchronisation) and,
when ``onnxruntime`` is installed, ``graphnas.cost.onnx_backend.OnnxRuntimeBackend``
(:func:`graphnas.cost.backends.make_backend` builds either by name). To time on
another device (a phone, an accelerator board), subclass :class:`Backend`: ``describe()`` names the
device (the table keeps it and refuses to mix devices), ``prepare()`` returns a callable that runs
the module there once, e.g. by pushing an exported model and reading back the device's own timer.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from ..errors import ConstraintError

__all__ = ["Measurement", "TimingConfig", "measure", "measure_many", "reference_module", "REFERENCE_INPUT", "Backend",
           "TorchBackend", "cpu_model"]


@dataclass(frozen=True)
class Measurement:
    """One timed quantity.

    Attributes:
        ms (float): median latency of one call, milliseconds.
        spread (float): interquartile range over the median (0.05 = the middle half of the calls lies
            within 5% of the median's size).
        runs (int): timed calls.
        stable (bool): whether the median settled within the tolerance before the budget ran out.
    """

    ms: float
    spread: float
    runs: int
    stable: bool


@dataclass(frozen=True)
class TimingConfig:
    """How :func:`measure` repeats.

    Args:
        warmup (int): untimed calls first (also at least ``warmup_s`` seconds of them).
        warmup_s (float): minimum warm-up time, seconds.
        runs (int): timed calls per round.
        min_rounds (int): rounds before the median may be declared stable.
        max_rounds (int): rounds at most.
        tol (float): the median is stable when it moves by at most ``tol`` (relative) over a round.
        budget_s (float): stop after this many seconds of timed rounds even if not stable.
    """

    warmup: int = 5
    warmup_s: float = 0.01
    runs: int = 15
    min_rounds: int = 2
    max_rounds: int = 12
    tol: float = 0.02
    budget_s: float = 2.0

    def __post_init__(self) -> None:
        if self.runs < 1 or self.min_rounds < 1 or self.max_rounds < self.min_rounds:
            raise ConstraintError(f"timing needs runs >= 1 and 1 <= min_rounds <= max_rounds; got runs={self.runs}, "
                                  f"min_rounds={self.min_rounds}, max_rounds={self.max_rounds}")
        if not 0 < self.tol < 1:
            raise ConstraintError(f"timing tolerance must be in (0, 1), e.g. 0.02; got {self.tol}")

    def to_dict(self) -> dict:
        return asdict(self)


def measure(fn: Callable[[], object], config: TimingConfig = TimingConfig()) -> Measurement:
    """Median latency of ``fn()`` in milliseconds, repeated until stable (see :class:`TimingConfig`)."""
    return measure_many([fn], config)[0]


def measure_many(fns: Sequence[Callable[[], object]], config: TimingConfig = TimingConfig(),
                 burst: int = 1) -> list[Measurement]:
    """Median latency of each callable, timed *interleaved*: every pass runs each one in turn.

    With ``burst=1`` a pass calls each callable once. A module timed on its own, call after call,
    finds its weights, input and code hot in the caches, which it never does inside a network, where
    other layers run in between; calling the callables in turn reproduces that, so the medians of a
    network's parts add up to the network's latency. With ``burst=k`` a pass runs each callable once
    untimed and then ``k`` times back to back, timed: a whole network measured as it runs when
    deployed. Either way a slow spell of the machine (a shared host drifts by several percent over
    seconds) falls on all callables alike instead of on whichever was being timed. Rounds of
    ``config.runs`` timed calls per callable repeat until every median moves by at most
    ``config.tol`` over a round, or ``config.budget_s`` (per callable) runs out.
    """
    if not fns:
        return []
    start = time.perf_counter()
    passes = 0
    while passes < config.warmup or time.perf_counter() - start < config.warmup_s:
        for fn in fns:
            fn()
        passes += 1
    samples: list[list[int]] = [[] for _ in fns]
    previous = None
    stable = [False] * len(fns)
    start = time.perf_counter()
    burst = max(1, min(burst, config.runs))
    for r in range(config.max_rounds):
        for _ in range(-(-config.runs // burst)):
            for fn, out in zip(fns, samples):
                if burst > 1:
                    fn()
                for _ in range(burst):
                    t0 = time.perf_counter_ns()
                    fn()
                    out.append(time.perf_counter_ns() - t0)
        medians = [statistics.median(x) for x in samples]
        if previous is not None and r + 1 >= config.min_rounds:
            stable = [abs(m - p) <= config.tol * p for m, p in zip(medians, previous)]
            if all(stable):
                break
        previous = medians
        if time.perf_counter() - start > config.budget_s * len(fns):
            break
    return [_summarise(x, ok) for x, ok in zip(samples, stable)]


def _summarise(samples: list[int], stable: bool) -> Measurement:
    median = statistics.median(samples)
    q1, _, q3 = statistics.quantiles(samples, n=4) if len(samples) > 1 else (samples[0],) * 3
    return Measurement(median / 1e6, (q3 - q1) / median if median else 0.0, len(samples), stable)


#: Input shape of :func:`reference_module`.
REFERENCE_INPUT = (1, 16, 16, 16)


def reference_module() -> nn.Module:
    """A fixed small workload (four 3x3 conv-BN-ReLU layers, 16 channels at 16 px) timed alongside
    everything else, so that a machine that runs faster or slower for a while (a shared host drifts
    by several percent over seconds) can be told apart from a model that is wrong: latencies are
    rescaled by the reference's speed (see :mod:`graphnas.cost.latency`)."""
    gen = torch.Generator().manual_seed(0)
    layers = []
    for _ in range(4):
        conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.1)
        layers += [conv, nn.BatchNorm2d(16), nn.ReLU()]
    return nn.Sequential(*layers)


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` where there is one)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


class Backend:
    """Where and how modules are timed; subclass to time on another device (see the module doc)."""

    name = "backend"

    def describe(self) -> dict:
        """The device as a table records it; two tables are for the same device when these are equal."""
        raise NotImplementedError

    @contextmanager
    def session(self) -> Iterator[None]:
        """Context for a timing session (thread count, inference mode); restores the previous state."""
        yield

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Callable[[], object]:
        """A callable that runs ``module`` once on an input of ``input_shape`` and waits for the result."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class TorchBackend(Backend):
    """Eager PyTorch on the CPU (with ``threads`` intra-op threads) or on a CUDA device.

    Args:
        device (str): ``'cpu'`` or ``'cuda'`` / ``'cuda:1'``.
        threads (int, optional): CPU intra-op threads while timing (default: what torch uses now).
        dtype (torch.dtype): parameter and input type (default float32).
    """

    name = "torch"

    def __init__(self, device: str = "cpu", threads: int | None = None, dtype: torch.dtype = torch.float32) -> None:
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise ConstraintError(f"device '{device}' is not supported for timing; use cpu or cuda") from None
        if self.device.type not in ("cpu", "cuda"):
            raise ConstraintError(f"device '{device}' is not supported for timing; use cpu or cuda")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConstraintError(f"device '{device}' asked for, but torch sees no CUDA device here; use --device cpu")
        if threads is not None and not 1 <= threads <= (os.cpu_count() or 1) * 4:
            raise ConstraintError(f"threads must be between 1 and the number of cores; got {threads}")
        self.threads = threads if threads is not None else torch.get_num_threads()
        self.dtype = dtype

    def describe(self) -> dict:
        d = {"backend": self.name, "device": self.device.type, "cpu": cpu_model(), "threads": self.threads,
             "torch": torch.__version__.split("+")[0], "dtype": str(self.dtype).replace("torch.", "")}
        if self.device.type == "cuda":
            d["gpu"] = torch.cuda.get_device_name(self.device)
        if os.environ.get("OMP_WAIT_POLICY"):  # PASSIVE makes every parallel region wake sleeping threads
            d["omp_wait_policy"] = os.environ["OMP_WAIT_POLICY"].upper()
        return d

    @contextmanager
    def session(self) -> Iterator[None]:
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        denormal = torch.set_flush_denormal(True)  # data-independent timing: no slow denormal arithmetic
        try:
            with torch.inference_mode():
                yield
        finally:
            torch.set_num_threads(before)
            if denormal:
                torch.set_flush_denormal(False)

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Callable[[], object]:
        module = module.to(self.device, self.dtype).eval()
        x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(self.device, self.dtype)
        if self.device.type == "cuda":
            def run():
                y = module(x)
                torch.cuda.synchronize(self.device)
                return y
            return run
        return lambda: module(x)
