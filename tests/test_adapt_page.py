"""The Adapt page's runs: a stopped run that read an upload resumes from the page, the run's own
outcome is shown (not the Stop that came late), a run that never trained the encoder says so, a
time-limited run is sized to its minutes, the ETA respects the limit, and the form counts
distinct texts."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.app_testing import assert_ok, fresh_app
from helpers.classifier_factories import save_tiny_encoder
from helpers.store_factories import make_document, make_prediction
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl
from streamlit.testing.v1 import AppTest

from longbert.checkpoints import Manifest, Pretraining, write_manifest
from longbert.pretraining import PretrainResult
from longbert.store import get_store
from longbert.ui.adaptation import adaptation_eta, adaptation_work, build_config, store_corpora
from longbert.ui.adaptation_runs import UPLOADS, stopped_run
from longbert.ui.jobs import Job, JobSnapshot
from longbert.ui.models import ModelChoice


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder: Path) -> Iterator[AppTest]:
    from app_pages import resources

    resources.jobs.clear()  # jobs live per server process: none of an earlier test's
    tiny = ModelChoice(key=str(encoder), title="tiny encoder", zero_shot=False, kind="encoder")
    monkeypatch.setattr("longbert.ui.models.starting_encoders", lambda folder=None: [tiny])
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    at = fresh_app(tmp_path, monkeypatch)
    at.run()
    at.switch_page("app_pages/adapt.py").run()
    assert_ok(at)
    yield at
    for job in resources.jobs().jobs():
        job.cancel()
        job.wait(120)


def _job(at: AppTest) -> Job:
    from app_pages import resources

    job = resources.jobs().get(at.session_state["adapt:job"])
    assert job is not None
    return job


def _start_from_upload(at: AppTest, corpus: Path, name: str, epochs: float, minutes: float) -> Job:
    at.checkbox(key="adapt:from-store").uncheck()
    at.file_uploader(key="adapt:file").set_value([(corpus.name, corpus.read_bytes(), "application/json")])
    at.text_input(key="adapt:name").input(name)
    at.number_input(key="adapt:epochs").set_value(epochs)
    at.number_input(key="adapt:minutes").set_value(minutes).run()
    at.button(key="adapt:start").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    return _job(at)


def _finished(job: Job, timeout: float = 300) -> JobSnapshot:
    snapshot = job.wait(timeout)
    assert snapshot.finished, "the job did not end in time"
    return snapshot


def test_a_stopped_upload_run_keeps_its_upload_and_resumes_from_the_page(
    app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_jsonl(tmp_path / "docs.jsonl", make_rows(12, words=(30, 80)))
    job = _start_from_upload(app, corpus, "from-upload", epochs=30.0, minutes=0.0)
    deadline = time.time() + 120
    while job.snapshot().done < 3 and not job.snapshot().finished and time.time() < deadline:
        time.sleep(0.05)
    job.cancel()  # the page's Stop button
    stopped = _finished(job)
    assert stopped.result is not None and stopped.result.status == "interrupted"
    output = tmp_path / "models" / "from-upload"
    kept = list((output / UPLOADS).glob("*/upload.jsonl"))
    assert len(kept) == 1 and kept[0].read_bytes() == corpus.read_bytes()

    app.run()
    assert_ok(app)
    assert any("Stopped at step" in w.value for w in app.warning)
    assert not app.button(key="adapt:resume").disabled

    # A new browser session (or a restarted server: no job in memory) is offered the run too.
    other = fresh_app(tmp_path, monkeypatch)
    other.run()
    other.switch_page("app_pages/adapt.py").run()
    assert_ok(other)
    (offered,) = other.selectbox(key="adapt:stopped").options
    assert offered == f"from-upload (stopped at step {stopped.result.steps})"
    assert not other.button(key="adapt:resume-stopped").disabled

    app.button(key="adapt:resume").click().run()
    assert_ok(app)
    resumed = _finished(_job(app))
    assert resumed.status == "done" and resumed.result.status == "done", resumed.error
    assert resumed.result.steps == resumed.result.total_steps == 30
    app.run()
    assert_ok(app)
    assert any("Adapted in" in s.value for s in app.success)
    assert (output / "longbert.json").is_file() and not (output / UPLOADS).exists()
    assert stopped_run(output) is None


def _finished_result_job(at: AppTest, result: PretrainResult, *, cancel_late: bool) -> Job:
    from app_pages import resources

    box: dict[str, Job] = {}
    submitted = threading.Event()

    def fake_pretrain(config: Any, progress: Any, should_stop: Any) -> PretrainResult:
        progress({"event": "start", "total_steps": result.total_steps, "start_step": 0})
        if cancel_late:
            assert submitted.wait(10)
            box["job"].cancel()  # Stop pressed while the finished encoder is being saved
        return result

    job = resources.jobs().submit(
        adaptation_work(None, pretrain_fn=fake_pretrain),  # type: ignore[arg-type]
        title="late",
        kind="adapt",
        meta={"output": str(result.output_dir)},
    )
    box["job"] = job
    submitted.set()
    _finished(job, 30)
    at.session_state["adapt:job"] = job.id
    at.run()
    assert_ok(at)
    return job


def test_stop_pressed_while_the_encoder_is_saved_shows_the_run_as_adapted(
    app: AppTest, tmp_path: Path
) -> None:
    result = PretrainResult("done", tmp_path / "models" / "late", 4, 4, 2.0, {}, 60.0, 400)
    job = _finished_result_job(app, result, cancel_late=True)
    assert job.snapshot().status == "cancelled"  # the job saw the Stop...
    assert any("Adapted in" in s.value for s in app.success)  # ...the run had finished: adapted
    assert not any("Stopped" in w.value for w in app.warning)


def test_a_run_that_never_trained_the_encoder_says_so(app: AppTest, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "untrained"
    folder.mkdir(parents=True)
    training = {"steps": 250, "total_steps": 9312, "head_warmup_steps": 931, "stopped_by_time_budget": True}
    write_manifest(
        folder,
        Manifest(
            kind="encoder",
            name="untrained",
            metadata={"training": training},
            pretraining=Pretraining("tiny", "mlm-whole-word", 250, 3000, "0" * 64),
        ),
    )
    heldout = {"before": {"perplexity": 31073.0}, "after": {"perplexity": 17625.0}}
    result = PretrainResult("done", folder, 250, 9312, 9.7, heldout, 72.0, 16000, stopped_by_time=True)
    _finished_result_job(app, result, cancel_late=False)
    assert not app.success
    (said,) = [e.value for e in app.error]
    assert "encoder was not trained" in said and "time limit" in said and "unchanged" in said
    assert app.dataframe[0].value["encoder steps"].tolist() == [0]


def test_a_time_limited_run_plans_the_steps_that_fit_and_trains_the_encoder(
    app: AppTest, tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "docs.jsonl", make_rows(12, words=(30, 80)))
    job = _start_from_upload(app, corpus, "sized", epochs=5000.0, minutes=0.1)
    done = _finished(job)
    assert done.status == "done", done.error
    result = done.result
    # Sized: far fewer steps than 5,000 passes ask for (the schedule, head warm-up included, planned
    # for the minutes), and the encoder trained after the head's warm-up. (Whether the machine kept
    # the measured pace to the end is not asserted: the limit still stops a slowed run.)
    assert 2 <= result.total_steps < 5000 and result.steps > 0
    assert "Planned" in job.meta["plan"] and "tokens/s measured" in job.meta["plan"]
    app.run()
    assert_ok(app)
    assert any("Adapted in" in s.value for s in app.success)
    assert any(c.value == job.meta["plan"] for c in app.caption)
    assert app.dataframe[0].value["encoder steps"].tolist()[0] > 0

    # Minutes too few for a head warm-up and an encoder step: a clear error, nothing left behind.
    app.text_input(key="adapt:name").input("too-short")
    app.number_input(key="adapt:minutes").set_value(0.001).run()
    app.button(key="adapt:start").click().run()
    failed = _finished(_job(app))
    # How many steps 0.001 minutes allow depends on this machine's speed (0 or 1 here): fewer
    # than the 2 an adaptation needs either way.
    assert failed.status == "failed" and re.search(r"minutes allow [01] training step", failed.error)
    assert "needs at least 2" in failed.error
    assert "Give at least" in failed.error
    assert not (tmp_path / "models" / "too-short").exists()


def test_the_eta_shown_is_never_past_the_time_limit(app: AppTest, tmp_path: Path, encoder: Path) -> None:
    from app_pages import resources

    corpus = write_jsonl(tmp_path / "docs.jsonl", make_rows(4, words=(30, 40)))
    config = build_config(
        {"name": "eta", "encoder": str(encoder), "max_minutes": 1.0, "max_steps": 20000},
        corpus_paths=[str(corpus)],
        from_store=False,
        batch_id=None,
    )
    release = threading.Event()

    def slow_pretrain(config: Any, progress: Any, should_stop: Any) -> PretrainResult:
        progress({"event": "start", "total_steps": 20000, "start_step": 0})
        time.sleep(1.0)
        progress({"event": "progress", "step": 1, "total_steps": 20000, "loss": 9.0})
        release.wait(60)
        return PretrainResult("interrupted", config.output_path, 1, 20000, 9.0, {}, 1.0, 10)

    job = resources.jobs().submit(
        adaptation_work(config, pretrain_fn=slow_pretrain),
        title="eta",
        kind="adapt",
        meta={"output": str(config.output_path)},
    )
    try:
        deadline = time.time() + 30
        while job.snapshot().done < 1 and time.time() < deadline:
            time.sleep(0.05)
        snapshot = job.snapshot()
        assert snapshot.eta_seconds is not None and snapshot.eta_seconds > 3600  # at the steps' pace
        assert 0 < adaptation_eta(snapshot, job.meta["train_deadline"]) <= 60  # the limit ends it
        at_pace = adaptation_eta(snapshot, None)
        assert at_pace == pytest.approx(snapshot.eta_seconds, rel=1e-3)  # no limit: the pace alone
        app.session_state["adapt:job"] = job.id
        app.run()
        assert_ok(app)
        (bar,) = app.get("progress")
        assert " h " not in bar.proto.text and "s left" in bar.proto.text, bar.proto.text
    finally:
        release.set()
        job.wait(30)


def test_the_form_counts_distinct_texts_not_predictions(app: AppTest) -> None:
    from app_pages import resources

    store = get_store()
    batch = store.create_batch("same text thrice", items=["a", "b", "c"])
    document = make_document(1, words=80)
    for i in range(3):
        store.save_prediction(make_prediction(document, seed=i), document, batch_id=batch, item_index=i)
    app.run()
    app.selectbox(key="adapt:corpus").set_value(store_corpora(store)[1]).run()
    app.button(key="adapt:start").click().run()
    assert_ok(app)
    (said,) = [e.value for e in app.error]
    assert "holds 3 classified document(s) but only 1 distinct text" in said
    assert resources.jobs().jobs("adapt") == []
    other = make_document(2, words=80)
    store.save_prediction(make_prediction(other), other, batch_id=batch, item_index=2)
    config = build_config(
        {"name": "two-texts"}, corpus_paths=[], from_store=True, batch_id=batch, store=store
    )
    assert config.batch == batch  # two distinct texts: accepted


def test_the_page_lists_stopped_runs_and_drops_uploads_no_run_reads(app: AppTest, tmp_path: Path) -> None:
    models = tmp_path / "models"
    stopped = models / "stopped" / UPLOADS / "a1"
    stopped.mkdir(parents=True)
    (stopped / "upload.jsonl").write_text('{"text": "kept while the stopped run may resume"}\n')
    last = models / "stopped" / ".last"
    last.mkdir()
    (last / "model.safetensors").write_bytes(b"")
    state = {
        "global_step": 7,
        "config": {"name": "stopped", "max_steps": 40, "corpus": [str(stopped / "upload.jsonl")]},
    }
    (last / "trainer.json").write_text(json.dumps({"state": state}))
    # Finished by `python -m longbert.pretrain --resume` (no page clean-up): its upload is stale.
    finished = models / "finished"
    (finished / UPLOADS / "b2").mkdir(parents=True)
    (finished / UPLOADS / "b2" / "upload.txt").write_text("stale")
    (finished / "longbert.json").write_text('{"kind": "encoder"}')
    app.run()
    assert_ok(app)
    assert app.selectbox(key="adapt:stopped").options == ["stopped (stopped at step 7 of 40)"]
    assert (stopped / "upload.jsonl").is_file()
    assert not (finished / UPLOADS).exists() and (finished / "longbert.json").is_file()
