"""What every ``graphnas`` subcommand shares: how it is declared (its help, description and examples) and the
flags whose names are the same everywhere.

The common flags: ``--space``, ``--scale``, ``--data``, ``--data-root``, ``--out``, ``--seed``, ``--device``,
``--resume``, ``--quiet``. A command that takes a space takes it as ``--space`` (the positional form of
earlier versions, ``graphnas sample st_nas``, still works and is hidden from the help); every command's
``--help`` ends with examples, which a test parses, so they stay true.
"""

from __future__ import annotations

import argparse

from ..errors import GraphnasError

__all__ = ["UsageError", "add_command", "space_flag", "space_name", "SPACE_HELP", "COMMON_FLAGS"]


class UsageError(GraphnasError):
    """A flag argparse refuses (unknown, missing, out of range): printed as one line like every GraphnasError."""

SPACE_HELP = "space name (see `graphnas spaces`) or a path to a .py file with make_space()"
#: Flags that mean the same in every subcommand that has them.
COMMON_FLAGS = ("--space", "--scale", "--data", "--data-root", "--out", "--seed", "--device", "--resume", "--quiet")


def add_command(sub, name: str, text: str, examples: str, parser_class=None, **kw) -> argparse.ArgumentParser:
    """A subcommand ``name`` whose one-line help is ``text`` and whose ``--help`` ends with ``examples`` (lines
    ``graphnas ...  # comment``, indented by the caller or not)."""
    lines = [ln.strip() for ln in examples.strip().splitlines() if ln.strip()]
    epilog = "examples:\n" + "\n".join(f"  {ln}" for ln in lines)
    return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".", epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter, **kw)


def space_flag(p: argparse.ArgumentParser, required: bool = True, help: str = SPACE_HELP, scale: bool = True) -> None:
    """``--space`` (and ``--scale``); with ``required``, the hidden positional of earlier versions too."""
    p.add_argument("--space", dest="space", default=None, metavar="NAME_OR_FILE",
                   help=help + ("" if required else " (optional)"))
    if required:
        p.add_argument("space_positional", nargs="?", default=None, help=argparse.SUPPRESS)
        p.set_defaults(_space_required=True)
    if scale:
        p.add_argument("--scale", nargs="*", metavar="KEY=VALUE", help="scale arguments, e.g. resolution=32 width=0.25")


def space_name(args) -> str | None:
    """The space the command line names: ``--space``, or the old positional form; one line when both differ or
    a required space is missing."""
    flag, positional = getattr(args, "space", None), getattr(args, "space_positional", None)
    if flag is not None and positional is not None and flag != positional:
        raise UsageError(f"two spaces given ('{positional}' and --space {flag}); give one, with --space")
    name = flag if flag is not None else positional
    if name is None and getattr(args, "_space_required", False):
        raise UsageError(f"give the space with --space NAME (see `graphnas spaces`), e.g. graphnas "
                         f"{getattr(args, 'command', '')} --space st_nas".replace("  ", " "))
    args.space = name
    return name
