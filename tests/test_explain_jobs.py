"""Explaining a sample of a batch: which documents, the background job, what it stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from longbert import load_classifier
from longbert.document import as_document
from longbert.store import Store
from longbert.ui.explain_jobs import explain_sample_work, sample_predictions
from longbert.ui.explanations import ExplanationFailed
from longbert.ui.jobs import JobManager
from longbert.ui.service import classify_and_log
from longbert.ui.service import load_model as load_uncached

TEXTS = [
    "The central bank raised interest rates again. Bond yields climbed as investors sold debt.",
    "Fans celebrated in the streets. The club won the championship after a penalty shoot-out.",
    "Parliament passed the budget late at night. The minister defended the new tax plan.",
]


def test_the_sample_is_the_least_confident_or_a_seeded_random_draw() -> None:
    rows = [
        {"status": "ok", "prediction_id": 1, "confidence": 0.9},
        {"status": "ok", "prediction_id": 2, "confidence": 0.4},
        {"status": "error", "prediction_id": None, "confidence": 0.0},
        {"status": "pending", "prediction_id": None, "confidence": 0.0},
        {"status": "ok", "prediction_id": 3, "confidence": 0.6},
    ]
    assert sample_predictions(rows, 2, "least_confident") == [2, 3]
    drawn = sample_predictions(rows, 2, "random", seed=4)
    assert (
        len(drawn) == 2 and set(drawn) <= {1, 2, 3} and drawn == sample_predictions(rows, 2, "random", seed=4)
    )
    assert sorted(sample_predictions(rows, 10, "random")) == [1, 2, 3]
    with pytest.raises(ValueError, match="Unknown sample order"):
        sample_predictions(rows, 2, "hardest")
    with pytest.raises(ValueError, match="at least one"):
        sample_predictions(rows, 0, "random")



def test_the_job_explains_and_stores_each_and_goes_on_past_a_failure(
    tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    shutil.copytree(built, models / "tiny-news")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(models))
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    model = load_classifier(models / "tiny-news", device="cpu")
    ids = [
        classify_and_log(
            store, model, as_document(t, name=f"d{i}.txt", source="paste"), {"name": "truncate"}
        )[1]
        for i, t in enumerate(TEXTS)
    ]
    loads: list[str] = []

    def loader(key: str, labels: dict[str, str] | None) -> object:
        loads.append(key)
        return model

    def failing_second(*args: object, **kwargs: object) -> object:
        if args[1] == ids[1]:
            raise ExplanationFailed("Could not explain with occlusion: no tokens")
        return real(*args, **kwargs)

    import longbert.ui.explain_jobs as explain_jobs

    real = explain_jobs.explain_and_store
    monkeypatch.setattr(explain_jobs, "explain_and_store", failing_second)
    snap = (
        JobManager()
        .submit(explain_sample_work(store, ids, "occlusion", loader), title="x", kind="explain")
        .wait(120)
    )
    assert snap.status == "done", snap.error
    assert snap.result == {"explained": 2, "failed": 1} and snap.errors == 1 and snap.done == 3
    assert [r["document"] for r in snap.rows] == ["d0.txt", "d1.txt", "d2.txt"]
    assert "no tokens" in snap.rows[1]["error"] and snap.rows[0]["strongest for the label"]
    assert [len(store.explanation_records(i)) for i in ids] == [1, 0, 1]
    assert set(loads) == {str((models / "tiny-news").resolve())}
    # The model gone: the whole job stops with the reason, and what was stored stays.
    shutil.rmtree(models / "tiny-news")
    monkeypatch.setattr(explain_jobs, "explain_and_store", real)
    snap = (
        JobManager()
        .submit(
            explain_sample_work(store, ids, "occlusion", lambda k, lab: load_uncached(k, lab, device="cpu")),
            title="y",
            kind="explain",
        )
        .wait(120)
    )
    assert snap.status == "failed" and "tiny-news" in snap.error
    assert [len(store.explanation_records(i)) for i in ids] == [1, 0, 1]


def test_the_batch_page_explains_a_sample_and_the_documents_view_shows_it(
    tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers.app_testing import assert_ok, fresh_app

    from longbert.store import get_store

    shutil.copytree(built, tmp_path / "models" / "tiny-news")
    app = fresh_app(tmp_path, monkeypatch, timeout=180)
    app.run()
    store = get_store()
    model = load_classifier(tmp_path / "models" / "tiny-news", device="cpu")
    from longbert.ui.batch_jobs import BatchSettings

    config = BatchSettings(model=str((tmp_path / "models" / "tiny-news").resolve()), model_name="tiny-news")
    batch = store.create_batch(
        "desk", config=config.to_config(), items=[f"d{i}.txt" for i in range(len(TEXTS))]
    )
    for i, text in enumerate(TEXTS):
        document = as_document(text, name=f"d{i}.txt", source="upload")
        (prediction,) = model.predict([document])
        store.save_prediction(prediction, document, batch_id=batch, item_index=i)
    app.switch_page("app_pages/batch.py").run()
    app.selectbox(key="batch:open").set_value(batch).run()
    assert_ok(app)
    app.number_input(key=f"batch:why:{batch}:size").set_value(2).run()
    app.button(key=f"batch:why:{batch}:go").click().run()
    assert_ok(app)
    for _ in range(60):  # the job runs in the background; the page redraws when asked
        app.run()
        tables = [d.value for d in app.dataframe if "strongest for the label" in d.value.columns]
        if tables and len(tables[0]) == 2:
            break
    assert len(tables[0]) == 2 and "error" not in tables[0].columns
    explained = [r.id for r in store.history(limit=10).rows if store.explanation_records(r.id)]
    assert len(explained) == 2
