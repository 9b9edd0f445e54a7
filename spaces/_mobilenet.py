"""Shared builder of the MobileNet-like chain spaces (``proxyless``, ``fairnas``, ``pcnas_small``, ``pcnas_large``,
``senas``).

A chain space is a path of blocks: nodes ``0..L`` and one ``stem``-kind choice edge ``i -> i+1`` per
choice block, so an architecture is one operator per block. Node 0 is the stem's output: the stem
conv3x3 (``stem_channels * width`` channels, ``stem_stride``) followed by the stem's separable projection
(depthwise 3x3 + 1x1) to ``first_channels * width`` channels, i.e. MobileNetV2's first block. The head is a
1x1 conv to ``head_channels``, global average pooling and a linear classifier. A space fixes its
``stem_channels`` and ``first_channels`` and its default ``head_channels`` in :func:`chain_factory`
(default: MobileNetV2's 32, 16 and 1280, :data:`STEM_CHANNELS`, :data:`FIRST_CHANNELS`, :data:`HEAD_CHANNELS`;
``senas``: 40, 24 and 1728).

The body is a list of stages ``(channels, blocks, stride)``: a stage's first block has the stage's
stride and width, the others keep the shape. ``identity`` (a skipped block) is offered only where
the block keeps the shape. That is decided at width 1.0 from the stage layout, not from the scaled
widths (which can coincide, e.g. 80 and 96 channels both become 24 at width 0.25), so a space has
the same edges and candidates, hence the same fingerprint, at every scale: an architecture found at
32 px loads into the 224 px space. With the ProxylessNAS layout the blocks without ``identity`` are
the first of each stage (6 of 21). Another layout (``stage_blocks``, ...) is another set of edges, hence
another fingerprint (``senas``'s CPU scale is one).

Scale arguments (every chain space takes them; ``stem_channels`` and ``first_channels`` are not scale
arguments, they belong to the space): ``resolution``, ``width``, ``num_classes``,
``in_channels``, ``stem_stride``, ``head_channels``, ``dropout``, and the layout ``stage_channels``,
``stage_blocks``, ``stage_strides`` (sequences of ints of equal length; a comma-separated string such
as ``"24,40,80"`` is accepted too, which is what ``--scale`` on the command line passes). Bad values
raise :class:`~graphnas.errors.SpaceError` naming the argument.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Callable, Sequence

from graphnas.space.architecture import Architecture
from graphnas.errors import SpaceError
from graphnas.ops import mbconv_name
from graphnas.space.searchspace import STEM, ChoiceEdge, Head, Node, SearchSpace, Stem
from graphnas.utils import make_divisible

__all__ = ["STEM_CHANNELS", "FIRST_CHANNELS", "HEAD_CHANNELS", "PROXYLESS_LAYOUT", "FAIRNAS_LAYOUT", "mbconv_ops",
           "chain_space", "block_stages", "stage_prefix_arch"]

#: Default width of the stem conv and of node 0 (after the stem's separable projection), at width 1.0.
STEM_CHANNELS = 32
FIRST_CHANNELS = 16
#: Default width of the head's 1x1 conv at width 1.0.
HEAD_CHANNELS = 1280

#: ProxylessNAS (mobile) stages after the 16-channel stem output: 21 blocks.
PROXYLESS_LAYOUT = dict(stage_channels=(24, 40, 80, 96, 192, 320), stage_blocks=(4, 4, 4, 4, 4, 1),
                        stage_strides=(2, 2, 2, 1, 2, 1))
#: FairNAS stages (the same widths and strides, 2 blocks in the first stage): 19 blocks.
FAIRNAS_LAYOUT = dict(stage_channels=(24, 40, 80, 96, 192, 320), stage_blocks=(2, 4, 4, 4, 4, 1),
                      stage_strides=(2, 2, 2, 1, 2, 1))


def mbconv_ops(kernels: Sequence[int], expansions: Sequence[int]) -> tuple[str, ...]:
    """Linear-bottleneck operator names (no SE), kernel-major: ``mbconv_k3_e3, mbconv_k3_e6, mbconv_k5_e3, ...``."""
    return tuple(mbconv_name(k, e) for k in kernels for e in expansions)


def _ints(name: str, arg: str, value, minimum: int) -> tuple[int, ...]:
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.replace(" ", "").split(",") if v]
        except ValueError:
            raise SpaceError(f"{name}: {arg}={value!r} is not a comma-separated list of ints") from None
    elif isinstance(value, Integral) and not isinstance(value, bool):
        value = [value]
    try:
        items = tuple(value)
    except TypeError:
        raise SpaceError(f"{name}: {arg} must be a sequence of ints, got {value!r}") from None
    if not items or any(isinstance(v, bool) or not isinstance(v, Integral) or v < minimum for v in items):
        raise SpaceError(f"{name}: {arg} must be a non-empty sequence of ints >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def _check_scalars(name: str, resolution, width, num_classes, in_channels, stem_stride, head_channels,
                   dropout) -> None:
    def is_int(v):
        return isinstance(v, Integral) and not isinstance(v, bool)

    problems = []
    if not is_int(resolution) or resolution < 1:
        problems.append(f"resolution >= 1 (an int), got {resolution!r}")
    if isinstance(width, bool) or not isinstance(width, Real) or not math.isfinite(width) or width <= 0:
        problems.append(f"width > 0, got {width!r}")
    if not is_int(num_classes) or num_classes < 2:
        problems.append(f"num_classes >= 2, got {num_classes!r}")
    if not is_int(in_channels) or in_channels < 1:
        problems.append(f"in_channels >= 1, got {in_channels!r}")
    if not is_int(stem_stride) or stem_stride < 1:
        problems.append(f"stem_stride >= 1, got {stem_stride!r}")
    if head_channels is not None and (not is_int(head_channels) or head_channels < 1):
        problems.append(f"head_channels >= 1 or None, got {head_channels!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
        problems.append(f"0 <= dropout < 1, got {dropout!r}")
    if problems:
        raise SpaceError(f"{name}: need " + "; ".join(problems))


def chain_space(name: str, ops: Sequence[str], *, identity: bool, resolution: int, width: float, num_classes: int,
                in_channels: int, stem_stride: int, head_channels: int | None, dropout: float,
                stage_channels, stage_blocks, stage_strides, stem_channels: int = STEM_CHANNELS,
                first_channels: int = FIRST_CHANNELS) -> SearchSpace:
    """Build a chain space: one choice edge per block offering ``ops`` (plus ``identity`` where the block
    keeps the shape at width 1.0, if ``identity``). ``stem_channels`` and ``first_channels`` are the widths
    of the stem conv and of node 0 at width 1.0. See the module docstring for the other arguments."""
    _check_scalars(name, resolution, width, num_classes, in_channels, stem_stride, head_channels, dropout)
    for arg, value in (("stem_channels", stem_channels), ("first_channels", first_channels)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise SpaceError(f"{name}: need {arg} >= 1 (an int), got {value!r}")
    channels = _ints(name, "stage_channels", stage_channels, 1)
    blocks = _ints(name, "stage_blocks", stage_blocks, 1)
    strides = _ints(name, "stage_strides", stage_strides, 1)
    if not len(channels) == len(blocks) == len(strides):
        raise SpaceError(f"{name}: stage_channels, stage_blocks and stage_strides need one entry per stage; got "
                         f"{len(channels)}, {len(blocks)} and {len(strides)} entries")
    total = stem_stride * math.prod(strides)
    if resolution < total:
        raise SpaceError(f"{name}: resolution {resolution} is too small for a total reduction of x{total} "
                         f"(stem_stride {stem_stride} x stage strides {'*'.join(map(str, strides))}); use "
                         f"resolution >= {total} or a smaller stem_stride")

    nodes = [Node(0, 0, make_divisible(first_channels * width), stem_stride)]
    edges = []
    c_prev, reduction = first_channels, stem_stride
    for stage, (c, n, s) in enumerate(zip(channels, blocks, strides), start=1):
        for b in range(n):
            stride = s if b == 0 else 1
            reduction *= stride
            keeps_shape = stride == 1 and c == c_prev
            cands = tuple(ops) + (("identity",) if identity and keeps_shape else ())
            nodes.append(Node(len(nodes), stage, make_divisible(c * width), reduction))
            edges.append(ChoiceEdge(len(nodes) - 2, len(nodes) - 1, STEM, cands))
            c_prev = c
    head = Head(make_divisible(head_channels * max(1.0, width)) if head_channels else None, dropout)
    return SearchSpace(
        name, nodes, edges, input_shape=(in_channels, resolution, resolution), num_classes=num_classes,
        stem=Stem(make_divisible(stem_channels * width), stem_stride), head=head,
        scale=dict(resolution=resolution, width=width, num_classes=num_classes, in_channels=in_channels,
                   stem_stride=stem_stride, head_channels=head_channels, dropout=dropout,
                   stage_channels=list(channels), stage_blocks=list(blocks), stage_strides=list(strides)),
    )


def chain_factory(name: str, ops: Sequence[str], *, identity: bool, layout: dict, title: str,
                  before: Callable[[], None] | None = None, stem_channels: int = STEM_CHANNELS,
                  first_channels: int = FIRST_CHANNELS,
                  head_channels: int | None = HEAD_CHANNELS) -> Callable[..., SearchSpace]:
    """The ``make_space(**scale)`` of a chain space: :func:`chain_space` with paper-scale defaults.

    Args:
        name (str): the space's name.
        ops (sequence of str): the operators every block offers.
        identity (bool): add ``identity`` where a block keeps the shape.
        layout (dict): default ``stage_channels``, ``stage_blocks`` and ``stage_strides``.
        title (str): the first words of the docstring (``"The FairNAS space"``).
        before (callable, optional): run before building (e.g. registering the space's operators).
        stem_channels (int): width of the stem conv at width 1.0 (fixed for the space, not a scale argument).
        first_channels (int): width of node 0, the stem's separable projection, at width 1.0 (fixed likewise).
        head_channels (int, optional): the default of ``make_space``'s ``head_channels`` (a scale argument).
    """
    default_head = head_channels

    def make_space(resolution: int = 224, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                   stem_stride: int = 2, head_channels: int | None = default_head, dropout: float = 0.0,
                   stage_channels=layout["stage_channels"], stage_blocks=layout["stage_blocks"],
                   stage_strides=layout["stage_strides"]) -> SearchSpace:
        if before is not None:
            before()
        return chain_space(name, ops, identity=identity, resolution=resolution, width=width,
                           num_classes=num_classes, in_channels=in_channels, stem_stride=stem_stride,
                           head_channels=head_channels, dropout=dropout, stage_channels=stage_channels,
                           stage_blocks=stage_blocks, stage_strides=stage_strides, stem_channels=stem_channels,
                           first_channels=first_channels)

    make_space.__doc__ = f"""{title} at a given scale (defaults: 224 px ImageNet, width 1.0).

    Args:
        resolution (int): input size; at least ``stem_stride`` times the product of the stage strides.
        width (float): width multiplier for every stage, the stem and (above 1) the head.
        num_classes (int), in_channels (int): classifier outputs and image channels.
        stem_stride (int): stride of the stem conv (2 for ImageNet, 1 for tiny images).
        head_channels (int, optional): width of the head's 1x1 conv (default {default_head}), ``None`` for none.
        dropout (float): dropout before the classifier.
        stage_channels, stage_blocks, stage_strides: the stage layout (default: the module's table).
    """
    return make_space


def block_stages(space: SearchSpace) -> list[list[int]]:
    """Choice-edge positions grouped by stage (stage 1 first), in order."""
    stages: dict[int, list[int]] = {}
    for i, e in enumerate(space.edges):
        stages.setdefault(space.nodes[e.dst].stage, []).append(i)
    return [stages[k] for k in sorted(stages)]


def stage_prefix_arch(space: SearchSpace, counts: Sequence[int], op: str) -> Architecture:
    """The architecture running ``op`` on the first ``counts[s]`` blocks of stage ``s`` and ``identity`` on the
    rest (e.g. MobileNetV2 inside the ``proxyless`` space)."""
    stages = block_stages(space)
    if len(counts) != len(stages) or any(not 1 <= c <= len(b) for c, b in zip(counts, stages)):
        raise SpaceError(f"space '{space.name}': need 1..blocks operators per stage for its {len(stages)} stages "
                         f"({', '.join(str(len(b)) for b in stages)} blocks), got {list(counts)}")
    ops = [op if k < c else "identity" for c, b in zip(counts, stages) for k in range(len(b))]
    return space.from_ops(ops)
