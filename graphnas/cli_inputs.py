"""What the command line reads from its flags: ``KEY=VALUE`` scale and sampler options, architecture files.

Shared by every ``graphnas`` subcommand (:mod:`graphnas.cli`, :mod:`graphnas.cli_latency`), so each input is
read and refused one way.
"""

from __future__ import annotations

from .checks import INT64_MAX, check_float, check_int
from .errors import GraphnasError

__all__ = ["parse_scale", "load_arch"]


def _scale_value(text: str, name: str = "scale argument value"):
    """``--scale`` value: an int, a float, None, true/false or the text; numbers must be finite and fit in 64 bits."""
    for cast in (int, float):
        try:
            value = cast(text)
        except ValueError:
            continue
        if cast is int:
            check_int(name, value, -INT64_MAX)
        else:
            check_float(name, value)
        return value
    return {"none": None, "true": True, "false": False}.get(text.lower(), text)


def parse_scale(pairs: list[str] | None, what: str = "scale argument") -> dict:
    """``["resolution=32", "width=0.5"]`` as ``{"resolution": 32, "width": 0.5}``; a pair without ``=`` or a number
    out of range is one line."""
    scale = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise GraphnasError(f"{what} '{pair}' is not key=value; write e.g. --scale resolution=32 width=0.5")
        scale[key] = _scale_value(value, f"{what} {key}")
    return scale


def load_arch(space, path: str):
    """The architecture of ``space`` in the JSON file ``path`` (a regular UTF-8 file), or one line."""
    from .errors import ArchitectureError
    from .files import regular_file

    file = regular_file(path, "architecture file", "write one with `graphnas sample`", ArchitectureError)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GraphnasError(f"architecture file '{path}' is not UTF-8 text (binary?); pass a JSON file written "
                            f"by `graphnas sample` or Architecture.to_json()") from None
    return space.from_json(text)
