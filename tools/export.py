#!/usr/bin/env python
"""`graphnas export` as a script (a thin wrapper: every flag is the command's; see `graphnas export --help`)."""

import sys

from graphnas.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
