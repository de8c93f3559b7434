"""Bytes → str: byte-order marks, UTF-8, encoding detection, and telling text from binary.

Below both :mod:`longbert.document` and :mod:`longbert.readers` (it imports neither), so a pasted
or ``predict``-ed byte string decodes exactly as an uploaded file does.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import re
import unicodedata
from dataclasses import dataclass

import charset_normalizer

from longbert.text.charsets import COMMON_CODE_PAGES, RARE_CODE_PAGES, choose
from longbert.text.mixed import decode_mixed

_LOG = logging.getLogger(__name__)


class ReadFailure(Exception):
    """Bytes that cannot become a document: a stable ``kind`` (see ``readers.ErrorKind``) and a
    ``reason`` a user can act on. Raised inside readers; the readers' dispatcher turns it into a
    ``FileError`` value, :func:`~longbert.document.as_document` into ``UnreadableFileError``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


_BOMS = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

#: When charset-normalizer finds several encodings equally plausible (typical for short Western
#: European text, where cp1250, cp1252 and cp1257 decode the same bytes), prefer the common ones.
_PREFERRED = ("cp1252", "latin_1", "iso8859_15", "cp1251", "cp932", "gb18030", "euc_kr")

#: C0/C1 control characters other than tab and newline; text never needs them.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Control characters that do not occur in text files (CR, FF and VT do: line and page breaks).
_BINARY_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
#: Share of control (or undecodable) characters above which decoded bytes are called binary.
_MAX_CONTROL_SHARE = 0.05


@dataclass(frozen=True)
class Decoded:
    """Decoded text and what a reader should say about how it was decoded (``notes``, empty
    unless something was unusual: a mostly-UTF-8 file with lines in a legacy code page)."""

    text: str
    notes: tuple[str, ...] = ()


def decode_text(data: bytes, declared: str | None = None, *, name: str | None = None) -> str:
    """Decode a text file's bytes; raise :class:`ReadFailure` for binary or undecodable data.

    Order: a byte-order mark; strict UTF-8; BOM-less UTF-16 recognised by its NUL pattern; the
    ``declared`` encoding (e.g. an HTML ``<meta charset>``); a mostly-UTF-8 file with some lines
    in a legacy code page, read part by part (:mod:`~longbert.text.mixed`); charset-normalizer's
    detection. NUL bytes anywhere else mean binary. Returns the text as decoded, not yet
    cleaned. What :func:`decode_with_notes` would note is logged as a warning naming ``name``.
    """
    return decode_with_notes(data, declared, name=name).text


def decode_with_notes(data: bytes, declared: str | None = None, *, name: str | None = None) -> Decoded:
    """:func:`decode_text`, with the notes a reader puts on the document (:attr:`Document.notes`).
    Each note is also logged as a warning, naming the file ``name`` (the CLI shows it)."""
    text, note = _decode(data, declared)
    if note is None:
        return Decoded(text)
    _LOG.warning("%s: %s", name or "text", note)
    return Decoded(text, (note,))


def _decode(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """The text, and a note when a reader should say how it was decoded (see :func:`decode_text`)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), None
            except UnicodeDecodeError as exc:
                raise ReadFailure(
                    "encoding",
                    f"it starts with a {encoding.upper()} byte-order mark but is not valid "
                    f"{encoding.upper()} (byte {exc.start + len(bom)}). Save it again as UTF-8.",
                ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = None
        # A file cut inside its last multi-byte character is still UTF-8: drop the stub. Only
        # when the rest holds other multi-byte characters: "Café" in cp1252 also ends in a
        # byte that could start a UTF-8 sequence.
        head = data[: exc.start]
        if exc.reason == "unexpected end of data" and exc.start >= len(data) - 3 and not head.isascii():
            try:
                text = head.decode("utf-8")
            except UnicodeDecodeError:
                text = None
    if text is not None and "\x00" in text[:65536]:
        # ASCII in UTF-16 without a BOM is valid UTF-8 too, NULs and all: try its NUL pattern.
        utf16 = _guess_bomless_utf16(data)
        if utf16 is not None:
            with contextlib.suppress(UnicodeDecodeError):
                text = data.decode(utf16)
    if text is not None:
        _reject_control_characters(text)
        return text, None
    if b"\x00" in data[:65536] or b"\x00" in data[-65536:]:
        utf16 = _guess_bomless_utf16(data)
        if utf16 is None:
            raise ReadFailure("binary", _binary_reason())
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError as exc:
            raise ReadFailure("binary", _binary_reason()) from exc
        _reject_control_characters(text)
        return text, None
    if declared:
        try:
            text = data.decode(_codec_name(declared))
        except (LookupError, UnicodeDecodeError):
            text = None
        if text is not None:
            _reject_control_characters(text)
            return text, None
    mixed = decode_mixed(data, _detect_or_none)
    if mixed is not None and _is_text(mixed.text):
        return mixed.text, mixed.note
    _, text = _detect(data)
    _reject_control_characters(text)
    return text, None


def clean_text(text: str) -> str:
    """Normalise extracted text: ``\\n`` newlines, no stray BOM or control characters, trimmed.

    Form feeds and vertical tabs (page breaks) become newlines; other control characters are
    dropped (PDF extraction leaves some). Leading and trailing whitespace is stripped so that the
    same text read from two formats hashes the same.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\v", "\n")
    text = text.replace("\ufeff", "")
    text = _CONTROL_RE.sub("", text)
    return text.strip()


def _codec_name(name: str) -> str:
    return codecs.lookup(name.strip().strip("\"'")).name


def _guess_bomless_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: mostly-ASCII text has a NUL in every other byte, binary does not."""
    sample = data[: 1 << 16]
    half = max(len(sample) // 2, 1)
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    if len(sample) % 2 == 0 and odd_nuls > 0.3 * half and even_nuls < 0.02 * half:
        return "utf-16-le"
    if len(sample) % 2 == 0 and even_nuls > 0.3 * half and odd_nuls < 0.02 * half:
        return "utf-16-be"
    return None


def _detect(data: bytes) -> tuple[str, str]:
    """A legacy-encoded file: charset-normalizer's candidates and the common Windows code pages,
    decoded and judged by how plausible the text is (:func:`charsets.choose`): ``(encoding, text)``."""
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        raise ReadFailure(
            "encoding",
            "its text encoding could not be detected (it may be a binary file). Save it as UTF-8 text.",
        )
    best = matches[0]
    # Short texts leave several encodings equally plausible (chaos = mess, coherence = language
    # fit; both are noisy on a few words); among those, the most widespread one goes first.
    tied: list[str] = []
    for match in matches:
        if match.chaos <= best.chaos + 0.01 and match.coherence >= best.coherence - 0.1:
            tied.extend(match.could_be_from_charset or [match.encoding])
    # cp1252 first of all: a later reading must be clearly more plausible to replace it (the
    # WHATWG fallback for unlabelled text; Western European text must come back exactly).
    order = ["cp1252", *(enc for enc in _PREFERRED if enc in tied), *tied]
    order += [match.encoding for match in matches]
    order += [*COMMON_CODE_PAGES, "latin_1"]
    # UTF-16/32 without a BOM were ruled out above (no NUL bytes means no ASCII in them).
    order = [
        enc
        for enc in dict.fromkeys(order)
        if not enc.startswith(("utf_16", "utf_32")) and enc not in RARE_CODE_PAGES
    ]
    chosen = choose(data, order)
    if chosen is None:
        raise ReadFailure("encoding", "its text encoding could not be detected. Save it as UTF-8.")
    return chosen


def _detect_or_none(data: bytes) -> tuple[str, str] | None:
    """:func:`_detect`, ``None`` where no code page fits (a mixed file's legacy lines: the whole
    file then gets its own try)."""
    try:
        return _detect(data)
    except ReadFailure:
        return None


def _reject_control_characters(text: str) -> None:
    """Decoded but mostly control characters or replacement marks: a binary file after all."""
    sample = text[:100_000]
    if not sample:
        return
    if "\x00" in sample:
        raise ReadFailure("binary", _binary_reason())
    bad = len(_BINARY_CONTROL_RE.findall(sample)) + sample.count("\ufffd")
    bad += sum(1 for ch in sample if unicodedata.category(ch) == "Co")  # private use
    if bad > _MAX_CONTROL_SHARE * len(sample):
        raise ReadFailure("binary", _binary_reason())


def _is_text(text: str) -> bool:
    """Whether :func:`_reject_control_characters` lets ``text`` pass."""
    try:
        _reject_control_characters(text)
    except ReadFailure:
        return False
    return True


def _binary_reason() -> str:
    return (
        "it looks like a binary file, not text. Supported formats: .txt, .md, .html, .pdf, "
        ".docx, .csv, .tsv, .jsonl, .json, .zip and .gz."
    )
