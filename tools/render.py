#!/usr/bin/env python
"""Render an architecture or a space with graphviz: same arguments as `graphnas render`."""

import sys

from graphnas.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["render", *sys.argv[1:]]))
