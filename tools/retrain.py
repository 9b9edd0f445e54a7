#!/usr/bin/env python
"""`graphnas retrain` as a script (a thin wrapper: every flag is the command's; see `graphnas retrain --help`)."""

import sys

from graphnas.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["retrain", *sys.argv[1:]]))
