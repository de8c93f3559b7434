"""The unit everything flows through: a document's text, where it came from, and its hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from longbert.errors import EmptyDocumentError, UnreadableFileError
from longbert.text.decoding import ReadFailure, clean_text, decode_text

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
    item: str | bytes | Document, name: str | None = None, source: str = "api"
) -> Document:
    """Accept a plain string, a file's bytes or a Document (the public API takes any).

    Bytes are decoded as the readers decode text files (byte-order mark, UTF-8, then encoding
    detection). Text the tokenizer cannot take (a lone surrogate, as ``surrogateescape`` or
    JSON's ``"\\ud800"`` leave) raises :class:`UnreadableFileError` saying where it is.
    """
    label = name or "untitled"
    if isinstance(item, Document):
        document = item
    elif isinstance(item, bytes | bytearray):
        document = Document(text=_decode(bytes(item), label), name=label, source=source)
    else:
        document = Document(text=item, name=label, source=source)
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
