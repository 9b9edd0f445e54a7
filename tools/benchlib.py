"""Shared helpers of the benchmark scripts: machine description and BENCHMARKS.md sections.

Each benchmark owns one section of BENCHMARKS.md, delimited by ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``, and rewrites only that section, so benchmarks can run in any order.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEvery figure below is written by the script named in its section; none is typed by hand.\n"


def machine() -> str:
    """One line: CPU model, cores, torch version and threads."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def rss_mb(key: str = "VmHWM") -> float:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident memory in MB, from /proc/self/status.

    Not ``ru_maxrss``: Linux carries that over from the parent across fork and exec, so a child would
    report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> None:
    """Start a new peak: ``VmHWM`` drops to the current resident memory (Linux ``clear_refs``)."""
    Path("/proc/self/clear_refs").write_text("5")


def update_section(name: str, body: str, path: Path = BENCHMARKS, header: str = HEADER) -> None:
    """Replace (or append) the section ``name`` of ``path`` (BENCHMARKS.md) with ``body`` (atomic write)."""
    text = path.read_text() if path.exists() else header
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n\n_Updated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}._\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def median(values) -> float:
    return statistics.median(values)


#: The NAS-Bench-201 ground truth every NB201 benchmark reads (never copied into the repository).
NB201_DATA = ROOT.parent / "shared" / "data" / "nasbench201_cifar10.csv"


def nb201_truth(space) -> dict:
    """Every NAS-Bench-201 cell's ``acc`` (1 - ``metric_valid_error``), ``latency`` (``metric_latency``, in ms) and
    ``madds`` (``metric_flops``, in millions: multiply-adds, as graphnas counts them), as arrays in
    ``space.index`` order. Exits with one line when the data is missing."""
    import csv

    import numpy as np

    from graphnas.space.encoding import indices_of

    if not NB201_DATA.is_file():
        raise SystemExit(f"{NB201_DATA} is missing: this benchmark needs the NAS-Bench-201 ground truth in "
                         f"../shared/data")
    with NB201_DATA.open() as f:
        rows = list(csv.DictReader(f))
    edges = [e.candidates for e in space.edges]
    idx = indices_of(space, np.array([[edges[i].index(row[f"hp_x{i}"]) for i in range(6)] for row in rows]))
    out = {}
    for key, column, convert in (("acc", "metric_valid_error", lambda v: 1.0 - v),
                                 ("latency", "metric_latency", lambda v: 1e3 * v),
                                 ("madds", "metric_flops", lambda v: v)):
        values = np.full(space.size, np.nan)
        values[idx] = convert(np.array([float(r[column]) for r in rows]))
        assert np.isfinite(values).all(), "every cell needs a row"
        out[key] = values
    return out


def mean_and_runs(values, unit: str = "", digits: int = 2) -> str:
    """``"0.75 (0.74, 0.76)"``: the mean, then every value."""
    import numpy as np

    return f"{np.mean(values):.{digits}f}{unit} ({', '.join(f'{v:.{digits}f}' for v in values)})"


def run_recorded(jobs, work, init, workers: int, record, key, describe, desc: str = "runs", run: bool = True,
                 needs=None) -> dict:
    """Run ``work(job)`` for every job whose result ``record`` (a JSON list) lacks, ``workers`` processes at a
    time (spawned, each set up by ``init``), and return every result by ``key(result)``.

    Each result is added to ``record`` (atomically) as it arrives, so an interrupted benchmark resumes where it
    stopped; ``describe(result)`` is the line printed for it under the progress bar. ``run=False`` only reads
    ``record`` (a report of what is there).

    ``needs(job)`` (optional) names the keys a job must wait for (a score waits for the supernet it reads):
    a free worker takes the first job, in the order given, whose needs are all recorded, so later stages start
    while earlier ones still run instead of waiting for the slowest job of a stage. When a job fails, no new
    job starts, the running ones finish and are recorded (an hour of training is not lost to a failed
    score), then the first failure is raised.
    """
    import json
    import multiprocessing as mp
    import queue
    import sys

    from tqdm import tqdm

    record = Path(record)
    done = {key(r): r for r in json.loads(record.read_text())} if record.exists() else {}
    todo = [j for j in jobs if j[0] not in done]
    print(f"{len(done)} recorded, {len(todo)} to run", flush=True)
    if not (todo and run):
        return done
    wants = {name: set(needs(job) if needs else ()) for name, job in todo}
    unknown = {n for w in wants.values() for n in w} - set(done) - {name for name, _ in todo}
    if unknown:
        raise ValueError(f"run_recorded: jobs need {sorted(unknown)}, which is neither recorded nor a job")
    finished: queue.Queue = queue.Queue()
    with mp.get_context("spawn").Pool(workers, initializer=init) as pool, \
            tqdm(total=len(todo), desc=desc, file=sys.stdout) as bar:
        waiting, running, failure = list(todo), 0, None
        while (waiting and failure is None) or running:
            while running < workers and failure is None:
                ready = next((j for j in waiting if wants[j[0]] <= done.keys()), None)
                if ready is None:
                    break
                waiting.remove(ready)
                pool.apply_async(work, (ready[1],), callback=lambda r: finished.put((True, r)),
                                 error_callback=lambda e: finished.put((False, e)))
                running += 1
            if not running:  # cannot happen with needs drawn from the jobs: a guard against a cycle
                raise ValueError(f"run_recorded: {[j[0] for j in waiting]} wait on each other")
            ok, r = finished.get()
            running -= 1
            if not ok:
                failure = failure or r
                continue
            done[key(r)] = r
            tmp = record.with_suffix(".tmp")
            tmp.write_text(json.dumps([done[k] for k in sorted(done)], indent=1, default=list) + "\n")
            tmp.replace(record)
            bar.update(1)
            tqdm.write(describe(r), file=sys.stdout)
    if failure is not None:
        raise failure
    return done
