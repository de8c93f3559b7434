"""The run object every long job shares: state, reporter (terminal, events, database record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from longbert.runs import RunReporter, RunState
from longbert.store import get_store

pytestmark = pytest.mark.usefixtures("isolated")


def reporter(events: list[dict[str, Any]], **options: Any) -> RunReporter:
    return RunReporter("adapt-news", progress=events.append, **options)


def test_a_run_is_recorded_reported_and_finished_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events: list[dict[str, Any]] = []
    report = reporter(events)
    state = RunState(config={"job": "pretrain", "steps": 10})
    report.open(state)
    assert state.run_id is not None
    report.emit("step", step=1, loss=9.5)
    report.say("step 1: loss 9.5")
    report.log_epoch(1, {"loss": 9.5})
    report.model_saved(tmp_path / "m", {"loss": 9.5}, encoder="e", labels=["a", "b"])
    report.finish("done")
    report.finish("failed")  # only the first finish counts
    assert events == [{"event": "step", "step": 1, "loss": 9.5}]
    assert "step 1: loss 9.5" in capsys.readouterr().out
    record = get_store().get_training_run(state.run_id)
    assert (record.name, record.status, record.config) == ("adapt-news", "done", state.config)
    assert record.best_metrics == {"loss": 9.5} and record.model_folder == str(tmp_path / "m")
    assert [e.epoch for e in record.epochs] == [1]
    assert get_store().get_model("adapt-news").folder == str(tmp_path / "m")


@pytest.mark.parametrize(
    ("error", "status"), [(RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")]
)
def test_a_job_that_raises_finishes_its_record(error: BaseException, status: str) -> None:
    report = reporter([])
    state = RunState()
    report.open(state)
    with pytest.raises(type(error)), report.finishing():
        raise error
    assert get_store().get_training_run(state.run_id).status == status


def test_a_resumed_run_continues_its_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = reporter([])
    state = RunState(epoch=1, best_epoch=1, history=[{"epoch": 1, "dev": {"accuracy": 0.75}}])
    first.open(state)  # then killed: the record still says running
    again = reporter([])
    again.open(state, model_folder=tmp_path)
    assert "was still marked running: its process was killed" in capsys.readouterr().out
    again.finish("interrupted")
    record = get_store().get_training_run(state.run_id)
    assert record.status == "interrupted" and record.best_metrics == {"accuracy": 0.75}
    assert record.model_folder == str(tmp_path) and len(get_store().list_training_runs()) == 1


def test_quiet_unrecorded_and_other_ranks(capsys: pytest.CaptureFixture[str]) -> None:
    events: list[dict[str, Any]] = []
    quiet = reporter(events, quiet=True, record=False)
    state = RunState()
    quiet.open(state)
    quiet.say("hidden")
    quiet.emit("start")
    quiet.finish("done")
    assert state.run_id is None and events == [{"event": "start"}]
    other = reporter(events, main=False)
    other.open(state)
    other.say("hidden too")
    other.emit("step")
    assert state.run_id is None and len(events) == 1
    assert capsys.readouterr().out == "" and get_store().list_training_runs() == []
