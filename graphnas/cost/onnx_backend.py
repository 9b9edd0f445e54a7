"""Timing on the CPU with ONNX Runtime: a second backend for :mod:`graphnas.cost.timing`.

:class:`OnnxRuntimeBackend` exports a module to ONNX in memory and times ``InferenceSession.run``
with a fixed number of intra-op threads, one inter-op thread and every graph optimisation on
(layer fusion, constant folding), so its latencies are closer to a deployed model's than eager
PyTorch's. It needs the optional ``onnxruntime`` and ``onnx`` packages; they are imported when a
backend is made, so importing this module never fails.
``graphnas.cost.backends.make_backend('onnxruntime')`` builds one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import warnings
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConstraintError
from .timing import Backend, cpu_model

__all__ = ["OnnxRuntimeBackend"]

_MISSING = "the onnxruntime backend needs the onnxruntime and onnx packages: .venv/bin/pip install onnxruntime onnx"


def _export(module: nn.Module, x: torch.Tensor) -> bytes:
    """``module`` on inputs like ``x`` as a serialised ONNX model, with the exporter kept quiet.

    The TorchScript exporter (``dynamo=False``) is used first: for graphnas networks it matches the
    ``torch.export`` one (``dynamo=True``) to 1e-7 and is about 10x faster (torch 2.14, one core:
    ~1 s against ~11 s for a compiled st_nas network, ~0.02 s against ~1 s for one operator). It is
    deprecated, so where it fails (a torch without it) the ``torch.export`` exporter is tried, which
    also needs the ``onnxscript`` package.
    """
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the legacy exporter's DeprecationWarning, tracer warnings
        buffer = io.BytesIO()
        try:
            torch.onnx.export(module, (x,), buffer, dynamo=False, input_names=["input"], output_names=["output"])
            return buffer.getvalue()
        except Exception as legacy_error:
            try:
                program = torch.onnx.export(module, (x,), dynamo=True, verbose=False, optimize=True)
            except Exception:
                raise legacy_error from None
            return program.model_proto.SerializeToString()


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime on the CPU (``CPUExecutionProvider``) with ``threads`` intra-op threads.

    Args:
        threads (int, optional): intra-op threads of each inference session (default: what torch uses
            now, as :class:`~graphnas.cost.timing.TorchBackend`); inter-op threads are always 1.

    Raises:
        ConstraintError: ``onnxruntime`` or ``onnx`` is not installed, or ``threads`` is out of range.
    """

    name = "onnxruntime"

    def __init__(self, threads: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise ConstraintError(_MISSING) from None
        if importlib.util.find_spec("onnx") is None:  # the exporter serialises through it
            raise ConstraintError(_MISSING)
        if threads is not None and not 1 <= threads <= (os.cpu_count() or 1) * 4:
            raise ConstraintError(f"threads must be between 1 and the number of cores; got {threads}")
        self._ort = onnxruntime
        self.threads = threads if threads is not None else torch.get_num_threads()

    def describe(self) -> dict:
        return {"backend": self.name, "device": "cpu", "cpu": cpu_model(), "threads": self.threads,
                "onnxruntime": self._ort.__version__, "torch": torch.__version__.split("+")[0], "dtype": "float32"}

    def session_for(self, module: nn.Module, input_shape: tuple[int, ...]) -> Any:
        """An ``onnxruntime.InferenceSession`` running ``module`` (in eval mode, float32) on ``input_shape``.

        The model has one input (``session.get_inputs()[0].name``) of exactly that shape. Exporting
        puts ``module`` in eval mode and casts it to float32 in place, as ``TorchBackend.prepare`` does.
        """
        module = module.to(torch.float32).eval()
        model = _export(module, torch.randn(input_shape, generator=torch.Generator().manual_seed(0)))
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self._ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: no notes on removed initializers, fused nodes
        return self._ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Callable[[], object]:
        session = self.session_for(module, input_shape)
        name = session.get_inputs()[0].name
        x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).numpy()
        feed = {name: x}
        return lambda: session.run(None, feed)
