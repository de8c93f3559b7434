"""One input of a predict run: a document, or the reason it could not be read; and
:func:`text_item`, the one way a text that arrives as a value (a table cell, an imported task)
becomes a document.

Below both the source walker and the table reader, which each make them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from longbert.document import Document
from longbert.readers.base import Budget, ReadItem, ReadLimits
from longbert.readers.items import Context, TableOptions, document_item


def text_item(text: str, name: str, *, source: str, limits: ReadLimits, row: int | None = None) -> ReadItem:
    """``text`` as a document exactly as the readers make one of a table row
    (:func:`~longbert.readers.items.document_item`: cleaned, then screened for encoded blocks,
    ``cap_chars`` and ``max_chars``), so the same text has the same SHA-256 whichever way it came
    in (an upload, ``python -m longbert.predict``, a Label Studio import) and conflicts between
    its copies are seen. Also refused: a lone surrogate (JSON's ``"\\ud800"``), which no store can
    hold. A :class:`FileError` saying why when it cannot be a document."""
    ctx = Context(origin=name, source=source, options=TableOptions(), budget=Budget(limits))
    return document_item(ctx, text, name, row=row)


@dataclass
class SourceItem:
    """One input document, or one input that could not be read (``document`` None, ``error`` set).

    ``name`` is where it came from (``docs/a.pdf``, ``data.csv#row=12``, ``a.zip/b.txt``);
    ``id`` the table row's id column when it has one, else the name; ``extra`` the row's other
    columns (tables only), carried to the output unchanged. ``position``, for the progress bar:
    how many bytes of the run's input files lie up to the end of this input, less those of the
    inputs skipped as already done (set by :func:`~longbert.bulk.sources.iter_sources` and
    :func:`~longbert.bulk.local.skip_done`; 0 when unknown).
    """

    name: str
    id: str
    document: Document | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    position: int = 0

    @property
    def sha256(self) -> str:
        return self.document.sha256 if self.document is not None else ""
