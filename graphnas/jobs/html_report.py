"""``graphnas report RUN_DIR``: one self-contained HTML page of what a run did (``<RUN_DIR>/report.html``).

A run folder of ``graphnas run`` / ``graphnas search`` (``report.json``), of ``graphnas train``
(``train_log.json``) or of ``graphnas retrain`` (``retrain.json``) gets the sections it has files for: the
overview, the configuration, the space, the training curves, the search's history and Pareto front, an
estimator ranking picture (``ranking.png``) when the folder holds one, the chosen architectures drawn with
graphviz with their costs and latency, the lookup table's picture with its answers at a few limits, and the
retraining's curves. Every picture is inlined (:mod:`graphnas.render.html`), so the page is one file that
opens anywhere, offline.

The folder's files are read as untrusted (sizes bounded, every field's type checked where it is used); a
file that is not what graphnas writes is one :class:`ReportError` line naming it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from ..errors import GraphnasError
from ..files import read_json
from ..render import html as H

__all__ = ["ReportError", "write_run_report", "PAGE"]

PAGE = "report.html"
#: Architectures drawn besides the best one (ST-NAS picks, the Pareto front's).
MAX_DRAWN = 6


class ReportError(GraphnasError):
    """A run folder (or one of its files) the report cannot read."""


def _json(folder: Path, name: str):
    path = folder / name
    if not path.is_file():
        return None
    return read_json(path, "run file", "run the job again to rewrite it, or pass another run folder", ReportError)


def _num(value, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)[:60]
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _count(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _curves(history: list, title: str, val: bool = False) -> str:
    from ..render.figures import new_figure

    rows = [h for h in history if isinstance(h, dict) and isinstance(h.get("epoch"), int)]
    if not rows:
        return '<p class="note">no epochs recorded</p>'
    fig = new_figure(8, 3)
    left, right = fig.subplots(1, 2)
    epochs = [h["epoch"] for h in rows]
    left.plot(epochs, [h.get("loss") for h in rows], "o-", ms=3, label="training loss")
    left.set_xlabel("epoch")
    left.legend(fontsize=8)
    right.plot(epochs, [100 * h["accuracy"] if isinstance(h.get("accuracy"), (int, float)) else None for h in rows],
               "o-", ms=3, label="training accuracy (sampled paths)" if not val else "training accuracy")
    if val:
        right.plot(epochs, [100 * h["val_accuracy"] if isinstance(h.get("val_accuracy"), (int, float)) else None
                            for h in rows], "s-", ms=3, label="validation accuracy")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy (%)")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return H.figure_image(fig, title)


def _search_history(history: dict) -> str:
    from ..render.figures import new_figure

    records = history.get("records") if isinstance(history, dict) else None
    scores = [r[2] for r in records or [] if isinstance(r, list) and len(r) > 2 and isinstance(r[2], (int, float))]
    if not scores:
        return '<p class="note">no evaluations recorded</p>'
    best, top = [], float("-inf")
    for s in scores:
        top = max(top, s)
        best.append(top)
    fig = new_figure(6, 3)
    ax = fig.subplots()
    ax.plot(range(1, len(scores) + 1), [100 * s for s in scores], ".", ms=4, alpha=0.6, label="evaluated")
    ax.plot(range(1, len(best) + 1), [100 * s for s in best], "-", label="best so far")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("estimated accuracy (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return H.figure_image(fig, "search history")


def _drawn(space, records: list, latency) -> tuple[list[str], list[list]]:
    """Graphviz SVGs (as images) and a cost table of the architectures in ``records`` (dicts with ops)."""
    from ..cost import arch_cost
    from ..render.dag import render

    pictures, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, rec in enumerate(records[:MAX_DRAWN]):
            arch = space.from_ops(rec["ops"])
            cost = arch_cost(arch)
            ms = latency.latency(arch) if latency is not None else None
            rows.append([rec.get("label", f"#{k + 1}"), arch.hash, _num(rec.get("score")), _count(cost.madds),
                         _count(cost.params), "-" if ms is None else f"{ms:.3f} ms"])
            svg = next(p for p in render(arch, Path(tmp) / f"a{k}", formats=["svg"]) if str(p).endswith(".svg"))
            pictures.append(f"<div><b>{H.esc(rows[-1][0])}</b> {H.esc(arch.hash)}"
                            + H.image(svg, f"architecture {arch.hash}") + "</div>")
    return pictures, rows


def _lookup_answers(path: Path) -> str:
    from ..lookup import LookupTable

    with LookupTable.open(path) as table:
        column = "latency" if table.has_latency else "madds"
        values = sorted(v for v in table.column(column).tolist() if v == v)
        if not values:
            return ""
        limits = sorted({values[min(len(values) - 1, int(q * (len(values) - 1)))] for q in (0.25, 0.5, 0.75, 1.0)})
        rows = []
        for limit in limits:
            given = {column: f"{limit:.6g}ms" if column == "latency" else float(limit)}
            best = table.query(**given, top=1)
            if best:
                b = best[0]
                shown = given[column] if column == "latency" else _count(limit)
                rows.append([f"{'latency' if column == 'latency' else 'MAdds'} <= {shown}", b.hash, _num(b.predicted),
                             _num(b.measured), _count(b.madds), _count(b.params),
                             "-" if b.latency is None else f"{b.latency:.3f} ms"])
    return H.table(["limit", "best", "predicted", "measured", "MAdds", "params", "latency"], rows)


def write_run_report(folder, out=None, space=None) -> Path:
    """Write the page of the run in ``folder`` to ``out`` (default ``<folder>/report.html``); returns its path.

    ``space``: the run's space (a :class:`SearchSpace`, or the name or ``.py`` file given as ``--space``), to
    draw its architectures; by default the space the report names (built in or registered ones only)."""
    from .. import __version__
    from ..utils import atomic_write_text

    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"run folder {folder} does not exist; pass the --out folder of graphnas run, search, "
                          f"train or retrain")
    report, job = _json(folder, "report.json"), _json(folder, "job.json")
    train_log, retrain = _json(folder, "train_log.json"), _json(folder, "retrain.json")
    if report is None and retrain is None and train_log is None:
        raise ReportError(f"{folder} holds no report.json, retrain.json or train_log.json: not the --out folder of "
                          f"a graphnas run, search, train or retrain")
    for name, obj in (("report.json", report), ("job.json", job), ("train_log.json", train_log),
                      ("retrain.json", retrain)):
        if obj is not None and not isinstance(obj, dict):
            raise ReportError(f"{folder / name} holds a JSON {type(obj).__name__}, not the object graphnas writes")
    try:
        body, nav = _sections(folder, report, job, train_log, retrain, space)
    except ReportError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise ReportError(f"{folder}: a file is not what graphnas writes ({type(err).__name__}: "
                          f"{str(err)[:120]}); run the job again to rewrite it") from None
    what = "retraining" if report is None and retrain is not None else "run"
    title = f"graphnas {what}: {folder.resolve().name}"
    sub = f"{folder.resolve()} - written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by graphnas {__version__}"
    path = Path(out) if out is not None else folder / PAGE
    atomic_write_text(path, H.page(title, sub, body, nav))
    return path


def _run_space(folder: Path, space):
    """The space of the run's report: ``space`` itself, or rebuilt from the report (``space`` a name or file)."""
    from ..space.searchspace import SearchSpace
    from .found import read_found

    if isinstance(space, SearchSpace):
        return space
    return read_found(folder / "report.json", given=space).space


def _sections(folder: Path, report, job, train_log, retrain, given_space) -> tuple[list[str], list[tuple[str, str]]]:
    body, nav = [], []

    def add(anchor, title, *parts):
        body.append(H.section(title, *parts, anchor=anchor))
        nav.append((anchor, title))

    if report is not None:
        best, described, data = report["best"], report["space"], report["data"]
        timings = report.get("timings", {})
        rows = [["space", f"{described['name']} ({float(described['size']):.3g} architectures, "
                          f"{described.get('topologies', '-')} "
                          f"topologies)"],
                ["data", f"{data['name']}: {data['train']} / {data['val']} / {data['test']} images (train / val / "
                         f"test), input {data['input_shape']}"],
                ["best architecture", best["hash"]],
                ["validation accuracy (supernet)", _num(best.get("val_accuracy"))],
                ["test accuracy (supernet)", _num(best.get("test_accuracy"))],
                ["MAdds / params", f"{_count(best.get('madds'))} / {_count(best.get('params'))}"],
                ["latency", "-" if best.get("latency_ms") is None else f"{_num(best['latency_ms'], 3)} ms (from the "
                                                                        f"measured table)"]]
        rows += [[k.replace("_", " "), f"{v:.1f} s"] for k, v in timings.items() if isinstance(v, (int, float))]
        add("overview", "Overview", H.table(None, rows, "kv"))
    if job is not None:
        setup, training, search = job.get("setup", {}), job.get("training", {}), job.get("search", {})
        rows = [["space / scale / ops", f"{setup.get('space')} {setup.get('scale') or ''} {setup.get('ops') or ''}"],
                ["data / resolution", f"{setup.get('data')} / {setup.get('resolution') or 'the space default'}"],
                ["sampler", f"{training.get('sampler')} {training.get('sampler_options') or ''}"],
                ["training", json.dumps(training.get("train", {}))],
                ["strategy", f"{search.get('strategy')} (estimator {search.get('estimator')})"],
                ["limits", ", ".join(f"{m} <= {search[m]}" for m in ("madds", "params", "bitops", "latency")
                                     if search.get(m)) or "none"],
                ["seed", str(job.get("seed"))]]
        add("config", "Configuration", H.table(None, rows, "kv"), H.details("job.json", job))
    if report is not None:
        add("space", "Space", H.table(None, [[k, json.dumps(v) if isinstance(v, (dict, list)) else str(v)]
                                                 for k, v in report["space"].items()], "kv"))
    if report is not None:
        history = report["supernet"]["history"]
    else:  # graphnas train's folder (a retraining's train_log.json is the retraining's, shown below)
        history = train_log["history"] if train_log is not None and retrain is None else None
    if history is not None:
        add("training", "Supernet training", _curves(history, "supernet training: loss and accuracy per epoch"))
    if report is not None:
        parts = [_search_history(_json(folder, "search_history.json") or {})]
        front = folder / "front.png"
        if front.is_file():
            parts.append(H.image(front, "Pareto front"))
        picks = (_json(folder, "front.json") or {}).get("picks") or []
        rows = [[p.get("cost"), _count(p.get("level")), r.get("hash"), _num(r.get("score")),
                 _count((r.get("costs") or {}).get("madds"))] for p in picks if isinstance(p, dict)
                for r in p.get("records", []) if isinstance(r, dict)]
        if rows:
            parts.append("<p>Picks per cost level (ST-NAS: the top two at each level):</p>"
                         + H.table(["cost", "level", "architecture", "score", "MAdds"], rows))
        add("search", f"Search ({report['search'].get('strategy')}, {report['search'].get('evaluations')} "
                      f"evaluations)", *parts)
    ranking = folder / "ranking.png"
    if ranking.is_file():
        add("ranking", "Estimator ranking", H.image(ranking, "estimator ranking"))
    if report is not None:
        try:
            searched = _run_space(folder, given_space)
        except GraphnasError as err:
            if given_space is not None or not str(report["space"].get("name", "")).endswith(".py"):
                raise ReportError(f"{folder / 'report.json'}: {err}") from None
            # a space in a .py file, which graphnas never imports because a file names it: a note, not a failure
            searched = None
            add("architectures", "Chosen architectures", f'<p class="note">not drawn: {H.esc(err)} (graphnas '
                                                          f'report --space FILE draws them)</p>')
    if report is not None and searched is not None:
        latency = None
        if (folder / "latency.db").is_file():
            from ..cost.latency import LatencyModel

            try:
                latency = LatencyModel.load(folder / "latency.db", searched)
            except GraphnasError:
                latency = None
        records = [{"label": "best", "ops": report["best"]["ops"], "score": report["best"].get("val_accuracy")}]
        # one drawing per architecture, told apart by the hash of its ops here (a front record's own hash is
        # its search space's: SE-NAS searches a subspace of the job's)
        seen = {searched.from_ops(report["best"]["ops"]).hash}
        for k, r in enumerate(report["search"].get("pareto") or []):
            if not isinstance(r, dict) or not isinstance(r.get("ops"), list):
                raise ReportError(f"{folder / 'report.json'}: search.pareto[{k}] is not an architecture record; run "
                                  f"the job again to rewrite it")
            h = searched.from_ops(r["ops"]).hash
            if h not in seen:
                seen.add(h)
                records.append({"label": f"front #{len(records)}", "ops": r["ops"], "score": r.get("score")})
        pictures, rows = _drawn(searched, records, latency)
        add("architectures", "Chosen architectures",
            H.table(["", "hash", "score", "MAdds", "params", "latency" + (" (measured table)" if latency else "")],
                    rows), '<div class="grid">' + "".join(pictures) + "</div>")
    if report is not None and report.get("lookup"):
        look = report["lookup"]
        parts = [f"<p>{H.esc(look.get('rows'))} architectures around the best, {H.esc(look.get('labels'))} scored "
                 f"with the supernet, the rest predicted by a GCN; {H.esc((look.get('order') or {}).get('name'))} "
                 f"order. Ask it any limit: <code>{H.esc((look.get('example') or {}).get('command'))}</code></p>"]
        if (folder / "lookup.png").is_file():
            parts.append(H.image(folder / "lookup.png", "lookup table"))
        if (folder / "lookup.db").is_file():
            parts.append(_lookup_answers(folder / "lookup.db"))
        add("lookup", "Lookup table", *parts)
    if retrain is not None:
        rows = [["architecture", f"{retrain['hash']} ({retrain['source']})"],
                ["data", f"{retrain['data']['name']}, input {retrain['data']['input_shape']}"],
                ["init", str(retrain["init"])],
                ["training", json.dumps(retrain["training"])],
                ["validation / test accuracy", f"{_num(retrain['val_accuracy'])} / {_num(retrain['test_accuracy'])}"],
                ["MAdds / params", f"{_count(retrain['madds'])} / {_count(retrain['params'])}"]]
        add("retraining", "Retraining", H.table(None, rows, "kv"),
            _curves(retrain["history"], f"retraining {retrain['hash']}", val=True))
    return body, nav
