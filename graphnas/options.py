"""Options as dataclass fields that carry their own help and range: one statement serves the check and the flag.

A config class declares each field with :func:`option`::

    epochs: int = option(10, "passes over the training set", Int(1))

and gets from it, with nothing kept by hand elsewhere:

* :func:`check_fields` -- every field of the wrong type or out of range is one line
  (:func:`graphnas.checks.check_int` / :func:`~graphnas.checks.check_float`), so an API user and the command
  line refuse the same values alike;
* :func:`add_flags` -- one argparse flag per field (``batch_size`` -> ``--batch-size``), typed by the same
  range (:func:`~graphnas.checks.int_arg` / :func:`~graphnas.checks.float_arg`), with ``dict`` fields read as
  ``KEY=VALUE`` pairs, ``list`` fields as several values and ``bool`` fields as ``--name`` / ``--no-name``.
  Every flag defaults to ``None`` (argparse's "not given"), so :func:`given_flags` returns just what the user
  typed and a config can layer it over other defaults (a space's paper settings, a checkpoint's options).
"""

from __future__ import annotations

import argparse
import math
import numbers
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace

from .checks import INT64_MAX, check_float, check_int, float_arg, int_arg, shown
from .errors import GraphnasError

__all__ = ["Int", "Float", "Choice", "option", "check_fields", "add_flags", "given_flags", "with_values", "flag_name",
           "parse_pairs"]


@dataclass(frozen=True)
class Int:
    """An integer in ``[lo, hi]``."""

    lo: int = 0
    hi: int = INT64_MAX

    def check(self, name: str, value) -> int:
        return check_int(name, value, self.lo, self.hi)

    def arg(self):
        return int_arg(self.lo, self.hi)


@dataclass(frozen=True)
class Float:
    """A finite number in the range ``[lo, hi]`` (an end excluded with ``lo_open`` / ``hi_open``)."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def check(self, name: str, value) -> float:
        return check_float(name, value, self.lo, self.hi, self.lo_open, self.hi_open)

    def arg(self):
        return float_arg(self.lo, self.hi, self.lo_open, self.hi_open)


@dataclass(frozen=True)
class Choice:
    """One of the names ``choices`` (the names of a registry when they are only known at run time:
    ``choices`` may be a function returning them)."""

    choices: tuple | typing.Callable

    def names(self) -> tuple:
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def check(self, name: str, value):
        names = self.names()
        if value not in names:
            raise GraphnasError(f"{name}={shown(value)} is not a choice; choose one of {', '.join(map(str, names))}")
        return value

    def arg(self):
        return str


def option(default=MISSING, help: str = "", check=None, *, factory=MISSING, flag: str | None = None,
           cli: bool = True, metavar: str | None = None, what: str | None = None):
    """A dataclass field with its help text and range.

    Args:
        default: the value when not given (``factory`` for a mutable one).
        help (str): one line for ``--help`` and the docs.
        check (Int, Float or Choice, optional): the range; ``None`` values pass when the default is ``None``.
        flag (str, optional): the flag's name when it is not ``--`` + the field name with ``-`` for ``_``.
        cli (bool): whether the field gets a flag at all (default: ``True``).
        metavar (str, optional): argparse's metavar.
        what (str, optional): what one ``KEY=VALUE`` pair of a dict field is called in messages
            (default: the field name).
    """
    meta = {"help": help, "check": check, "flag": flag, "cli": cli, "metavar": metavar, "what": what}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _types(hint) -> tuple:
    """The types a hint admits: ``int | None`` -> ``(int, NoneType)``, ``list[str]`` -> ``(list,)``."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return tuple(typing.get_origin(a) or a for a in args)


def _base(hint):
    """The first type a hint admits besides None (a nested config class, ``int``, ``dict``, ...)."""
    return next(t for t in _types(hint) if t is not type(None))


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
          dict: "a dict of KEY=VALUE", type(None): "None"}


def _is(value, admitted: tuple) -> bool:
    for t in admitted:
        if t is bool or t is type(None):
            ok = isinstance(value, t)
        elif t in (int, float):  # a bool is not a number here; an int is a float
            ok = isinstance(value, numbers.Integral if t is int else numbers.Real) and not isinstance(value, bool)
        elif t is list:
            ok = isinstance(value, (list, tuple))
        else:
            ok = isinstance(value, t)
        if ok:
            return True
    return False


def check_fields(obj, prefix: str = "") -> None:
    """Check every field of the dataclass ``obj`` (and of nested ones) against its type and its :func:`option`
    range; one :class:`~graphnas.errors.GraphnasError` line names the first field that is wrong."""
    hints = _hints(type(obj))
    for f in fields(obj):
        value, name = getattr(obj, f.name), prefix + f.name
        if is_dataclass(value):
            check_fields(value, f"{name}.")
            continue
        admitted = _types(hints[f.name])
        if not _is(value, admitted):
            kinds = " or ".join(_KINDS.get(t, t.__name__) for t in admitted)
            raise GraphnasError(f"{name}={shown(value)} must be {kinds}")
        check = f.metadata.get("check")
        if check is not None and value is not None and not isinstance(value, bool):
            check.check(name, value)


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


def parse_pairs(pairs: list[str] | None, what: str = "scale argument") -> dict:
    """``["resolution=32", "width=0.5"]`` as ``{"resolution": 32, "width": 0.5}``; a pair without ``=`` or a number
    out of range is one line."""
    scale = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise GraphnasError(f"{what} '{pair}' is not key=value; write e.g. --scale resolution=32 width=0.5")
        scale[key] = _scale_value(value, f"{what} {key}")
    return scale


def flag_name(f) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


class _Pairs(argparse.Action):
    """``KEY=VALUE ...`` into a dict (numbers read as numbers: :func:`parse_pairs`); a flag given again adds its
    pairs (``--scale a=1 --scale b=2`` is ``--scale a=1 b=2``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), **parse_pairs(values, self.what)})
        except GraphnasError as err:
            raise argparse.ArgumentError(self, str(err)) from None


def add_flags(parser: argparse.ArgumentParser, cls, defaults=None, skip: tuple = ()) -> None:
    """Add one flag per :func:`option` field of ``cls`` (recursing into nested dataclass fields, whose flags
    are not prefixed, so names must be unique); ``defaults`` (an instance) shows the defaults in the help."""
    hints = _hints(cls)
    for f in fields(cls):
        if f.name in skip or not f.metadata.get("cli", True) or "help" not in f.metadata:
            continue
        default = getattr(defaults, f.name) if defaults is not None else (
            f.default if f.default is not MISSING else None)
        if is_dataclass(_base(hints[f.name])):
            add_flags(parser, _base(hints[f.name]), default, skip)
            continue
        base, check = _base(hints[f.name]), f.metadata.get("check")
        shown = "" if default in (None, {}, [], False) else f" (default: {default})"
        kw = dict(dest=f.name, default=None, help=f.metadata["help"] + shown)
        if f.metadata.get("metavar"):
            kw["metavar"] = f.metadata["metavar"]
        if base is bool and str in _types(hints[f.name]):  # --resume or --resume FILE
            parser.add_argument(flag_name(f), nargs="?", const=True, **kw)
        elif base is bool:
            parser.add_argument(flag_name(f), action=argparse.BooleanOptionalAction, **kw)
        elif base is dict:
            action = type("Pairs", (_Pairs,), {"what": f.metadata.get("what") or f.name.replace("_", " ")})
            parser.add_argument(flag_name(f), nargs="*", action=action, metavar=kw.pop("metavar", "KEY=VALUE"), **kw)
        elif base is list:
            parser.add_argument(flag_name(f), nargs="+", **kw)
        else:
            if isinstance(check, Choice) and not callable(check.choices):
                kw["choices"] = check.choices
            parser.add_argument(flag_name(f), type=check.arg() if check is not None else str, **kw)


def given_flags(args: argparse.Namespace, cls, skip: tuple = ()) -> dict:
    """The fields of ``cls`` (nested dataclasses flattened) the user gave a flag for: ``{name: value}``."""
    hints, given = _hints(cls), {}
    for f in fields(cls):
        if f.name in skip:
            continue
        if is_dataclass(_base(hints[f.name])):
            given.update(given_flags(args, _base(hints[f.name]), skip))
        elif getattr(args, f.name, None) is not None and f.metadata.get("cli", True):
            given[f.name] = getattr(args, f.name)
    return given


def with_values(obj, values: dict):
    """A copy of the dataclass ``obj`` with the fields named in ``values`` (at any depth of nested dataclasses,
    names unique across them) set to their values."""
    changes = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            changes[f.name] = with_values(value, values)
        elif f.name in values:
            changes[f.name] = values[f.name]
    return replace(obj, **changes)
