"""Readers: file bytes → text → :class:`~longbert.document.Document`, for every entry point.

The web app's uploads, the CLI and training all read files through here, so a file reads the
same everywhere. Supported: ``.txt``/``.md`` (encoding detected), ``.html``, ``.pdf``, ``.docx``,
``.csv``/``.tsv`` and ``.jsonl``/``.json`` (one document per row), ``.zip`` and ``.gz``
(contents read by their own names); other files are read as text when they are text.

Batch functions (:func:`read_bytes`, :func:`read_many`, :func:`read_path`, :func:`read_paths`)
are generators of :data:`ReadItem`: a :class:`ReadDocument` per document or a
:class:`FileError` per failure -- they never raise for bad data. :func:`read_single` is the
one-document convenience that raises :class:`~longbert.errors.UnreadableFileError`.
:class:`ReadLimits` bounds file sizes, document counts and archive expansion.
"""

from longbert.readers.base import (
    ErrorKind,
    FileError,
    ReadDocument,
    ReadItem,
    ReadLimits,
    is_junk,
    sanitize_member_name,
)
from longbert.readers.core import (
    SUPPORTED_EXTENSIONS,
    read_bytes,
    read_many,
    read_path,
    read_paths,
    read_single,
)
from longbert.readers.items import TableOptions
from longbert.readers.tabular import LabelError, parse_labels
from longbert.text.decoding import clean_text, decode_text

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ErrorKind",
    "FileError",
    "LabelError",
    "ReadDocument",
    "ReadItem",
    "ReadLimits",
    "TableOptions",
    "clean_text",
    "decode_text",
    "is_junk",
    "parse_labels",
    "read_bytes",
    "read_many",
    "read_path",
    "read_paths",
    "read_single",
    "sanitize_member_name",
]
