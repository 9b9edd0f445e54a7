"""Architecture files as the command line reads them (``KEY=VALUE`` flags: :func:`~graphnas.options.parse_pairs`).

Shared by every ``graphnas`` subcommand (:mod:`graphnas.cli.main`, :mod:`graphnas.cli.latency`), so each input is
read and refused one way.
"""

from __future__ import annotations

from ..errors import GraphnasError

__all__ = ["load_arch"]


def load_arch(space, path: str):
    """The architecture of ``space`` in the JSON file ``path`` (a regular UTF-8 file), or one line."""
    from ..errors import ArchitectureError
    from ..files import regular_file

    file = regular_file(path, "architecture file", "write one with `graphnas sample`", ArchitectureError)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GraphnasError(f"architecture file '{path}' is not UTF-8 text (binary?); pass a JSON file written "
                            f"by `graphnas sample` or Architecture.to_json()") from None
    return space.from_json(text)
