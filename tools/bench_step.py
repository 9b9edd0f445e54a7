#!/usr/bin/env python
"""Supernet single-path training step vs the same architecture's standalone step: time and peak memory.

For each of ``--archs`` random architectures of st_nas at CPU scale, a Supernet and the standalone
network extracted from it (same weights) take training steps on the same batch, interleaved
(supernet, standalone, supernet, ...) so drift hits both; the figure is the median over steps of
the supernet step time divided by the standalone step time, and the median of that over
architectures. A step is forward + backward + SGD update, as in ``graphnas.train.loop``
(forward, ``zero_grad(set_to_none=True)``, backward, step).

Memory. After the timed steps of an architecture, each model's peak step memory is measured
(:func:`step_memory`): the bytes of every tensor alive at the peak of a training step, which are
the parameters and buffers, the optimizer state (SGD momentum, one buffer per parameter; the
supernet's covers *every* parameter, as it does once SPOS training has sampled every candidate),
the batch, the previous step's gradients (alive until ``zero_grad``), the new gradients, the
activations kept for backward and the temporaries of the kernels. On CPU it is counted from the
allocation events of torch's CPU allocator (``torch.profiler``, ``profile_memory=True``), on
CUDA it is ``torch.cuda.max_memory_allocated``. Python objects, the interpreter and the
allocator's cached-but-free pages (what RSS would add) are not counted.

NNI side by side (``--nni``): runs ``tools/bench_step_nni.py`` with the NNI virtual environment
(``.venv-nni``) after the st_nas measurement, or reads the JSON it wrote (``--nni-json``), and puts
NNI 3.0's ratio next to graphnas's on the same 12-block MBConv chain in the section.

    python tools/bench_step.py [--archs 20] [--steps 30] [--batch 64] [--resolution 32] [--threads 2]
                               [--device cpu|cuda] [--nni | --nni-json runs/bench_step_nni.json] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchlib import ROOT, median, update_section

from graphnas import Supernet, get_space

NNI_PYTHON = ROOT / ".venv-nni" / "bin" / "python"
NNI_JSON = ROOT / "runs" / "bench_step_nni.json"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model, x, y, opt, arch=None) -> None:
    """One step as in ``graphnas.train.loop``: forward, zero_grad (set to None), backward, SGD step."""
    logits = model(x, arch) if arch is not None else model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def step_time(model, x, y, opt, arch=None) -> float:
    """Wall time of one :func:`train_step` (seconds; synchronised on CUDA)."""
    _sync(x.device)
    start = time.perf_counter()
    train_step(model, x, y, opt, arch)
    _sync(x.device)
    return time.perf_counter() - start


def tensor_bytes(tensors) -> int:
    """Bytes of the distinct storages behind ``tensors`` (a shared storage is counted once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.numel():
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def fill_momentum(opt: torch.optim.Optimizer) -> None:
    """Give every parameter of ``opt`` its SGD momentum buffer (the steady state of a long training)."""
    for group in opt.param_groups:
        if group.get("momentum", 0):
            for p in group["params"]:
                state = opt.state[p]
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def persistent_bytes(model, opt, x, y) -> int:
    """Parameters, buffers, gradients present, optimizer state and the batch: what is alive between steps."""
    state = [v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return tensor_bytes([*model.parameters(), *model.buffers(), *grads, *state, x, y])


def step_memory(model, x, y, opt, arch=None) -> int:
    """Peak bytes alive during a training step of ``model`` (see the module docstring for what is counted).

    Two steps are measured after ``zero_grad``: the first allocates the gradients, which are alive
    during the second's forward pass, as in training; the peak is taken over both. Starting with no
    gradients means no tensor allocated before the measurement is freed during it, so the profiler's
    running sum of allocations and frees is exact (it cannot see the size of a block it did not see
    allocated).
    """
    opt.zero_grad(set_to_none=True)
    _sync(x.device)
    if x.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(x.device)
        for _ in range(2):
            train_step(model, x, y, opt, arch)
        _sync(x.device)
        return torch.cuda.max_memory_allocated(x.device)
    base = persistent_bytes(model, opt, x, y)
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        for _ in range(2):
            train_step(model, x, y, opt, arch)
    # the allocator's raw events (the FunctionEvent view attributes most of them to operators)
    events = sorted((e for e in prof.profiler.kineto_results.events()
                     if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU),
                    key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return base + peak


def param_bytes(model) -> int:
    return tensor_bytes(model.parameters())


def run_nni(args) -> dict:
    """Run tools/bench_step_nni.py in .venv-nni; returns its JSON (or ``{"error": ...}``)."""
    if not NNI_PYTHON.exists():
        return {"error": f"{NNI_PYTHON.relative_to(ROOT)} not found (see tools/bench_step_nni.py for the install)"}
    cmd = [str(NNI_PYTHON), str(ROOT / "tools" / "bench_step_nni.py"), "--archs", str(args.nni_archs),
           "--steps", str(args.steps), "--batch", str(args.batch), "--threads", str(args.threads),
           "--json", str(args.nni_json)]
    Path(args.nni_json).unlink(missing_ok=True)
    print("running:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT)
    if proc.returncode != 0 and not Path(args.nni_json).exists():
        return {"error": f"tools/bench_step_nni.py exited with status {proc.returncode}"}
    return json.loads(Path(args.nni_json).read_text())


def nni_rows(data: dict) -> str:
    """The NNI side-by-side part of the section, from bench_step_nni's JSON."""
    if "error" in data or "nni_error" in data:
        err = data.get("error") or data.get("nni_error")
        text = (f"### Side by side with NNI 3.0 (12-block MBConv chain)\n\n"
                f"NNI could not be measured on this machine: `{err}`\n")
        if "graphnas" in data:
            g = data["graphnas"]
            text += (f"\ngraphnas on the same chain: supernet step / standalone step **{g['ratio']:.3f}** "
                     f"(range {g['min']:.3f} - {g['max']:.3f}).\n")
        return text
    g, n, c = data["graphnas"], data["nni"], data["config"]
    return (f"### Side by side with NNI {data['versions']['nni']} (12-block MBConv chain)\n\n"
            f"`{data['command']}` (in `.venv-nni`: nni {data['versions']['nni']}, pytorch-lightning "
            f"{data['versions']['pytorch_lightning']}, torch {data['versions']['torch']})\n\n"
            f"{c['description']} Both libraries run the same graphnas operator modules (stem, 12 blocks, head) "
            f"on the same batch in one process, {c['threads']} threads; per step the four models run in turn "
            f"(graphnas supernet, graphnas standalone, NNI supernet, NNI standalone). NNI's supernet is its "
            f"`RandomOneShot` (SPOS) supernet: `RandomOneShot().mutate_model(space)` turns each `LayerChoice` "
            f"into a `PathSamplingLayer`, and each step first sets the path with `resample(memo=sample)` on "
            f"every supernet module, as NNI's training step does; NNI's standalone network is "
            f"`space.freeze(sample)` (copied). Median over {c['steps']} steps per architecture, "
            f"{c['archs']} architectures.\n\n"
            f"| supernet step / standalone step | graphnas | NNI |\n|---|---|---|\n"
            f"| median over architectures | **{g['ratio']:.3f}** | **{n['ratio']:.3f}** |\n"
            f"| range over architectures | {g['min']:.3f} - {g['max']:.3f} | {n['min']:.3f} - {n['max']:.3f} |\n"
            f"| supernet step, median | {g['sup_ms']:.1f} ms | {n['sup_ms']:.1f} ms |\n"
            f"| standalone step, median | {g['std_ms']:.1f} ms | {n['std_ms']:.1f} ms |\n"
            f"| supernet parameters | {g['supernet_params'] / 1e6:.3f}M | {n['supernet_params'] / 1e6:.3f}M |\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda falls back to cpu when unavailable)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    ap.add_argument("--nni", action="store_true", help="also run tools/bench_step_nni.py in .venv-nni")
    ap.add_argument("--nni-archs", type=int, default=20, help="architectures for the NNI side by side")
    ap.add_argument("--nni-json", default=None,
                    help=f"bench_step_nni's JSON to read (with --nni: to write; default {NNI_JSON.relative_to(ROOT)})")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device if args.device != "cuda" or torch.cuda.is_available() else "cpu")
    if device.type != args.device:
        print(f"--device {args.device} is not available; using {device}")
    space = get_space("st_nas", resolution=args.resolution, width=0.25, num_classes=10, in_channels=3,
                      stem_stride=1, head_channels=None)
    torch.manual_seed(0)
    supernet = Supernet(space).to(device, memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, args.resolution, args.resolution,
                    device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,), device=device)
    rng = np.random.default_rng(0)
    ratios, sup_ms, std_ms = [], [], []
    mem_ratios, sup_mb, std_mb, par_ratios, std_par = [], [], [], [], []
    for a in range(args.archs):
        arch = space.sample(rng)
        net = supernet.extract(arch).to(device, memory_format=torch.channels_last)
        opt_s = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9)
        opt_n = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        for _ in range(3):  # warm-up
            step_time(supernet, x, y, opt_s, arch)
            step_time(net, x, y, opt_n)
        ts, tn = [], []
        for _ in range(args.steps):
            ts.append(step_time(supernet, x, y, opt_s, arch))
            tn.append(step_time(net, x, y, opt_n))
        ratios.append(median(ts) / median(tn))
        sup_ms.append(median(ts) * 1e3)
        std_ms.append(median(tn) * 1e3)
        line = f"arch {a}: supernet {sup_ms[-1]:.1f} ms, standalone {std_ms[-1]:.1f} ms, ratio {ratios[-1]:.3f}"
        if not args.no_memory:
            fill_momentum(opt_s)
            fill_momentum(opt_n)
            ms, mn = step_memory(supernet, x, y, opt_s, arch), step_memory(net, x, y, opt_n)
            mem_ratios.append(ms / mn)
            sup_mb.append(ms / 2 ** 20)
            std_mb.append(mn / 2 ** 20)
            par_ratios.append(param_bytes(supernet) / param_bytes(net))
            std_par.append(param_bytes(net) / 2 ** 20)
            line += f"; peak memory {sup_mb[-1]:.1f} / {std_mb[-1]:.1f} MB = {mem_ratios[-1]:.2f}"
        print(line, flush=True)
        del net, opt_s, opt_n
    params = sum(p.numel() for p in supernet.parameters())
    ratio = median(ratios)
    cmd = (f"python tools/bench_step.py --archs {args.archs} --steps {args.steps} --batch {args.batch} "
           f"--resolution {args.resolution} --threads {args.threads}"
           + (f" --device {device.type}" if device.type != "cpu" else "")
           + (f" --nni --nni-archs {args.nni_archs}" if args.nni else f" --nni-json {args.nni_json}" if args.nni_json
              else ""))
    body = (f"## Supernet step vs standalone step (issue 3)\n\n`{cmd}`\n\n"
            f"st_nas at {args.resolution} px, width 0.25, all operators ({space.size:.2e} architectures, supernet "
            f"{params / 1e6:.2f}M parameters), batch {args.batch}, channels-last, SGD with momentum, on "
            f"{device.type}. Median over {args.steps} interleaved steps per architecture, {args.archs} random "
            f"architectures.\n\n"
            f"| figure | value |\n|---|---|\n"
            f"| supernet step / standalone step, median over architectures (goal <= 1.03) | **{ratio:.3f}** "
            f"({'met' if ratio <= 1.03 else 'not met'}) |\n"
            f"| range over architectures | {min(ratios):.3f} - {max(ratios):.3f} |\n"
            f"| supernet step, median | {median(sup_ms):.1f} ms |\n"
            f"| standalone step, median | {median(std_ms):.1f} ms |\n")
    if mem_ratios:
        how = ("`torch.cuda.max_memory_allocated`" if device.type == "cuda" else
               "tensors alive at the step's start plus the peak running sum of torch's CPU allocator events "
               "(`torch.profiler`, `profile_memory=True`)")
        body += (f"| peak step memory, supernet / standalone, median over architectures | **{median(mem_ratios):.2f}** "
                 f"(range {min(mem_ratios):.2f} - {max(mem_ratios):.2f}) |\n"
                 f"| peak step memory, supernet / standalone, median | {median(sup_mb):.1f} MB / {median(std_mb):.1f} MB |\n"
                 f"| parameter memory, supernet / standalone, median over architectures | **{median(par_ratios):.2f}** "
                 f"({param_bytes(supernet) / 2 ** 20:.1f} MB / {median(std_par):.2f} MB) |\n\n"
                 f"Peak step memory counts every tensor alive at the peak of a training step: parameters and "
                 f"batch-norm buffers, SGD momentum (one buffer per parameter; for the supernet every parameter's, "
                 f"the steady state once every candidate has been sampled), the batch, the previous step's "
                 f"gradients (alive until `zero_grad`), the new gradients (on the path only: `set_to_none`), the "
                 f"activations saved for backward and kernel temporaries. Measured as {how}, over two steps "
                 f"started from `zero_grad`; the interpreter, Python objects and freed-but-cached pages are not "
                 f"counted. Parameter memory is the parameters alone (gradients and momentum scale with it).\n")
    if args.nni or args.nni_json:
        if args.nni_json is None:
            args.nni_json = str(NNI_JSON)
        data = run_nni(args) if args.nni else (json.loads(Path(args.nni_json).read_text())
                                               if Path(args.nni_json).exists()
                                               else {"error": f"{args.nni_json} not found"})
        body += "\n" + nni_rows(data)
    print(body)
    if not args.no_write:
        update_section("step", body)


if __name__ == "__main__":
    sys.exit(main())
