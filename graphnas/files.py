"""Files graphnas reads and writes, handled one way everywhere.

- :func:`regular_file`: an input must be an existing regular file (a FIFO or a device would block a
  reader forever, a folder would raise deep inside a loader).
- :func:`connect_sqlite`: SQLite opened by *path*: the name goes through ``Path.as_uri`` so ``#``,
  ``?`` and ``%`` are percent-encoded and never read as URI syntax (``lat#1.db`` is that file).
- :func:`output_lock`: one writer per output folder or table. A second process that wants to
  write the same output fails at once with one line naming the holder (pid, command, start). The
  lock is an ``flock`` on a small lock file, released by the kernel when its process dies, so a
  killed run never leaves a stale lock. Re-entrant within a process.
- Temporaries of :func:`graphnas.utils.atomic_target` are named ``.NAME.PID.XXXXXXXX.tmp``;
  :func:`remove_stale_temporaries` deletes those whose writer is dead (called when an output is
  locked, so a run cleans up what a killed run left).
- :func:`writable_folder` / :func:`writable_file`: an output checked *before* the work that fills
  it, by creating and removing a probe file: a directory named like the file, a path under a file,
  an unwritable or over-long path fail in seconds, not after training.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import sqlite3
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import GraphnasError

__all__ = ["regular_file", "connect_sqlite", "output_lock", "remove_stale_temporaries", "temp_prefix",
           "writable_folder", "writable_file", "TEMP_SUFFIX", "LOCK_NAME"]

#: Suffix of atomic-write temporaries (``.NAME.PID.XXXXXXXX.tmp``).
TEMP_SUFFIX = ".tmp"
#: Lock file of an output folder.
LOCK_NAME = ".graphnas.lock"
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp$")


def _describe_os_error(e: OSError) -> str:
    return e.strerror or str(e)


def regular_file(path: str | os.PathLike, what: str, fix: str, error: type[GraphnasError] = GraphnasError) -> Path:
    """``path`` as a Path if it is an existing regular file (after symlinks); else ``error`` with one line.

    ``what`` names the file ("checkpoint", "latency table"), ``fix`` says what to do instead.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist; {fix}") from None
    except OSError as e:
        raise error(f"{what} {path} cannot be read ({_describe_os_error(e)}); {fix}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)"
        raise error(f"{what} {path} is {kind}; {fix}")
    if not os.access(path, os.R_OK):
        raise error(f"{what} {path} is not readable (permission denied); {fix}")
    return path


def read_json(path: str | os.PathLike, what: str, fix: str, error: type[GraphnasError] = GraphnasError,
              max_bytes: int = 64 << 20, kind: type | None = None):
    """The JSON value in the regular UTF-8 file ``path``, no larger than ``max_bytes``; else ``error`` with one
    line naming ``what`` and saying ``fix``. ``kind`` (dict, list) also requires the top-level value's type.

    The one reader of JSON files graphnas did not just write (job configs, search histories, found
    architectures, report folders): a huge integer, deep nesting or bad bytes are the same one line.
    """
    file = regular_file(path, what, fix, error)
    size = file.stat().st_size
    if size > max_bytes:
        raise error(f"{what} {path} is {size} bytes, more than any graphnas {what} ({max_bytes}); {fix}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # ValueError: also an integer of 4,300+ digits
        raise error(f"{what} {path} is not JSON ({type(err).__name__}); {fix}") from None
    if kind is not None and not isinstance(data, kind):
        article = "an object" if kind is dict else f"a {kind.__name__}"
        raise error(f"{what} {path} holds a JSON {type(data).__name__}, not {article}; {fix}")
    return data


def connect_sqlite(path: str | os.PathLike, mode: str = "ro") -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` (taken as a path, never as URI syntax).

    ``mode``: ``ro`` (read only), ``rw`` (read-write, the file must exist) or ``rwc`` (created if missing).
    """
    if mode not in ("ro", "rw", "rwc"):
        raise ValueError(f"mode {mode!r}: ro, rw or rwc")
    uri = Path(os.path.abspath(path)).as_uri() + f"?mode={mode}"
    return sqlite3.connect(uri, uri=True)


def temp_prefix(path: Path) -> str:
    """The name prefix of an atomic-write temporary for ``path`` written by this process."""
    return f".{path.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete the atomic-write temporaries in ``folder`` (of the file ``name`` only, when given) whose
    writing process no longer runs; returns what was removed."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if not m or (name is not None and m["name"] != name) or _alive(int(m["pid"])):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


_HELD: dict[str, tuple[int, int]] = {}  # lock file -> (fd, depth): re-entrant within a process


def _holder_text() -> str:
    cmd = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)) or "python"
    return f"pid {os.getpid()}: {cmd[:200]}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"


@contextmanager
def output_lock(path: str | os.PathLike, what: str = "output", folder: bool | None = None) -> Iterator[Path]:
    """Hold the write lock of an output folder (``<path>/.graphnas.lock``) or file (``.<name>.lock`` beside it)
    for the ``with`` block; a second writer gets a :class:`GraphnasError` naming the holder at once.

    On entry, stale temporaries of dead writers are removed (all in a folder; a file's own beside it).
    ``folder``: whether ``path`` is a folder (default: it is one if it exists as one, or has no suffix).
    """
    path = Path(path)
    if folder is None:
        folder = path.is_dir() or (not path.exists() and not path.suffix)
    where = path if folder else path.parent
    made = _first_missing(where)
    writable_folder(where, what)
    lock = where / (LOCK_NAME if folder else f".{path.name}.lock")
    key = str(lock.resolve())
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield path
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise GraphnasError(f"cannot create the lock file {lock} of {what} {path} ({_describe_os_error(e)}); "
                            f"choose a writable location") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = ""
        try:
            holder = os.pread(fd, 1000, 0).decode("utf-8", "replace").strip()
        except OSError:
            pass
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise GraphnasError(f"{what} {path} is being written by another graphnas process "
                                f"({holder or 'holder unknown'}); wait for it to finish or choose another "
                                f"output") from None
        raise GraphnasError(f"cannot lock {what} {path} ({_describe_os_error(e)}); choose another output") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (_holder_text() + "\n").encode(), 0)
        remove_stale_temporaries(where, None if folder else path.name)
        _HELD[key] = (fd, 1)
        yield path
    except BaseException:
        if made is not None:  # a failed run leaves no empty folder behind it
            _remove_if_empty(made, where, lock)
        raise
    finally:
        _HELD.pop(key, None)
        os.close(fd)  # releases the flock


def _makeable(missing: Path, folder: Path, what: str) -> None:
    """Check that ``folder`` (of which ``missing`` is the outermost part not there yet) could be made."""
    above = missing.parent
    if not above.is_dir():
        raise GraphnasError(f"{what} {folder} cannot be made: a parent of it is a file; choose another path")
    if not os.access(above, os.W_OK | os.X_OK):
        raise GraphnasError(f"{what} {folder} cannot be made in {above} (permission denied); choose a writable path")
    for part in folder.relative_to(above).parts:
        if len(part.encode()) > 255:
            raise GraphnasError(f"{what} {folder} cannot be made: the name {part[:40]}... is too long; choose a "
                                f"shorter one")


def _first_missing(folder: Path) -> Path | None:
    """The outermost ancestor of ``folder`` (or itself) that does not exist yet, or None."""
    missing = None
    for p in (folder, *folder.parents):
        if os.path.lexists(p):  # never raises: a name too long is "missing", and writable_folder names the problem
            break
        missing = p
    return missing


def _remove_if_empty(top: Path, folder: Path, lock: Path) -> None:
    """Remove ``folder`` up to ``top`` (folders this run made) if nothing but ``lock`` is in them."""
    try:
        if any(p.name != lock.name for p in folder.iterdir()):
            return
        lock.unlink(missing_ok=True)
        for p in (folder, *folder.parents):
            p.rmdir()
            if p == top:
                break
    except OSError:
        pass


def _probe(folder: Path, what: str, target: Path) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=temp_prefix(target), suffix=TEMP_SUFFIX, dir=folder)
    except OSError as e:
        raise GraphnasError(f"{what} {target} cannot be written ({_describe_os_error(e)}); choose a writable "
                            f"path") from None
    os.close(fd)
    os.unlink(probe)


def writable_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create folder ``path`` (with parents) if needed and check a file can be written in it; else one line."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)  # an existing file: FileExistsError, told apart below
    except FileExistsError:
        if os.path.lexists(path):
            raise GraphnasError(f"{what} {path} is a file, not a folder; choose a folder") from None
        raise GraphnasError(f"{what} {path} cannot be made: a parent of it is a file; choose another path") from None
    except NotADirectoryError:
        raise GraphnasError(f"{what} {path} cannot be made: a parent of it is a file; choose another path") from None
    except OSError as e:
        raise GraphnasError(f"{what} {path} cannot be made ({_describe_os_error(e)}); choose a writable "
                            f"path") from None
    _probe(path, what, path / "probe")
    return path


def writable_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check that the file ``path`` can be (re)written: not a folder, its folder writable (or, where it is not there
    yet, makeable: nothing is created), its name not too long."""
    path = Path(path)
    if len(path.name.encode()) + 32 > 255:  # our temporaries add ~30 characters to the name
        raise GraphnasError(f"{what} {path}: the file name is too long ({len(path.name)} characters); "
                            f"choose a shorter one")
    missing = _first_missing(path.parent)
    if missing is not None:  # its folders would be made by the write: check what is there, make nothing now
        _makeable(missing, path.parent, f"folder of {what}")
        return path
    writable_folder(path.parent, f"folder of {what}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise GraphnasError(f"{what} {path} cannot be written ({_describe_os_error(e)}); choose a writable "
                            f"path") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise GraphnasError(f"{what} {path} is a folder; give a file name")
    if mode is not None and not stat.S_ISREG(mode):
        raise GraphnasError(f"{what} {path} exists and is not a regular file; choose another path")
    _probe(path.parent, what, path)
    return path
