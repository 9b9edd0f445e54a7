#!/usr/bin/env python
"""Train a supernet with checkpoints and exact resume: same arguments as `graphnas train`.

    python tools/train_supernet.py --space st_nas --data digits --epochs 30 --out runs/sn --resume
    torchrun --nproc_per_node 2 tools/train_supernet.py --space nb201 --batch-size 128 --out runs/nb201
"""

import sys

from graphnas.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
