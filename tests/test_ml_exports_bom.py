"""The app's CSV downloads are UTF-8 with a byte-order mark, so Excel on Windows reads accents
right; reading such a download back (the app's own uploads, through the readers) gives the same
rows as the file without the mark."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.readers import ReadDocument, TableOptions, read_bytes
from longbert.store import Store
from longbert.ui.tables import batch_rows, history_export, to_csv, to_jsonl

NAME, LABEL = "Übersicht_Café.pdf", "Économie"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'bom.sqlite'}")
    batch_id = store.create_batch("b", items=[NAME, "plain.txt"])
    for index, name in enumerate([NAME, "plain.txt"]):
        document = make_document(index, name=name, source="batch")
        prediction = make_prediction(document, model="wirtschaft", label=LABEL, labels=(LABEL, "Sport"))
        store.save_prediction(prediction, document, batch_id=batch_id, item_index=index)
    return store


def read_back(data: bytes, text_column: str) -> list[tuple[str, dict[str, object]]]:
    """Each row of a CSV file as the app's upload reads it: its text and its other columns."""
    items = list(read_bytes("export.csv", data, table=TableOptions(text_column=text_column)))
    assert all(isinstance(item, ReadDocument) for item in items), items
    return [(item.document.text, dict(item.fields or {})) for item in items if isinstance(item, ReadDocument)]


def test_the_batch_csv_download_has_a_bom_and_reads_back_the_same(store: Store) -> None:
    data = to_csv(batch_rows(store, 1))
    assert data.startswith(codecs.BOM_UTF8) and not data[3:].startswith(codecs.BOM_UTF8)
    # What Excel shows: the text after the mark, decoded as UTF-8 (not as Windows-1252).
    assert NAME in data.decode("utf-8-sig") and "Ã" not in data.decode("utf-8-sig")
    rows = read_back(data, "document")
    assert rows == read_back(data[len(codecs.BOM_UTF8) :], "document")
    assert [text for text, _ in rows] == [NAME, "plain.txt"]
    assert rows[0][1]["label"] == LABEL and rows[0][1]["final_label"] == LABEL
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header[0] == "document"
    assert not to_jsonl(batch_rows(store, 1)).startswith(codecs.BOM_UTF8)  # JSON has no mark


def test_the_history_csv_download_has_a_bom_and_reads_back_the_same(store: Store) -> None:
    data = history_export(store, None, "csv")
    assert data.startswith(codecs.BOM_UTF8)
    rows = read_back(data, "document_name")
    assert rows == read_back(data[len(codecs.BOM_UTF8) :], "document_name")
    assert [text for text, _ in rows] == [NAME, "plain.txt"]
    assert rows[0][1]["final_label"] == LABEL
    assert not history_export(store, None, "jsonl").startswith(codecs.BOM_UTF8)
