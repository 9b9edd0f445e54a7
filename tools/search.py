#!/usr/bin/env python
"""Search a supernet trained before under limits: same arguments as `graphnas search`.

    python tools/train_supernet.py --space fairnas --epochs 30 --out runs/sn
    python tools/search.py --space fairnas --checkpoint runs/sn/checkpoint.pt --strategy gcn --latency 4ms
"""

import sys

from graphnas.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["search", *sys.argv[1:]]))
