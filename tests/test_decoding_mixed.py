"""A UTF-8 file with a few lines in Windows-1252 keeps its UTF-8 text: only the invalid bytes are
read in the legacy code page, and the reader says so (a note on the document, a warning naming
the file). Before, the whole file was re-read as cp1252: every "café" became "cafÃ©".
"""

from __future__ import annotations

import logging

import pytest

from longbert.readers import TableOptions, read_bytes
from longbert.text.decoding import decode_text, decode_with_notes

FRENCH = "Le café de Genève: l'équipe a gagné le match numéro {}. Très bien joué."
LEGACY_ROW = "Une ligne écrite sous Windows: prix élevés."


def mixed_csv() -> tuple[bytes, list[str]]:
    """The audit's table: ten UTF-8 rows and one row saved in Windows-1252."""
    texts = [FRENCH.format(i) for i in range(1, 11)]
    body = "id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(texts, start=1))
    return body.encode("utf-8") + f'11,"{LEGACY_ROW}"\n'.encode("cp1252"), [*texts, LEGACY_ROW]


def test_a_utf8_table_with_one_cp1252_row_keeps_every_row(caplog: pytest.LogCaptureFixture) -> None:
    data, texts = mixed_csv()
    with caplog.at_level(logging.WARNING):
        items = list(read_bytes("mixed.csv", data, table=TableOptions()))
    assert [item.document.text for item in items] == texts
    assert not any("Ã" in item.document.text for item in items)
    warning = " ".join(record.getMessage() for record in caplog.records)
    assert "mixed.csv" in warning and "line 12" in warning and "Windows-1252" in warning


def test_a_utf8_letter_with_a_cp1252_signature_on_the_same_line() -> None:
    body = " ".join(["Le café de Genève: l'équipe a gagné. Très bien joué."] * 5)
    data = body.encode("utf-8") + " Signed – “Zoë”".encode("cp1252")
    (item,) = read_bytes("letter.txt", data)
    assert item.document.text == body + " Signed – “Zoë”"
    (note,) = item.document.notes
    assert note.startswith("mixed text encodings:") and "line 1 " in note and "cp1252" in note


def test_a_utf8_letter_with_a_cp1252_signature_line(caplog: pytest.LogCaptureFixture) -> None:
    body = "Chère Zoë,\n\nLe café de Genève est fermé. À bientôt, j'espère.\n\n"
    data = body.encode("utf-8") + "Amitiés – “Noël”\n".encode("cp1252")
    with caplog.at_level(logging.WARNING):
        (item,) = read_bytes("letter.txt", data)
    assert item.document.text == (body + "Amitiés – “Noël”").strip()
    assert "line 5 " in item.document.notes[0]
    assert any("letter.txt: mixed text encodings" in record.getMessage() for record in caplog.records)


def test_the_legacy_lines_are_detected_together() -> None:
    """Each invalid line alone is one short word; together they are Polish (cp1250)."""
    utf8 = "Zażółć gęślą jaźń. Wczoraj poszliśmy do miasta, żeby kupić świeży chleb.\n" * 4
    legacy = ["Błąd w programie.", "Dane zostały utracone.", "Proszę spróbować ponownie."]
    data = utf8.encode("utf-8") + "\n".join(legacy).encode("cp1250")
    decoded = decode_with_notes(data)
    assert decoded.text == utf8 + "\n".join(legacy)
    assert "lines 5, 6, 7" in decoded.notes[0] and "Windows-1250" in decoded.notes[0]


def test_legacy_bytes_that_happen_to_form_utf8_are_read_whole() -> None:
    """In a cp1252 line, "É”" (C9 94) is valid UTF-8 ("ɔ"): that line is read wholly in cp1252."""
    utf8 = "Le café de Genève: l'équipe a gagné. Très bien joué.\n" * 3
    line = "L'ÉTÉ” à Genève, très chaud."
    assert "É”".encode("cp1252").decode("utf-8") == "ɔ"
    assert decode_text(utf8.encode() + line.encode("cp1252")) == utf8 + line


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_a_legacy_file_is_still_read_whole_without_a_note(encoding: str) -> None:
    text = "\n".join(FRENCH.format(i) for i in range(20))
    decoded = decode_with_notes(text.encode(encoding))
    assert decoded.text == text and decoded.notes == ()


def test_valid_utf8_has_no_note() -> None:
    text = "\n".join(FRENCH.format(i) for i in range(3))
    assert decode_with_notes(text.encode()) == decode_with_notes(text.encode())
    assert decode_with_notes(text.encode()).notes == ()


@pytest.mark.parametrize(
    ("utf8", "legacy", "encoding"),
    [
        ("日本語のテキストです。よろしくお願いします。\n" * 5, "これはシフトJISの行です。", "shift_jis"),
        ("日本語のテキストです。", "これはシフトJISの行です。", "shift_jis"),  # on one line
        ("中文测试：这是一个用于检测编码的句子。\n" * 5, "今天天气很好，我们去公园散步。", "gbk"),
        ("Съешь же ещё этих мягких французских булок.\n" * 5, "Привет, как дела?", "koi8_r"),
        ("Zażółć gęślą jaźń. " * 3, "Błąd w programie.", "cp1250"),
    ],
)
def test_multi_byte_and_other_code_pages_in_a_utf8_file(utf8: str, legacy: str, encoding: str) -> None:
    """In Shift-JIS or GBK some byte pairs happen to be valid UTF-8: those stay with the legacy
    line, which is read in its code page, while the UTF-8 text keeps its reading."""
    decoded = decode_with_notes(utf8.encode() + legacy.encode(encoding))
    assert decoded.text == utf8 + legacy
    assert decoded.notes and "mixed text encodings" in decoded.notes[0]
