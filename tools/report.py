#!/usr/bin/env python
"""`graphnas report` as a script (a thin wrapper: every flag is the command's; see `graphnas report --help`)."""

import sys

from graphnas.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
