"""File readers: every format, encoding, broken file and limit, on files made here."""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import random
import zipfile
from pathlib import Path

import pytest

from longbert.document import Document
from longbert.errors import UnreadableFileError
from longbert.readers import (
    FileError,
    LabelError,
    ReadDocument,
    ReadLimits,
    TableOptions,
    decode_text,
    is_junk,
    parse_labels,
    read_bytes,
    read_many,
    read_path,
    read_single,
    sanitize_member_name,
)

FRENCH = (
    "Le café était très agréable, la naïve jeune fille allait à l'école. "
    "Der Bär läuft über die Straße. Ça coûte cher, dit-il en reçu. "
)


# --------------------------------------------------------------------------- helpers


def items(name: str, data: bytes, **kwargs) -> list:
    return list(read_bytes(name, data, **kwargs))


def docs(name: str, data: bytes, **kwargs) -> list[ReadDocument]:
    return [item for item in items(name, data, **kwargs) if item.ok]


def errors(name: str, data: bytes, **kwargs) -> list[FileError]:
    return [item for item in items(name, data, **kwargs) if not item.ok]


def only_text(name: str, data: bytes, **kwargs) -> str:
    result = items(name, data, **kwargs)
    assert len(result) == 1, result
    assert result[0].ok, result[0]
    return result[0].document.text


def only_error(name: str, data: bytes, **kwargs) -> FileError:
    result = items(name, data, **kwargs)
    assert len(result) == 1, result
    assert not result[0].ok, result[0]
    return result[0]


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF (Helvetica text, one content stream per page), byte offsets exact."""
    objects: dict[int, bytes] = {}
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[2] = f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()
    font = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        page, content = 3 + 2 * i, 4 + 2 * i
        ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
        for line in text.split("\n"):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects[page] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>"
        ).encode()
        objects[content] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    objects[font] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


def encrypt_pdf(pdf: bytes, user: str, owner: str | None = None) -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user, owner_password=owner)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Revenue grew by ten percent.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Region"
    table.cell(0, 1).text = "Sales"
    table.cell(1, 0).text = "North"
    table.cell(1, 1).text = "42"
    document.add_paragraph("Closing remarks.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            if name.endswith("/"):
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


# --------------------------------------------------------------------------- plain text


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8", FRENCH + "€ “quoted”"),
        ("utf-8-sig", FRENCH),
        ("utf-16", FRENCH + "€"),  # with BOM
        ("utf-16-le", FRENCH + "plain ASCII mostly, no BOM at all here."),
        ("utf-32", FRENCH),
        ("latin-1", FRENCH),
        ("cp1252", FRENCH + "Ça coûte 5 € — “vraiment” cher !"),
    ],
)
def test_text_encodings(encoding: str, text: str) -> None:
    data = (text * 3).encode(encoding)
    assert only_text("notes.txt", data) == (text * 3).strip()


def test_short_latin1_and_cp1252() -> None:
    assert only_text("a.txt", "Café".encode("cp1252")) == "Café"
    assert only_text("b.txt", "naïve résumé".encode("latin-1")) == "naïve résumé"


def test_bom_is_stripped_and_newlines_normalised() -> None:
    text = only_text("win.txt", codecs.BOM_UTF8 + b"line one\r\nline two\rline three\r\n")
    assert text == "line one\nline two\nline three"
    assert not text.startswith("\ufeff")


def test_utf8_cut_inside_last_character() -> None:
    assert only_text("cut.txt", "naïve café".encode()[:-1]) == "naïve caf"


def test_markdown_is_read_as_text() -> None:
    assert only_text("README.md", b"# Title\n\nSome *text*.") == "# Title\n\nSome *text*."


def test_binary_junk_is_refused() -> None:
    junk = random.Random(0).randbytes(4096)
    error = only_error("data.txt", junk)
    assert error.kind == "binary"
    assert "binary" in error.reason
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(1).randbytes(500)
    assert only_error("picture.bin", png).kind == "binary"


def test_control_characters_mean_binary() -> None:
    data = bytes(range(1, 9)) * 200 + b"a few letters"
    assert only_error("weird.txt", data).kind == "binary"


def test_empty_and_whitespace_files() -> None:
    empty = only_error("empty.txt", b"")
    assert empty.kind == "empty"
    assert "empty" in empty.reason
    blank = only_error("blank.txt", b"  \n\t \r\n ")
    assert blank.kind == "empty"


def test_unknown_extension_read_as_text() -> None:
    assert only_text("notes.weird", b"plain words") == "plain words"
    assert only_text("README", b"no extension at all") == "no extension at all"


def test_unsupported_formats_get_hints() -> None:
    error = only_error("sheet.xlsx", b"PK\x03\x04whatever")
    assert error.kind == "unsupported"
    assert "CSV" in error.reason


def test_decode_text_uses_declared_encoding() -> None:
    data = "Grüße".encode("cp1252")
    assert decode_text(data, declared="windows-1252") == "Grüße"


# --------------------------------------------------------------------------- HTML


HTML = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>News &amp; Views</title>
<style>body { color: red; }</style>
<script>var secret = "<b>not text</b>";</script></head>
<body>
  <h1>Main   headline</h1>
  <p>Caf&eacute; prices rose &gt; 5% &mdash; analysts said
     &lt;nothing&gt; more.</p>
  <noscript>Enable JavaScript</noscript>
  <!-- a comment -->
  <ul><li>first</li><li>second <b>bold</b></li></ul>
  <table><tr><td>a</td><td>b</td></tr></table>
  <div>Line<br>break</div>
</body></html>"""


def test_html_plain_text_without_markup() -> None:
    text = only_text("page.html", HTML)
    assert text.startswith("News & Views")
    assert "Main headline" in text
    assert "Café prices rose > 5% — analysts said <nothing> more." in text
    assert "first\nsecond bold" in text
    assert "Line\nbreak" in text
    for hidden in ("secret", "color", "Enable JavaScript", "a comment", "<li>", "&amp;"):
        assert hidden not in text


def test_html_without_closing_head_keeps_body() -> None:
    page = b"<html><head><meta charset=utf-8><title>T</title><p>Body text survives</p>"
    assert only_text("sloppy.html", page) == "T\n\nBody text survives"


def test_html_meta_charset_is_honoured() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Ça coûte 5 €</p></body></html>'
    assert only_text("old.htm", page.encode("cp1252")) == "Ça coûte 5 €"


# --------------------------------------------------------------------------- PDF


def test_pdf_text_extraction() -> None:
    pdf = make_pdf(["Hello PDF world (test).\nSecond line.", "Page two text."])
    text = only_text("report.pdf", pdf)
    assert "Hello PDF world (test)." in text
    assert "Second line." in text
    assert text.index("Second line.") < text.index("Page two text.")


def test_encrypted_pdf_is_refused_clearly() -> None:
    locked = encrypt_pdf(make_pdf(["Secret text"]), user="secret")
    error = only_error("locked.pdf", locked)
    assert error.kind == "encrypted"
    assert "encrypted PDF" in error.reason
    assert "password" in error.reason


def test_pdf_with_empty_user_password_opens() -> None:
    restricted = encrypt_pdf(make_pdf(["Readable text"]), user="", owner="owner-only")
    assert "Readable text" in only_text("restricted.pdf", restricted)


@pytest.mark.parametrize("cut", [20, 300, -40])
def test_truncated_pdf_is_corrupt(cut: int) -> None:
    pdf = make_pdf(["Some text that will be cut off."])
    error = only_error("broken.pdf", pdf[:cut])
    assert error.kind == "corrupt"
    assert "damaged" in error.reason


def test_not_a_pdf_and_scanned_pdf() -> None:
    assert only_error("fake.pdf", b"just words").kind == "corrupt"
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)
    error = only_error("scan.pdf", buffer.getvalue())
    assert error.kind == "no_text"
    assert "OCR" in error.reason


def test_pdf_sniffed_without_extension() -> None:
    assert "Sniffed" in only_text("download", make_pdf(["Sniffed text"]))


# --------------------------------------------------------------------------- DOCX


def test_docx_paragraphs_and_tables() -> None:
    text = only_text("report.docx", make_docx())
    assert text.splitlines() == [
        "Quarterly report",
        "Revenue grew by ten percent.",
        "Region\tSales",
        "North\t42",
        "Closing remarks.",
    ]


def test_broken_docx() -> None:
    assert only_error("broken.docx", b"not a zip at all").kind == "corrupt"
    assert only_error("truncated.docx", make_docx()[:500]).kind == "corrupt"
    assert only_error("other.docx", make_zip({"a.txt": b"hi"})).kind == "corrupt"
    old_word = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100
    assert only_error("old.docx", old_word).kind == "unsupported"


# --------------------------------------------------------------------------- CSV / TSV


def test_csv_rows_with_good_and_bad_rows() -> None:
    data = b'id,text,label\n1,first doc,a\n2,,b\n3,"multi\nline, with comma",c\n\n4,   ,a\n5,last,\n'
    result = items("data.csv", data, table=TableOptions(label_column="label"))
    good = [item for item in result if item.ok]
    bad = [item for item in result if not item.ok]
    assert [d.document.text for d in good] == ["first doc", "multi\nline, with comma"]
    assert [d.name for d in good] == ["data.csv#row=1", "data.csv#row=3"]
    assert [d.labels for d in good] == [("a",), ("c",)]
    assert [d.record_id for d in good] == ["1", "3"]
    assert [(e.name, e.kind) for e in bad] == [
        ("data.csv#row=2", "empty"),
        ("data.csv#row=4", "empty"),
        ("data.csv#row=5", "missing_label"),
    ]


def test_csv_missing_column_names_columns_found() -> None:
    error = only_error("data.csv", b"id,body,label\n1,hello,a\n", table=TableOptions(text_column="text"))
    assert error.kind == "missing_column"
    assert "'body'" in error.reason and "'id'" in error.reason and "'label'" in error.reason
    error = only_error("data.csv", b"text,category\nhello,a\n", table=TableOptions(label_column="label"))
    assert error.kind == "missing_column"
    assert "'category'" in error.reason


def test_csv_custom_columns_semicolons_and_tsv() -> None:
    data = "Body;Topic\nBonjour à tous;greet\nAu revoir;bye\n".encode("cp1252")
    rows = docs("fr.csv", data, table=TableOptions(text_column="body", label_column="topic"))
    assert [(r.document.text, r.labels) for r in rows] == [
        ("Bonjour à tous", ("greet",)),
        ("Au revoir", ("bye",)),
    ]
    rows = docs("t.tsv", b"text\tlabel\nhello, world\tx\n", table=TableOptions(label_column="label"))
    assert [(r.document.text, r.labels) for r in rows] == [("hello, world", ("x",))]


def test_csv_multi_label_and_long_fields() -> None:
    long_text = "word " * 60_000  # longer than csv's default 128 KiB field limit
    data = f'text,labels\n"{long_text}",sport|politics\nshort,"[""a"", ""b""]"\n'.encode()
    rows = docs("ml.csv", data, table=TableOptions(label_column="labels", label_delimiter="|"))
    assert rows[0].labels == ("sport", "politics")
    assert rows[0].document.num_chars == len(long_text.strip())
    assert rows[1].labels == ("a", "b")


def test_row_errors_are_capped() -> None:
    data = "text,label\n" + "".join(f"doc {i},\n" for i in range(10))
    result = items(
        "bad.csv",
        data.encode(),
        table=TableOptions(label_column="label"),
        limits=ReadLimits(max_row_errors=3),
    )
    assert len(result) == 4
    assert all(not r.ok for r in result)
    assert "7 more rows" in result[-1].reason


# --------------------------------------------------------------------------- JSON / JSONL


def test_jsonl_good_and_bad_lines() -> None:
    lines = [
        json.dumps({"id": 7, "text": "first", "label": ["x", "y"]}),
        "{not json",
        "[1, 2]",
        "",
        json.dumps({"body": "no text field", "label": "x"}),
        json.dumps({"text": 5, "label": "x"}),
        json.dumps({"text": "no label"}),
        json.dumps({"text": "null label", "label": None}),
        json.dumps({"text": "last", "label": True}),
    ]
    result = items("data.jsonl", "\n".join(lines).encode(), table=TableOptions(label_column="label"))
    good = [r for r in result if r.ok]
    assert [(r.document.text, r.labels, r.record_id, r.row) for r in good] == [
        ("first", ("x", "y"), "7", 1),
        ("last", ("true",), None, 9),
    ]
    kinds = {r.row: r.kind for r in result if not r.ok}
    assert kinds == {
        2: "bad_row",
        3: "bad_row",
        5: "missing_column",
        6: "bad_row",
        7: "missing_column",
        8: "missing_label",
    }
    missing = next(r for r in result if not r.ok and r.row == 5)
    assert "'body'" in missing.reason


def test_jsonl_rows_are_lines_of_the_file_even_after_leading_blank_lines() -> None:
    data = b'\n  \n{"id": "A", "text": "sport"}\n{broken\n{"id": "B", "text": "politics"}\n'
    result = items("d.jsonl", data)
    assert [(r.name, r.row, r.ok) for r in result] == [
        ("d.jsonl#row=3", 3, True),
        ("d.jsonl#row=4", 4, False),
        ("d.jsonl#row=5", 5, True),
    ]
    assert result[0].fields == {"id": "A"} and result[2].fields == {"id": "B"}
    assert "line 4 is not valid JSON" in result[1].reason  # the row and the message agree


def test_json_list_object_and_invalid() -> None:
    data = json.dumps([{"text": "one"}, "two", 3]).encode()
    result = items("list.json", data)
    assert [r.document.text for r in result if r.ok] == ["one", "two"]
    assert [r.name for r in result if not r.ok] == ["list.json#row=3"]
    assert only_text("one.json", json.dumps({"text": "single"}).encode()) == "single"
    assert only_error("bad.json", b'{"text": "unterminated').kind == "corrupt"
    lines = b'{"text": "a"}\n{"text": "b"}\n'
    assert len(docs("lines.json", lines)) == 2


def test_name_column_names_documents() -> None:
    data = b'{"text": "a", "name": "Doc A"}\n{"text": "b"}\n'
    named = docs("x.jsonl", data, table=TableOptions(name_column="name"))
    assert [r.name for r in named] == ["Doc A", "x.jsonl#row=2"]


def test_parse_labels() -> None:
    assert parse_labels("pos") == ("pos",)
    assert parse_labels(" a | b |a", "|") == ("a", "b")
    assert parse_labels('["x", "y"]') == ("x", "y")
    assert parse_labels(["x", 1, False]) == ("x", "1", "false")
    assert parse_labels(2.0) == ("2",)
    assert parse_labels([]) == ()
    with pytest.raises(LabelError):
        parse_labels("  ")
    with pytest.raises(LabelError):
        parse_labels({"a": 1})


# --------------------------------------------------------------------------- zip and gz


def test_zip_members_nested_paths_and_junk() -> None:
    inner = make_zip({"deep/inner.txt": b"inside the inner zip"})
    archive = make_zip(
        {
            "docs/": b"",
            "docs/a.txt": b"alpha text",
            "docs/sub/b.html": b"<p>beta <b>text</b></p>",
            "../evil.txt": b"evil text",
            "/abs/path.txt": b"absolute text",
            "__MACOSX/docs/._a.txt": b"\x00\x05\x16\x07junk",
            "docs/.DS_Store": b"\x00\x00\x00\x01Bud1",
            "rows.csv": b"text\nrow one\nrow two\n",
            "nested.zip": inner,
            "empty.txt": b"",
        }
    )
    result = items("archive.zip", archive)
    names = [r.name for r in result]
    assert names == [
        "archive.zip/docs/a.txt",
        "archive.zip/docs/sub/b.html",
        "archive.zip/evil.txt",
        "archive.zip/abs/path.txt",
        "archive.zip/rows.csv#row=1",
        "archive.zip/rows.csv#row=2",
        "archive.zip/nested.zip/deep/inner.txt",
        "archive.zip/empty.txt",
    ]
    assert all(".." not in name and not name.startswith("/") for name in names)
    texts = {r.name: r.document.text for r in result if r.ok}
    assert texts["archive.zip/docs/sub/b.html"] == "beta text"
    assert texts["archive.zip/nested.zip/deep/inner.txt"] == "inside the inner zip"
    first = result[0]
    assert first.origin == "archive.zip" and first.member == "docs/a.txt"
    assert result[6].member == "nested.zip/deep/inner.txt"
    assert result[-1].kind == "empty"


def test_zip_nesting_is_limited() -> None:
    level3 = make_zip({"c.txt": b"too deep"})
    level2 = make_zip({"b.zip": level3, "ok.txt": b"fine"})
    result = items("a.zip", make_zip({"a2.zip": level2}))
    assert [(r.name, r.ok) for r in result] == [
        ("a.zip/a2.zip/b.zip", False),
        ("a.zip/a2.zip/ok.txt", True),
    ]
    assert result[0].kind == "limit"


def test_zip_bomb_is_refused_before_decompressing() -> None:
    bomb = make_zip({f"zeros{i}.txt": b"0" * 2_000_000 for i in range(3)})
    assert len(bomb) < 50_000
    error = only_error("bomb.zip", bomb, limits=ReadLimits(max_archive_bytes=5_000_000))
    assert error.kind == "limit"
    assert "zip bomb" in error.reason
    many = make_zip({f"f{i}.txt": b"x" for i in range(20)})
    assert only_error("many.zip", many, limits=ReadLimits(max_archive_members=10)).kind == "limit"
    big_member = make_zip({"big.txt": b"a" * 5000})
    error = only_error("big.zip", big_member, limits=ReadLimits(max_file_bytes=1000))
    assert (error.name, error.kind) == ("big.zip/big.txt", "too_large")


def test_encrypted_zip_member_and_corrupt_zip() -> None:
    data = bytearray(make_zip({"secret.txt": b"hidden words"}))
    # Set the "encrypted" flag in the local header and the central directory entry.
    data[data.index(b"PK\x03\x04") + 6] |= 1
    data[data.index(b"PK\x01\x02") + 8] |= 1
    error = only_error("locked.zip", bytes(data))
    assert (error.name, error.kind) == ("locked.zip/secret.txt", "encrypted")
    assert only_error("broken.zip", b"PK\x03\x04 truncated").kind == "corrupt"
    assert only_error("junk-only.zip", make_zip({"__MACOSX/x": b"1", ".DS_Store": b"2"})).kind == "empty"


def test_gzip_files() -> None:
    assert only_text("notes.txt.gz", gzip.compress("gzipped café".encode())) == "gzipped café"
    rows = docs("data.jsonl.gz", gzip.compress(b'{"text": "a"}\n{"text": "b"}\n'))
    assert [r.name for r in rows] == ["data.jsonl.gz#row=1", "data.jsonl.gz#row=2"]
    assert only_error("bad.txt.gz", b"\x1f\x8b\x08 not really gzip").kind == "corrupt"
    bomb = gzip.compress(b"a" * 3_000_000)
    error = only_error("bomb.txt.gz", bomb, limits=ReadLimits(max_file_bytes=1_000_000))
    assert error.kind == "too_large"
    inside = items("pack.zip", make_zip({"in/x.md.gz": gzip.compress(b"# zipped gz")}))
    assert [(r.name, r.document.text) for r in inside] == [("pack.zip/in/x.md.gz", "# zipped gz")]


# --------------------------------------------------------------------------- limits, batches, paths


def test_file_size_and_character_limits() -> None:
    error = only_error("big.txt", b"a" * 2000, limits=ReadLimits(max_file_bytes=1000))
    assert error.kind == "too_large"
    assert "200 MB" in error.reason and "server.maxUploadSize" in error.reason
    error = only_error("long.txt", b"a " * 1000, limits=ReadLimits(max_chars=100))
    assert error.kind == "too_large"
    assert "characters" in error.reason


def test_max_documents_stops_the_batch() -> None:
    data = ("text\n" + "".join(f"doc {i}\n" for i in range(10))).encode()
    result = items("many.csv", data, limits=ReadLimits(max_documents=4))
    assert [r.ok for r in result] == [True] * 4 + [False]
    assert result[-1].kind == "limit"
    files = [(f"f{i}.txt", b"text %d" % i) for i in range(5)]
    result = list(read_many(files, limits=ReadLimits(max_documents=3)))
    assert [r.ok for r in result] == [True, True, True, False]


def test_read_many_is_lazy() -> None:
    pulled: list[str] = []

    def files():
        for i in range(1000):
            pulled.append(f"f{i}.txt")
            yield f"f{i}.txt", b"text %d" % i

    stream = read_many(files())
    first = next(stream)
    assert first.ok and first.document.source == "batch"
    assert len(pulled) == 1


def test_one_bad_file_does_not_sink_the_batch() -> None:
    files = [("a.txt", b"good"), ("b.pdf", b"%PDF-1.4 broken"), ("c.txt", b""), ("d.md", b"also good")]
    result = list(read_many(files))
    assert [(r.name, r.ok) for r in result] == [
        ("a.txt", True),
        ("b.pdf", False),
        ("c.txt", False),
        ("d.md", True),
    ]


def test_read_path_file_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("beta", encoding="utf-16")
    (folder / ".hidden.txt").write_text("hidden")
    (folder / "__MACOSX").mkdir()
    (folder / "__MACOSX" / "c.txt").write_text("junk")
    result = list(read_path(folder))
    assert [(r.name, r.document.text) for r in result] == [
        ("docs/a.txt", "alpha"),
        ("docs/sub/b.txt", "beta"),
    ]
    assert [r.name for r in read_path(folder / "a.txt")] == ["a.txt"]
    missing = list(read_path(tmp_path / "nope.txt"))
    assert len(missing) == 1 and missing[0].kind == "io"
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 5000)
    assert next(read_path(big, limits=ReadLimits(max_file_bytes=100))).kind == "too_large"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_in_a_folder_is_left_out_not_waited_on(tmp_path: Path) -> None:
    """Reading a named pipe blocks until something writes to it: a folder's pipe once hung
    pre-training's corpus reading with no message. Pipes, like junk, are not documents."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha", encoding="utf-8")
    os.mkfifo(folder / "b.txt")
    (folder / "c.txt").write_text("gamma", encoding="utf-8")
    assert [r.name for r in read_path(folder)] == ["corpus/a.txt", "corpus/c.txt"]
    from longbert.bulk.sources import walk_inputs

    assert [shown for shown, _ in walk_inputs([folder])] == [str(folder / "a.txt"), str(folder / "c.txt")]


def test_read_single() -> None:
    document = read_single("note.txt", b"just one document")
    assert isinstance(document, Document)
    assert (document.text, document.name, document.source) == ("just one document", "note.txt", "upload")
    with pytest.raises(UnreadableFileError, match="empty"):
        read_single("empty.txt", b"")
    with pytest.raises(UnreadableFileError, match="encrypted PDF"):
        read_single("locked.pdf", encrypt_pdf(make_pdf(["x"]), user="pw"))
    with pytest.raises(UnreadableFileError, match="several documents"):
        read_single("rows.csv", b"text\none\ntwo\n")
    assert read_single("one.csv", b"text\nonly row\n").text == "only row"


def test_same_text_same_hash_across_formats() -> None:
    plain = read_single("a.txt", b"Same words here.")
    html = read_single("a.html", b"<html><body><p>Same words here.</p></body></html>")
    pdf = read_single("a.pdf", make_pdf(["Same words here."]))
    assert plain.sha256 == html.sha256 == pdf.sha256


def test_member_names_are_sanitised() -> None:
    assert sanitize_member_name("../../etc/passwd") == "etc/passwd"
    assert sanitize_member_name("C:\\Users\\x\\..\\doc.txt") == "Users/x/doc.txt"
    assert sanitize_member_name("/abs/./x.txt") == "abs/x.txt"
    assert sanitize_member_name("..") == ""
    assert is_junk("__MACOSX/a/b.txt") and is_junk("x/.DS_Store") and is_junk("._a.txt")
    assert is_junk(".git/config") and is_junk(".cache/x/y.txt")
    assert not is_junk("docs/a.txt")


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_documents"):
        ReadLimits(max_documents=0)
