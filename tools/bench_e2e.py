#!/usr/bin/env python
"""Wall time of the quick start's main job (`graphnas run --madds 1.5M`), run as a user runs it.

Its steps: supernet training, evolutionary search, the latency table of the space and the lookup
table around the best architecture (graphnas.lookup.subspace).

Runs the command in a subprocess (fresh interpreter, default options) into a temporary folder,
and records its wall time and the result it printed in BENCHMARKS.md.

    python tools/bench_e2e.py [extra graphnas run flags]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, update_section


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
        if report["lookup"]:  # the job's picture of its lookup table, shown in BENCHMARKS.md
            shutil.copyfile(report["lookup"]["picture"], ROOT / "docs" / "img" / "lookup.png")
    best, t, lookup = report["best"], report["timings"], report["lookup"]
    hist = report["supernet"]["history"]
    rows = ""
    if lookup:
        ex, fit = lookup["example"], lookup["fits"][-1] if lookup["fits"] else None
        answer = ex["best"]
        acc = answer["measured"] if answer["measured"] is not None else answer["predicted"]
        rows = (f"| latency table of the space, measured here | {t['latency_table_seconds']:.0f} s |\n"
                f"| lookup table: rows (free edges) / labels (random + front) | {lookup['rows']:,} "
                f"({len(lookup['subspace']['free_edges'])}) / {lookup['labels']} ({lookup['random']} + "
                f"{lookup['front']}) |\n"
                f"| lookup table: labelling, {len(lookup['fits'])} GCN fits, writing | {t['lookup_seconds']:.0f} s |\n"
                + (f"| GCN validation Kendall tau, last fit ({fit['labels']} labels) | {fit['best_val_tau']:.3f} |\n"
                   if fit and fit["best_val_tau"] is not None else "")
                + f"| lookup table: latency range | {lookup['latency_ms'][0]:.2f}-{lookup['latency_ms'][1]:.2f} ms |\n"
                f"| example answer under {ex['latency']}: {'measured' if answer['measured'] is not None else 'predicted'}"
                f" accuracy / latency | {acc:.3f} / {answer['latency']:.2f} ms |\n")
    body = (f"## End-to-end main job (issues 3 and 7)\n\n"
            f"`python tools/bench_e2e.py` runs `graphnas run --madds 1.5M {' '.join(extra)}`"
            f" (the README's quick start job, setup excluded).\n\n"
            f"| figure | value |\n|---|---|\n"
            f"| wall time, whole command | **{wall:.0f} s** |\n"
            f"| supernet training ({len(hist)} epochs, {report['data']['train']} digits) | {t['train_seconds']:.0f} s |\n"
            f"| search ({report['search']['evaluations']} architectures, BN recalibration each) | {t['search_seconds']:.0f} s |\n"
            f"| supernet training accuracy, last epoch (sampled paths) | {hist[-1]['accuracy']:.3f} |\n"
            f"| best architecture: validation / test accuracy (shared weights) | {best['val_accuracy']:.3f} / {best['test_accuracy']:.3f} |\n"
            f"| best architecture: MAdds / parameters | {best['madds'] / 1e6:.2f}M / {best['params'] / 1e6:.3f}M |\n"
            + rows
            + ("\n![the job's lookup table: accuracy against latency, the answer under every limit]"
               "(docs/img/lookup.png)\n" if lookup else ""))
    print(body)
    update_section("e2e", body)


if __name__ == "__main__":
    main()
