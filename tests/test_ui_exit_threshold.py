"""The app's early-exit threshold plumbing without a browser: what a checkpoint folder says about
its exits (read without loading the model), the expected-figures text, and the threshold
reaching ``predict`` -- and being recorded -- from classify, compare and batch jobs, a resumed
batch keeping the threshold it started with."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from longbert import load_classifier
from longbert.classifier import DocumentClassifier
from longbert.document import as_document
from longbert.errors import LongBertError
from longbert.exit_threshold import MEANING, ExitThresholdError
from longbert.results import Prediction
from longbert.store import Store
from longbert.ui import exit_control as ec
from longbert.ui.batch_jobs import (
    BatchSettings,
    MixedThresholdError,
    batch_classify,
    classify_batch,
    resume_work,
    stage_batch,
)
from longbert.ui.jobs import JobContext, JobManager
from longbert.ui.models import ZERO_SHOT_CHOICE, checkpoint_choice
from longbert.ui.service import classify, classify_and_log, compare_strategies, comparison_rows
from tests.helpers.app_testing import fake_checkpoint
from tests.helpers.exit_fixtures import CURVE, TEXTS, make_exit_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EARLY_EXIT = {"method": "early-exit", "source_model": "/models/tiny-news"}


def _fake_exit_folder(models: Path, config: object, details: dict[str, Any] | None = None) -> Path:
    """A manifest (no weights) of an early-exit checkpoint, and its ``exits/config.json``
    holding ``config`` (not written when None)."""
    folder = fake_checkpoint(models, "fake-exit", ["a", "b"], compression=EARLY_EXIT,
                             metadata={"compression": details or {}})
    if config is not None:
        (folder / "exits").mkdir()
        (folder / "exits" / "config.json").write_text(json.dumps(config))
    return folder


# --- what a folder says, without loading ------------------------------------------------------

def test_models_without_exits_offer_no_control(tmp_path: Path) -> None:
    plain = fake_checkpoint(tmp_path, "plain", ["a", "b"])
    int8 = fake_checkpoint(tmp_path, "small", ["a", "b"], compression={**EARLY_EXIT, "method": "int8"})
    assert ec.exit_model(checkpoint_choice(plain)) is None
    assert ec.exit_model(checkpoint_choice(int8)) is None
    assert ec.exit_model(ZERO_SHOT_CHOICE) is None


def test_the_stored_threshold_is_the_one_the_model_loads(tmp_path: Path) -> None:
    """``exits/config.json`` (what loading applies) wins over the manifest's record of it; the
    record serves when the file is unreadable; neither usable: None with the reason, no error."""
    details = {"threshold": 0.2, "threshold_source": "calibrated", "calibration": {"curve": CURVE}}
    folder = _fake_exit_folder(tmp_path / "one", {"threshold": 0.4}, details)
    model = ec.exit_model(checkpoint_choice(folder))
    assert model is not None and model.stored == 0.4 and model.source == "calibrated"
    assert [p.threshold for p in model.curve] == [p["threshold"] for p in CURVE]
    assert model.full_layers == 2.0 and model.labelled

    fallback = ec.exit_model(checkpoint_choice(_fake_exit_folder(tmp_path / "two", None, details)))
    assert fallback is not None and fallback.stored == 0.2 and fallback.problem is None

    for bad in ({"threshold": 7}, {"threshold": "0.3"}, [0.3], {}):
        folder = _fake_exit_folder(tmp_path / f"bad{len(str(bad))}{type(bad).__name__}", bad,
                                   {"threshold": float("nan")})
        broken = ec.exit_model(checkpoint_choice(folder))
        assert broken is not None and broken.stored is None and "exits" in (broken.problem or "")
        assert ec.threshold_caption(broken, None, None).startswith("The model's own threshold applies")


def test_unusable_curve_points_are_left_out(tmp_path: Path) -> None:
    curve = [CURVE[3], {"threshold": "x"}, "junk", {**CURVE[5], "mean_layers": 0}, CURVE[0]]
    details = {"threshold": 0.2, "calibration": {"curve": curve}}
    model = ec.exit_model(checkpoint_choice(_fake_exit_folder(tmp_path, {"threshold": 0.2}, details)))
    assert model is not None and [p.threshold for p in model.curve] == [0.0, 0.2]
    nothing = ec.exit_model(checkpoint_choice(
        _fake_exit_folder(tmp_path / "n", {"threshold": 0.2}, {"calibration": {"curve": "x"}})))
    assert nothing is not None and nothing.curve == () and ec.expected_text(nothing, 0.2) is None


def test_expected_text_and_nearby_rows(tmp_path: Path) -> None:
    details = {"threshold": 0.3, "threshold_source": "calibrated",
               "calibration": {"curve": CURVE, "data": "cal.jsonl"}}
    model = ec.exit_model(checkpoint_choice(_fake_exit_folder(tmp_path, {"threshold": 0.3}, details)))
    assert model is not None
    at = ec.expected_text(model, None)  # the stored threshold, on the grid
    assert at == ("Calibration on cal.jsonl at 0.3: accuracy 89.0%, same label as the full model "
                  "99.0%, 1.60 of 2 layers per document (×1.25 fewer layers).")
    between = ec.expected_text(model, 0.35) or ""
    assert between.startswith("Between the calibrated thresholds 0.3 and 0.4 on cal.jsonl")
    assert "at 0.4 accuracy 88.0%" in between
    above = ec.expected_text(model, 0.99) or ""
    assert above.startswith("Above the largest calibrated threshold on cal.jsonl, 0.95, where: accuracy 65")
    full = "Threshold 0 runs the full model exactly: every layer, no label changed."
    assert ec.expected_text(model, 0.0) == full

    rows = ec.curve_rows(model, 0.5)
    assert [r["threshold"] for r in rows] == [0.0, 0.3, 0.4, 0.5, 0.6, 0.7]  # full model first
    assert {r["threshold"]: r["mark"] for r in rows if r["mark"]} == {0.3: "stored", 0.5: "chosen"}
    assert rows[3]["accuracy"] == 0.86 and rows[3]["layer speed-up"] == pytest.approx(2.0 / 1.4, abs=0.01)
    at_stored = ec.curve_rows(model, 0.3)
    assert [r["threshold"] for r in at_stored] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert at_stored[3]["mark"] == "stored, chosen"

    help_text = ec.threshold_help(model)
    assert MEANING in help_text and "stored threshold is 0.3 (calibrated)" in help_text
    assert ec.threshold_caption(model, 0.6, "long").startswith("The sparse strategy always runs every layer")
    assert ec.threshold_caption(model, 0.0, "chunks").startswith("0: the full model exactly")


def test_unlabelled_calibration_as_compress_records_it(built: Path, tmp_path: Path) -> None:
    """The curve of a real ``--calibration-texts`` run (no accuracy) is read and shown."""
    from longbert.compress import compress

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_PRECISION", "fp32")
        folder, _ = compress(built, "early-exit", "cal", output_dir=tmp_path / "cal", texts=TEXTS,
                             calibration_texts=TEXTS * 2, device="cpu")
    model = ec.exit_model(checkpoint_choice(folder))
    assert model is not None and model.source == "calibrated" and len(model.curve) == 12
    assert not model.labelled and model.stored == load_classifier(folder, device="cpu").early_exit.threshold
    text = ec.expected_text(model, 0.95) or ""
    assert "accuracy" not in text and "same label as the full model" in text
    assert "accuracy" not in ec.curve_rows(model, 0.95)[0]


# --- the threshold reaches predict and is recorded --------------------------------------------

@pytest.fixture(scope="module")
def exit_folder(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exit_checkpoint(built, tmp_path_factory.mktemp("exits") / "tiny-exit", 1.0)


@pytest.fixture(scope="module")
def exit_model(exit_folder: Path) -> DocumentClassifier:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_PRECISION", "fp32")
        return load_classifier(exit_folder, device="cpu")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.delenv("LONGBERT_SPOOL_DIR", raising=False)
    return Store(f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_classify_and_log_runs_and_records_the_chosen_threshold(exit_model: DocumentClassifier,
                                                                store: Store) -> None:
    document = as_document(" ".join(TEXTS), name="doc.txt", source="paste")
    stored_run, _ = classify_and_log(store, exit_model, document)  # the model's own: 1.0
    full, pid = classify_and_log(store, exit_model, document, exit_threshold=0.0)
    assert stored_run.extra["exit_threshold"] == 1.0
    assert store.get_prediction(pid).prediction.extra["exit_threshold"] == 0.0
    # 0 is the full model exactly; every window leaving at layer 1 (1.0) reads otherwise.
    (reference,) = exit_model.predict([document], exit_threshold=0)
    assert full.probabilities == pytest.approx(reference.probabilities)
    assert stored_run.probabilities != pytest.approx(full.probabilities)
    assert ec.exit_threshold_note(full) == " · early-exit threshold 0 (the full model)"
    assert ec.exit_threshold_note(stored_run) == " · early-exit threshold 1"


@pytest.mark.parametrize("bad", [2, -0.1, math.nan, math.inf, True, "0.5"])
def test_bad_thresholds_are_refused_before_anything_runs(exit_model: DocumentClassifier, store: Store,
                                                         bad: object) -> None:
    document = as_document(TEXTS[0], name="doc.txt", source="paste")
    for call in (lambda: classify(exit_model, [document], exit_threshold=bad),
                 lambda: classify_and_log(store, exit_model, document, exit_threshold=bad),
                 lambda: compare_strategies(exit_model, document, store=store, exit_threshold=bad)):
        with pytest.raises(ExitThresholdError, match="exit_threshold must be a number from 0 to 1"):
            call()
    assert store.count_predictions() == 0


def test_compare_runs_every_strategy_at_the_threshold(exit_model: DocumentClassifier, store: Store) -> None:
    document = as_document(" ".join(TEXTS), name="doc.txt", source="paste")
    results = compare_strategies(exit_model, document, store=store, exit_threshold=0.0)
    assert all(c.result.extra["exit_threshold"] == 0.0 for c in results)  # type: ignore[union-attr]
    assert {store.get_prediction(c.prediction_id).prediction.extra["exit_threshold"]  # type: ignore[arg-type]
            for c in results} == {0.0}
    rows = {r["strategy"]: r["exit_threshold"] for r in comparison_rows(
        compare_strategies(exit_model, document, exit_threshold=0.5))}
    assert rows["truncate"] == "0.5" and rows["chunk"] == "0.5"
    assert rows["sparse"] == "0.5 (not in force: this strategy runs every layer)"


# --- batch jobs ----------------------------------------------------------------------------------

def _run(work: Callable[[JobContext], Any]) -> Any:
    return JobManager().submit(work, title="t", kind="batch").wait(120)


def _stage(store: Store, settings: BatchSettings) -> int:
    files = [(f"{i}.txt", text.encode()) for i, text in enumerate(TEXTS)]
    return _run(lambda ctx: stage_batch(ctx, store, "b", iter(files), settings)).result


def _thresholds(store: Store, batch_id: int) -> list[float | None]:
    return [store.get_prediction(p.id).prediction.extra.get("exit_threshold")
            for p in store.history(limit=100).rows if p.batch_id == batch_id]


def test_batch_settings_keep_the_threshold(exit_folder: Path) -> None:
    settings = BatchSettings(model=str(exit_folder), model_name="tiny-exit", exit_threshold=0.25)
    assert settings.to_config()["exit_threshold"] == 0.25
    assert BatchSettings.from_config(settings.to_config()) == settings
    plain = BatchSettings(model="zero-shot", model_name="z", labels={"a": "a", "b": "b"})
    assert "exit_threshold" not in plain.to_config()  # a model without exits: as before
    assert BatchSettings.from_config(plain.to_config()).exit_threshold is None
    # What the Batch page's results caption says the batch labels at.
    assert ec.batch_threshold_note(settings.to_config()) == " · early-exit threshold 0.25"
    assert ec.batch_threshold_note({"exit_threshold": 0.0}) == " · early-exit threshold 0 (the full model)"
    assert ec.batch_threshold_note(plain.to_config()) == ""


def test_a_batch_runs_at_its_threshold_and_a_resume_keeps_it(
    exit_model: DocumentClassifier, exit_folder: Path, store: Store
) -> None:
    settings = BatchSettings(model=str(exit_folder), model_name=exit_model.name, exit_threshold=0.0)
    batch_id = _stage(store, settings)

    # The first run is cut off after one chunk of documents (as a failure or a restart would).
    calls: list[int] = []

    def cut_off(docs):  # type: ignore[no-untyped-def]
        calls.append(len(docs))
        if len(calls) > 1:
            raise LongBertError("the server went away")
        return batch_classify(exit_model, settings)(docs)

    first = _run(lambda ctx: classify_batch(ctx, store, batch_id, cut_off, chunk=2))
    assert first.status == "failed" and store.get_batch(batch_id).status == "interrupted"
    assert len(store.pending_items(batch_id)) == 2
    # Resumed as History does: the settings read back from the batch, not the model's own 1.0.
    again = BatchSettings.from_config(store.get_batch(batch_id).config)
    assert _run(resume_work(store, batch_id, batch_classify(exit_model, again))).status == "done"
    assert _thresholds(store, batch_id) == [0.0] * 4


def test_a_run_at_another_threshold_is_refused_not_mixed(
    exit_model: DocumentClassifier, exit_folder: Path, store: Store
) -> None:
    """The resume History made before: ``classify(model, docs, strategy)``, the model's stored
    threshold (1.0), not the batch's (0.0). Refused before anything is saved."""
    settings = BatchSettings(model=str(exit_folder), model_name=exit_model.name, exit_threshold=0.0)
    batch_id = _stage(store, settings)
    snap = _run(resume_work(store, batch_id, lambda docs: classify(exit_model, docs, settings.strategy)))
    assert snap.status == "failed" and isinstance(snap.error, str)
    assert "early-exit threshold 0.0, but this run classified at 1" in snap.error
    assert len(store.pending_items(batch_id)) == 4 and store.count_predictions() == 0
    assert store.get_batch(batch_id).status == "interrupted"
    # The right resume still finishes it.
    assert _run(resume_work(store, batch_id, batch_classify(exit_model, settings))).status == "done"
    assert _thresholds(store, batch_id) == [0.0] * 4


def test_a_bad_stored_batch_threshold_is_one_clear_error(exit_model: DocumentClassifier) -> None:
    for bad in (2.0, "0.5", True):
        with pytest.raises(LongBertError, match="the batch's exit threshold must be a number from 0 to 1"):
            batch_classify(exit_model, BatchSettings(model="m", model_name="m", exit_threshold=bad))  # type: ignore[arg-type]
    # A JSON integer is the number it says.
    run = batch_classify(exit_model, BatchSettings(model="m", model_name="m", exit_threshold=1))  # type: ignore[arg-type]
    (result,) = run([as_document(TEXTS[0], name="d")])
    assert isinstance(result, Prediction) and result.extra["exit_threshold"] == 1.0


def test_mixed_threshold_error_is_a_longbert_error() -> None:
    assert issubclass(MixedThresholdError, LongBertError)


def test_the_fixture_is_a_copyable_checkpoint(exit_folder: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(exit_folder, tmp_path / "copy")
    model = ec.exit_model(checkpoint_choice(copy))
    assert model is not None and model.stored == 1.0 and model.labelled
