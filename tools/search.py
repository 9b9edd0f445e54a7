#!/usr/bin/env python
"""Train a supernet and search it under limits: same arguments as `graphnas run`."""

import sys

from graphnas.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
