"""A search's evaluations on disk: what makes ``graphnas search --resume`` evaluate nothing twice.

:class:`SearchHistory` wraps the scorer a strategy is given. Every batch it scores is appended to a JSON
file, written atomically (a kill leaves the previous complete file); with ``resume=True`` the file's scores
are served instead of scoring again. A strategy is a function of its seed and its scores, so a killed search
run again with the same seed replays its proposals, is served every score it had from the file, and ends
with the same result as an uninterrupted run, having evaluated each architecture once in all.

The file is untrusted when read back: its format, space (name and structural fingerprint), the scorer's
identity (``meta``, e.g. the supernet's digest and the estimator), every record's hash, choices and score, and
a digest of the records are checked; anything wrong is one line naming the file and the fix.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

from ..digest import content_digest
from ..errors import ArchitectureError, GraphnasError
from ..files import read_json
from ..train import distributed as dist
from ..utils import atomic_write_json

__all__ = ["SearchHistory", "HISTORY_FORMAT", "score_all"]

HISTORY_FORMAT = "graphnas-search-history"
_VERSION = 1
_MAX_BYTES = 1 << 30
_FIX = "delete it to start the search afresh, or run without --resume"


def score_all(evaluate: Callable, archs: list) -> list[float]:
    """The scores of ``archs`` in one batch: ``evaluate.score_many`` when the scorer has it (an estimator, a
    :class:`SearchHistory`), else ``evaluate`` on each."""
    many = getattr(evaluate, "score_many", None)
    return [float(s) for s in (many(archs) if many is not None else [evaluate(a) for a in archs])]


class SearchHistory:
    """``evaluate`` with every score recorded in ``path`` (and served from it when resuming).

    Args:
        evaluate (callable): ``evaluate(arch) -> float`` or an estimator with ``score_many``.
        space (SearchSpace): the space searched (recorded, and checked on resume).
        path (str or Path): the history file.
        resume (bool): read ``path`` if it exists and serve its scores; else start a new file.
        meta (dict, optional): JSON data naming the scorer (supernet digest, estimator); a resumed file must
            carry the same.

    Under torchrun every rank keeps the scores; rank 0 alone writes.
    """

    def __init__(self, evaluate: Callable, space, path: str | Path, resume: bool = False,
                 meta: dict | None = None) -> None:
        self.evaluate, self.space, self.path = evaluate, space, Path(path)
        self.meta = json.loads(json.dumps(meta or {}))
        self.scores: dict[str, float] = {}
        self.records: list[list] = []
        self.served = 0
        if resume and self.path.exists():
            self._load()

    # ------------------------------------------------------------------ scoring
    def __call__(self, arch) -> float:
        return self.score_many([arch])[0]

    def score_many(self, archs, progress: bool = False) -> list[float]:
        archs = list(archs)
        todo = list({a.hash: a for a in archs if a.hash not in self.scores}.values())
        self.served += sum(1 for a in archs if a.hash in self.scores)
        if todo:
            for arch, score in zip(todo, score_all(self.evaluate, todo), strict=True):
                self.scores[arch.hash] = float(score)
                self.records.append([arch.hash, [int(c) for c in arch.choices], float(score)])
            self._write()
        return [self.scores[a.hash] for a in archs]

    # ------------------------------------------------------------------ file
    def _document(self) -> dict:
        return {"format": HISTORY_FORMAT, "version": _VERSION,
                "space": {"name": self.space.name, "fingerprint": self.space.fingerprint},
                "meta": self.meta, "records": self.records, "digest": content_digest(self.records)}

    def _write(self) -> None:
        if dist.is_main():
            atomic_write_json(self.path, self._document())

    def _fail(self, problem: str) -> GraphnasError:
        return GraphnasError(f"search history {self.path} {problem}; {_FIX}")

    def _load(self) -> None:
        doc = read_json(self.path, "search history", _FIX, max_bytes=_MAX_BYTES)
        if not isinstance(doc, dict) or doc.get("format") != HISTORY_FORMAT:
            raise self._fail("is not a graphnas search history")
        if doc.get("version") != _VERSION:
            raise self._fail(f"has version {doc.get('version')!r}; this graphnas reads version {_VERSION}")
        want = {"name": self.space.name, "fingerprint": self.space.fingerprint}
        if doc.get("space") != want:
            raise self._fail(f"belongs to another space ({_short(doc.get('space'))}, not '{self.space.name}')")
        if doc.get("meta") != self.meta:
            raise self._fail(f"was scored by another supernet or estimator ({_short(doc.get('meta'))}, now "
                             f"{_short(self.meta)})")
        records = doc.get("records")
        if not isinstance(records, list):
            raise self._fail("has no list of records")
        if doc.get("digest") != content_digest(records):
            raise self._fail("is damaged (its records do not match their digest)")
        for k, rec in enumerate(records):
            if not (isinstance(rec, list) and len(rec) == 3 and isinstance(rec[0], str) and isinstance(rec[1], list)
                    and isinstance(rec[2], (int, float)) and not isinstance(rec[2], bool) and math.isfinite(rec[2])):
                raise self._fail(f"record {k} is not [hash, choices, finite score]")
            try:
                arch = self.space.arch(rec[1])
            except ArchitectureError as err:
                raise self._fail(f"record {k} is not an architecture of the space ({err})") from None
            if arch.hash != rec[0]:
                raise self._fail(f"record {k} has hash {_short(rec[0])} but its choices hash to {arch.hash}")
            self.scores[arch.hash] = float(rec[2])
            self.records.append([arch.hash, [int(c) for c in arch.choices], float(rec[2])])


def _short(value) -> str:
    from ..checks import shown

    return shown(value)
