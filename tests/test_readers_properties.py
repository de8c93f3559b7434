"""Property-based tests: any bytes under any name give documents or reasons, never an exception.

Small and quick by default (a few seconds); ``-m slow`` runs many more examples.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longbert.document import as_document
from longbert.errors import LongBertError
from longbert.readers import FileError, ReadDocument, ReadLimits, TableOptions, read_bytes
from longbert.text.decoding import decode_text

QUICK = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
THOROUGH = settings(max_examples=2000, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
LIMITS = ReadLimits(max_file_bytes=1 << 16, max_chars=1 << 15, max_documents=200)
EXTENSIONS = ["txt", "csv", "tsv", "jsonl", "json", "html", "md", "pdf", "docx", "zip", "gz", "", "xlsx"]
names = st.builds(
    lambda stem, ext: f"{stem}.{ext}" if ext else stem,
    st.text(min_size=0, max_size=20),
    st.sampled_from(EXTENSIONS),
)
table_bytes = st.lists(
    st.lists(st.text(alphabet=st.sampled_from('ab ,;"\n\t\\{}[]:é€'), max_size=12), min_size=1, max_size=4),
    max_size=12,
).map(lambda rows: ("text,label\n" + "\n".join(",".join(row) for row in rows)).encode("utf-8"))


def check_items(name: str, data: bytes) -> None:
    items = list(read_bytes(name, data, limits=LIMITS, table=TableOptions(label_column=None)))
    assert items, "a read yields at least one document or one reason"
    for item in items:
        assert isinstance(item, ReadDocument | FileError)
        if isinstance(item, FileError):
            assert item.reason and item.kind
        else:
            assert item.document.text.strip()
            assert len(item.document.text) <= LIMITS.max_chars


@QUICK
@given(name=names, data=st.binary(max_size=2048))
def test_any_bytes_under_any_name(name: str, data: bytes) -> None:
    check_items(name, data)


@QUICK
@given(data=table_bytes, ext=st.sampled_from(["csv", "tsv"]))
def test_any_csv_table(data: bytes, ext: str) -> None:
    check_items(f"table.{ext}", data)


@QUICK
@given(lines=st.lists(st.one_of(st.text(max_size=30), st.just('{"text": "ok"}'), st.just("{")), max_size=10))
def test_any_jsonl(lines: list[str]) -> None:
    check_items("rows.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))


@QUICK
@given(data=st.binary(min_size=1, max_size=4096))
def test_decoding_and_as_document_raise_only_their_own_errors(data: bytes) -> None:
    from longbert.text.decoding import ReadFailure

    try:
        decode_text(data)
    except ReadFailure as failure:
        assert failure.reason
    try:
        as_document(data, limits=LIMITS)
    except LongBertError as error:
        assert str(error)


@pytest.mark.slow
@THOROUGH
@given(name=names, data=st.binary(max_size=8192))
def test_any_bytes_thoroughly(name: str, data: bytes) -> None:
    check_items(name, data)
