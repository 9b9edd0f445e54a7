"""The import graph of graphnas/ has no cycle: modules, and folders, which import only the folders before them in
the README's layout order (ops, space, nets, cost, train, render, estimate, predictor, search, lookup, jobs, cli).

Imports at module level count, with the ``__init__`` of every package on the way (importing
``graphnas.cost.model`` runs ``graphnas/cost/__init__.py`` first); the top package ``graphnas`` is a
facade and does not count. Imports inside functions (kept lazy on purpose: graphviz, matplotlib,
onnxruntime load where they are used) and under ``TYPE_CHECKING`` do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "graphnas"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = ("graphnas", *path.relative_to(ROOT).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.parse(path.read_text()).body:  # module level only; `if TYPE_CHECKING:` blocks skipped
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                full = ".".join([*base, node.module] if node.module else base)
                subs = {f"{full}.{a.name}" for a in node.names} & set(mods)
                deps = subs | ({full} if len(subs) < len(node.names) else set())
            elif isinstance(node, ast.Import):
                deps = {a.name for a in node.names}
            else:
                continue
            for dep in deps & set(mods):
                parts = dep.split(".")
                for k in range(2, len(parts) + 1):  # the packages on the way run too (not the facade graphnas)
                    step = ".".join(parts[:k])
                    if step in mods and step != name and not name.startswith(step + "."):
                        graph[name].add(step)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def _folders(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    def unit(m: str) -> str:
        parts = m.split(".")
        return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and (ROOT / parts[1]).is_dir()) else m

    out: dict[str, set[str]] = {}
    for m, deps in graph.items():
        out.setdefault(unit(m), set()).update(unit(d) for d in deps if unit(d) != unit(m))
    return out


def test_modules_import_without_cycles():
    assert _cycles(_graph()) == []


def test_folders_import_without_cycles():
    folders = _folders(_graph())
    assert _cycles(folders) == []
    assert "graphnas.cost" not in folders["graphnas.ops"]  # operators cost themselves (ops.primitives)


def test_the_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    folders = _folders({"graphnas.ops.x": {"graphnas.cost.y"}, "graphnas.cost.y": {"graphnas.ops.z"}})
    assert folders == {"graphnas.ops": {"graphnas.cost"}, "graphnas.cost": {"graphnas.ops"}}
    assert _cycles(folders) == [["graphnas.cost", "graphnas.ops"]]
    graph = _graph()  # the scan sees real edges: the cost model reads operators, a lookup table its store
    assert "graphnas.ops.registry" in graph["graphnas.cost.model"] and "graphnas.ops" in graph["graphnas.cost.model"]
    assert "graphnas.lookup.store" in graph["graphnas.lookup.table"]


#: The folders of graphnas/ in the order the README's layout table gives: each imports only folders before it.
LAYOUT = ["ops", "space", "nets", "cost", "train", "render", "estimate", "predictor", "search", "lookup", "jobs",
          "cli"]


def test_folders_import_only_the_folders_before_them():
    assert sorted(LAYOUT) == sorted(p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    folders = _folders(_graph())
    for k, name in enumerate(LAYOUT):
        later = {f"graphnas.{n}" for n in LAYOUT[k + 1:]}
        assert not folders.get(f"graphnas.{name}", set()) & later, (name, folders[f"graphnas.{name}"] & later)
