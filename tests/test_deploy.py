"""From a found architecture to a deployed model: found-architecture files, graphnas retrain, graphnas export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import graphnas
from graphnas import GraphnasError
from graphnas.cli.main import main
from graphnas.jobs.found import FoundError, read_found
from graphnas.jobs.retrain import FoundSetup, RetrainConfig, read_model, retrain
from graphnas.lookup import LookupTable
from graphnas.nets.export import CHECK_BATCHES, ExportError, export_network, read_export_metadata
from graphnas.space.registry import rescaled

from test_job import OPS

TWO = {"epochs": 2, "batch_size": 64, "lr": 0.05}


def retrained(out, source, **kw) -> dict:
    train = kw.pop("train", TWO)
    return retrain(RetrainConfig(source=str(source), out=str(out), quiet=True, train=dict(train), **kw))


# ------------------------------------------------------------------------------------ found architectures
def test_every_source_gives_the_architecture_the_search_found(found_run):
    out, report = found_run
    from_arch = read_found(out / "best_arch.json")
    from_report = read_found(out / "report.json")
    assert from_arch.arch.hash == from_report.arch.hash == report["best"]["hash"]
    assert from_report.setup["data"] == "digits" and from_report.supernet == str(out / "checkpoint.pt")
    assert from_arch.supernet == str(out / "checkpoint.pt")  # the run folder's
    with LookupTable.open(out / "lookup.db") as table:
        row = table.query(top=3)[2]
        want = table.arch(row)
    by_index, by_hash = read_found(out / "lookup.db", row.index), read_found(out / "lookup.db", row.hash)
    assert by_index.arch.hash == by_hash.arch.hash == row.hash == want.hash
    assert by_index.arch.ops == want.ops and f"row {row.index}" in by_index.source


@pytest.mark.parametrize("row, message", [
    (None, "say which architecture with --row INDEX or HASH"),
    ("12x", "neither an index"),
    ("ffffffffffffffff", "no architecture with hash ffffffffffffffff"),
    ("999999999", "no architecture with index 999999999"),
])
def test_a_lookup_row_that_is_not_there_is_one_line(found_run, row, message):
    with pytest.raises(GraphnasError, match=message):
        read_found(found_run[0] / "lookup.db", row)


def test_bad_found_files_are_one_line(found_run, tmp_path):
    out, _ = found_run
    with pytest.raises(FoundError, match="--row picks a row of a lookup table"):
        read_found(out / "best_arch.json", "3")
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(FoundError, match="holds a JSON list, not an object"):
        read_found(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"a": 1}')
    with pytest.raises(FoundError, match="neither an architecture"):
        read_found(tmp_path / "y.json")
    with pytest.raises(GraphnasError, match="does not exist|not found|no such"):
        read_found(tmp_path / "missing.json")
    data = json.loads((out / "best_arch.json").read_text())
    (tmp_path / "a.json").write_text(json.dumps(data))  # away from its run folder: the job's --ops are unknown
    with pytest.raises(FoundError, match="but 'st_nas' built here has fingerprint .*pass the search's --space and --ops"):
        read_found(tmp_path / "a.json")
    assert read_found(tmp_path / "a.json", ops=OPS).arch.hash == data["hash"]
    (tmp_path / "z.json").write_text(json.dumps({**data, "hash": "0" * 16}))
    with pytest.raises(FoundError, match="is not the hash of its ops"):
        read_found(tmp_path / "z.json", ops=OPS)
    (tmp_path / "w.json").write_text(json.dumps({**data, "space": "../../evil.py"}))
    with pytest.raises(GraphnasError, match="never runs code a file names"):
        read_found(tmp_path / "w.json")
    report = json.loads((out / "report.json").read_text())
    report["best"]["ops"] = report["best"]["ops"][:-1]
    (tmp_path / "report.json").write_text(json.dumps(report))
    with pytest.raises(GraphnasError):
        read_found(tmp_path / "report.json")


def test_a_space_at_another_scale_keeps_every_hash():
    space = graphnas.get_space("st_nas", resolution=16, width=0.25, in_channels=1, num_classes=10, stem_stride=1)
    branch = next(i for i, e in enumerate(space.edges) if "none" in e.candidates)
    sub = space.subspace(allowed={0: space.edges[0].candidates[:1],
                                  branch: ["none", space.edges[branch].candidates[-1]]}, name="st_nas/mine")
    big = rescaled(sub, resolution=32, in_channels=3, num_classes=7)
    assert big.fingerprint == sub.fingerprint and big.name == sub.name
    assert big.input_shape == (3, 32, 32) and big.num_classes == 7
    arch = sub.sample(0)
    assert big.from_ops(arch.ops).hash == arch.hash
    assert [e.candidates for e in big.edges] == [e.candidates for e in sub.edges]


# -------------------------------------------------------------------------------------------------- retrain
def test_retrain_writes_a_model_that_reads_back(found_run, tmp_path):
    out, report = found_run
    s = retrained(tmp_path / "r", out / "report.json", setup=FoundSetup(scale={"resolution": 20}))
    assert s["hash"] == report["best"]["hash"] and s["scale"]["resolution"] == 20
    assert s["found_scale"]["resolution"] == 16 and s["data"]["input_shape"] == [1, 20, 20]
    assert len(s["history"]) == 2 and all(0 <= h["val_accuracy"] <= 1 for h in s["history"])
    assert 0.15 < s["test_accuracy"] <= 1  # above chance (10 classes) after two epochs
    for name in ("model", "summary", "curves", "arch", "checkpoint"):
        assert Path(s["files"][name]).is_file()
    assert json.loads((tmp_path / "r" / "retrain.json").read_text())["test_accuracy"] == s["test_accuracy"]
    model = read_model(tmp_path / "r" / "model.pt")
    assert model.net.arch.hash == s["hash"] and model.info["test_accuracy"] == s["test_accuracy"]
    assert not model.net.training
    from graphnas.estimate.score import accuracy
    from graphnas.train.data import load_dataset

    data = load_dataset("digits", resolution=20, seed=0)
    assert accuracy(model.net, data.test) == pytest.approx(s["test_accuracy"])


def test_retrain_killed_resumes_to_the_same_weights(found_run, tmp_path, interrupt_after, monkeypatch):
    import graphnas.train.loop as loop

    source = found_run[0] / "best_arch.json"
    retrained(tmp_path / "whole", source, train={**TWO, "epochs": 3})
    real = interrupt_after(loop, "save_checkpoint", 1)  # killed at the second epoch's end
    with pytest.raises(KeyboardInterrupt):
        retrained(tmp_path / "cut", source, train={**TWO, "epochs": 3})
    assert not (tmp_path / "cut" / "model.pt").exists()
    monkeypatch.setattr(loop, "save_checkpoint", real)
    resumed = retrained(tmp_path / "cut", source, train={**TWO, "epochs": 3}, resume=True)
    a, b = (read_model(tmp_path / d / "model.pt").net.state_dict() for d in ("whole", "cut"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["val_accuracy"] for h in resumed["history"]] == \
        [h["val_accuracy"] for h in json.loads((tmp_path / "whole" / "retrain.json").read_text())["history"]]


def test_a_retraining_repeats_for_its_seed(found_run, tmp_path):
    source = found_run[0] / "best_arch.json"
    torch.randn(5)  # whatever the global random state was before
    retrained(tmp_path / "a", source, train={**TWO, "epochs": 1})
    retrained(tmp_path / "b", source, train={**TWO, "epochs": 1})
    retrained(tmp_path / "c", source, train={**TWO, "epochs": 1}, seed=1)
    a, b, c = (read_model(tmp_path / d / "model.pt").net.state_dict() for d in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_init_supernet_starts_from_the_paths_shared_weights(found_run, tmp_path, monkeypatch):
    from graphnas.nets.supernet import Supernet
    from graphnas.train.checkpoint import read_trained

    import graphnas.train.loop as loop

    out, report = found_run
    started = {}
    real = loop.fit

    def fit(net, *args, **kwargs):
        started.update({k: v.clone() for k, v in net.state_dict().items()})
        return real(net, *args, **kwargs)

    monkeypatch.setattr(loop, "fit", fit)
    s = retrained(tmp_path / "s", out / "report.json", init="supernet", train={**TWO, "epochs": 1})
    assert s["init"] == "supernet" and s["supernet"] == str(out / "checkpoint.pt")
    found = read_found(out / "report.json")
    supernet = Supernet(found.space)
    supernet.load_state_dict(read_trained(out / "checkpoint.pt").state_dict)
    want = supernet.extract(found.arch).state_dict()
    assert started.keys() == want.keys() and all(torch.equal(started[k], want[k]) for k in want)
    with pytest.raises(GraphnasError, match="does not fit this network"):  # another width: other shapes
        retrained(tmp_path / "w", out / "report.json", init="supernet", setup=FoundSetup(scale={"width": 0.5}))


def test_retrain_refuses_bad_options_in_one_line(found_run, tmp_path):
    with pytest.raises(GraphnasError, match="unknown training option"):
        retrained(tmp_path / "x", found_run[0] / "best_arch.json", train={"epochz": 1})
    (tmp_path / "a.json").write_text((found_run[0] / "best_arch.json").read_text())
    with_ops = FoundSetup(ops=list(OPS))
    with pytest.raises(GraphnasError, match="names no supernet"):
        retrained(tmp_path / "y", tmp_path / "a.json", init="supernet", setup=with_ops)
    with pytest.raises(GraphnasError, match="checkpoint .* does not exist"):
        retrained(tmp_path / "z", tmp_path / "a.json", init="supernet", checkpoint=str(tmp_path / "none.pt"),
                  setup=with_ops)


# --------------------------------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def net():
    space = graphnas.get_space("st_nas", resolution=16, width=0.25, in_channels=1, num_classes=10, stem_stride=1,
                               head_channels=None)
    torch.manual_seed(0)
    model = graphnas.compile(space.sample(1))
    model.train()
    with torch.no_grad():  # running statistics that are not the defaults, so eval mode matters
        for _ in range(3):
            model(torch.randn(8, 1, 16, 16))
    return model


def test_export_writes_checked_files_with_the_architecture(net, tmp_path):
    import onnxruntime

    checks = export_network(net, tmp_path / "m", extra={"test_accuracy": 0.5})
    assert [c.format for c in checks] == ["torchscript", "onnx"]
    assert all(c.max_abs_diff <= c.tolerance and c.batch_sizes == list(CHECK_BATCHES) for c in checks)
    assert net.training  # the caller's network is not changed
    x = torch.randn(7, 1, 16, 16)  # a batch size the check did not use: the batch dimension is dynamic
    with torch.no_grad():
        want = net.eval()(x).numpy()
    net.train()
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    assert got.shape == (7, 10) and np.abs(got - want).max() < 1e-4
    scripted = torch.jit.load(str(tmp_path / "m.torchscript.pt"))
    assert np.abs(scripted(x).detach().numpy() - want).max() < 1e-5
    for name in ("m.onnx", "m.torchscript.pt"):
        meta = read_export_metadata(tmp_path / name)
        assert meta["hash"] == net.arch.hash and meta["ops"] == list(net.arch.ops)
        assert meta["input_shape"] == [None, 1, 16, 16] and meta["test_accuracy"] == 0.5


def test_an_export_that_does_not_reproduce_the_network_is_not_written(net, tmp_path, monkeypatch):
    import graphnas.nets.export as export

    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # nothing can pass
    with pytest.raises(ExportError, match=r"export torchscript: outputs differ from PyTorch's by .* at batch size 2"):
        export_network(net, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match="unknown format 'tflite'"):
        export_network(net, tmp_path / "m", ["tflite"])
    with pytest.raises(ExportError, match="does not exist"):
        export_network(net, tmp_path / "no" / "m")


def test_export_metadata_of_a_foreign_or_damaged_file_is_one_line(net, tmp_path):
    export_network(net, tmp_path / "m", ["onnx"])
    data = (tmp_path / "m.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    for path, message in ((tmp_path / "cut.onnx", "is not an exported model"),
                          (tmp_path / "none.onnx", "no exported model"),
                          (tmp_path / "m.onnx.txt", "no exported model")):
        with pytest.raises(ExportError, match=message):
            read_export_metadata(path)
    import zipfile

    with zipfile.ZipFile(tmp_path / "x.torchscript.pt", "w") as z:
        z.writestr("x/data.pkl", b"not a model")
    with pytest.raises(ExportError, match="has no graphnas metadata"):
        read_export_metadata(tmp_path / "x.torchscript.pt")


# ------------------------------------------------------------------------------------------------------ CLI
def test_cli_retrain_then_export(found_run, tmp_path, capsys):
    out, report = found_run
    assert main(["retrain", str(out / "best_arch.json"), "--out", str(tmp_path / "r"), "--epochs", "1",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert f"retrained {report['best']['hash']}" in text and "test accuracy" in text
    assert main(["export", str(tmp_path / "r" / "model.pt")]) == 0
    text = capsys.readouterr().out
    assert (tmp_path / "r" / "model.onnx").is_file() and (tmp_path / "r" / "model.torchscript.pt").is_file()
    assert "max difference" in text and "untrained" not in text
    assert read_export_metadata(tmp_path / "r" / "model.onnx")["test_accuracy"] == \
        json.loads((tmp_path / "r" / "retrain.json").read_text())["test_accuracy"]
    with LookupTable.open(out / "lookup.db") as table:
        row = table.query(top=1)[0]
    assert main(["export", str(out / "lookup.db"), "--row", row.hash, "--out", str(tmp_path / "e" / "x"),
                 "--formats", "onnx", "--scale", "resolution=24"]) == 0
    text = capsys.readouterr().out
    assert "untrained weights" in text and "input (batch, 1, 24, 24)" in text
    meta = read_export_metadata(tmp_path / "e" / "x.onnx")
    assert meta["hash"] == row.hash and meta["untrained"] is True and meta["input_shape"] == [None, 1, 24, 24]


@pytest.fixture(scope="module")
def retrained_dir(found_run, tmp_path_factory):
    d = tmp_path_factory.mktemp("retrained") / "r"
    retrained(d, found_run[0] / "best_arch.json", train={**TWO, "epochs": 1})
    return d


@pytest.mark.parametrize("argv, message", [
    (["export", "{d}/model.pt", "--scale", "resolution=32"], "exported as it was trained"),
    (["export", "{d}/nothing.pt"], "does not exist"),
    (["retrain", "{d}/nothing.json"], "does not exist"),
    (["export", "{d}/model.pt", "--formats", "tflite"], "unknown export format 'tflite'"),
])
def test_cli_bad_input_is_one_line(retrained_dir, capsys, argv, message):
    d = retrained_dir
    assert main([a.format(d=d) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"graphnas {graphnas.__version__}"


def test_the_lookup_table_is_untouched_by_reading_a_row(found_run):
    path = found_run[0] / "lookup.db"
    before = path.read_bytes()
    with LookupTable.open(path) as table:
        index = table.query(top=1)[0].index
    assert read_found(path, str(index)).arch.hash
    assert path.read_bytes() == before


@pytest.mark.parametrize("change, message", [
    (lambda b: b.update(val_accuracy=torch.zeros(2)), "val_accuracy must be a number in \\[0, 1\\]"),
    (lambda b: b.update(test_accuracy="x"), "test_accuracy must be a number"),
    (lambda b: b.update(test_accuracy=1.5), "test_accuracy must be a number"),
    (lambda b: b["data"].update(std=[0.0]), "std must be 1 numbers \\(one per channel, above 0\\)"),
    (lambda b: b["data"].update(mean=[0.1, 0.2]), "mean must be 1 numbers"),
    (lambda b: b["data"].update(input_shape=[1, -3, 16]), "lacks a name, an input shape"),
    (lambda b: b.update(data=[]), "data record is not an object"),
])
def test_a_model_whose_record_is_wrong_is_one_line(retrained_dir, tmp_path, change, message):
    """A model.pt whose digest is renewed after a change (so only the field checks can catch it) is refused."""
    from graphnas.errors import GraphnasError
    from graphnas.train.checkpoint import save_checkpoint

    blob = torch.load(retrained_dir / "model.pt", weights_only=True)
    change(blob)
    save_checkpoint(tmp_path / "model.pt", blob)
    with pytest.raises(GraphnasError, match=message):
        read_model(tmp_path / "model.pt")
