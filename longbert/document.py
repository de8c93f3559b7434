"""The unit everything flows through: a document's text, where it came from, and its hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from longbert.errors import EmptyDocumentError, UnreadableFileError
from longbert.text.decoding import ReadFailure, clean_text, decode_text
from longbert.text.limits import DEFAULT_LIMITS, ReadLimits, too_long_reason
from longbert.text.screening import screen_text

SOURCES = ("paste", "upload", "batch", "dataset", "api")


@dataclass(frozen=True)
class Document:
    """A document's text and provenance.

    ``sha256`` is the hash of the UTF-8 text (not of the file bytes), so the same text uploaded
    twice, in any format, is one document in the store.
    """

    text: str
    name: str = "untitled"
    source: str = "api"
    sha256: str = field(default="", compare=False)
    #: What reading did to the text, for the record: blobs removed, a cut to ``cap_chars``.
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Document text must be str, got {type(self.text).__name__}")
        if not self.text.strip():
            raise EmptyDocumentError(f"'{self.name}' is empty: it has no text other than whitespace.")
        if not self.sha256:
            digest = hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()
            object.__setattr__(self, "sha256", digest)

    @property
    def num_chars(self) -> int:
        return len(self.text)


def as_document(
    item: str | bytes | Document,
    name: str | None = None,
    source: str = "api",
    limits: ReadLimits | None = None,
) -> Document:
    """Accept a plain string, a file's bytes or a Document (the public API takes any).

    Bytes are decoded as the readers decode text files (byte-order mark, UTF-8, then encoding
    detection). Strings and bytes pass the readers' checks (:func:`screen_text` with ``limits``,
    the readers' defaults unless given): encoded blobs cut out, a long job's cap, the size limit,
    all before tokenising; a Document is taken as its maker built it, but must be within
    ``max_chars`` too. Text the tokenizer cannot take (a lone surrogate, as ``surrogateescape``
    or JSON's ``"\\ud800"`` leave) raises :class:`UnreadableFileError` saying where it is.
    """
    label = name or "untitled"
    limits = limits or DEFAULT_LIMITS
    if isinstance(item, Document):
        document = item
        if document.num_chars > limits.max_chars:
            raise UnreadableFileError(f"'{document.name}': {too_long_reason(document.num_chars, limits)}")
    else:
        if not isinstance(item, str | bytes | bytearray):
            raise TypeError(f"Document text must be str, bytes or a Document, got {type(item).__name__}")
        raw = _decode(bytes(item), label) if isinstance(item, bytes | bytearray) else item
        try:
            screened = screen_text(raw, limits)
        except ReadFailure as error:
            raise UnreadableFileError(f"'{label}': {error.reason}") from None
        document = Document(text=screened.text, name=label, source=source, notes=screened.notes)
    check_unicode(document.text, document.name)
    return document


def check_unicode(text: str, name: str) -> None:
    """Raise :class:`UnreadableFileError` if ``text`` holds a lone surrogate (not valid Unicode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnreadableFileError(
            f"'{name}': text is not valid Unicode (lone surrogate U+{ord(text[error.start]):04X} at "
            f"character {error.start}). Decode the file as UTF-8 with errors='replace', or pass its "
            "bytes (or use longbert.readers.read_bytes) so the encoding is detected."
        ) from None


def _decode(data: bytes, name: str) -> str:
    try:
        return clean_text(decode_text(data))
    except ReadFailure as error:
        raise UnreadableFileError(f"'{name}' could not be decoded: {error.reason}") from error
