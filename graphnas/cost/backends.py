"""Timing backends by name, for the command line and the benchmarks: ``torch`` or ``onnxruntime``.

Kept apart from :mod:`graphnas.cost.timing` (which the ONNX Runtime backend builds on), so no module imports
the other in a circle.
"""

from __future__ import annotations

from ..errors import ConstraintError
from .onnx_backend import OnnxRuntimeBackend
from .timing import Backend, TorchBackend

__all__ = ["BACKENDS", "make_backend"]

#: Backend names -> what they time on.
BACKENDS = {"torch": "torch eager, CPU (fixed threads) or CUDA", "onnxruntime": "ONNX Runtime on the CPU"}


def make_backend(name: str = "torch", device: str = "cpu", threads: int | None = None) -> Backend:
    """A backend by name: ``'torch'`` (CPU or CUDA) or ``'onnxruntime'`` (CPU; needs the package)."""
    if name == "torch":
        return TorchBackend(device, threads)
    if name == "onnxruntime":
        if device != "cpu":
            raise ConstraintError("the onnxruntime backend times on the CPU only; use --device cpu")
        return OnnxRuntimeBackend(threads)
    raise ConstraintError(f"unknown timing backend '{name}'; choose {' or '.join(BACKENDS)}")
