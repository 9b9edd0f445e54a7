#!/usr/bin/env python
"""The best architectures of a lookup table under limits: same arguments as `graphnas lookup`."""

import sys

from graphnas.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["lookup", *sys.argv[1:]]))
