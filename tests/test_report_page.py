"""graphnas report: one self-contained HTML page per run, rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from graphnas.cli.main import main
from graphnas.jobs.html_report import ReportError, write_run_report

from test_deploy import retrained

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_run_writes_its_page_and_every_picture_is_inlined(found_run):
    out, report = found_run
    page = out / "report.html"
    assert report["files"]["page"] == str(page)
    text = page.read_text()
    sources = re.findall(r'<img src="([^"]{0,40})', text)
    assert len(sources) >= 7 and all(s.startswith("data:image/") for s in sources)
    assert not re.search(r'(src|href)="(https?:|//|file:)', text)  # nothing fetched from anywhere
    for heading in ("Overview", "Configuration", "Space", "Supernet training", "Search", "Chosen architectures",
                    "Lookup table"):
        assert f"<h2>{heading}" in text
    assert report["best"]["hash"] in text and "image/svg+xml" in text


def test_a_retraining_gets_its_own_page(found_run, tmp_path, capsys):
    retrained(tmp_path / "r", found_run[0] / "best_arch.json", train={"epochs": 2, "batch_size": 64, "lr": 0.05})
    assert main(["report", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.html").read_text()
    assert "<h2>Retraining" in text and "Supernet training" not in text and "validation / test accuracy" in text


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "report.json").write_text("{"), "is not JSON"),
    (lambda d: (d / "report.json").write_text("[]"), "holds a JSON list"),
    (lambda d: (d / "report.json").write_text('{"best": 3, "space": {}, "data": {}}'), "not what graphnas writes"),
    (lambda d: [p.unlink() for p in d.glob("*.json")], "not the --out folder"),
    (lambda d: _edit_report(d, lambda r: r["best"]["ops"].append("conv")), "one per choice edge"),
    (lambda d: _edit_report(d, lambda r: r["space"].update(scale=2 ** 64)), "report.json"),
    (lambda d: _edit_report(d, lambda r: r.update(config=[])), "lacks config.setup"),
    (lambda d: _edit_report(d, lambda r: r["search"]["pareto"].insert(0, 3)), "pareto\\[0\\] is not an architecture"),
])
def test_a_damaged_run_folder_is_one_line(found_run, tmp_path, damage, message):
    copy = tmp_path / "run"
    shutil.copytree(found_run[0], copy)
    (copy / "report.html").unlink()
    damage(copy)
    with pytest.raises(ReportError, match=message):
        write_run_report(copy)
    assert not (copy / "report.html").exists()


def _edit_report(folder, change):
    report = json.loads((folder / "report.json").read_text())
    change(report)
    (folder / "report.json").write_text(json.dumps(report))


def test_each_architecture_is_drawn_once_whatever_its_records_hash(found_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(found_run[0], copy)
    before = write_run_report(copy).read_text().count("<img ")
    _edit_report(copy, lambda r: [p.update(hash="0" * 16) for p in r["search"]["pareto"]])
    assert write_run_report(copy).read_text().count("<img ") == before


def test_a_space_in_a_file_is_drawn_only_when_given(found_run, tmp_path):
    """graphnas never imports a .py file a report names: the page notes it, and --space FILE draws them."""
    copy = tmp_path / "run"
    shutil.copytree(found_run[0], copy)
    _edit_report(copy, lambda r: r["space"].update(name="my_space.py"))
    text = write_run_report(copy).read_text()
    assert "not drawn:" in text and "<h2>Overview" in text and "image/svg+xml" not in text
    with pytest.raises(ReportError, match="report.json"):
        write_run_report(copy, space=str(tmp_path / "absent.py"))  # a given space that cannot be built: one line


def test_missing_run_folder(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (OS package chromium) is not installed; setup.sh "
                                             "installs it")
def test_the_page_renders_in_headless_chromium(found_run, tmp_path):
    page = found_run[0] / "report.html"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files",
            f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(base + ["--virtual-time-budget=10000", "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    loaded = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert loaded and loaded.group(1) == loaded.group(2) and int(loaded.group(2)) >= 7, dom[:200]
    assert '<p class="bad">' not in dom  # no picture marked as failed
    shot = tmp_path / "shot.png"
    subprocess.run(base + ["--window-size=1200,2000", f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=120)
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    assert pixels.std() > 0.05 and (pixels < 0.5).mean() > 0.005  # text and pictures, not a blank page
    assert json.loads((found_run[0] / "report.json").read_text())["files"]["page"] == str(page)
