""" "Why this label" on an early-exit model (``python -m longbert.compress --method early-exit``).

Occlusion and the gradient methods run every layer, so they cannot explain a prediction whose
exits let text stop early. The page defaults to attention there, marks the other methods, and
offers to explain the full model instead, saying so in the result; the refusal speaks the app's
words (no ``exit_threshold=0``, which no page exposes).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert import load_classifier
from longbert.classifier import DocumentClassifier
from longbert.compress import compress
from longbert.document import as_document
from longbert.store import get_store
from longbert.ui import explanations as why
from tests.helpers.app_testing import assert_ok, fresh_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = (
    "The central bank raised interest rates again to fight inflation. "
    "Fans celebrated in the streets long after the final whistle. "
    "Bond yields climbed as investors sold government debt. "
    "The football club won the championship after a dramatic penalty shoot-out."
)


@pytest.fixture(scope="module")
def exit_checkpoint(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny-exit``: the tiny chunk checkpoint with exits at threshold 1.0 (every window
    leaves after the first layer, so the exits are always in force)."""
    root = tmp_path_factory.mktemp("exit")
    texts = [TEXT, "Rates and bonds moved.", "The match ended in a draw."] * 2
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_PRECISION", "fp32")
        folder, _ = compress(
            built, "early-exit", "tiny-exit", output_dir=root / "tiny-exit", texts=texts,
            exit_threshold=1.0, device="cpu",
        )  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def exit_model(exit_checkpoint: Path) -> DocumentClassifier:
    return load_classifier(exit_checkpoint, device="cpu")


def test_exits_in_force_is_read_from_the_prediction(exit_model: DocumentClassifier, built: Path) -> None:
    (early,) = exit_model.predict([TEXT])
    assert why.exits_in_force(early) == 1.0
    (full,) = exit_model.predict([TEXT], exit_threshold=0)
    assert why.exits_in_force(full) is None
    sparse_strategy = {"name": "sparse", "params": {"max_tokens": 512, "attention_window": 16}}
    (sparse,) = exit_model.predict([TEXT], strategy=sparse_strategy)
    assert why.exits_in_force(sparse) is None  # the sparse mode always runs every layer
    (plain,) = load_classifier(built, device="cpu").predict([TEXT])
    assert why.exits_in_force(plain) is None


@pytest.mark.parametrize("method", why.FULL_DEPTH_METHODS)
def test_full_depth_methods_are_refused_in_app_words_and_explain_the_full_model(
    exit_model: DocumentClassifier,
    method: str,
) -> None:
    document = as_document(TEXT, name="doc.txt", source="paste")
    (early,) = exit_model.predict([document])
    with pytest.raises(why.ExplanationFailed) as refused:
        why.explain_prediction(exit_model, early, document, method)
    message = str(refused.value)
    assert "exit_threshold" not in message and "early-exit model" in message
    assert "Attention" in message and "full model instead" in message
    assert message.startswith(f"{why.method_title(method)} cannot explain this prediction")

    explained = why.explain_prediction(exit_model, early, document, method, full_model=True)
    (full,) = exit_model.predict([document], exit_threshold=0)
    assert explained.probability == pytest.approx(full.probabilities[early.label], abs=0.02)
    assert explained.warnings[0] == why.full_model_text(1.0)
    assert "not the early exit that made this prediction" in explained.warnings[0]


def test_attention_and_full_model_predictions_are_explained_as_made(exit_model: DocumentClassifier) -> None:
    document = as_document(TEXT, name="doc.txt", source="paste")
    (early,) = exit_model.predict([document])
    assert why.explain_prediction(exit_model, early, document, "attention").warnings == []
    # Already the full model: nothing refused, nothing to note.
    (full,) = exit_model.predict([document], exit_threshold=0)
    assert why.explain_prediction(exit_model, full, document, "occlusion", full_model=True).warnings == []


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_checkpoint: Path) -> Iterator[AppTest]:
    shutil.copytree(exit_checkpoint, tmp_path / "models" / "tiny-exit")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    yield fresh_app(tmp_path, monkeypatch, timeout=180)


def test_classify_defaults_to_attention_and_offers_the_full_model(app: AppTest, tmp_path: Path) -> None:
    app.run()
    app.selectbox(key="classify:model").set_value(str((tmp_path / "models" / "tiny-exit").resolve())).run()
    app.text_area(key="classify:text").input(TEXT)
    app.button(key="classify:go").click().run()
    assert_ok(app)
    picker = app.segmented_control(key="classify:why-method:exits")
    assert picker.value == "attention"
    assert any("early-exit model (exit threshold 1)" in c.value for c in app.caption)
    assert app.button(key="classify:why-go").label == "Explain"

    picker.set_value("occlusion").run()
    assert_ok(app)
    assert any("cannot explain this prediction" in c.value for c in app.caption)
    assert app.button(key="classify:why-go").label == "Explain the full model instead"
    assert any("press **Explain the full model instead**" in i.value for i in app.info)
    app.button(key="classify:why-go").click().run()
    assert_ok(app)
    assert not app.error
    (stored,) = get_store().explanations_for(1)
    assert stored.method == "occlusion" and stored.warnings[0] == why.full_model_text(1.0)
    # The result says which model it explains.
    assert any(
        c.value.startswith("Occlusion of '") and "explains the full model" in c.value for c in app.caption
    )
    assert app.button(key="classify:why-go").label == "Explain the full model again"


def test_the_batch_sample_job_refuses_or_explains_the_full_model(
    exit_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Batch page's "Explain a sample": early-exit predictions are listed with the reason
    unless the full model is asked for; then each is explained and says which model it shows."""
    from longbert.store import Store
    from longbert.ui.explain_jobs import explain_sample_work
    from longbert.ui.jobs import JobManager
    from longbert.ui.service import classify_and_log

    shutil.copytree(exit_checkpoint, tmp_path / "models" / "tiny-exit")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    exit_model = load_classifier(tmp_path / "models" / "tiny-exit", device="cpu")
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    document = as_document(TEXT, name="doc.txt", source="paste")
    _, prediction_id = classify_and_log(store, exit_model, document, {"name": "truncate"})

    def run(full_model: bool):  # type: ignore[no-untyped-def]
        work = explain_sample_work(store, [prediction_id], "occlusion", lambda k, lab: exit_model,
                                   full_model=full_model)  # fmt: skip
        return JobManager().submit(work, title="x", kind="explain").wait(120)

    refused = run(False)
    assert refused.status == "done", refused.error
    assert refused.result == {"explained": 0, "failed": 1}
    assert "cannot explain this prediction" in refused.rows[0]["error"]
    assert store.explanation_records(prediction_id) == []
    explained = run(True)
    assert explained.result == {"explained": 1, "failed": 0}
    assert explained.rows[0]["note"] == why.full_model_text(1.0)
    (stored,) = store.explanation_records(prediction_id)
    assert stored.explanation.warnings[0] == why.full_model_text(1.0)


def test_a_threshold_recorded_out_of_range_by_an_older_version_is_read_as_what_ran(
    exit_model: DocumentClassifier,
) -> None:
    """Older versions recorded thresholds as given (-1, 2, NaN); such a stored prediction is
    explained as the model ran it, never refused for a value nobody chose now."""
    import dataclasses

    document = as_document(TEXT, name="doc.txt", source="paste")
    (early,) = exit_model.predict([document])
    cases = {-1.0: 0.0, 0: 0.0, float("nan"): 0.0, 2.0: 1.0, 0.4: 0.4, "x": None, None: None}
    for recorded, read in cases.items():
        stored = dataclasses.replace(early, extra={**early.extra, "exit_threshold": recorded})
        assert why.recorded_exit_threshold(stored) == read, recorded
    full = dataclasses.replace(early, extra={**early.extra, "exit_threshold": -1.0})
    assert why.exits_in_force(full) is None
    assert why.explain_prediction(exit_model, full, document, "occlusion").sentences
    assert why.explain_prediction(exit_model, full, document, "attention").sentences
