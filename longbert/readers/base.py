"""Types shared by every reader: limits, what a read yields, and the failure that becomes a value.

A read yields :data:`ReadItem` values: a :class:`ReadDocument` (a document, plus labels and
where it came from) or a :class:`FileError` (which file or row failed, and why). Readers never
raise for a bad file: inside a batch one broken file must not sink the others.
"""

from __future__ import annotations

import logging
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from longbert.document import Document
from longbert.text.decoding import ReadFailure
from longbert.text.limits import MB, ReadLimits, human_bytes

_LOG = logging.getLogger(__name__)
#: The warning for a folder reached twice (a link to a folder read already, or a link loop).
_ALREADY_READ = "%s: the folder %s, read already (a link or a link loop); not read again."

__all__ = [
    "MB",
    "Budget",
    "ErrorKind",
    "FileError",
    "ReadDocument",
    "ReadFailure",
    "ReadItem",
    "ReadLimits",
    "extension",
    "human_bytes",
    "is_junk",
    "sanitize_member_name",
]

#: What went wrong, as a stable code the UI and ``longbert.data`` can branch on.
ErrorKind = Literal[
    "too_large",  # over a size limit (file, decompressed file, characters per document)
    "limit",  # over a batch limit (documents per upload, archive members, zip bomb, nesting)
    "empty",  # no bytes, or only whitespace
    "binary",  # not text and not a supported document format
    "encoding",  # text whose encoding cannot be detected
    "encrypted",  # password-protected PDF or zip member
    "corrupt",  # truncated or malformed PDF, DOCX, zip, gzip, CSV, JSON
    "no_text",  # a valid document without extractable text (scanned PDF)
    "encoded",  # encoded blobs (base64, uuencode, hex dumps), not prose: see ReadLimits.blobs
    "unsupported",  # a known format LongBERT does not read (.doc, .xlsx, .rar...)
    "missing_column",  # the text or label column is not there
    "bad_row",  # one row of a table is unusable (not an object, empty text, bad value)
    "missing_label",  # a row has the label column but no label in it
    "io",  # the operating system could not read a path
]


@dataclass(frozen=True)
class ReadDocument:
    """One document read from a file, a table row or an archive member.

    ``origin`` is the top-level file name the caller gave; ``member`` the path inside an archive
    (sanitised, e.g. ``"inner/notes.txt"``; a later member of the same name is
    ``"inner/notes.txt#2"``), ``row`` the row's number in a table (see
    :func:`~longbert.readers.tabular.read_table`). ``labels`` is ``None`` unless a label column
    was asked for; then it holds the row's labels (one for single-label data, any number, even
    none, for a JSON list). ``fields`` holds a table row's other columns (every one but the
    text: its id, title, gold label...) as read, so results can be joined back to their row.
    """

    document: Document
    origin: str
    labels: tuple[str, ...] | None = None
    member: str | None = None
    row: int | None = None
    #: The row's ``id`` column (see ``id_column``), if it had one.
    record_id: str | None = None
    #: A table row's columns other than the text (CSV cells as strings, JSON values as parsed);
    #: ``None`` for a document that is not a table row.
    fields: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return self.document.name


@dataclass(frozen=True)
class FileError:
    """A file, archive member or table row that could not be read, as a value.

    ``name`` is the same kind of name a document would have had (``"a.zip/b.pdf"``,
    ``"data.csv#row=12"``); ``reason`` a sentence saying what is wrong and what to do.
    """

    name: str
    reason: str
    kind: ErrorKind = "corrupt"
    row: int | None = None
    #: Extra detail for programs (e.g. the columns a table has), never needed to show the error.
    details: dict[str, object] = field(default_factory=dict, compare=False)
    #: A table row's other columns, as on :attr:`ReadDocument.fields`, when the row was parsed
    #: but is unusable (its text is empty, its label missing...).
    fields: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return False

    @property
    def message(self) -> str:
        return f"{self.name}: {self.reason}"

    def __str__(self) -> str:
        return self.message


#: What a read yields, one per document or failure.
ReadItem = ReadDocument | FileError


def extension(name: str) -> str:
    """The lower-case extension without the dot (``"Report.PDF"`` → ``"pdf"``; none → ``""``)."""
    base = posixpath.basename(name.replace("\\", "/"))
    if "." not in base.strip("."):
        return ""
    return base.rsplit(".", 1)[1].lower()


#: Archive entries that are operating-system debris, never documents.
#: Table file extensions -> format, for the formats read as text (bulk prediction adds Parquet).
TEXT_TABLE_FORMATS = {
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "json",
}
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", ".gitkeep", ".localized"})
_JUNK_DIRS = frozenset({"__macosx", ".git", ".svn", ".hg", "__pycache__", ".ipynb_checkpoints"})


def is_junk(path: str) -> bool:
    """Whether an archive entry or folder entry is debris (``__MACOSX/``, ``.DS_Store``, ``._x``).

    Hidden files and folders (a leading dot) are junk too: editor and system files, not documents.
    """
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if not parts:
        return True
    folders = [p for p in parts[:-1] if p not in (".", "..")]
    if any(p.lower() in _JUNK_DIRS or p.startswith(".") for p in folders):
        return True
    leaf = parts[-1]
    return leaf.lower() in _JUNK_NAMES or leaf.startswith((".", "~$"))


def _special(path: Path) -> bool:
    """Whether ``path`` is a named pipe, socket or device (a link followed): not a document,
    and reading a named pipe would wait for a writer forever. A dangling link is not special:
    reading it reports that it cannot be read."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def walk_folder(path: Path) -> Iterator[Path]:
    """Every file under the folder ``path`` that is not :func:`is_junk`, in sorted order; named
    pipes, sockets and devices are left out like junk. (A path given by itself is read even if
    it is a pipe: ``--train <(zcat data.jsonl.gz)`` is a pipe on purpose.)

    Sub-folders that are symbolic links are followed (a corpus often links in a shared folder),
    but every folder is read once: a link to a folder already read, or to one of its own parents
    (a loop), is skipped with a warning. Within a folder, real sub-folders claim their place
    before links to them.
    """
    visited = {os.path.realpath(path)}
    for folder, dirs, files in os.walk(path, followlinks=True):
        wanted = sorted(d for d in dirs if not is_junk(d + "/x"))
        real_first = sorted(wanted, key=lambda d: os.path.islink(os.path.join(folder, d)))
        skipped = set()
        for name in real_first:
            child = os.path.join(folder, name)
            real = os.path.realpath(child)
            if real in visited:
                skipped.add(name)
                _LOG.warning(_ALREADY_READ, child, real)
            else:
                visited.add(real)
        dirs[:] = [d for d in wanted if d not in skipped]
        for file_name in sorted(files):
            if not is_junk(file_name) and not _special(Path(folder) / file_name):
                yield Path(folder) / file_name


def sanitize_member_name(name: str) -> str:
    """An archive member's path, made harmless: forward slashes, no drive, no root, no ``..``.

    Names are only ever used for display and for choosing a reader by extension, but they are
    sanitised anyway so that no caller can be tricked into using ``../../etc/passwd`` as a path.
    Returns ``""`` when nothing usable is left.
    """
    parts = []
    for part in name.replace("\\", "/").split("/"):
        part = part.strip()
        if part in ("", ".", ".."):
            continue
        if len(part) == 2 and part[1] == ":":  # a Windows drive such as "C:"
            continue
        parts.append("".join(ch for ch in part if ch.isprintable()))
    return "/".join(p for p in parts if p)


class Budget:
    """Counters shared by everything one read call yields (documents, decompressed bytes)."""

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self.documents = 0
        self.archive_bytes = 0
        #: Set once ``max_documents`` is reached; every reader stops at the next item.
        self.exhausted = False

    def archive_bytes_left(self) -> int:
        return self.limits.max_archive_bytes - self.archive_bytes
