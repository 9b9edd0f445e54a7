"""The ONNX Runtime timing backend: same outputs as torch, timeable, named; skipped without onnxruntime."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from graphnas.nets.compile import compile  # noqa: E402
from graphnas.cost.onnx_backend import OnnxRuntimeBackend  # noqa: E402
from graphnas.cost.backends import make_backend  # noqa: E402
from graphnas.cost.timing import TimingConfig, measure  # noqa: E402
from graphnas.errors import ConstraintError  # noqa: E402
from graphnas.ops.registry import get_op  # noqa: E402
from graphnas.space.registry import get_space  # noqa: E402


def _ort_matches_torch(module: torch.nn.Module, shape: tuple[int, ...]) -> None:
    session = OnnxRuntimeBackend(threads=1).session_for(module, shape)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = module(x).numpy()
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["mbconv_k3_e3_se", "mbconv_k5_e6", "shuffle_x"])
def test_ort_output_matches_torch_for_registry_ops(op):
    c_in, c_out, stride = (8, 8, 1) if op.startswith("shuffle") else (8, 16, 2)  # shuffle units need c_in == c_out
    _ort_matches_torch(get_op(op).factory(c_in, c_out, stride), (1, c_in, 16, 16))


def test_prepared_callable_times_positive_ms():
    backend = OnnxRuntimeBackend(threads=1)
    fn = backend.prepare(get_op("mbconv_k3_e3").factory(8, 16, 2), (1, 8, 16, 16))
    (out,) = fn()
    assert out.shape == (1, 16, 8, 8) and out.dtype == np.float32
    with backend.session():
        m = measure(fn, TimingConfig(runs=5, max_rounds=3, budget_s=0.5))
    assert m.ms > 0 and m.runs >= 5


def test_make_backend_names_onnxruntime():
    d = make_backend("onnxruntime", "cpu", 1).describe()
    assert d["backend"] == "onnxruntime" and d["device"] == "cpu" and d["threads"] == 1
    assert d["dtype"] == "float32" and "+" not in d["torch"] and d["onnxruntime"]


def test_compiled_st_nas_network_matches_torch():
    space = get_space("st_nas", resolution=16, width=0.25, stem_stride=1, head_channels=None)
    _ort_matches_torch(compile(space.sample(0)), (1, 3, 16, 16))


def test_missing_onnxruntime_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(ConstraintError, match=r"pip install onnxruntime onnx$"):
        OnnxRuntimeBackend(1)
