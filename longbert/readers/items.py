"""Turning extracted text into a :class:`ReadDocument` (or a :class:`FileError`), with the options
and counters one read call shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from longbert.document import Document, check_unicode
from longbert.errors import UnreadableFileError
from longbert.readers.base import Budget, FileError, ReadDocument, ReadItem, ReadLimits
from longbert.text.decoding import ReadFailure, clean_text
from longbert.text.screening import screen_text


@dataclass(frozen=True)
class TableOptions:
    """Which columns of a CSV/JSON table hold what.

    ``label_column`` ``None`` means the table carries no labels (batch classification); when it
    is set, every row must have labels in it. ``label_delimiter`` splits a label string into
    several labels (multi-label, e.g. ``"sport|politics"``); a JSON list of labels needs none.
    ``name_column`` names each document (rows without it: ``file#row=N``); ``id_column`` is
    kept as ``ReadDocument.record_id`` when present. One object from the entry point (upload,
    CLI, ``load_dataset``) to the table reader, so every path has the same defaults.
    """

    text_column: str = "text"
    label_column: str | None = None
    label_delimiter: str | None = None
    id_column: str | None = "id"
    name_column: str | None = "name"

    def __post_init__(self) -> None:
        if not self.text_column:
            raise ValueError("text_column must be a column name, not empty.")
        if self.label_delimiter == "":
            raise ValueError("label_delimiter must be None or a non-empty string such as '|'.")


@dataclass
class Context:
    """Everything the readers of one call share: the caller's file, options, limits, counters."""

    origin: str
    source: str
    options: TableOptions
    budget: Budget

    @property
    def limits(self) -> ReadLimits:
        return self.budget.limits


def document_item(
    ctx: Context,
    text: str,
    name: str,
    *,
    member: str | None = None,
    labels: tuple[str, ...] | None = None,
    row: int | None = None,
    record_id: str | None = None,
    notes: tuple[str, ...] = (),
    fields: dict[str, Any] | None = None,
) -> ReadItem:
    """Clean and screen ``text`` (:func:`~longbert.text.screening.screen_text`: blobs, cap, size)
    and wrap it as a document, or say why it cannot be one (empty, encoded, too long).

    ``notes`` say how the reader got the text (e.g. an HTML page's main content only); the
    screening's notes follow them on :attr:`Document.notes`. ``fields`` (a table row's other
    columns) go on the document, or on the error."""
    text = clean_text(text)
    if not text:
        where = "row" if row is not None else "file"
        return FileError(
            name,
            f"the {where} has no text (it is empty or whitespace only).",
            kind="empty",
            row=row,
            fields=fields,
        )
    try:
        screened = screen_text(text, ctx.limits)
    except ReadFailure as failure:
        return FileError(name, failure.reason, kind=failure.kind, row=row, fields=fields)  # type: ignore[arg-type]
    try:  # a lone surrogate (JSON's "\ud800") is no text any store can hold
        check_unicode(screened.text, name)
    except UnreadableFileError as error:
        reason = str(error).removeprefix(f"'{name}': ")
        return FileError(name, reason, kind="encoding", row=row, fields=fields)
    document = Document(text=screened.text, name=name, source=ctx.source, notes=notes + screened.notes)
    return ReadDocument(
        document=document,
        origin=ctx.origin,
        labels=labels,
        member=member,
        row=row,
        record_id=record_id,
        fields=fields,
    )


def resolve_column(columns: Any, wanted: str) -> str | None:
    """The column called ``wanted``: exact match first, else a unique case-insensitive one."""
    columns = list(columns)
    if wanted in columns:
        return wanted
    folded = [c for c in columns if isinstance(c, str) and c.strip().casefold() == wanted.casefold()]
    return folded[0] if len(folded) == 1 else None


def cell_text(value: Any) -> str | None:
    """A table cell meant to hold a document's text: the text (``""`` for a null cell), or None
    when it holds something else (a number, a list, an object)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else None
