#!/usr/bin/env python
"""Wall time of the quick start's main job (`graphnas run --madds 1.5M`), run as a user runs it.

Runs the command in a subprocess (fresh interpreter, default options) into a temporary folder,
and records its wall time and the result it printed in BENCHMARKS.md.

    python tools/bench_e2e.py [extra graphnas run flags]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import update_section


def main() -> None:
    extra = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "graphnas", "run", "--madds", "1.5M", "--quiet", "--out", tmp, *extra]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"graphnas run failed:\n{proc.stderr}")
        report = json.loads(Path(tmp, "report.json").read_text())
    best, t = report["best"], report["timings"]
    hist = report["supernet"]["history"]
    body = (f"## End-to-end main job (issue 3)\n\n"
            f"`python tools/bench_e2e.py` runs `graphnas run --madds 1.5M {' '.join(extra)}`"
            f" (the README's quick start job, setup excluded).\n\n"
            f"| figure | value |\n|---|---|\n"
            f"| wall time, whole command | **{wall:.0f} s** |\n"
            f"| supernet training ({len(hist)} epochs, {report['data']['train']} digits) | {t['train_seconds']:.0f} s |\n"
            f"| search ({report['search']['evaluations']} architectures, BN recalibration each) | {t['search_seconds']:.0f} s |\n"
            f"| supernet training accuracy, last epoch (sampled paths) | {hist[-1]['accuracy']:.3f} |\n"
            f"| best architecture: validation / test accuracy (shared weights) | {best['val_accuracy']:.3f} / {best['test_accuracy']:.3f} |\n"
            f"| best architecture: MAdds / parameters | {best['madds'] / 1e6:.2f}M / {best['params'] / 1e6:.3f}M |\n")
    print(body)
    update_section("e2e", body)


if __name__ == "__main__":
    main()
