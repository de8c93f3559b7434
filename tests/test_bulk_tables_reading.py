"""``python -m longbert.predict``'s table reader (:mod:`longbert.bulk.tables`) against the app's
readers: the same file gives the same rows and the same errors, whether it is small enough to be
decoded whole or streamed, gzipped or not.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from longbert.bulk import tables
from longbert.bulk.sources import CLI_LIMITS
from longbert.bulk.tables import read_table_rows
from longbert.readers import FileError, ReadLimits, TableOptions, read_bytes


@pytest.fixture(autouse=True)
def default_csv_field_limit() -> Iterator[None]:
    """csv's field limit is process-wide: start each test from csv's own default (128 KiB), as a
    fresh process does, so that no earlier test's raised limit hides a reader that sets too little."""
    before = csv.field_size_limit(131072)
    yield
    csv.field_size_limit(before)


@pytest.fixture(params=["decoded", "streamed"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the CLI reads a table: decoded whole (small files), streamed (large ones)."""
    if request.param == "streamed":
        monkeypatch.setattr(tables, "DETECT_BYTES", 16)
    return request.param


def _cli(path: Path, limits: ReadLimits = CLI_LIMITS) -> list[tuple[str, str]]:
    """``(row name, text or "error: why")`` per item the CLI reads from ``path``."""
    items = read_table_rows(path.name, path, "text", "id", limits)
    return [(i.name, f"error: {i.error}" if i.document is None else i.document.text) for i in items]


def _app(path: Path, limits: ReadLimits = CLI_LIMITS) -> list[tuple[str, str]]:
    items = read_bytes(path.name, path.read_bytes(), limits=limits, table=TableOptions())
    return [(i.name, f"error: {i.reason}" if isinstance(i, FileError) else i.document.text) for i in items]


def _rows(count: int, forgot: int | None = None) -> str:
    lines = ["id,text,source"]
    for n in range(1, count + 1):
        close = "" if n == forgot else '"'
        text = f"Document number {n} about markets and prices."
        if n == forgot:
            text += " The analyst forgot to close this quote"
        lines.append(f'{n},"{text}{close},s{n}')
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("count, forgot", [(10, 3), (10, 10), (3000, 2500)])
def test_an_unterminated_quote_is_the_apps_error_on_the_command_line(
    tmp_path: Path, mode: str, count: int, forgot: int
) -> None:
    path = tmp_path / "unterminated.csv"
    path.write_text(_rows(count, forgot))  # 3000 rows: the stray quote lies past the 64 KiB head
    cli = _cli(path)
    assert cli == _app(path)  # the same rows, the same error, whichever reader read it
    name, error = cli[forgot - 1]
    assert name == f"unterminated.csv#row={forgot}"
    assert error.startswith("error: unterminated quote: the quoted field opened in line")
    texts = [text for _, text in cli]
    assert "Document number 1 about markets and prices." in texts
    # Before: exit 0, the row swallowed the next one (its text, its source) and nobody was told.
    assert not any("forgot" in text and not text.startswith("error") for text in texts)


def test_an_over_long_csv_row_fails_alone(tmp_path: Path, mode: str) -> None:
    long_text = "markets prices " * 400_000  # 6,000,000 characters, over max_chars (5,000,000)
    rows = [("r1", "The team won the match."), ("r2", long_text)]
    rows += [(f"r{n}", f"Report {n}: the bank raised interest rates.") for n in range(3, 11)]
    path = tmp_path / "reports.csv"
    path.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in rows))
    cli = _cli(path)
    assert len(cli) == 10  # before: row 1, then "malformed after row 1", rows 3-10 lost
    assert cli[1][0] == "reports.csv#row=2"
    assert cli[1][1].startswith("error: its text has 5,999,999 characters, more than the 5,000,000")
    assert cli[2:] == [(f"reports.csv#row={n}", t) for n, (_, t) in enumerate(rows[2:], start=3)]
    csv.field_size_limit(131072)  # the app's reader in a fresh process too
    assert _app(path) == cli


def test_a_quote_that_never_closes_in_a_huge_file_names_its_row(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "t.csv"
    rows = "".join(f"{n},More text for row {n}.,s\n" for n in range(4, 200))  # no quote closes it
    path.write_text(_rows(3, forgot=3) + rows)
    csv.field_size_limit(10)  # the limit the readers start from; they raise it to max_file_bytes
    limits = ReadLimits(max_file_bytes=1000, max_chars=500)
    cli = _cli(path, limits)
    assert [name for name, _ in cli[:2]] == ["t.csv#row=1", "t.csv#row=2"]
    assert cli[2][0] == "t.csv"  # the file: nothing after it can be read reliably
    assert cli[2][1].startswith("error: row 3 (from line 4) holds a field of more than 1,000 characters")
    assert "quote that is never closed" in cli[2][1]


def _cp1252_table() -> bytes:
    lines = ["id,text"] + [
        f'{n},"Le marché a baissé, les prix ont augmenté à Genève, jour {n}."' for n in range(1, 6)
    ]
    return ("\n".join(lines) + "\n").encode("cp1252")


def test_a_small_gzipped_legacy_table_is_decoded_as_the_plain_file(tmp_path: Path) -> None:
    data = _cp1252_table()
    (tmp_path / "plain.csv").write_bytes(data)
    (tmp_path / "zipped.csv.gz").write_bytes(gzip.compress(data))
    plain = _cli(tmp_path / "plain.csv")
    zipped = _cli(tmp_path / "zipped.csv.gz")  # before: one error, "cannot be read further"
    assert [t for _, t in zipped] == [t for _, t in plain] == [t for _, t in _app(tmp_path / "zipped.csv.gz")]
    assert zipped[0] == ("zipped.csv.gz#row=1", "Le marché a baissé, les prix ont augmenté à Genève, jour 1.")


def _jsonl_with_a_legacy_row() -> bytes:
    rows = [json.dumps({"id": f"d{n}", "text": f"Report {n}: markets and prices."}) for n in range(1, 6)]
    rows[1] = json.dumps({"id": "d2", "text": "Le marché a baissé."}, ensure_ascii=False)
    return b"".join(row.encode("cp1252") + b"\n" for row in rows)


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_streamed_jsonl_row_that_is_not_utf8_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gzipped: bool
) -> None:
    monkeypatch.setattr(tables, "DETECT_BYTES", 100)  # streamed, as a file over 64 MB is
    data = _jsonl_with_a_legacy_row()
    path = tmp_path / ("corpus.jsonl.gz" if gzipped else "corpus.jsonl")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    cli = _cli(path)
    assert [name for name, _ in cli] == [f"{path.name}#row={n}" for n in range(1, 6)]
    assert cli[1][1].startswith("error: row 2 is not UTF-8 (it holds the byte 0xE9")
    assert cli[4] == (f"{path.name}#row=5", "Report 5: markets and prices.")  # before: 0 rows


def test_a_streamed_csv_or_json_row_that_is_not_utf8_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "DETECT_BYTES", 16)
    table = tmp_path / "t.csv"
    table.write_bytes(b"id,text,place\n1,First row.,Geneva\n2,Second row.,Gen\xe8ve\n3,Third row.,Bern\n")
    cli = _cli(table)
    assert cli[0] == ("t.csv#row=1", "First row.") and cli[2] == ("t.csv#row=3", "Third row.")
    assert cli[1][0] == "t.csv#row=2" and "row 2 is not UTF-8 (it holds the byte 0xE8" in cli[1][1]
    listed = tmp_path / "t.json"
    listed.write_bytes(b'[{"text": "First."}, {"text": "Caf\xe9."}, "Third."]')
    cli = _cli(listed)
    assert [t for _, t in cli][::2] == ["First.", "Third."]
    assert cli[1][1].startswith("error: row 2 is not UTF-8 (it holds the byte 0xE9")


def test_a_legacy_byte_in_a_streamed_header_keeps_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "DETECT_BYTES", 16)
    table = tmp_path / "t.csv"
    table.write_bytes(b"id,text,r\xe9gion\n1,First row.,north\n")
    (item,) = read_table_rows("t.csv", table, "text", "id", CLI_LIMITS)
    assert item.document is not None and item.document.text == "First row."
    assert item.extra == {"id": "1", "r\ufffdgion": "north"}  # no undecodable escape reaches outputs


def test_a_json_escaped_surrogate_is_still_the_row_checks_to_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "DETECT_BYTES", 16)
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"text": "Fine text."}\n{"text": "Broken \\udc80 text"}\n')
    cli = _cli(path)
    assert cli[0] == ("rows.jsonl#row=1", "Fine text.")
    assert "not valid Unicode" in cli[1][1] and "not UTF-8" not in cli[1][1]


def test_a_mixed_encoding_warning_names_the_table(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Mostly UTF-8 rows and one Windows-1252 row: the decoder warns, and the command line's
    # warning says which file (it said "text: ..." before).
    utf8 = "".join(f"{i},Le café de Genève numéro {i} était très fréquenté\n" for i in range(10))
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"id,text\n" + utf8.encode() + "10,Un caf\u00e9 \u00e0 Gen\u00e8ve\n".encode("cp1252"))
    with caplog.at_level("WARNING", logger="longbert.text.decoding"):
        rows = _cli(path)
    assert len(rows) == 11 and "Genève" in rows[0][1], rows[:2]
    assert any(str(path) in record.getMessage() for record in caplog.records), caplog.text
