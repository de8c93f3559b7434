"""Column names of uploaded training tables."""

from __future__ import annotations

import gzip
import json

import pytest

from longbert.ui.uploads import LABEL_NAMES, TEXT_NAMES, guess_column, table_columns


def test_csv_tsv_jsonl_and_gzip_columns() -> None:
    assert table_columns("a.csv", b"\xef\xbb\xbftext,label\nx,y\n") == ["text", "label"]
    assert table_columns("a.tsv", b"doc\tclass\nx\ty\n") == ["doc", "class"]
    lines = b'{"body": "x", "tag": "a"}\n\n{"body": "y", "tag": "b", "extra": 1}\n'
    assert table_columns("a.jsonl", lines) == ["body", "tag", "extra"]
    array = json.dumps([{"text": "x", "label": "a"}]).encode()
    assert table_columns("a.json", array) == ["text", "label"]
    assert table_columns("a.csv.gz", gzip.compress(b"text,label\nx,y\n")) == ["text", "label"]
    # A sample cut in the middle of a record still gives the keys of the whole ones.
    cut = (b'{"text": "x", "label": "a"}\n' * 5) + b'{"text": "unfini'
    assert table_columns("a.jsonl", cut, sample_bytes=len(cut)) == ["text", "label"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.pdf", b"%PDF", "not a CSV"),
        ("a.csv", b"   ", "empty"),
        ("a.csv", b"only\nx\n", "needs a text and a label"),
        ("a.jsonl", b"[1, 2]\nnope\n", "no JSON objects"),
        ("a.csv.gz", b"\x1f\x8bbroken", "gzip"),
    ],
)
def test_unreadable_tables_say_why(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        table_columns(name, data)


def test_guess_column_prefers_known_names_and_avoids_the_text_column() -> None:
    columns = ["id", "Body", "label"]
    assert guess_column(columns, TEXT_NAMES) == 1
    assert guess_column(columns, LABEL_NAMES, avoid="Body") == 2
    assert guess_column(["a", "b"], LABEL_NAMES, avoid="a") == 1


def test_columns_are_read_as_the_readers_read_the_table() -> None:
    from longbert.readers import TableOptions, read_bytes

    semicolons = b"text;label\nDas Spiel endete 2:1;sport\nDie Wahl ist am Sonntag;politik\n"
    assert table_columns("a.csv", semicolons) == ["text", "label"]
    read = list(read_bytes("a.csv", semicolons, table=TableOptions(label_column="label")))
    assert [item.labels for item in read] == [("sport",), ("politik",)]
    utf16 = "text\tlabel\nÜber Fußball\tsport\n".encode("utf-16")  # with its byte-order mark
    assert table_columns("a.tsv", utf16) == ["text", "label"]
    assert table_columns("a.csv", "text,label\nx,y\n".encode("utf-16-le")) == ["text", "label"]
    assert table_columns("a.csv", "text,étiquette\nx,y\n".encode("cp1252")) == ["text", "étiquette"]
    assert table_columns("a.jsonl", '{"text": "x", "label": "a"}\n'.encode("utf-16")) == ["text", "label"]
    with pytest.raises(ValueError, match="binary"):
        table_columns("a.csv", b"\x00\x01\x02\x03" * 100)
