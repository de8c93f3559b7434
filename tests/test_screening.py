"""The checks every text passes (blobs, per-document cap, size limit), the same at every entry point."""

from __future__ import annotations

import base64
import binascii
import random

import pytest

from longbert.document import Document, as_document
from longbert.errors import UnreadableFileError
from longbert.readers import ReadLimits, read_bytes
from longbert.text.blobs import find_blobs
from longbert.text.limits import too_long_reason

PROSE = (
    "The committee met on Tuesday to discuss the budget. Several members raised concerns "
    "about the cost of the new building, and the chair promised a report by the end of May.\n"
)


def uuencoded(size: int, seed: int = 0) -> str:
    data = random.Random(seed).randbytes(size)
    lines = [binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, size, 45)]
    return "begin 644 attachment.zip\n" + "\n".join(lines) + "\n`\nend\n"


def base64_block(size: int) -> str:
    encoded = base64.b64encode(random.Random(1).randbytes(size)).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\n"


def hex_dump(rows: int) -> str:
    data = random.Random(2).randbytes(16 * rows)
    lines = [f"{i * 16:08x}  " + data[i * 16 : i * 16 + 16].hex(" ") for i in range(rows)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("blob", [uuencoded(20_000), base64_block(20_000), hex_dump(200)])
def test_blobs_are_cut_out_and_the_prose_kept(blob: str) -> None:
    text = PROSE * 3 + blob + PROSE * 2
    document = as_document(text, name="mail.txt")
    assert document.text == (PROSE * 3).strip() + "\n\n" + (PROSE * 2).strip()
    assert len(document.notes) == 1 and document.notes[0].startswith("removed 1 encoded block")


def test_blob_policies_in_the_readers() -> None:
    data = (PROSE + uuencoded(50_000) + PROSE).encode()
    (stripped,) = read_bytes("mail.txt", data)
    assert stripped.document.text.count("committee") == 2 and "uuencoded" in stripped.document.notes[0]
    (rejected,) = read_bytes("mail.txt", data, limits=ReadLimits(blobs="reject"))
    assert not rejected.ok and rejected.kind == "encoded" and "uuencoded" in rejected.reason
    (kept,) = read_bytes("mail.txt", data, limits=ReadLimits(blobs="keep"))
    assert kept.document.text == data.decode().strip() and kept.document.notes == ()
    (only_blob,) = read_bytes("attachment.txt", uuencoded(50_000).encode())
    assert not only_blob.ok and only_blob.kind == "encoded" and "no text to classify" in only_blob.reason


def test_prose_code_urls_and_tables_are_not_blobs() -> None:
    url = "https://example.org/" + "a1B2c3D4" * 12 + "\n"
    code = "def f(x):\n    return [i * x for i in range(10) if i % 2 == 0]\n" * 20
    table = "".join(f"{i:>6} {i * i:>10} {i * 3.5:>12.2f} some label here\n" for i in range(200))
    digest = "sha256: " + "0123456789abcdef" * 4 + "\n"
    assert find_blobs(PROSE * 50 + url * 3 + code + table + digest * 3) == []


def test_a_per_document_cap_cuts_long_documents_and_says_so() -> None:
    limits = ReadLimits(cap_chars=1000)
    document = as_document(PROSE * 100, limits=limits)
    assert len(document.text) <= 1000 and document.text.startswith(PROSE[:50])
    assert "cut to its first" in document.notes[0] and "cap_chars=1,000" in document.notes[0]
    (item,) = read_bytes("long.txt", (PROSE * 100).encode(), limits=limits)
    assert item.document.text == document.text


def test_the_size_limit_is_one_message_everywhere() -> None:
    limits = ReadLimits(max_chars=10_000)
    text = PROSE * 200
    expected = too_long_reason(len(text.strip()), limits)
    (from_file,) = read_bytes("big.txt", text.encode(), limits=limits)
    assert not from_file.ok and from_file.kind == "too_large" and from_file.reason == expected
    with pytest.raises(UnreadableFileError) as pasted:
        as_document(text.strip(), name="pasted text", limits=limits)
    assert str(pasted.value) == f"'pasted text': {expected}"
    with pytest.raises(UnreadableFileError, match="characters, more than the 10,000 allowed"):
        as_document(Document(text), limits=limits)


def test_fifty_megabytes_of_paste_is_refused_before_any_work() -> None:
    with pytest.raises(UnreadableFileError, match="more than the 5,000,000 allowed per document"):
        as_document("word " * 10_000_000, name="pasted text", source="paste")


# Chinese, Japanese and Thai put no spaces between words: a paragraph is one long line.
SPACELESS_SENTENCES = {
    "zh": "人工智能技术的发展正在深刻改变社会的各个方面，包括教育、医疗、交通和金融等领域。",
    "ja": "人工知能の技術は社会のさまざまな分野を大きく変えつつあり、"
    "教育や医療、交通などに影響を与えている。",
    "th": "การพัฒนาเทคโนโลยีปัญญาประดิษฐ์กำลังเปลี่ยนแปลงสังคมในหลายด้านรวมถึงการศึกษาการแพทย์และการคมนาคม",
}


@pytest.mark.parametrize("language", sorted(SPACELESS_SENTENCES))
def test_a_long_paragraph_in_a_script_without_spaces_is_prose(language: str) -> None:
    sentence = SPACELESS_SENTENCES[language]
    paragraph = sentence * (2500 // len(sentence) + 1)  # one line of 2,500+ characters
    text = sentence[:10] + "\n\n" + paragraph + "\n\n" + sentence[:20]
    assert find_blobs(text) == []
    document = as_document(text, name="article.txt")
    assert document.text == text and document.notes == ()
    (alone,) = read_bytes("paragraph.txt", paragraph.encode())
    assert alone.ok and alone.document.text == paragraph and alone.document.notes == ()


def test_one_huge_line_of_base64_or_minified_data_is_still_a_blob() -> None:
    encoded = base64.b64encode(random.Random(3).randbytes(6000)).decode()  # 8,000 characters
    minified = "[" + ",".join(f'{{"id":{i},"v":"x{i:04d}","ok":true}}' for i in range(300)) + "]"
    for blob, kind in ((encoded, "base64"), (minified, "unbroken run")):
        document = as_document(PROSE + blob + "\n" + PROSE, name="mail.txt")
        assert document.text == PROSE.strip() + "\n\n" + PROSE.strip()
        assert document.notes[0].startswith(f"removed 1 encoded block ({kind};")
    mixed = SPACELESS_SENTENCES["zh"][:30] + encoded  # a data line behind a caption
    assert [blob.kind for blob in find_blobs(PROSE + mixed + "\n")] == ["unbroken run"]
