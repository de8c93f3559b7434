"""Every page through Streamlit's AppTest: widgets present, round trips to a temporary database,
clear errors for bad input. The zero-shot model (packaged encoder) is loaded once per process and
shared through ``st.cache_resource``."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import get_store
from tests.helpers.app_testing import assert_ok, fake_checkpoint, fresh_app, wait_until

SPORT = "The striker scored twice and the team won the championship final in extra time. "
POLITICS = "Parliament passed the budget law after a long debate between the government and "
"the opposition parties. "


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The app on a fresh SQLite database and an empty models folder."""
    at = fresh_app(tmp_path, monkeypatch, timeout=180)
    at.run()
    yield at


def test_every_page_has_its_widgets(app: AppTest) -> None:
    assert_ok(app)
    assert app.title[0].value == "Classify a document"
    assert {"Model", "Strategy"} <= {s.label for s in app.selectbox}
    assert app.button(key="classify:go").label == "Classify"
    assert app.text_area(key="classify:labels").value.startswith("sport:")  # zero-shot offered
    pages: dict[str, Callable[[AppTest], object]] = {
        "app_pages/batch.py": lambda a: (a.file_uploader(key="batch:files"),
                                     a.button(key="batch:start")),
        "app_pages/history.py": lambda a: a.info[0],  # empty database: says what to do first
        "app_pages/compare.py": lambda a: (a.multiselect(key="compare:strategies"),
                                       a.button(key="compare:go")),
        "app_pages/train.py": lambda a: (a.radio(key="train:source"), a.button(key="train:start"),
                                     a.number_input(key="train:epochs")),
        "app_pages/models.py": lambda a: a.info[0],
    }
    for page, widgets in pages.items():
        app.switch_page(page).run()
        assert_ok(app)
        widgets(app)  # raises KeyError/IndexError when a widget is missing
    assert "No trained model yet" in app.info[0].value  # models page on a fresh install


def test_classify_round_trip_logs_to_the_database_and_escapes_markup(app: AppTest) -> None:
    text = (SPORT * 40) + "<script>alert('x')</script> <b>bold</b>"
    app.text_area(key="classify:text").input(text)
    app.checkbox(key="classify:full").check()
    app.button(key="classify:go").click().run()
    assert_ok(app)
    assert app.metric[0].value == "sport"
    assert app.slider(key="classify:attention-layer").value == 5  # full map kept: last layer
    app.selectbox(key="classify:attention-head").select(3).run()
    app.segmented_control(key="classify:attention-unit").set_value("words").run()
    assert_ok(app)
    assert any("saved it to History" in s.value for s in app.success)
    assert any("tokens used" in c.value for c in app.caption)
    bodies = [h.proto.body for h in app.html]
    assert bodies and all("<script>" not in b and "<b>bold" not in b for b in bodies)
    assert any("&lt;script&gt;" in b for b in bodies)
    assert len(app.get("plotly_chart")) >= 3  # probabilities, budget, heat map
    page = get_store().history()
    assert page.total == 1 and page.rows[0].label == "sport" and page.rows[0].zero_shot


def _encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_classify_bad_uploads_show_clear_errors(app: AppTest) -> None:
    # Something saved before must survive the failures below.
    app.text_area(key="classify:text").input(SPORT * 10)
    app.button(key="classify:go").click().run()
    app.segmented_control(key="classify:source").set_value("Upload a file").run()
    cases = {
        ("locked.pdf", _encrypted_pdf()): "encrypted",
        ("empty.txt", b""): "empty",
        ("blob.bin", bytes(range(256)) * 40): "binary",
        ("broken.pdf", b"%PDF-1.7\n1 0 obj <<"): "PDF",
        ("table.csv", b"text\nfirst row\nsecond row\n"): "several documents",
    }
    for (name, data), expected in cases.items():
        app.file_uploader(key="classify:file").set_value((name, data, "application/octet-stream"))
        app.run()
        app.button(key="classify:go").click().run()
        assert_ok(app)
        errors = " ".join(e.value for e in app.error)
        assert expected in errors and name in errors, (name, errors)
        assert not app.success and not app.metric  # the earlier result is not shown as this one's
    assert get_store().count_predictions() == 1


def test_classify_drops_the_old_result_when_the_input_changes_or_a_new_attempt_fails(
    app: AppTest,
) -> None:
    app.text_area(key="classify:text").input(SPORT * 10)
    app.button(key="classify:go").click().run()
    assert_ok(app)
    assert app.metric[0].value == "sport" and "saved it to History" in app.success[0].value
    app.checkbox(key="classify:full").check().run()  # not the input: the result stays
    assert app.metric and app.success
    app.text_area(key="classify:text").input(POLITICS * 10).run()
    assert_ok(app)
    assert not app.metric and not app.success  # the shown result was for the old text
    app.button(key="classify:go").click().run()
    assert app.metric[0].value == "politics"
    app.text_area(key="classify:text").input("   ").run()
    app.button(key="classify:go").click().run()
    assert_ok(app)
    assert app.error and not app.metric and not app.success  # failed: nothing old left over


def test_classify_upload_over_the_configured_limit(app: AppTest) -> None:
    from streamlit import config

    before = config.get_option("server.maxUploadSize")
    config.set_option("server.maxUploadSize", 1)
    try:
        app.segmented_control(key="classify:source").set_value("Upload a file").run()
        big = (SPORT * 20_000).encode()[: 1_200_000]
        app.file_uploader(key="classify:file").set_value(("big.txt", big, "text/plain"))
        app.run()
        app.button(key="classify:go").click().run()
        assert_ok(app)
        assert any("big.txt" in e.value and "MB" in e.value for e in app.error)
        assert any("1 MB per file" in c.value for c in app.caption)
    finally:
        config.set_option("server.maxUploadSize", before)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_batch_labels_uploads_with_error_rows_and_saves_corrections(app: AppTest) -> None:
    app.switch_page("app_pages/batch.py").run()
    archive = _zip({
        "nested/deeper/politics.txt": (POLITICS * 20).encode(),
        "../escape/page.html": b"<html><body><script>steal()</script><p>" + (SPORT * 10).encode()
        + b"</p></body></html>",
    })
    app.file_uploader(key="batch:files").set_value([
        ("sport.txt", (SPORT * 30).encode(), "text/plain"),
        ("rows.jsonl", b'{"text": "' + (POLITICS * 3).encode() + b'"}\n{"text": ""}\n',
         "application/jsonl"),
        ("archive.zip", archive, "application/zip"),
        ("empty.md", b"   \n", "text/markdown"),
    ])
    app.run()
    app.button(key="batch:start").click().run()
    assert_ok(app)
    wait_until(app, lambda a: bool(a.data_editor))
    assert any("Done:" in s.value for s in app.success)
    frame = app.data_editor[0].value
    by_name = dict(zip(frame["document"], frame["status"], strict=True))
    assert by_name["sport.txt"] == "ok"
    assert by_name["archive.zip/nested/deeper/politics.txt"] == "ok"
    assert any(n.startswith("archive.zip/") and n.endswith("page.html") and ".." not in n
               for n in by_name)
    errors = frame[frame["status"] == "error"]
    assert {"empty.md", "rows.jsonl#row=2"} <= set(errors["document"])
    assert all(isinstance(reason, str) and reason for reason in errors["error"])
    labels = dict(zip(frame["document"], frame["label"], strict=True))
    assert labels["sport.txt"] == "sport"
    assert {d.label for d in app.download_button} == {"Download CSV", "Download JSON Lines"}

    assert list(frame.columns[:3]) == ["document", "status", "error"]  # reasons seen at once
    assert set(frame["correction"]) == {"—"}  # "no correction", not "None"
    assert any("4 files → 6 documents" in c.value for c in app.caption)

    batch_id = get_store().list_batches()[0].id
    app.session_state[f"batch:editor:{batch_id}:0"] = {
        "edited_rows": {0: {"correction": "business"}}, "added_rows": [], "deleted_rows": [],
    }
    app.run()
    assert_ok(app)
    corrected = [r for r in get_store().history().rows if r.corrected_label]
    assert [(r.document_name, r.corrected_label) for r in corrected] == [("sport.txt", "business")]
    # Clearing the cell takes the saved correction back: the predicted label counts again.
    app.session_state[f"batch:editor:{batch_id}:0"] = {
        "edited_rows": {0: {"correction": None}}, "added_rows": [], "deleted_rows": [],
    }
    app.run()
    assert_ok(app)
    assert any("Removed the correction of sport" in t.value for t in app.toast)
    assert app.data_editor[0].value["correction"][0] == "—"
    assert not [r for r in get_store().history().rows if r.corrected_label]
    app.run()  # the cleared cell stays cleared on later runs and removes nothing more
    assert_ok(app)
    assert not [t for t in app.toast if "Removed" in t.value]


def test_history_filters_opens_a_prediction_and_resumes_a_batch(app: AppTest) -> None:
    from longbert.ui.batch_jobs import BatchSettings, stage_batch
    from longbert.ui.jobs import JobManager
    from longbert.ui.models import DEFAULT_ZERO_SHOT_LABELS, parse_labels

    app.text_area(key="classify:text").input(POLITICS * 30)
    app.button(key="classify:go").click().run()
    assert_ok(app)
    # An interrupted batch: files staged, nothing classified yet.
    store = get_store()
    settings = BatchSettings(model="zero-shot", model_name="zero-shot",
                             labels=parse_labels(DEFAULT_ZERO_SHOT_LABELS))
    files = [("one.txt", (SPORT * 12).encode()), ("two.txt", (POLITICS * 12).encode())]
    staged = JobManager().submit(lambda ctx: stage_batch(ctx, store, "old batch", iter(files),
                                                         settings), title="s", kind="stage")
    batch_id = staged.wait(60).result
    store.mark_batch_status(batch_id, "interrupted")

    app.switch_page("app_pages/history.py").run()
    assert_ok(app)
    assert any("Unfinished batches" in s.value for s in app.subheader)
    assert app.get("plotly_chart")  # label distribution over time
    app.text_input(key="history:text").input("parliament").run()
    assert "1 prediction" in app.number_input(key="history:page").label
    assert {d.label for d in app.download_button} == {"Download CSV (1)",
                                                      "Download JSON Lines (1)"}
    app.selectbox(key="history:open").select_index(1).run()
    assert_ok(app)
    assert app.metric[0].value == "politics"
    assert any(s.value.startswith("Prediction #1") for s in app.subheader)
    # Correct it, then take the correction back: the predicted label is in force again.
    app.selectbox(key="history:correct:1:label").set_value("sport")
    app.button(key="FormSubmitter:history:correct:1-Save correction").click().run()
    assert_ok(app)
    assert store.get_prediction(1).final_labels == ["sport"]
    app.button(key="history:uncorrect:1").click().run()
    assert_ok(app)
    assert store.get_prediction(1).corrections == []
    assert store.get_prediction(1).final_labels == ["politics"]
    assert any("Removed 'sport'" in m.value for m in app.success)
    assert app.selectbox(key="history:correct:1:label").value == "politics"
    assert "history:uncorrect:1" not in [b.key for b in app.button]  # nothing left to remove
    app.button(key=f"history:resume:{batch_id}").click().run()
    assert_ok(app)
    assert app.title[0].value == "Batch label"  # st.switch_page took us there
    app.switch_page("app_pages/batch.py")  # AppTest re-requests the page it was told last
    wait_until(app, lambda a: bool(a.data_editor))
    assert store.get_batch(batch_id).status == "done"
    assert set(app.data_editor[0].value["label"]) == {"sport", "politics"}


def test_compare_runs_every_strategy(app: AppTest) -> None:
    app.switch_page("app_pages/compare.py").run()
    app.text_area(key="compare:text").input(SPORT * 60)
    app.button(key="compare:go").click().run()
    assert_ok(app)
    table = app.dataframe[0].value
    assert list(table["strategy"]) == ["truncate", "key_sentences", "chunk", "sparse"]
    assert (table["label"] == "sport").all()
    assert (table["used_tokens"] <= table["total_tokens"]).all()
    assert get_store().count_predictions() == 4


def test_train_page_refuses_too_little_data_clearly(app: AppTest) -> None:
    app.switch_page("app_pages/train.py").run()
    app.button(key="train:start").click().run()
    assert_ok(app)
    assert any("corrected document" in e.value for e in app.error)


def test_train_upload_offers_the_files_columns(app: AppTest) -> None:
    app.switch_page("app_pages/train.py").run()
    app.radio(key="train:source").set_value("Upload a labelled file").run()
    assert_ok(app)
    assert app.button(key="train:start").disabled  # nothing uploaded yet
    data = b"id,body,category\n1,The striker scored twice.,sport\n2,Parliament voted.,politics\n"
    app.file_uploader(key="train:file").set_value(("labelled.csv", data, "text/csv"))
    app.run()
    assert_ok(app)
    text, label = app.selectbox(key="train:text_column"), app.selectbox(key="train:label_column")
    assert text.options == label.options == ["id", "body", "category"]
    assert (text.value, label.value) == ("body", "category")
    assert not app.button(key="train:start").disabled
    label.set_value("body").run()
    assert_ok(app)
    assert any("must be different" in e.value for e in app.error)
    assert app.button(key="train:start").disabled
    app.file_uploader(key="train:file").set_value(("notes.json", b"not json at all", "text/json"))
    app.run()
    assert_ok(app)
    assert any("notes.json" in e.value and "JSON" in e.value for e in app.error)


def test_models_page_shows_dev_metrics_as_percentages_with_the_dev_set_size(
    app: AppTest, tmp_path: Path,
) -> None:
    import json

    fake_checkpoint(
        tmp_path / "models", "news", ["politics", "sport"], saved_at="2026-01-01T00:00:00+00:00",
        metadata={"metrics": {"accuracy": 0.9, "macro_f1": 0.85}, "training": {"dev_docs": 12}},
    )
    app.switch_page("app_pages/models.py").run()
    assert_ok(app)
    table = app.dataframe[0].value
    assert table["dev_docs"].tolist() == [12] and table["accuracy"].tolist() == [0.9]
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["yaxis"]["tickformat"] == ".0%"
    assert "12 dev documents" in figure["layout"]["title"]["text"]
    assert app.selectbox(key="models:detail").value == 0
    app.switch_page("app_pages/classify.py").run()
    assert "news" in app.selectbox(key="classify:model").options


def test_models_page_shows_a_compressed_model_beside_its_source(app: AppTest, tmp_path: Path) -> None:
    source = fake_checkpoint(tmp_path / "models", "news", ["politics", "sport"])
    (source / "weights.bin").write_bytes(b"\0" * 2_000_000)
    compressed = fake_checkpoint(
        tmp_path / "models", "news-int8", ["politics", "sport"],
        compression={"method": "int8", "source_model": str(source), "dev_data": "/data/dev.csv",
                     "accuracy_before": 0.9, "accuracy_after": 0.885, "macro_f1_before": 0.88,
                     "macro_f1_after": 0.87, "docs_per_second_before": 20.0,
                     "docs_per_second_after": 50.0},
    )
    (compressed / "weights.bin").write_bytes(b"\0" * 500_000)
    app.switch_page("app_pages/models.py").run()
    assert_ok(app)
    (table,) = [d.value for d in app.dataframe if "method" in d.value.columns]
    row = table.iloc[0]
    assert (row["name"], row["method"], row["source"]) == ("news-int8", "int8", "news")
    assert (row["MB"], row["source MB"]) == (0.5, 2.0)
    assert row["accuracy change (points)"] == -1.5 and row["speed-up"] == 2.5
    assert row["measured on"] == "dev.csv"
    assert any("longbert.compress" in c.value for c in app.caption)


def test_history_shows_a_batch_whose_worker_was_killed_as_interrupted(
    app: AppTest, tmp_path: Path
) -> None:
    from helpers.batch_workers import kill_9, staged, start_worker

    store = get_store()
    batch_id = staged(store)
    worker = start_worker(store.url, batch_id, tmp_path)
    try:
        app.switch_page("app_pages/history.py").run()
        assert_ok(app)
        line = next(m.value for m in app.markdown if f"#{batch_id}" in m.value)
        assert line.endswith("running")
        assert any(f"Being labelled by process {worker.pid}" in c.value for c in app.caption)
        assert f"history:resume:{batch_id}" not in [b.key for b in app.button]
    finally:
        kill_9(worker)
    app.run()
    assert_ok(app)
    line = next(m.value for m in app.markdown if f"#{batch_id}" in m.value)
    assert line.endswith("interrupted")
    assert app.button(key=f"history:resume:{batch_id}").label == "Resume"
