"""The README's "Define your own space" example runs as written and does what its comments say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import graphnas

README = Path(__file__).resolve().parents[1] / "README.md"


def section_code(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, f"no python block in README section {title!r}"
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def example():
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(section_code("Define your own space"), str(README), "exec"), namespace)
    return namespace


def test_space_size(example):
    space = example["space"]
    assert isinstance(space, graphnas.SearchSpace)
    assert space.size == 162
    assert space.size == 3 * 2 * 3 * 3 * 3
    assert [len(e.candidates) for e in space.edges] == [3, 2, 3, 3, 3]


def test_printed_size(capsys):
    exec(compile(section_code("Define your own space"), str(README), "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.splitlines()[0] == "162"


def test_drop_unfit_removed_identity_on_reducing_edges(example):
    space = example["space"]
    for e in space.edges:
        reduces = space.nodes[e.dst].reduction != space.nodes[e.src].reduction
        assert ("identity" in e.candidates) == (not reduces)


def test_extracted_network_matches_supernet(example):
    supernet, same, arch, net = example["supernet"], example["same"], example["arch"], example["net"]
    assert isinstance(same, graphnas.Network) and same.arch == arch
    supernet.eval()
    same.eval()
    x = torch.randn(4, *example["space"].input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = supernet(x, arch), same(x)
        assert a.shape == (4, 10)
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
        assert net(x).shape == (4, 10)
    # a copy: changing the extracted weights leaves the supernet alone
    with torch.no_grad():
        next(same.parameters()).add_(1.0)
        assert torch.allclose(supernet(x, arch), a)
        assert not torch.allclose(same(x), a)


def test_arch_cost_matches_counted_cost(example):
    arch, net = example["arch"], example["net"]
    assert graphnas.arch_cost(arch).params == sum(p.numel() for p in net.parameters())
