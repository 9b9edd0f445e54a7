"""Write the table of search spaces in docs/spaces.md (every figure computed here, none typed).

For each built-in space: its paper, choice edges, candidates per edge, exact size, and the MAdds
and parameters of its smallest and largest architecture at paper scale (the defaults of its
``make_space``), its CPU scale, and the published models that are architectures of it with their
analytic MAdds against the published figure.

    python tools/spaces_table.py
"""

from __future__ import annotations

from benchlib import ROOT, update_section

import graphnas
from graphnas import arch_cost
from graphnas.cost import extreme_archs
from graphnas.space.registry import _builtin_names, space_info

DOC = ROOT / "docs" / "spaces.md"
HEADER = """# Search spaces

Every space is a module `spaces/<name>.py` with `make_space(**scale)`; its defaults are the paper's
scale, and `CPU_SCALE` in the module is a scale that trains in minutes on a laptop CPU (`graphnas
run --space NAME` uses it). `graphnas spaces` prints the same figures; `graphnas render --space NAME
--random` draws a random architecture. The sections below are written by `python tools/spaces_table.py`.
"""


def human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:g}"


def candidates(space) -> str:
    counts = sorted({len(e.candidates) for e in space.edges})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def main() -> None:
    rows = ["| space | paper | choice edges | candidates per edge | exact size | MAdds (smallest - largest) "
            "| parameters (smallest - largest) | CPU scale |", "|---|---|---|---|---|---|---|---|"]
    refs = ["| space | model | figure | analytic | published | difference |", "|---|---|---|---|---|---|"]
    for name in _builtin_names():
        info = space_info(name)
        space = graphnas.get_space(name)
        d = space.describe()
        low, high = (arch_cost(a) for a in extreme_archs(space))
        edges = f"{d['choice_edges']}" + (f" ({d['stem_edges']} stem, {d['branch_edges']} branch)"
                                          if d["branch_edges"] and d["stem_edges"] else "")
        scale = ", ".join(f"{k}={v}" for k, v in info.cpu_scale.items())
        rows.append(f"| `{name}` | {info.paper} | {edges} | {candidates(space)} | {space.size} ({space.size:.3g}) "
                    f"| {human(low.madds)} - {human(high.madds)} | {human(low.params)} - {human(high.params)} "
                    f"| {scale} |")
        for label, (build, published) in info.references.items():
            cost = arch_cost(build())
            for metric, value in published.items():
                ours = getattr(cost, metric)
                refs.append(f"| `{name}` | {label} | {'MAdds' if metric == 'madds' else metric} | {ours:,} "
                            f"| {human(value)} | {100 * (ours - value) / value:+.2f}% |")
    update_section("table", "## The spaces at paper scale\n\n" + "\n".join(rows), DOC, HEADER)
    update_section("references", "## Published models as architectures of the spaces\n\n"
                   "Analytic cost (MAdds: multiply-adds of convolutions and the classifier, graphnas's convention; "
                   "parameters: every learnable tensor) against the figure the model's paper publishes; "
                   "the tests hold every row within 2%.\n\n"
                   + "\n".join(refs), DOC, HEADER)
    print(DOC.read_text())


if __name__ == "__main__":
    main()
