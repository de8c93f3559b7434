"""Inputs → a stream of :class:`SourceItem`: one per document (or per failure), read lazily.

Files, folders (walked recursively in sorted order, junk skipped), zip and gz archives go through
:mod:`longbert.readers`, one file at a time, so every format reads as it does in the app. Tables
given as files (CSV/TSV, JSON Lines, JSON, Parquet; optionally ``.gz``) are read here row by row
instead (:mod:`longbert.bulk.tables`): the readers take whole files (at most 200 MB) and keep only
a row's text and id, while a corpus table can be gigabytes and every other column of a row must
reach the output unchanged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from longbert.bulk.items import SourceItem
from longbert.bulk.tables import is_table, read_table_rows
from longbert.document import Document
from longbert.readers import FileError, ReadLimits, TableOptions, read_bytes
from longbert.readers.base import walk_folder

#: Per file read by the readers: a CLI run has no per-upload document cap (one archive may hold
#: many thousands of files); the size and zip-bomb limits stay the readers' own.
CLI_LIMITS = ReadLimits(max_documents=10**9, max_archive_members=10**6)


@dataclass(frozen=True)
class InputOptions:
    """How tables are read: which column holds the text and which the id; ``skip``: resolved
    paths of files to leave out (see :func:`walk_inputs`)."""

    text_column: str = "text"
    id_column: str | None = "id"
    limits: ReadLimits = CLI_LIMITS
    skip: AbstractSet[Path] = frozenset()


class ReadCounter:
    """Bytes of input files read so far, and of those the bytes of inputs skipped as already done
    (for the progress bar's ETA: see :func:`longbert.bulk.runner.work_fraction`).

    On a resume the inputs done before usually come first, and hashing them is fast: the reader
    races through them before this run's work begins. ``skipped_head`` keeps how many bytes it
    skipped so before the first input to classify (None until one is reached), and ``on_work``
    is called at that moment, so that the rates and the ETA count this run's work only (the Ray
    engine's driver, which hears of its work later, calls it with how many seconds ago it began:
    :class:`~longbert.bulk.ray_engine.RayEngine`)."""

    def __init__(self) -> None:
        self.bytes_done = 0
        self.bytes_skipped = 0
        self.skipped_head: int | None = None
        self.on_work: Callable[..., None] | None = None
        #: Called (from the reading thread) with the name of each input file or folder that
        #: yielded documents or rows and no error of its own this time: an error row of that
        #: name (it was missing, unreadable, cut short before) is stale now
        #: (:meth:`~longbert.bulk.outputs.Ledger.retire_error`).
        self.on_read: Callable[[str], None] | None = None

    def work_begins(self) -> None:
        """The first input to classify is passed on (a no-op after the first call)."""
        if self.skipped_head is None:
            self.skipped_head = self.bytes_skipped
            if self.on_work is not None:
                self.on_work()


class InputPath(str):
    """An input path (its value: where it is read from) whose rows are named as ``shown``, the
    spelling an earlier run of the same output gave that file or folder (``corpus`` where this
    run says ``/data/corpus``): rows are keyed by name, so the same input must keep its name
    however it is spelled (:mod:`longbert.bulk.spellings`). A ``str``, so every path check
    reads it as before; pickled whole (the Ray engine's driver walks it too)."""

    shown: str

    def __new__(cls, path: str, shown: str) -> InputPath:
        value = super().__new__(cls, path)
        value.shown = shown
        return value

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return (str(self), self.shown)


def input_name(given: str | os.PathLike[str]) -> str:
    """How rows name an input path given to the command (files under a folder add their own
    relative path): as typed, normalised, or an :class:`InputPath`'s ``shown``."""
    return os.path.normpath(getattr(given, "shown", None) or os.fspath(given))


def walk_inputs(
    paths: Iterable[str | os.PathLike[str]], skip: AbstractSet[Path] = frozenset()
) -> Iterator[tuple[str, Path | None]]:
    """``(display name, file)`` for every file under ``paths``; ``None`` for a missing path.

    Names are paths as the user would type them (``corpus/sub/a.txt``), so two folders' files
    never share a name. Files whose resolved path is in ``skip`` are left out: a run writing its
    output into an input folder must not read that output (or its ledger, state, temporaries)
    back as documents.
    """
    names = {path.name for path in skip}

    def wanted(file_path: Path) -> bool:
        # The name first: resolving every file of a big corpus would cost a syscall per folder level.
        return file_path.name not in names or file_path.resolve() not in skip

    for given in paths:
        path = Path(given)
        shown = input_name(given)
        if not path.exists():
            yield shown, None
        elif not path.is_dir():
            if wanted(path):
                yield shown, path
        else:
            for file_path in walk_folder(path):
                if wanted(file_path):
                    yield os.path.normpath(os.path.join(shown, file_path.relative_to(path))), file_path


def input_bytes(paths: Iterable[str | os.PathLike[str]], skip: AbstractSet[Path] = frozenset()) -> int:
    """Total size of the input files (a stat per file: cheap even for millions of files)."""
    total = 0
    for _, file_path in walk_inputs(paths, skip):
        if file_path is not None:
            with contextlib.suppress(OSError):
                total += file_path.stat().st_size
    return total


def iter_sources(
    paths: Iterable[str | os.PathLike[str]],
    options: InputOptions | None = None,
    counter: ReadCounter | None = None,
) -> Iterator[SourceItem]:
    """Every document (or failure) under ``paths``, one file in memory at a time. Never raises
    for bad data: a missing, unreadable or malformed input is a :class:`SourceItem` with an error."""
    options = options or InputOptions()
    for given in paths:
        folder_read = False
        for shown, file_path in walk_inputs([given], options.skip):
            if file_path is None:
                at = counter.bytes_done if counter is not None else 0
                yield SourceItem(shown, shown, error="no such file or folder.", position=at)
                continue
            read = yield from _read_counted(shown, file_path, options, counter)
            folder_read = folder_read or read is not None
            if read and counter is not None and counter.on_read is not None:
                counter.on_read(shown)
        if folder_read and counter is not None and counter.on_read is not None and os.path.isdir(given):
            counter.on_read(input_name(given))


def _read_counted(
    shown: str, file_path: Path, options: InputOptions, counter: ReadCounter | None
) -> Generator[SourceItem, None, bool | None]:
    """Yield one file's items, moving ``counter`` on; returns None when it yielded none, else
    whether it read without an error of its own (no item is named as the file itself: its
    documents and rows are named ``file#row=N`` or ``archive/member``; a plain text file's one
    document is named as the file, and replaces an earlier row of that name as any input does)."""
    start = counter.bytes_done if counter is not None else 0
    size = 0
    with contextlib.suppress(OSError):
        size = file_path.stat().st_size
    table = is_table(file_path.name)
    last: SourceItem | None = None  # held back one item: the file's last one ends at its end
    own = False
    for item in read_file(shown, file_path, options):
        own = own or item.name == shown
        if counter is not None:
            if not table:
                counter.bytes_done = start + size  # read whole before its first document
            elif item.document is not None:
                # Within a big table, progress by the text read (most of a row's bytes).
                counter.bytes_done = min(start + size, counter.bytes_done + len(item.document.text) + 32)
            item.position = counter.bytes_done
        if last is not None:
            yield last
        last = item
    if counter is not None:
        counter.bytes_done = start + size
        if last is not None:
            last.position = counter.bytes_done
    if last is None:
        return None
    yield last
    return not own


def read_file(shown: str, file_path: Path, options: InputOptions) -> Iterator[SourceItem]:
    """One input file's documents: tables row by row here, everything else through the readers."""
    if is_table(file_path.name):
        yield from read_table_rows(shown, file_path, options.text_column, options.id_column, options.limits)
        return
    try:
        size = file_path.stat().st_size
        if size > options.limits.max_file_bytes:
            mb = options.limits.max_file_bytes // (1024 * 1024)
            yield SourceItem(shown, shown, error=f"it is {size:,} bytes, over the limit of {mb} MB per file.")
            return
        data = file_path.read_bytes()
    except OSError as error:
        yield SourceItem(shown, shown, error=f"it cannot be read ({error.strerror or error}).")
        return
    for item in read_bytes(
        shown,
        data,
        source="batch",
        limits=options.limits,
        table=TableOptions(text_column=options.text_column, id_column=options.id_column),
    ):
        if isinstance(item, FileError):
            yield SourceItem(item.name, item.name, error=item.reason)
        else:
            yield SourceItem(item.name, item.record_id or item.name, document=item.document)


def iter_documents(items: Iterable[str | Document | SourceItem]) -> Iterator[SourceItem]:
    """Texts, Documents or SourceItems (the Python API's input) as SourceItems."""
    for index, item in enumerate(items):
        if isinstance(item, SourceItem):
            yield item
        elif isinstance(item, Document):
            yield SourceItem(item.name, item.name, document=item)
        else:
            name = f"document {index + 1}"
            try:
                document = Document(text=str(item), name=name, source="api")
            except (ValueError, TypeError) as error:
                yield SourceItem(name, name, error=str(error))
                continue
            yield SourceItem(name, name, document=document)
