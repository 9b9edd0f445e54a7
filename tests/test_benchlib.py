"""tools/benchlib.run_recorded: jobs recorded as they finish, resumed, and started as soon as their needs are met."""

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from benchlib import run_recorded  # noqa: E402


def _work(job):
    time.sleep(job["sleep"])
    if job.get("fail"):
        raise RuntimeError(f"job {job['key']} failed")
    return {"key": job["key"], "finished": time.time()}


def _jobs(**sleeps):
    return [(k, {"key": k, "sleep": v}) for k, v in sleeps.items()]


def _needs(job):
    return {"score_a": ["train_a"], "score_b": ["train_b"]}.get(job["key"], [])


def _run(record, jobs, **kw):
    return run_recorded(jobs, _work, None, 2, record, lambda r: r["key"], lambda r: r["key"], needs=_needs, **kw)


def test_a_job_starts_when_its_needs_are_recorded_not_when_its_stage_ends(tmp_path):
    # train_b is slow; score_a needs only train_a, so it must finish before train_b does
    done = _run(tmp_path / "r.json", _jobs(train_a=0.2, train_b=2.5, score_a=0.1, score_b=0.1))
    assert set(done) == {"train_a", "train_b", "score_a", "score_b"}
    assert done["train_a"]["finished"] < done["score_a"]["finished"] < done["train_b"]["finished"]
    assert done["train_b"]["finished"] < done["score_b"]["finished"]


def test_recorded_jobs_are_not_run_again_and_a_failure_keeps_what_finished(tmp_path):
    record = tmp_path / "r.json"
    jobs = _jobs(train_a=1.0, train_b=0.05, score_a=0.05, score_b=0.05)
    jobs[3][1]["fail"] = True  # fails while train_a still runs: train_a finishes and is recorded first
    with pytest.raises(RuntimeError, match="job score_b failed"):
        _run(record, jobs)
    kept = {r["key"]: r for r in json.loads(record.read_text())}
    assert {"train_a", "train_b"} <= set(kept) and "score_b" not in kept
    jobs[3][1]["fail"] = False
    done = _run(record, jobs)
    assert set(done) == {"train_a", "train_b", "score_a", "score_b"}
    assert done["train_a"]["finished"] == kept["train_a"]["finished"]  # resumed, not rerun
    assert _run(record, jobs, run=False) == done


def test_a_need_that_is_no_job_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match=r"need \['train_b'\], which is neither recorded nor a job"):
        _run(tmp_path / "r.json", _jobs(train_a=0.0, score_a=0.0, score_b=0.0))
    assert not (tmp_path / "r.json").exists()
