"""A found architecture out of graphnas: TorchScript and ONNX files, each checked before it is kept.

:func:`export_network` writes a :class:`~graphnas.nets.compile.Network` (in eval mode: batch norm uses its
running statistics) as TorchScript (``torch.jit.trace``) and ONNX (torch's TorchScript-based exporter, opset
:data:`OPSET`), with the batch dimension dynamic. Each file is checked before it replaces anything: it is
loaded back and run at every batch size of :data:`CHECK_BATCHES` on seeded random input, and its outputs
must equal the PyTorch network's within :data:`TOLERANCE` (max |difference| <= tolerance x max(1, max
|reference output|)); the ONNX file runs in onnxruntime. A file that fails its check is not written, and the
error names the format, the batch size and the difference.

Both files carry the architecture: TorchScript an extra file ``graphnas.json``, ONNX the metadata entry
``graphnas`` (the same JSON: the architecture's hash, space, fingerprint, scale, ops and choices, the input
shape, and what the caller adds), with its SHA-256 beside it (``graphnas.sha256``; a zip archive checks its
own CRCs). :func:`read_export_metadata` reads it back from either, without loading the model.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import GraphnasError
from ..utils import atomic_write_bytes

__all__ = ["ExportError", "ExportCheck", "export_network", "read_export_metadata", "FORMATS", "TOLERANCE",
           "CHECK_BATCHES", "OPSET"]

#: The formats :func:`export_network` writes, with their file suffix.
FORMATS = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
#: Outputs of an exported model may differ from PyTorch's by at most this times max(1, max |reference|).
TOLERANCE = 1e-4
#: Batch sizes every exported file is run at (the trace is taken at the first): the batch dimension is dynamic.
CHECK_BATCHES = (2, 1, 5)
#: ONNX opset of the export.
OPSET = 17
METADATA_KEY = "graphnas"


class ExportError(GraphnasError):
    """An export that cannot be written or does not reproduce the PyTorch network."""


@dataclass
class ExportCheck:
    """What the check of one exported file measured."""

    format: str
    path: str
    batch_sizes: list[int]
    max_abs_diff: float
    tolerance: float
    runtime: str


def _metadata(net, extra: dict | None) -> dict:
    arch = net.arch
    return {"hash": arch.hash, "space": arch.space.name, "fingerprint": arch.space.fingerprint,
            "scale": dict(arch.space.scale), "ops": list(arch.ops), "choices": list(arch.choices),
            "input_shape": [None, *arch.space.input_shape], "num_classes": arch.space.num_classes,
            "tolerance": TOLERANCE, **(extra or {})}


def _inputs(shape, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, *shape, generator=g) for b in CHECK_BATCHES]


def _compare(fmt: str, run, reference: list[np.ndarray], inputs) -> float:
    worst = 0.0
    for x, ref in zip(inputs, reference):
        try:
            out = np.asarray(run(x), dtype=np.float64)
        except Exception as err:  # the exported model failed to run at all
            raise ExportError(f"export {fmt}: the exported model fails at batch size {len(x)} "
                              f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}); "
                              f"the file is not written") from None
        if out.shape != ref.shape:
            raise ExportError(f"export {fmt}: output shape {tuple(out.shape)} at batch size {len(x)}, PyTorch gives "
                              f"{tuple(ref.shape)}; the file is not written")
        diff = float(np.max(np.abs(out - ref))) if out.size else 0.0
        bound = TOLERANCE * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
        if not diff <= bound:  # NaN fails too
            raise ExportError(f"export {fmt}: outputs differ from PyTorch's by {diff:.3g} at batch size {len(x)} "
                              f"(tolerance {bound:.3g}); the file is not written")
        worst = max(worst, diff)
    return worst


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextmanager
def _quiet_jit():
    """torch 2.14 marks torch.jit deprecated (FutureWarning on every call); TorchScript is still what many
    deployment stacks load, so the export keeps it and keeps the warnings out of the user's terminal."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*legacy TorchScript-based ONNX")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"The feature will be removed")
        yield


def _torchscript(net: nn.Module, inputs, meta: dict) -> tuple[bytes, callable]:
    with _quiet_jit(), torch.no_grad():
        traced = torch.jit.trace(net, inputs[0], check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={"graphnas.json": json.dumps(meta)})
        data = buffer.getvalue()
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")

    def run(x):
        with _quiet_jit(), torch.no_grad():
            return loaded(x).numpy()

    return data, run


def _onnx(net: nn.Module, inputs, meta: dict) -> tuple[bytes, callable]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ExportError("export onnx needs the packages onnx and onnxruntime; install graphnas with the onnx extra "
                          "(pip install -e '.[onnx]') or export --formats torchscript") from None
    buffer = io.BytesIO()
    with _quiet_jit():  # the TorchScript-based exporter: about 10x faster than dynamo=True for these networks
        torch.onnx.export(net, (inputs[0],), buffer, dynamo=False, opset_version=OPSET, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    model = onnx.load_model_from_string(buffer.getvalue())
    text = json.dumps(meta)
    for key, value in ((METADATA_KEY, text), (METADATA_KEY + ".sha256", _sha256(text))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    def run(x):
        return session.run(None, {"input": x.numpy()})[0]

    return data, run


def export_network(net: nn.Module, out: str | os.PathLike, formats=tuple(FORMATS), extra: dict | None = None,
                   seed: int = 0) -> list[ExportCheck]:
    """Export ``net`` (a :class:`~graphnas.nets.compile.Network`) to ``<out>.torchscript.pt`` and/or
    ``<out>.onnx``, each checked against the network before it is written (module docstring).

    Args:
        net (Network): the network; exported in eval mode on the CPU (it is not changed).
        out (path): the files' path without suffix.
        formats (iterable of str): any of :data:`FORMATS`.
        extra (dict, optional): more metadata to store (e.g. the test accuracy of a retrained model).
        seed (int): the random check inputs.

    Returns:
        list of :class:`ExportCheck`, one per file written.
    """
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        what = f"unknown format {unknown[0]!r}" if unknown else "no format given"
        raise ExportError(f"export: {what}; choose from {', '.join(FORMATS)}")
    if not hasattr(net, "arch"):
        raise ExportError("export: expected a graphnas Network (graphnas.compile(arch)), which knows its architecture")
    out = Path(out)
    if not out.parent.is_dir():
        raise ExportError(f"export: folder {str(out.parent)!r} does not exist; create it or choose another --out")
    import copy

    model = copy.deepcopy(net).cpu().eval()
    meta = _metadata(net, extra)
    inputs = _inputs(tuple(net.arch.space.input_shape), seed)
    with torch.no_grad():
        reference = [model(x).double().numpy() for x in inputs]
    checks = []
    for fmt in formats:
        writer = _torchscript if fmt == "torchscript" else _onnx
        try:
            data, run = writer(model, inputs, {**meta, "format": fmt})
        except ExportError:
            raise
        except Exception as err:
            raise ExportError(f"export {fmt}: the exporter failed ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:200] if str(err) else ''})") from None
        diff = _compare(fmt, run, reference, inputs)
        path = out.with_name(out.name + FORMATS[fmt])
        atomic_write_bytes(path, data)
        checks.append(ExportCheck(fmt, str(path), list(CHECK_BATCHES), diff, TOLERANCE,
                                  "torch.jit" if fmt == "torchscript" else "onnxruntime"))
    return checks


def read_export_metadata(path: str | os.PathLike) -> dict:
    """The ``graphnas`` metadata of an exported ``.torchscript.pt`` or ``.onnx`` file, read without loading
    the model (no code in the file is compiled or run)."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"no exported model at {str(path)!r}")
    try:
        if path.suffix == ".onnx":
            import onnx

            model = onnx.load(str(path), load_external_data=False)
            props = {p.key: p.value for p in model.metadata_props}
            text = props.get(METADATA_KEY)
            if text is not None and props.get(METADATA_KEY + ".sha256") != _sha256(text):
                raise ExportError(f"{str(path)!r} is damaged: its graphnas metadata does not match its digest; "
                                  f"export it again")
        else:  # a zip archive: read the extra file, never load (compile) the TorchScript code it holds
            import zipfile

            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("/extra/graphnas.json")]
                text = archive.read(names[0]).decode("utf-8") if len(names) == 1 and \
                    archive.getinfo(names[0]).file_size <= 1 << 20 else None
    except ExportError:
        raise
    except Exception as err:
        raise ExportError(f"{str(path)!r} is not an exported model ({type(err).__name__}); export it again with "
                          f"graphnas export") from None
    if not text:
        raise ExportError(f"{str(path)!r} has no graphnas metadata; it was not written by graphnas export")
    try:
        meta = json.loads(text)
    except ValueError:
        raise ExportError(f"{str(path)!r}: its graphnas metadata is not JSON; export it again") from None
    if not isinstance(meta, dict):
        raise ExportError(f"{str(path)!r}: its graphnas metadata is not a JSON object; export it again")
    return meta


