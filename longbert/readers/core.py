"""Choosing a reader by file name, archives (zip, gz), and the public entry points.

Everything here is a generator: a batch of thousands of files is read one file (one archive
member, one table row) at a time, and only the documents not yet consumed are in memory.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from longbert.document import Document
from longbert.errors import UnreadableFileError
from longbert.readers.archives import read_gzip, read_zip, too_large
from longbert.readers.base import (
    TEXT_TABLE_FORMATS,
    Budget,
    FileError,
    ReadDocument,
    ReadFailure,
    ReadItem,
    ReadLimits,
    extension,
    walk_folder,
)
from longbert.readers.documents import read_docx, read_html_page, read_pdf
from longbert.readers.items import Context, TableOptions, document_item
from longbert.readers.tabular import read_table
from longbert.text.decoding import decode_with_notes

TEXT_EXTENSIONS = frozenset({"txt", "text", "md", "markdown", "rst", "log"})
HTML_EXTENSIONS = frozenset({"html", "htm", "xhtml"})
TABLE_FORMATS = TEXT_TABLE_FORMATS
#: Every extension with a dedicated reader (the upload widget's ``type=`` list).
SUPPORTED_EXTENSIONS = tuple(
    sorted(TEXT_EXTENSIONS | HTML_EXTENSIONS | set(TABLE_FORMATS) | {"pdf", "docx", "zip", "gz"})
)
#: Formats people do upload, with what to do instead.
_UNSUPPORTED = {
    "doc": "save it as .docx or PDF",
    "rtf": "save it as .docx, PDF or plain text",
    "odt": "save it as .docx or PDF",
    "xls": "save the sheet as CSV",
    "xlsx": "save the sheet as CSV",
    "ods": "save the sheet as CSV",
    "ppt": "save it as PDF",
    "pptx": "save it as PDF",
    "tar": "pack the files as .zip",
    "tgz": "pack the files as .zip",
    "7z": "pack the files as .zip",
    "rar": "pack the files as .zip",
    "bz2": "compress it with gzip or zip",
    "xz": "compress it with gzip or zip",
}


def read_bytes(
    name: str,
    data: bytes,
    *,
    source: str = "upload",
    limits: ReadLimits | None = None,
    table: TableOptions | None = None,
) -> Iterator[ReadItem]:
    """Read one uploaded file: one item per document (or failure) it holds.

    ``name`` picks the reader by extension (``.gz`` and ``.zip`` are opened and their contents
    read by their own names). Tables and archives yield many items, named
    ``data.csv#row=12`` and ``archive.zip/inner/file.txt``; ``table`` says which columns of a
    CSV/JSON table hold what (default :class:`TableOptions`: text in ``text``, no labels).
    Never raises for bad data.
    """
    yield from read_many(
        [(name, data)],
        source=source,
        limits=limits,
        table=table,
    )


def read_many(
    files: Iterable[tuple[str, bytes]],
    *,
    source: str = "batch",
    limits: ReadLimits | None = None,
    table: TableOptions | None = None,
) -> Iterator[ReadItem]:
    """Read a batch of ``(name, bytes)`` files; ``limits`` apply to the batch as a whole.

    Pass a generator to keep only one file's bytes in memory at a time.
    """
    options = table or TableOptions()
    budget = Budget(limits or ReadLimits())
    for name, data in files:
        if budget.exhausted:
            return
        yield from _read_file(name, data, source, options, budget)


def read_path(
    path: str | os.PathLike[str],
    *,
    source: str = "batch",
    limits: ReadLimits | None = None,
    table: TableOptions | None = None,
) -> Iterator[ReadItem]:
    """Read a file, or every file under a folder (recursively, in sorted order, junk skipped).

    Files in a folder are named by their path relative to the folder's parent
    (``docs/sub/a.txt``). A file over ``max_file_bytes`` is refused without being read.
    """
    yield from read_paths(
        [path],
        source=source,
        limits=limits,
        table=table,
    )


def read_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    source: str = "batch",
    limits: ReadLimits | None = None,
    table: TableOptions | None = None,
) -> Iterator[ReadItem]:
    """:func:`read_path` for several paths, sharing one set of limits."""
    options = table or TableOptions()
    budget = Budget(limits or ReadLimits())
    for path in paths:
        path = Path(path)
        for display, file_path in _walk(path):
            if budget.exhausted:
                return
            if isinstance(file_path, FileError):
                yield file_path
                continue
            try:
                size = file_path.stat().st_size
                if size > budget.limits.max_file_bytes:
                    yield too_large(display, size, budget.limits)
                    continue
                data = file_path.read_bytes()
            except OSError as exc:
                yield FileError(display, f"it cannot be read ({exc.strerror or exc}).", kind="io")
                continue
            yield from _read_file(display, data, source, options, budget)
            del data


def read_single(
    name: str,
    data: bytes,
    *,
    source: str = "upload",
    limits: ReadLimits | None = None,
    table: TableOptions | None = None,
) -> Document:
    """Read a file that must hold exactly one document (the Classify page); raise if it cannot.

    Raises :class:`~longbert.errors.UnreadableFileError` with the reason as its message when the
    file is unreadable, empty, or holds several documents (a table or an archive).
    """
    items = read_bytes(name, data, source=source, limits=limits, table=table)
    first = next(items, None)
    if first is None:
        raise UnreadableFileError(f"{name}: it holds no documents.")
    if isinstance(first, FileError):
        raise UnreadableFileError(first.message)
    second = next(items, None)
    items.close()
    if second is not None:
        raise UnreadableFileError(
            f"{name}: it holds several documents (a table or an archive). Upload it as a batch instead."
        )
    return first.document


def _walk(path: Path) -> Iterator[tuple[str, Path | FileError]]:
    if not path.exists():
        yield str(path), FileError(str(path), "no such file or folder.", kind="io")
        return
    if not path.is_dir():
        yield path.name, path
        return
    for file_path in walk_folder(path):
        yield file_path.relative_to(path.parent).as_posix(), file_path


def _read_file(
    name: str, data: bytes, source: str, options: TableOptions, budget: Budget
) -> Iterator[ReadItem]:
    """One top-level file, its documents counted against the shared budget."""
    ctx = Context(origin=name, source=source, options=options, budget=budget)
    for item in _dispatch(ctx, name, name, data, member=None, depth=0):
        if isinstance(item, ReadDocument):
            if budget.documents >= budget.limits.max_documents:
                budget.exhausted = True
                yield FileError(
                    item.name,
                    f"the limit of {budget.limits.max_documents:,} documents per upload was "
                    "reached; this and any further documents were not read. Split the upload.",
                    kind="limit",
                )
                return
            budget.documents += 1
        yield item


def _dispatch(
    ctx: Context, display: str, inner_name: str, data: bytes, member: str | None, depth: int
) -> Iterator[ReadItem]:
    """Pick the reader for ``inner_name``'s extension; ``display`` names the results."""
    limits = ctx.limits
    if len(data) > limits.max_file_bytes:
        yield too_large(display, len(data), limits)
        return
    if not data:
        yield FileError(display, "the file is empty (0 bytes).", kind="empty")
        return
    ext = extension(inner_name) or _sniff_extension(data)
    try:
        if ext in ("zip", "gz"):
            if depth >= limits.max_nesting:
                yield FileError(
                    display,
                    f"archives nested more than {limits.max_nesting} deep "
                    "are not opened. Unpack the inner archive first.",
                    kind="limit",
                )
                return
            opener = read_zip if ext == "zip" else read_gzip
            yield from opener(_dispatch, ctx, display, inner_name, data, member, depth + 1)
            return
        if ext in TABLE_FORMATS:
            yield from read_table(TABLE_FORMATS[ext], display, data, ctx, member)
            return
        if ext in _UNSUPPORTED:
            raise ReadFailure("unsupported", f".{ext} files are not supported; {_UNSUPPORTED[ext]}.")
        reading_notes: tuple[str, ...] = ()
        if ext in HTML_EXTENSIONS:
            page = read_html_page(data)
            text, reading_notes = page.text, (page.note,)
        elif ext == "pdf":
            text = read_pdf(data, limits)
        elif ext == "docx":
            text = read_docx(data, limits)
        else:  # .txt, .md, and anything unknown that decodes as text
            decoded = decode_with_notes(data, name=display)  # notes: e.g. mixed encodings
            text, reading_notes = decoded.text, decoded.notes
    except ReadFailure as failure:
        yield FileError(display, failure.reason, kind=failure.kind)
        return
    yield document_item(ctx, text, display, member=member, notes=reading_notes)


def _sniff_extension(data: bytes) -> str:
    """Formats recognisable by their first bytes, for files with no extension."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x1f\x8b"):
        return "gz"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return "docx" if "word/document.xml" in archive.namelist() else "zip"
        except zipfile.BadZipFile:
            return "zip"
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    return ""
