"""The MobileNet-like chain spaces (proxyless, fairnas, pcnas_small, pcnas_large, senas) and the PC-NAS operators.

Exact sizes and candidates, the stage layout at paper scale (senas's wider skeleton, and the other spaces'
fingerprints as they were before the skeleton's widths became arguments), compile/forward/cost at CPU scale,
supernet extraction, the NConv/DConv/RConv operators (their layers, and closed-form costs against
counting), MobileNetV2-1.0 as an architecture of ``proxyless``, and scale validation.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
import torch

import graphnas
from graphnas import OpError, SpaceError, Supernet, arch_cost, count_module, get_op
from graphnas.nets import compile
from graphnas.cost import Cost, conv_cost, extreme_archs, op_cost
from graphnas.ops import registry

#: The CPU scale the tests run the spaces at (1000 -> 10 classes, 224 -> 32 px, stem stride 1).
CPU = dict(resolution=32, width=0.25, num_classes=10, stem_stride=1)
SPACES = ("proxyless", "fairnas", "pcnas_small", "pcnas_large", "senas")

MB6 = tuple(f"mbconv_k{k}_e{e}" for k in (3, 5, 7) for e in (3, 6))
MB9 = tuple(f"mbconv_k{k}_e{e}" for k in (3, 5, 7) for e in (1, 3, 6))
#: PC-NAS's large-space extras in the paper's order (NConv_1_3, NConv_2_3, DConv_1_3, ..., RConv_4_7).
EXTRA = ("nconv_k3_e1", "nconv_k3_e2", "dconv_k3_e1", "dconv_k3_e2", "rconv_k5_e1", "rconv_k5_e2", "rconv_k5_e4",
         "rconv_k7_e1", "rconv_k7_e2", "rconv_k7_e4")
#: Blocks per stage of the ProxylessNAS layout (first block of each stage: no identity).
PROXYLESS_FIRST = {0, 4, 8, 12, 16, 20}


@pytest.fixture(scope="module", autouse=True)
def pcnas_ops():
    """Register the PC-NAS operators into a private copy of the registry, so other test modules (which
    count the built-in operators) never see them; restore the registry afterwards."""
    saved = registry._REGISTRY
    registry._REGISTRY = dict(saved)
    try:
        module = importlib.import_module("graphnas.ops.pcnas")
        module.register()
        yield module
    finally:
        registry._REGISTRY = saved


def space(name: str, **scale):
    return graphnas.get_space(name, **scale)


# ---------------------------------------------------------------------- sizes and candidates
def expected_candidates(name: str) -> list[tuple[str, ...]]:
    if name == "fairnas":
        return [MB6] * 19
    ops = {"proxyless": MB6, "pcnas_small": MB9, "pcnas_large": MB9 + EXTRA, "senas": MB6}[name]
    return [ops if i in PROXYLESS_FIRST else ops + ("identity",) for i in range(21)]


EXPECTED_SIZE = {
    "proxyless": 6 ** 6 * 7 ** 15,
    "fairnas": 6 ** 19,
    "pcnas_small": 9 ** 6 * 10 ** 15,
    "pcnas_large": 19 ** 6 * 20 ** 15,
    "senas": 6 ** 6 * 7 ** 15,
}


@pytest.mark.parametrize("name", SPACES)
def test_exact_size_and_candidates(name):
    module = importlib.import_module(f"spaces.{name}")
    paper, small = space(name), space(name, **CPU)
    for s in (paper, small):
        assert type(s.size) is int and s.size == EXPECTED_SIZE[name] == module.SIZE
        assert [e.candidates for e in s.edges] == expected_candidates(name)
        assert [(e.src, e.dst, e.kind) for e in s.edges] == [(i, i + 1, "stem") for i in range(s.num_edges)]
        assert s.num_topologies == 1
    # identity's places are fixed by the layout, not by the scaled widths: one fingerprint at every scale
    assert paper.fingerprint == small.fingerprint
    arch = small.sample(3)
    assert paper.from_json(arch.to_json()).ops == arch.ops


def test_size_values():
    assert EXPECTED_SIZE["proxyless"] == 221_502_229_807_900_608
    assert EXPECTED_SIZE["fairnas"] == 609_359_740_010_496
    assert EXPECTED_SIZE["pcnas_small"] == 531_441 * 10 ** 15
    assert EXPECTED_SIZE["pcnas_large"] == 47_045_881 * 20 ** 15
    assert EXPECTED_SIZE["senas"] == 221_502_229_807_900_608
    from spaces import pcnas_large, pcnas_small, proxyless

    assert (proxyless.NOMINAL_SIZE, pcnas_small.NOMINAL_SIZE, pcnas_large.NOMINAL_SIZE) == (7 ** 21, 10 ** 21, 20 ** 21)
    assert len(set(pcnas_large.OPS)) == 19 and set(pcnas_large.OPS) == set(MB9 + EXTRA)


def test_identity_kept_out_where_scaled_widths_coincide():
    # at width 0.25, 80 and 96 channels both round to 24: the 96 stage's first block keeps the shape there,
    # yet it offers no identity (it does not at width 1.0, and the space must not change with scale)
    s = space("proxyless", **CPU)
    c_in, c_out, stride, _ = s.edge_shape(12)
    assert (c_in, c_out, stride) == (24, 24, 1)
    assert "identity" not in s.edges[12].candidates
    # a layout whose stage starts with the previous stage's width at stride 1 does get identity there
    s = space("proxyless", stage_channels=(24, 40, 80, 80, 192, 320))
    assert "identity" in s.edges[12].candidates and s.size == 6 ** 5 * 7 ** 16


PAPER_LAYOUT = {  # (channels, resolution) of nodes 0..L at 224 px, width 1.0
    "proxyless": [(16, 112)] + [(24, 56)] * 4 + [(40, 28)] * 4 + [(80, 14)] * 4 + [(96, 14)] * 4
    + [(192, 7)] * 4 + [(320, 7)],
    "fairnas": [(16, 112)] + [(24, 56)] * 2 + [(40, 28)] * 4 + [(80, 14)] * 4 + [(96, 14)] * 4
    + [(192, 7)] * 4 + [(320, 7)],
    "senas": [(24, 112)] + [(32, 56)] * 4 + [(56, 28)] * 4 + [(112, 14)] * 4 + [(128, 14)] * 4
    + [(256, 7)] * 4 + [(432, 7)],
}
#: (stem conv, head 1x1 conv) channels at paper scale; (stem conv, node 0, head input) at the tests' CPU scale.
SKELETON = {"senas": ((40, 1728), (16, 8, 112))}
DEFAULT_SKELETON = ((32, 1280), (8, 8, 80))


@pytest.mark.parametrize("name", SPACES)
def test_paper_scale_layout(name):
    s = space(name)
    layout = PAPER_LAYOUT.get(name, PAPER_LAYOUT["proxyless"])
    (stem, head), (small_stem, small_first, small_out) = SKELETON.get(name, DEFAULT_SKELETON)
    assert [(n.channels, n.resolution) for n in s.nodes] == layout
    assert s.stem.channels == stem and s.stem.stride == 2 and s.head.channels == head
    assert s.input_shape == (3, 224, 224) and s.num_classes == 1000
    assert [n.stage for n in s.nodes][:2] == [0, 1] and s.nodes[-1].stage == 6
    small = space(name, **CPU)
    assert small.stem.channels == small_stem and small.nodes[0].channels == small_first
    assert small.out_shape == (small_out, 2)


#: The chain spaces' fingerprints at every scale, recorded before stem, node-0 and head widths became
#: chain_factory arguments (they must not change: tables and checkpoints name the space by them).
FINGERPRINTS = {"proxyless": "d6b5cc3d0f42531b", "fairnas": "e6fbeca85665c2ae", "pcnas_small": "a68ccc7a0ff1a0d7",
                "pcnas_large": "a974cac83b5dd494"}


@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
def test_existing_chain_spaces_are_unchanged(name):
    from graphnas.space.registry import space_factory, space_info

    paper, cpu = space(name), space(name, **space_info(name).cpu_scale)
    assert paper.fingerprint == cpu.fingerprint == FINGERPRINTS[name]
    # MobileNetV2's skeleton: stem 32, node 0 16, head 1280 (the defaults), and head_channels stays a scale argument
    assert (paper.stem.channels, paper.nodes[0].channels, paper.head.channels) == (32, 16, 1280)
    assert (cpu.stem.channels, cpu.nodes[0].channels, cpu.head.channels) == (8, 8, None)
    params = inspect.signature(space_factory(name)).parameters
    assert params["head_channels"].default == 1280 and "stem_channels" not in params and "first_channels" not in params
    # the pre-change costs of the extreme architectures (paper scale)
    low = {"proxyless": 102_528_896, "fairnas": 231_681_920}.get(name, 51_186_304)
    high = {"fairnas": 518_983_424}.get(name, 606_590_720)
    assert [arch_cost(a).madds for a in extreme_archs(paper)] == [low, high]


def test_senas_skeleton_at_paper_scale():
    from spaces import senas

    s = space("senas")
    assert s.stem.channels == 40 and s.stem.stride == 2 and s.nodes[0].channels == 24 and s.head.channels == 1728
    by_stage = {}
    for n in s.nodes[1:]:
        by_stage.setdefault(n.stage, []).append(n.channels)
    assert [sorted(set(w)) for w in by_stage.values()] == [[32], [56], [112], [128], [256], [432]]
    assert [len(w) for w in by_stage.values()] == [4, 4, 4, 4, 4, 1]
    assert [n.reduction for n in s.nodes] == [2] + [4] * 4 + [8] * 4 + [16] * 8 + [32] * 5
    assert s.num_edges == 21 and [e.candidates for e in s.edges] == expected_candidates("senas")
    assert s.size == senas.SIZE == 6 ** 6 * 7 ** 15
    assert s.fingerprint != space("proxyless").fingerprint  # same candidates, another name
    # the head's width is a scale argument (default 1728); the stem and node 0 widths belong to the space
    assert space("senas", head_channels=None).head.channels is None
    assert space("senas", width=0.5).stem.channels == 24 and space("senas", width=0.5).nodes[0].channels == 16
    # the same architecture (same seed, same candidates per block) on the wider skeleton costs more
    assert space("senas").sample(0).ops == space("proxyless").sample(0).ops
    assert arch_cost(space("senas").sample(0)).madds > arch_cost(space("proxyless").sample(0)).madds


def test_senas_cpu_scale_keeps_four_operators_and_a_shallower_layout_is_a_scale_argument():
    from graphnas.jobs.setup import restrict_ops
    from graphnas.space.registry import space_info
    from spaces import senas

    info = space_info("senas")
    assert info.cpu_ops == senas.CPU_OPS and set(senas.CPU_OPS) <= set(senas.OPS) | {"identity"}
    assert space("senas", **info.cpu_scale).fingerprint == space("senas").fingerprint  # loads at paper scale
    s = space("senas", **info.cpu_scale, stage_blocks="1,2,2,2,2,1")
    assert s.num_edges == 10 and s.scale["stage_blocks"] == [1, 2, 2, 2, 2, 1]
    assert s.size == 6 ** 6 * 7 ** 4
    # the same layout given as a list is the same space; at paper width and resolution too
    assert space("senas", **info.cpu_scale, stage_blocks=[1, 2, 2, 2, 2, 1]).fingerprint == s.fingerprint
    assert space("senas", stage_blocks=(1, 2, 2, 2, 2, 1)).fingerprint == s.fingerprint != space("senas").fingerprint
    sub = restrict_ops(s, senas.CPU_OPS)
    first = {0, 1, 3, 5, 7, 9}  # first block of each stage: no identity, three MBConvs
    assert [len(e.candidates) for e in sub.edges] == [3 if i in first else 4 for i in range(10)]
    assert sub.size == 3 ** 6 * 4 ** 4


# ---------------------------------------------------------------------- compile, forward, cost
def every_op_archs(s):
    """One architecture per operator: that operator on every block offering it (the first candidate elsewhere)."""
    names = dict.fromkeys(op for e in s.edges for op in e.candidates)
    return [s.from_ops([op if op in e.candidates else e.candidates[0] for e in s.edges]) for op in names]


@pytest.mark.parametrize("name", SPACES)
def test_random_archs_compile_forward_and_cost(name):
    s = space(name, **CPU)
    assert s.input_shape == (3, 32, 32)
    for seed in range(3):
        arch = s.sample(seed)
        net = compile(arch).eval()
        with torch.no_grad():
            y = net(torch.randn(2, *s.input_shape))
        assert y.shape == (2, 10) and torch.isfinite(y).all()
        cost = arch_cost(arch)
        assert isinstance(cost.madds, int) and isinstance(cost.params, int)
        assert cost == count_module(net, s.input_shape), (name, seed)


@pytest.mark.parametrize("name", SPACES)
def test_every_candidate_costs_exactly_in_place(name):
    s = space(name, **CPU)
    archs = every_op_archs(s)
    assert len(archs) == len({op for e in s.edges for op in e.candidates})
    for arch in archs:
        assert arch_cost(arch) == count_module(compile(arch), s.input_shape), arch.ops[1]


def test_odd_resolution_and_width():
    s = space("pcnas_large", resolution=40, width=0.35, num_classes=7, in_channels=1, stem_stride=1,
              head_channels=None)
    assert [n.resolution for n in s.nodes][-1] == 3  # 40 -> 20 -> 10 -> 5 -> 3
    for seed in range(2):
        arch = s.sample(seed)
        assert arch_cost(arch) == count_module(compile(arch), s.input_shape)


# ---------------------------------------------------------------------- PC-NAS operators
#: (c_in, c_out, stride): stride 1 and 2 (and 4), c_in == c_out and not.
OP_SHAPES = [(8, 8, 1), (8, 16, 1), (16, 8, 1), (8, 8, 2), (8, 24, 2), (24, 24, 2), (20, 12, 2), (8, 8, 4)]


@pytest.mark.parametrize("op", EXTRA)
def test_pcnas_op_cost_equals_counter(op):
    spec = get_op(op)
    assert spec.cost is not None and spec.description
    for c_in, c_out, stride in OP_SHAPES:
        assert spec.fits(c_in, c_out, stride)
        for res in (7, 8):  # odd and even
            module = spec.factory(c_in, c_out, stride)
            assert op_cost(op, c_in, c_out, stride, res) == count_module(module, (c_in, res, res)), (c_in, c_out,
                                                                                                      stride, res)
            y = module(torch.randn(2, c_in, res, res))
            assert y.shape == (2, c_out, -(-res // stride), -(-res // stride))


def test_rectangular_conv_cost():
    assert conv_cost(8, 8, (1, 5), (1, 2), 7, groups=8) == Cost(5 * 8 * 7 * 4, 5 * 8)
    assert conv_cost(8, 8, (5, 1), (2, 1), (7, 4), groups=8) == Cost(5 * 8 * 4 * 4, 5 * 8)
    assert conv_cost(8, 16, (3, 3), (2, 2), (7, 7)) == conv_cost(8, 16, 3, 2, 7)
    conv = torch.nn.Conv2d(8, 6, (1, 7), (1, 2), (0, 3), bias=False)
    assert conv_cost(8, 6, (1, 7), (1, 2), 9) == count_module(conv, (8, 9, 9))


def test_pcnas_op_definitions(pcnas_ops):
    r = 8
    bn = lambda n: Cost(0, 2 * n)  # noqa: E731
    dw = lambda c, k, s, res: conv_cost(c, c, k, s, res, groups=c) + bn(c)  # noqa: E731
    # NConv_2_3: 1x1 16 -> 32, 3x3 depthwise at stride 2, 1x1 32 -> 24 (no residual: the shape changes)
    assert op_cost("nconv_k3_e2", 16, 24, 2, r) == (conv_cost(16, 32, 1, 1, r) + bn(32) + dw(32, 3, 2, r)
                                                    + conv_cost(32, 24, 1, 1, 4) + bn(24))
    # DConv_1_3: the 1x1 expansion is kept at expand 1; the second 3x3 runs on the strided map
    assert op_cost("dconv_k3_e1", 16, 24, 2, r) == (conv_cost(16, 16, 1, 1, r) + bn(16) + dw(16, 3, 2, r)
                                                    + dw(16, 3, 1, 4) + conv_cost(16, 24, 1, 1, 4) + bn(24))
    # RConv_4_5: 1x5 strides the width (8 x 8 -> 8 x 4), 5x1 the height (-> 4 x 4)
    assert op_cost("rconv_k5_e4", 16, 24, 2, r) == (conv_cost(16, 64, 1, 1, r) + bn(64) + dw(64, (1, 5), (1, 2), r)
                                                    + dw(64, (5, 1), (2, 1), (8, 4)) + conv_cost(64, 24, 1, 1, 4)
                                                    + bn(24))
    rconv = get_op("rconv_k7_e2").factory(8, 8, 2)
    assert [layer[0].kernel_size for layer in rconv.depthwise] == [(1, 7), (7, 1)]
    assert [layer[0].stride for layer in rconv.depthwise] == [(1, 2), (2, 1)]
    assert [layer[0].groups for layer in rconv.depthwise] == [16, 16]
    dconv = get_op("dconv_k3_e2").factory(8, 8, 2)
    assert [layer[0].stride for layer in dconv.depthwise] == [(2, 2), (1, 1)]
    assert dconv.expand.conv.out_channels == 16 and dconv.project.act is None
    assert get_op("nconv_k3_e1").factory(8, 8, 1).expand is not None
    for op in EXTRA:
        assert get_op(op).factory(8, 8, 1).residual
        assert not get_op(op).factory(8, 16, 1).residual and not get_op(op).factory(8, 8, 2).residual
        # the residual ops really add their input: with zeroed BN weights (bias 0) they pass it through
        module = get_op(op).factory(8, 8, 1).eval()
        for bn_module in (mm for mm in module.modules() if isinstance(mm, torch.nn.BatchNorm2d)):
            torch.nn.init.zeros_(bn_module.weight)
        x = torch.rand(1, 8, 6, 6)
        with torch.no_grad():
            assert torch.allclose(module(x), x), op
    assert pcnas_ops.PCNAS_EXTRA_OPS == EXTRA
    assert [pcnas_ops.pcnas_name(*spec) for spec in pcnas_ops.PCNAS_OPS] == list(EXTRA)


def test_pcnas_register_is_idempotent_and_refuses_a_taken_name(pcnas_ops):
    before = dict(registry._REGISTRY)
    pcnas_ops.register()
    assert registry._REGISTRY == before
    saved = registry._REGISTRY
    registry._REGISTRY = {k: v for k, v in saved.items() if k != "nconv_k3_e1"}
    try:
        graphnas.register_op("nconv_k3_e1")(lambda c_in, c_out, stride: torch.nn.Identity())
        with pytest.raises(OpError, match="already registered"):
            pcnas_ops.register()
    finally:
        registry._REGISTRY = saved


# ---------------------------------------------------------------------- supernet
@pytest.mark.parametrize("name", SPACES)
def test_supernet_extract_matches(name):
    s = space(name, **CPU)
    sn = Supernet(s)
    sn.train()
    with torch.no_grad():  # non-trivial BN statistics on the paths used below
        for seed in range(3):
            sn(torch.randn(4, *s.input_shape) * 2 + 0.5, s.sample(100 + seed))
    arch = s.sample(100)
    x = torch.randn(3, *s.input_shape)
    for train in (False, True):
        sn.train(train)
        net = sn.extract(arch)
        assert net.training == train
        with torch.no_grad():
            y_net, y_sn = net(x), sn(x, arch)
        assert y_net.shape == (3, 10)
        assert torch.allclose(y_net, y_sn, atol=1e-5), (train, (y_net - y_sn).abs().max())
    assert sum(p.numel() for p in sn.path_parameters(arch)) == arch_cost(arch).params
    assert count_module(sn, s.input_shape, arch) == arch_cost(arch)


# ---------------------------------------------------------------------- MobileNetV2
def test_mobilenet_v2_is_300m_madds():
    from spaces.proxyless import mobilenet_v2

    arch = mobilenet_v2()
    assert arch.space.name == "proxyless" and arch.space.input_shape == (3, 224, 224)
    assert arch.ops.count("mbconv_k3_e6") == 16 and arch.ops.count("identity") == 5
    assert [n.channels for n in arch.space.nodes] == [16] + [24] * 4 + [32] * 4 + [64] * 4 + [96] * 4 + [160] * 4 \
        + [320]
    cost = arch_cost(arch)
    assert abs(cost.madds - 300e6) / 300e6 < 0.02
    # exactly MobileNetV2's conv + classifier multiply-adds and 3.5M parameters (the paper's "300M", "3.4M")
    assert cost == Cost(300_774_272, 3_504_872)


def test_mobilenet_v2_matches_torchvision_at_64px():
    torchvision = pytest.importorskip("torchvision")
    from spaces.proxyless import mobilenet_v2

    ours = arch_cost(mobilenet_v2(resolution=64))
    theirs = count_module(torchvision.models.mobilenet_v2(), (3, 64, 64))
    assert ours == theirs


# ---------------------------------------------------------------------- scale validation
BAD_SCALES = [
    (dict(resolution=16), "resolution 16 is too small for a total reduction of x32"),
    (dict(resolution=8, stem_stride=1), "use resolution >= 16"),
    (dict(width=0), "width > 0"),
    (dict(width=-0.5), "width > 0"),
    (dict(width=float("nan")), "width > 0"),
    (dict(num_classes=1), "num_classes >= 2"),
    (dict(in_channels=0), "in_channels >= 1"),
    (dict(stem_stride=0), "stem_stride >= 1"),
    (dict(resolution=32.5), "resolution=32.5 must be an integer"),
    (dict(head_channels=0), "head_channels >= 1 or None"),
    (dict(dropout=1.5), "dropout"),
    (dict(stage_blocks=(4, 4, 0, 4, 4, 1)), "stage_blocks must be a non-empty sequence of ints >= 1"),
    (dict(stage_channels=(24, 40)), "one entry per stage"),
    (dict(stage_channels="24,forty"), "not a comma-separated list"),
    (dict(stage_strides=()), "stage_strides must be a non-empty"),
]


@pytest.mark.parametrize("name", SPACES)
def test_bad_scale_raises_space_error(name):
    for scale, message in BAD_SCALES:
        with pytest.raises(SpaceError, match=message) as info:
            space(name, **scale)
        assert str(info.value).startswith(f"{name}: "), scale
    with pytest.raises(SpaceError, match="no scale argument 'depth'"):
        space(name, depth=3)


def test_layout_from_a_string_and_smallest_resolution():
    a = space("proxyless", stage_channels="24,32,64,96,160,320", stage_blocks="4,4,4,4,4,1")
    b = space("proxyless", stage_channels=(24, 32, 64, 96, 160, 320))
    assert [n.channels for n in a.nodes] == [n.channels for n in b.nodes] and a.fingerprint == b.fingerprint
    assert a.scale["stage_channels"] == [24, 32, 64, 96, 160, 320]
    assert space("fairnas", resolution=32).nodes[-1].resolution == 1  # exactly the total reduction x32
    assert space("fairnas", resolution=16, stem_stride=1).nodes[-1].resolution == 1


def test_stage_prefix_arch_validates():
    from spaces._mobilenet import stage_prefix_arch

    s = space("proxyless", **CPU)
    with pytest.raises(SpaceError, match="6 stages"):
        stage_prefix_arch(s, (2, 3, 4), "mbconv_k3_e6")
    with pytest.raises(SpaceError, match="1..blocks"):
        stage_prefix_arch(s, (2, 3, 4, 3, 3, 2), "mbconv_k3_e6")
    full = stage_prefix_arch(s, (4, 4, 4, 4, 4, 1), "mbconv_k5_e3")
    assert set(full.ops) == {"mbconv_k5_e3"}
