"""SE-NAS's stages as a picture (graphnas.search.plot.plot_stages): operators kept or removed per stage, the
merged layer groups per stage, PNG and SVG, one-line errors for bad records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graphnas import GraphnasError
from graphnas.search.plot import plot_stages
from spaces.pcnas_small import CPU_SCALE, make_space

REMOVED_1 = [[0, "mbconv_k7_e6"], [2, "identity"], [3, "mbconv_k3_e1"]]
REMOVED_2 = [[0, "mbconv_k3_e1"], [1, "mbconv_k7_e1"], [4, "mbconv_k5_e1"]]


@pytest.fixture(scope="module")
def space():
    # 7 blocks, one per stage but two in stage 2: edge 2 is the only one that offers identity
    return make_space(**CPU_SCALE, num_classes=10, in_channels=1, stage_blocks=(1, 2, 1, 1, 1, 1))


def allowed_after(space, removed):
    left = {e: list(space.edges[e].candidates) for e in range(space.num_edges)}
    for e, op in removed:
        left[e].remove(op)
    return {e: ops for e, ops in left.items() if len(ops) < len(space.edges[e].candidates)}


def three_stages(space):
    """A warm-up and two shrinking stages, through JSON (edge keys come back as strings)."""
    stages = [dict(stage=0, allowed={}, removed=[], groups=[], params=812_345),
              dict(stage=1, allowed=allowed_after(space, REMOVED_1), removed=REMOVED_1, groups=[[0, 1, 2], [3, 4]],
                   params=1_234_567),
              dict(stage=2, allowed=allowed_after(space, REMOVED_1 + REMOVED_2), removed=REMOVED_2,
                   groups=[[0, 1], [2], [3], [4]], params=None)]
    return json.loads(json.dumps(stages))


def test_space_is_small_with_an_identity_edge(space):
    assert space.num_edges == 7
    assert [("identity" in e.candidates) for e in space.edges] == [False, False, True, False, False, False, False]


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_draws_the_stages(tmp_path, space, suffix):
    path = plot_stages(three_stages(space), space, tmp_path / f"stages.{suffix}")
    assert path == tmp_path / f"stages.{suffix}"
    assert path.is_file() and path.stat().st_size > 0
    if suffix == "png":
        import matplotlib.image as mpimg

        pixels = mpimg.imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200
        assert float(pixels[..., :3].var()) > 0
    else:
        text = path.read_text()
        assert text.lstrip().startswith("<?xml") and "</svg>" in text


def test_title_labels_and_legend_in_the_svg(tmp_path, space):
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text kept as text, so it can be searched
        text = plot_stages(three_stages(space), space, tmp_path / "stages.svg").read_text()
    for words in ("SE-NAS on pcnas_small: operators kept per stage", "removed at stage 1 (3)",
                  "removed at stage 2 (3)", "kept to the last stage", "not a candidate", "stage 0 (812.3k params)",
                  "stage 1 (1.2M params)", "mbconv_k7_e6", "identity", "no merged groups"):
        assert words in text, words
    assert ">stage 2<" in text  # no params given: no count
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        custom = plot_stages(three_stages(space), space, tmp_path / "custom.svg", title="my title")
    assert "my title" in custom.read_text()


def test_params_as_the_supernet_counts_them(tmp_path, space):
    """``Supernet.parameter_counts()``'s dict: the total, and the private share when there is one."""
    import matplotlib

    stages = three_stages(space)
    stages[0]["params"] = {"shared": 812_345, "private": 0, "total": 812_345}
    stages[1]["params"] = {"shared": 900_000, "private": 400_000, "total": 1_300_000}
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        text = plot_stages(stages, space, tmp_path / "stages.svg").read_text()
    assert "stage 0 (812.3k params)" in text and "stage 1 (1.3M params, 400.0k private)" in text


def test_removals_read_from_allowed_alone(tmp_path, space):
    stages = three_stages(space)
    for entry in stages:
        entry["removed"] = []
        del entry["groups"]
    assert plot_stages(stages, space, tmp_path / "stages.png").stat().st_size > 0


def test_a_single_warm_up_stage(tmp_path, space):
    path = plot_stages([{"stage": 0, "allowed": {}, "removed": [], "groups": []}], space, tmp_path / "one.png")
    assert path.stat().st_size > 0


def bad(space, index=1, **change):
    stages = three_stages(space)
    stages[index].update(change)
    return stages


@pytest.mark.parametrize("make, words", [
    (lambda s: [], "no stage"),
    (lambda s: {"stage": 0}, "must be a list"),
    (lambda s: [1, 2], "not a dict"),
    (lambda s: bad(s, allowed={"9": ["mbconv_k3_e3"]}), "edge 9 is out of range"),
    (lambda s: bad(s, allowed={"x": ["mbconv_k3_e3"]}), "not an edge index"),
    (lambda s: bad(s, allowed={0: []}), "edge 0 has no operator left"),
    (lambda s: bad(s, removed=[[-1, "mbconv_k3_e3"]]), "edge -1 is out of range"),
    (lambda s: bad(s, removed=[[0, "identity"]]), "'identity' is not a candidate of edge 0"),
    (lambda s: bad(s, allowed={1: ["conv_9x9"]}), "'conv_9x9' is not a candidate of edge 1"),
    (lambda s: bad(s, removed=[[0]]), "not an [edge, operator] pair"),
    (lambda s: bad(s, groups=[[0, 7]]), "edge 7 is out of range"),
    (lambda s: bad(s, groups=[[0, 1], [1, 2]]), "edge 1 is in two merged groups"),
    (lambda s: bad(s, 2, stage=1), "must be in order"),
    (lambda s: bad(s, params=-3), "'params' must be an int"),
    (lambda s: bad(s, params={"shared": 3}), "'params' has no 'total'"),
    (lambda s: bad(s, params={"total": "many"}), "'params' must be an int"),
    (lambda s: bad(s, 2, allowed={}, removed=[]), "'mbconv_k7_e6' of edge 0 is allowed again"),
    (lambda s: bad(s, removed=REMOVED_1 + [[1, "mbconv_k3_e3"]]), "still allowed, but was removed at stage 1"),
    (lambda s: bad(s, 2, removed=REMOVED_2 + [REMOVED_1[0]]), "removed again"),
])
def test_bad_records_raise_one_line(tmp_path, space, make, words):
    with pytest.raises(GraphnasError) as info:
        plot_stages(make(space), space, tmp_path / "bad.png")
    message = str(info.value)
    assert words in message and "\n" not in message
    assert not (tmp_path / "bad.png").exists()


def test_bad_file_name(tmp_path, space):
    with pytest.raises(GraphnasError, match="use a .png, .svg or .pdf"):
        plot_stages(three_stages(space), space, tmp_path / "stages.jpg")


def test_png_pixels_differ_between_fates(tmp_path, space):
    """Kept cells are green, removed ones red-ish: both colours are in the picture."""
    import matplotlib.image as mpimg

    rgb = mpimg.imread(plot_stages(three_stages(space), space, tmp_path / "s.png"))[..., :3]
    green = (rgb[..., 1] > 0.5) & (rgb[..., 0] < 0.3) & (rgb[..., 2] < 0.3)
    red = (rgb[..., 0] > 0.5) & (rgb[..., 1] < 0.5) & (rgb[..., 2] < 0.4)
    assert np.count_nonzero(green) > 1000 and np.count_nonzero(red) > 100
