"""Shared fixtures: tiny hand-built spaces and the st_nas space at CPU and paper scale.

Tiny spaces (input 1 x 8 x 8, widths 8-16) keep every test fast; their shapes are written out
here so the tests can assert exact values.

``tiny`` (5 nodes, 7 choice edges, 96 architectures)::

    node  stage  channels  reduction  resolution
    0     0      8         1          8
    1     0      8         1          8
    2     1      16        2          4
    3     1      16        2          4
    4     2      16        4          2

    e0  0->1  stem    (mbconv_k3_e3, identity)
    e1  1->2  stem    (mbconv_k3_e3, mbconv_k5_e3)        stride 2, 8 -> 16 ch
    e2  0->2  branch  (none, mbconv_k3_e1)                stride 2, 8 -> 16 ch
    e3  2->3  stem    (identity, mbconv_k3_e1)
    e4  1->3  branch  (none, mbconv_k3_e1)                stride 2, 8 -> 16 ch
    e5  3->4  stem    (mbconv_k3_e3,)                     stride 2, one candidate
    e6  2->4  branch  (none, avg_pool_3x3, mbconv_k3_e1)  stride 2

``dead`` (4 nodes, all 8 ch at reduction 1)::

    e0  0->1  stem    (mbconv_k3_e1,)
    e1  1->3  stem    (mbconv_k3_e1,)
    e2  0->2  branch  (none, mbconv_k3_e1)   a dead end when e3 is none
    e3  2->3  branch  (none, identity)       unreachable source when e2 is none

``chain`` (5 nodes, all 8 ch at reduction 1): a main path 0->1->4 and a side chain 0->2->3->4::

    e0  0->1  stem    (mbconv_k3_e1,)
    e1  1->4  stem    (mbconv_k3_e1,)
    e2  0->2  branch  (none, mbconv_k3_e1)
    e3  2->3  branch  (none, mbconv_k3_e1)
    e4  3->4  branch  (none, identity)

With e4 = none both e2 and e3 are dead (a dead end two edges deep); with e2 = none both e3 and
e4 are dead (an unreachable source two edges deep).

``unreach`` (3 nodes): e0 0->1 stem, e1 1->2 branch, e2 0->2 branch; choosing none on both branch
edges leaves the output node unreachable.
"""

from __future__ import annotations

import pytest
import torch

import graphnas
from graphnas import ChoiceEdge, Node, SearchSpace, Stem

# The tensors here are tiny: intra-op threads only add overhead, and with other processes on the
# same two cores OpenMP spin-waiting can slow a forward pass down a hundredfold.
torch.set_num_threads(1)

#: st_nas at CPU scale (the scale the brief asks tests to use).
CPU_SCALE = dict(resolution=32, width=0.25, num_classes=10, in_channels=1, stem_stride=1, head_channels=None)

TINY_RADICES = [2, 2, 2, 2, 2, 1, 3]


def build_tiny(name: str = "tiny") -> SearchSpace:
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2), Node(3, 1, 16, 2), Node(4, 2, 16, 4)]
    edges = [
        ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
        ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3")),
        ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1")),
        ChoiceEdge(2, 3, "stem", ("identity", "mbconv_k3_e1")),
        ChoiceEdge(1, 3, "branch", ("none", "mbconv_k3_e1")),
        ChoiceEdge(3, 4, "stem", ("mbconv_k3_e3",)),
        ChoiceEdge(2, 4, "branch", ("none", "avg_pool_3x3", "mbconv_k3_e1")),
    ]
    return SearchSpace(name, nodes, edges, input_shape=(1, 8, 8), num_classes=5, stem=Stem(8))


def build_dead() -> SearchSpace:
    nodes = [Node(i, 0, 8, 1) for i in range(4)]
    edges = [
        ChoiceEdge(0, 1, "stem", ("mbconv_k3_e1",)),
        ChoiceEdge(1, 3, "stem", ("mbconv_k3_e1",)),
        ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1")),
        ChoiceEdge(2, 3, "branch", ("none", "identity")),
    ]
    return SearchSpace("dead", nodes, edges, input_shape=(1, 8, 8), num_classes=3, stem=Stem(8))


def build_chain() -> SearchSpace:
    nodes = [Node(i, 0, 8, 1) for i in range(5)]
    edges = [
        ChoiceEdge(0, 1, "stem", ("mbconv_k3_e1",)),
        ChoiceEdge(1, 4, "stem", ("mbconv_k3_e1",)),
        ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1")),
        ChoiceEdge(2, 3, "branch", ("none", "mbconv_k3_e1")),
        ChoiceEdge(3, 4, "branch", ("none", "identity")),
    ]
    return SearchSpace("chain", nodes, edges, input_shape=(1, 8, 8), num_classes=3, stem=Stem(8))


def build_unreach() -> SearchSpace:
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
    edges = [
        ChoiceEdge(0, 1, "stem", ("mbconv_k3_e1",)),
        ChoiceEdge(1, 2, "branch", ("none", "mbconv_k3_e1")),
        ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1")),
    ]
    return SearchSpace("unreach", nodes, edges, input_shape=(1, 8, 8), num_classes=4, stem=Stem(8))


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def make_tiny():
    """The builder of ``tiny`` (call it twice for two independent builds)."""
    return build_tiny


@pytest.fixture
def tiny():
    return build_tiny()


@pytest.fixture
def dead():
    return build_dead()


@pytest.fixture
def chain():
    return build_chain()


@pytest.fixture
def unreach():
    return build_unreach()


@pytest.fixture(scope="session")
def st_small():
    """st_nas at CPU scale: 1 x 32 x 32 input, widths 8/8/16/24/40, resolutions 32/16/8/4/2."""
    return graphnas.get_space("st_nas", **CPU_SCALE)


@pytest.fixture(scope="session")
def st_paper():
    """st_nas at paper scale: 3 x 224 x 224, width 1.0, 1000 classes, head 1280."""
    return graphnas.get_space("st_nas")


@pytest.fixture
def interrupt_after(monkeypatch):
    """``interrupt_after(target, name, calls)``: replace ``target.name`` so that the call after the first
    ``calls`` raises KeyboardInterrupt (a run killed in the middle of its work); returns the original."""

    def patch(target, name: str, calls: int):
        real = getattr(target, name)
        count = [0]

        def interrupted(*args, **kwargs):
            count[0] += 1
            if count[0] > calls:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(target, name, interrupted)
        return real

    return patch


@pytest.fixture(scope="session")
def found_run(tmp_path_factory):
    """A tiny graphnas run with a lookup table (best_arch.json, report.json, report.html, lookup.db,
    checkpoint.pt): what retrain, export and report read. ``(out folder, report)``."""
    from graphnas.jobs import run
    from test_job import config

    out = tmp_path_factory.mktemp("deploy") / "run"
    return out, run(config(out, lookup=True, lookup_labels=16, lookup_rows=300))
