"""Every built-in space: builds at paper scale and at its CPU scale, and its random architectures
compile, run, cost exactly what the compiled module counts, load at another scale and render."""

from __future__ import annotations

import pytest
import torch

import graphnas
from graphnas import Supernet, arch_cost, count_module
from graphnas.nets import compile
from graphnas.cost import extreme_archs
from graphnas.space.registry import _builtin_names, space_info
from graphnas.render.dag import to_dot

SPACES = _builtin_names()


def cpu_space(name: str):
    return graphnas.get_space(name, **space_info(name).cpu_scale, in_channels=1, num_classes=10)


def test_the_papers_spaces_are_all_there():
    assert {"st_nas", "spos_shufflenet", "proxyless", "pcnas_small", "pcnas_large", "fairnas", "nb201",
            "senas"} <= set(SPACES)


@pytest.mark.parametrize("name", SPACES)
def test_module_describes_itself(name):
    info = space_info(name)
    assert info.paper, f"spaces/{name}.py needs PAPER"
    assert info.cpu_scale, f"spaces/{name}.py needs CPU_SCALE"
    assert info.cpu_ops is None or set(info.cpu_ops) <= set(graphnas.op_names())


@pytest.mark.parametrize("name", SPACES)
def test_paper_scale_size_and_cost_range(name):
    space = graphnas.get_space(name)
    assert isinstance(space.size, int) and space.size > 1
    low, high = (arch_cost(a) for a in extreme_archs(space))
    assert 0 < low.madds < high.madds and 0 < low.params <= high.params
    for seed in range(5):
        cost = arch_cost(space.sample(seed))
        assert low.madds <= cost.madds <= high.madds


@pytest.mark.parametrize("name", SPACES)
def test_cpu_scale_archs_compile_run_and_cost_what_they_count(name):
    space = cpu_space(name)
    paper = graphnas.get_space(name)
    assert space.fingerprint == paper.fingerprint and space.size == paper.size
    torch.manual_seed(0)
    for seed in range(3):
        arch = space.sample(seed)
        net = compile(arch)
        x = torch.randn(2, *space.input_shape)
        net.train()
        assert net(x).shape == (2, 10)
        counted, analytic = count_module(net.eval(), space.input_shape), arch_cost(arch)
        assert analytic.params == counted.params
        assert abs(analytic.madds - counted.madds) <= 0.01 * counted.madds, (arch.ops, analytic, counted)
        # the same architecture at paper scale (scale-free JSON and hash)
        again = paper.from_json(arch.to_json())
        assert again.hash == arch.hash and again.choices == arch.choices
        dot = to_dot(arch).source
        assert dot.count("->") >= len(arch.live_edges)


@pytest.mark.parametrize("name", SPACES)
def test_cpu_scale_supernet_runs_paths_and_extracts(name):
    space = cpu_space(name)
    torch.manual_seed(0)
    supernet = Supernet(space).eval()
    x = torch.randn(2, *space.input_shape)
    for seed in (1, 2):
        arch = space.sample(seed)
        with torch.no_grad():
            assert torch.allclose(supernet(x, arch), supernet.extract(arch)(x), atol=1e-5)


REFERENCES = [(name, label) for name in SPACES for label in space_info(name).references]


def test_references_cover_the_issue():
    labels = {label for _, label in REFERENCES}
    assert {"MobileNetV2 1.0x", "ShuffleNetV2 1.0x", "ResNet-18", "ResNet-34"} <= labels


@pytest.mark.parametrize("name, label", REFERENCES)
def test_reference_models_cost_what_their_papers_publish(name, label):
    build, published = space_info(name).references[label]
    arch = build()
    assert arch.space.name == name  # the space, possibly at the reference's own layout (ShuffleNetV2: 3 stages)
    cost = arch_cost(arch)
    assert published and set(published) <= {"madds", "params"}
    for metric, value in published.items():
        ours = getattr(cost, metric)
        assert abs(ours - value) <= 0.02 * value, (label, metric, ours, value)
