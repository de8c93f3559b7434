"""Results that join back to the source: a table upload's own columns and every label's
probability in CSV / JSON Lines / Parquet exports, the results table and History's export; a
gold label column scores the batch; Label Studio export and import round-trip."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from longbert.readers import read_bytes
from longbert.store import Store
from longbert.ui.batch_jobs import BatchSettings, classify_batch, stage_batch
from longbert.ui.batch_results import display_rows, gold_scores
from longbert.ui.jobs import JobContext, JobManager
from longbert.ui.label_studio import import_label_studio, label_studio_tasks
from longbert.ui.tables import batch_rows, history_export, to_csv, to_jsonl, to_parquet
from tests.test_ui_batch import fake_classify

SETTINGS = BatchSettings(
    model="zero-shot", model_name="fake", labels={"a": "a", "b": "b"}, label_set="letters"
)
CSV = (
    b"id,title,text,label\n"
    b"17,First,alpha one,a\n"
    b"\n"  # a blank line is no record: row numbers stay the readers'
    b'18,"Second, with comma",bravo two,a\n'
    b"19,Third,FAIL here,b\n"
)
JSONL = b'{"id": "x1", "text": "cat", "meta": {"k": 1}}\n\n{"id": "x2", "text": "dog", "gold": "b"}\n'


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'e.sqlite'}")
    monkeypatch.delenv("LONGBERT_SPOOL_DIR", raising=False)
    return Store(f"sqlite:///{tmp_path / 'e.sqlite'}")


def _batch(store: Store, files: list[tuple[str, bytes]]) -> int:
    def work(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, "b", iter(files), SETTINGS)
        classify_batch(ctx, store, batch_id, fake_classify, show_finished=False)
        return batch_id

    return JobManager().submit(work, title="t", kind="batch").wait(30).result


def test_the_reader_carries_each_rows_other_columns() -> None:
    by_name = {item.name: item.fields for item in read_bytes("t.csv", CSV)}
    assert by_name["t.csv#row=2"] == {"id": "18", "title": "Second, with comma", "label": "a"}
    by_name = {item.name: item.fields for item in read_bytes("r.jsonl", JSONL)}
    assert by_name == {
        "r.jsonl#row=1": {"id": "x1", "meta": {"k": 1}},
        "r.jsonl#row=3": {"id": "x2", "gold": "b"},
    }
    (plain,) = read_bytes("notes.txt", b"text")
    assert plain.fields is None
    (empty_row,) = read_bytes("e.csv", b"id,text\n7,\n")  # an unusable row keeps its columns
    assert not empty_row.ok and empty_row.fields == {"id": "7"}


def _fields(store: Store, files: list[tuple[str, bytes]]) -> list[tuple[str, dict[str, object]]]:
    """``(document, source columns)`` per item of a batch of ``files``."""
    return [(r["document"], r["fields"]) for r in batch_rows(store, _batch(store, files))]


def test_a_jsonl_row_keeps_its_own_columns_after_a_blank_first_line(store: Store) -> None:
    data = b'\n{"id": "A", "text": "bravo sport", "gold": "sport"}\n{"id": "B", "text": "alpha politics"}\n'
    assert _fields(store, [("d.jsonl", data)]) == [
        ("d.jsonl#row=2", {"id": "A", "gold": "sport"}),
        ("d.jsonl#row=3", {"id": "B"}),
    ]


def test_rows_named_by_a_name_column_keep_their_columns(store: Store) -> None:
    data = b"name,id,text,gold\nfirst.txt,1,alpha,a\nsecond.txt,2,bravo,b\n"
    assert _fields(store, [("d.csv", data)]) == [
        ("first.txt", {"name": "first.txt", "id": "1", "gold": "a"}),
        ("second.txt", {"name": "second.txt", "id": "2", "gold": "b"}),
    ]


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_source_columns_are_decoded_like_the_text(store: Store, encoding: str) -> None:
    data = "id,text,title\n1,alpha one,\u201cnews\u201d caf\u00e9\n".encode(encoding)
    assert _fields(store, [("excel.csv", data)]) == [
        ("excel.csv#row=1", {"id": "1", "title": "\u201cnews\u201d caf\u00e9"})
    ]


def test_two_uploads_with_one_name_keep_their_own_columns(store: Store) -> None:
    first = b"id,text\n1,alpha\n2,bravo\n"
    second = b"id,text\n3,charlie\n"
    assert _fields(store, [("d.csv", first), ("d.csv", second)]) == [
        ("d.csv#row=1", {"id": "1"}),
        ("d.csv#row=2", {"id": "2"}),
        ("d.csv#row=1", {"id": "3"}),
    ]


def test_exports_keep_the_source_columns_and_every_probability(store: Store, tmp_path: Path) -> None:
    batch_id = _batch(store, [("t.csv", CSV), ("r.jsonl", JSONL), ("plain.txt", b"alpha")])
    rows = batch_rows(store, batch_id)
    names = [r["document"] for r in rows]
    assert names == [
        "t.csv#row=1",
        "t.csv#row=2",
        "t.csv#row=3",
        "r.jsonl#row=1",
        "r.jsonl#row=3",
        "plain.txt",
    ]
    assert rows[2]["status"] == "error" and rows[2]["fields"]["id"] == "19"  # errors keep them too

    table = list(csv.DictReader(io.StringIO(to_csv(rows).decode("utf-8-sig"))))
    assert [(r["id"], r["title"], r["source_label"]) for r in table[:3]] == [
        ("17", "First", "a"),
        ("18", "Second, with comma", "a"),
        ("19", "Third", "b"),
    ]
    assert float(table[0]["p_a"]) == pytest.approx(0.9) and float(table[0]["p_b"]) == pytest.approx(0.1)
    assert table[5]["id"] == "" and table[5]["final_label"] == "a"

    lines = [json.loads(line) for line in to_jsonl(rows).decode().splitlines()]
    assert len({tuple(line) for line in lines}) == 1  # one schema: load_dataset("json") reads it
    assert lines[3]["meta"] == {"k": 1} and lines[4]["gold"] == "b"
    (tmp_path / "b.jsonl").write_bytes(to_jsonl(rows))
    assert len(pd.read_json(tmp_path / "b.jsonl", lines=True)) == 6
    (tmp_path / "b.parquet").write_bytes(to_parquet(rows))
    parquet = pq.read_table(tmp_path / "b.parquet").to_pandas()
    assert parquet["title"].tolist()[:2] == ["First", "Second, with comma"]
    assert parquet["meta"].tolist()[3] == '{"k": 1}' and parquet["p_b"].notna().sum() == 5

    exported = [json.loads(line) for line in history_export(store, None, "jsonl").decode().splitlines()]
    by_name = {r["document_name"]: r for r in exported}
    assert by_name["t.csv#row=1"]["source_fields"] == {"id": "17", "title": "First", "label": "a"}
    assert by_name["t.csv#row=1"]["label_set"] == "letters"
    assert by_name["plain.txt"]["source_fields"] is None

    shown, columns = display_rows(store, rows)
    assert columns[:3] == ["document", "status", "error"] and {"title", "preview"} <= set(columns)
    assert shown[0]["preview"] == "alpha one" and shown[0]["title"] == "First"


def test_a_gold_label_column_scores_the_batch(store: Store) -> None:
    rows = batch_rows(store, _batch(store, [("t.csv", CSV)]))
    column, scores = gold_scores(rows, ["a", "b"])
    # alpha → a (gold a), bravo → b (gold a); the failed row is not scored.
    assert column == "label" and scores.documents == 2 and scores.accuracy == 0.5
    assert scores.confusion == [[1, 1], [0, 0]]
    assert gold_scores(batch_rows(store, _batch(store, [("p.txt", b"alpha")])), ["a", "b"]) is None


def test_label_studio_round_trip(store: Store, tmp_path: Path) -> None:
    batch_id = _batch(store, [("t.csv", CSV)])
    rows = batch_rows(store, batch_id)
    store.add_correction(rows[1]["prediction_id"], "a")
    tasks = json.loads(label_studio_tasks(store, batch_rows(store, batch_id)))
    assert len(tasks) == 2 and tasks[0]["data"]["text"] == "alpha one"
    assert tasks[0]["data"]["title"] == "First"
    prediction = tasks[0]["predictions"][0]
    assert prediction["result"][0]["value"]["choices"] == ["a"] and prediction["score"] == pytest.approx(0.9)
    assert tasks[1]["annotations"][0]["result"][0]["value"]["choices"] == ["a"]
    # A reviewer in Label Studio annotates the first task 'b' and cancels nothing.
    tasks[0]["annotations"] = [
        {
            "result": [
                {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["b"]}}
            ]
        }
    ]
    tasks.append(
        {
            "id": 99,
            "data": {"text": "a new text from the team"},
            "annotations": [{"result": [{"type": "choices", "value": {"choices": ["a"]}}]}],
        }
    )
    tasks.append(
        {
            "id": 100,
            "data": {"text": "odd"},
            "annotations": [{"result": [{"type": "choices", "value": {"choices": ["zzz"]}}]}],
        }
    )

    other = Store(f"sqlite:///{tmp_path / 'team.sqlite'}")
    outcome = import_label_studio(other, json.dumps(tasks).encode(), "letters", ["a", "b"])
    assert (outcome.tasks, outcome.predictions, outcome.corrections) == (3, 3, 3)
    assert outcome.skipped == ["task 100: labels outside 'letters': zzz"]
    rows = {r.document_name: r for r in other.history().rows}
    first = rows["t.csv#row=1"]
    assert first.model_name == "label-studio:fake" and first.label == "a"
    assert first.confidence == pytest.approx(0.9) and first.corrected_label == "b"
    assert first.label_set == "letters"
    assert rows["t.csv#row=2"].corrected_label == "a"
    added = rows["label-studio task 99"]
    assert added.model_name == "label-studio:annotations" and added.corrected_label == "a"
    assert other.count_corrections(labels=["a", "b"]) == 3
    with pytest.raises(Exception, match="Label Studio"):
        import_label_studio(other, b"{not json", "letters")
