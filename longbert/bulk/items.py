"""One input of a predict run: a document, or the reason it could not be read.

Below both the source walker and the table reader, which each make them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from longbert.document import Document


@dataclass
class SourceItem:
    """One input document, or one input that could not be read (``document`` None, ``error`` set).

    ``name`` is where it came from (``docs/a.pdf``, ``data.csv#row=12``, ``a.zip/b.txt``);
    ``id`` the table row's id column when it has one, else the name; ``extra`` the row's other
    columns (tables only), carried to the output unchanged.
    """

    name: str
    id: str
    document: Document | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return self.document.sha256 if self.document is not None else ""
