"""The space registry: built-in names, .py paths, registrations, and its errors."""

from __future__ import annotations

import pytest

import graphnas
import graphnas.space.registry as registry
from graphnas import SearchSpace, SpaceError
from graphnas.space.registry import get_space, register_space, space_factory, space_names

from conftest import build_tiny

SPACE_FILE = '''
from graphnas import ChoiceEdge, Node, SearchSpace, Stem

CALLS = []


def make_space(resolution=8, num_classes=3, in_channels=1):
    CALLS.append(resolution)
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
             ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3", "mbconv_k3_e1")),
             ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1"))]
    return SearchSpace("from_file", nodes, edges, input_shape=(in_channels, resolution, resolution),
                       num_classes=num_classes, stem=Stem(8))
'''


@pytest.fixture
def clean_registry(monkeypatch):
    """An empty registration table for this test (the module-level one is restored afterwards)."""
    monkeypatch.setattr(registry, "_REGISTRY", {})
    return registry


def test_builtin_st_nas(st_small):
    space = get_space("st_nas", resolution=32, width=0.25, num_classes=10, in_channels=1, stem_stride=1,
                      head_channels=None)
    assert isinstance(space, SearchSpace)
    assert space.name == "st_nas" and space.num_edges == 54
    assert space.input_shape == (1, 32, 32) and space.num_classes == 10
    assert space.scale["width"] == 0.25
    assert space == st_small  # same structure, same fingerprint
    assert "st_nas" in space_names()
    assert graphnas.get_space is get_space


def test_builtin_default_scale_is_paper_scale():
    space = get_space("st_nas")
    assert space.input_shape == (3, 224, 224) and space.num_classes == 1000
    assert space.size == 3316237953983866431531 * 10 ** 33


def test_py_file_space(tmp_path):
    path = tmp_path / "my_space.py"
    path.write_text(SPACE_FILE)
    space = get_space(str(path), resolution=16, num_classes=4)
    assert space.name == "from_file"
    assert space.input_shape == (1, 16, 16) and space.num_classes == 4
    assert space.size == 2 * 3 * 2
    assert space_factory(str(path)).__module__.startswith("graphnas_user_space_")


def test_py_file_unknown_scale_lists_its_arguments(tmp_path):
    path = tmp_path / "my_space.py"
    path.write_text(SPACE_FILE)
    with pytest.raises(SpaceError) as info:
        get_space(str(path), width=2)
    msg = str(info.value)
    assert "'width'" in msg
    for arg in ("resolution", "num_classes", "in_channels"):
        assert arg in msg


def test_missing_py_file(tmp_path):
    with pytest.raises(SpaceError, match="does not exist"):
        get_space(str(tmp_path / "nope.py"))


def test_module_without_make_space(tmp_path):
    path = tmp_path / "empty_space.py"
    path.write_text("def build():\n    return None\n")
    with pytest.raises(SpaceError) as info:
        get_space(str(path))
    assert "make_space" in str(info.value) and "empty_space.py" in str(info.value)


def test_module_with_non_callable_make_space(tmp_path):
    path = tmp_path / "weird.py"
    path.write_text("make_space = 3\n")
    with pytest.raises(SpaceError, match="make_space"):
        get_space(str(path))


def test_unknown_space_lists_the_valid_ones():
    with pytest.raises(SpaceError) as info:
        get_space("no_such_space")
    msg = str(info.value)
    assert "'no_such_space'" in msg and "st_nas" in msg and ".py" in msg


def test_unknown_scale_argument_lists_valid_ones():
    with pytest.raises(SpaceError) as info:
        get_space("st_nas", colour=3, resolution=32)
    msg = str(info.value)
    assert "'colour'" in msg and "'resolution'" not in msg
    for arg in ("resolution", "width", "num_classes", "in_channels", "stem_stride", "head_channels", "dropout"):
        assert arg in msg


def test_register_and_use(clean_registry):
    register_space("mine", lambda **scale: build_tiny("mine"))
    assert "mine" in space_names() and "st_nas" in space_names()
    space = get_space("mine", anything=1)  # **scale accepts any argument
    assert space.name == "mine" and space.size == 96


def test_register_as_decorator(clean_registry):
    @register_space("deco")
    def make(resolution=8):
        return build_tiny("deco")

    assert make.__name__ == "make"  # the decorator returns the function
    assert space_factory("deco") is make
    with pytest.raises(SpaceError, match="'width'"):
        get_space("deco", width=1)


def test_register_refuses_duplicates(clean_registry):
    first = lambda **kw: build_tiny("dup")  # noqa: E731
    second = lambda **kw: build_tiny("dup2")  # noqa: E731
    register_space("dup", first)
    with pytest.raises(SpaceError) as info:
        register_space("dup", second)
    assert "'dup'" in str(info.value) and "overwrite=True" in str(info.value)
    assert space_factory("dup") is first
    register_space("dup", second, overwrite=True)
    assert space_factory("dup") is second


def test_register_refuses_builtin_name(clean_registry):
    with pytest.raises(SpaceError, match="overwrite=True"):
        register_space("st_nas", lambda **kw: build_tiny("st_nas"))
    assert get_space("st_nas").num_edges == 54
    register_space("st_nas", lambda **kw: build_tiny("st_nas"), overwrite=True)
    assert get_space("st_nas").num_edges == 7  # the registration wins


def test_registration_does_not_leak():
    assert "mine" not in registry._REGISTRY and "dup" not in registry._REGISTRY
    assert get_space("st_nas").num_edges == 54
