"""One consistent command line: every subcommand's --help ends with examples that parse, the common flags are
spelled the same everywhere, a space is always --space, and graphnas --version."""

from __future__ import annotations

import argparse
import shlex

import pytest

from graphnas.cli.common import COMMON_FLAGS
from graphnas.cli.main import build_parser, main


def _commands(parser=None, prefix=()):
    """(path, parser) of every subcommand, nested ones (graphnas latency build) included."""
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,), sub
                yield from _commands(sub, prefix + (name,))


COMMANDS = list(_commands())


def _examples(sub) -> list[str]:
    text = sub.epilog or ""
    assert text.startswith("examples:"), "no examples"
    lines = []
    for line in text.splitlines()[1:]:
        line = line.split("  #")[0].strip()
        if line.startswith("graphnas "):
            lines.append(line)
    return lines


@pytest.mark.parametrize("path, sub", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_help_ends_with_examples_that_parse(path, sub):
    examples = _examples(sub)
    assert examples, f"graphnas {' '.join(path)} --help has no example"
    for line in examples:
        argv = shlex.split(line)[1:]
        args = build_parser().parse_args(argv)  # a UsageError (one line) if an example went stale
        assert tuple(argv[:len(path)]) == path or argv[0] == path[0], line
        assert callable(getattr(args, "func", None)), line


SPELLINGS = {"--data_root": "--data-root", "--dataroot": "--data-root", "--output": "--out", "--outdir": "--out",
             "--out-dir": "--out", "--random-seed": "--seed", "--silent": "--quiet", "--no-progress": "--quiet",
             "--restart": "--resume", "--continue": "--resume", "--search-space": "--space", "--cuda": "--device",
             "--dataset": "--data"}


@pytest.mark.parametrize("path, sub", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_the_common_flags_are_spelled_one_way(path, sub):
    flags = {o for a in sub._actions for o in a.option_strings}
    assert not flags & set(SPELLINGS), {f: SPELLINGS[f] for f in flags & set(SPELLINGS)}
    visible_positionals = [a.dest for a in sub._actions if not a.option_strings and a.help != argparse.SUPPRESS
                           and not isinstance(a, argparse._SubParsersAction)]
    assert "space" not in visible_positionals  # a space is --space everywhere
    for a in sub._actions:
        if "--seed" in a.option_strings:
            assert a.type is not None and a.type("3") == 3  # an integer everywhere
        if "--quiet" in a.option_strings:
            assert a.nargs == 0  # a switch everywhere


def test_the_common_flags_exist_where_they_belong():
    by = {" ".join(p): {o for a in sub._actions for o in a.option_strings} for p, sub in COMMANDS}
    for command in ("run", "train", "search", "retrain"):
        assert {"--space", "--scale", "--data", "--data-root", "--out", "--seed", "--device", "--resume",
                "--quiet"} <= by[command], command
    for command in ("sample", "cost", "render", "predict", "latency build"):
        assert {"--space", "--scale"} <= by[command], command
    assert set(COMMON_FLAGS) == {"--space", "--scale", "--data", "--data-root", "--out", "--seed", "--device",
                                 "--resume", "--quiet"}


def test_a_space_is_given_with_space_and_the_old_positional_still_works(capsys):
    assert main(["sample", "--space", "nb201", "--seed", "2"]) == 0
    flag = capsys.readouterr().out
    assert main(["sample", "nb201", "--seed", "2"]) == 0
    assert capsys.readouterr().out == flag
    assert main(["sample", "--seed", "2"]) == 2
    assert "give the space with --space NAME" in capsys.readouterr().err
    assert main(["cost", "nb201", "--space", "st_nas", "--arch", "x.json"]) == 2
    assert "two spaces given" in capsys.readouterr().err
