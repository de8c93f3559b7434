"""The unit everything flows through: a document's text, where it came from, and its hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from longbert.errors import EmptyDocumentError

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


def as_document(item: str | Document, name: str | None = None, source: str = "api") -> Document:
    """Accept a plain string or a Document (the public API takes either)."""
    if isinstance(item, Document):
        return item
    return Document(text=item, name=name or "untitled", source=source)
