"""Size and safety limits for reading text, shared by the readers and :func:`~longbert.document.as_document`.

One object (:class:`ReadLimits`) and one message per limit, so a file upload, a pasted text, a
table row and a library ``predict`` call are refused (or cut) the same way, before tokenising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MB = 1024 * 1024

#: What to do with encoded or binary-like blocks (base64, uuencode, hex dumps) inside a text:
#: ``strip`` cuts them out and keeps the prose (noted on the document), ``reject`` refuses the
#: document, ``keep`` reads it as it is.
BlobPolicy = Literal["strip", "reject", "keep"]
BLOB_POLICIES: tuple[BlobPolicy, ...] = ("strip", "reject", "keep")


@dataclass(frozen=True)
class ReadLimits:
    """Size and safety limits for one read (one upload, one CLI call, one data set, one paste).

    The defaults suit the web app: 200 MB per file matches Streamlit's own upload limit
    (``server.maxUploadSize``, 200 MB by default), so a file the browser accepts is never refused
    here for its size. Archives are guarded against zip bombs by a member count and a total
    uncompressed size, checked before anything is decompressed.
    """

    #: Largest file, and largest decompressed archive member or ``.gz`` content, in bytes.
    max_file_bytes: int = 200 * MB
    #: Most documents one read yields (rows and archive members included); the rest is refused.
    max_documents: int = 10_000
    #: Most files one zip archive may hold (directories and junk not counted).
    max_archive_members: int = 10_000
    #: Most bytes all archives of one read may expand to, together (zip bomb guard).
    max_archive_bytes: int = 1024 * MB
    #: Archives inside archives: 2 allows a zip in a zip (or a ``.csv.gz`` in a zip), no deeper.
    max_nesting: int = 2
    #: Longest document, in characters, after text extraction; a longer one is refused.
    max_chars: int = 5_000_000
    #: Most per-row errors reported for one table; the rest are summed up in one more error.
    max_row_errors: int = 100
    #: Work cap for long jobs: a document longer than this many characters is cut to its first
    #: ``cap_chars`` (and the cut is noted on the document) instead of read whole. ``None``: no cut.
    cap_chars: int | None = None
    #: Encoded blocks (base64, uuencode, hex dumps) in a text: see :data:`BlobPolicy`.
    blobs: BlobPolicy = "strip"

    def __post_init__(self) -> None:
        for name in (
            "max_file_bytes",
            "max_documents",
            "max_archive_members",
            "max_archive_bytes",
            "max_chars",
            "max_row_errors",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ReadLimits.{name} must be at least 1, got {getattr(self, name)}.")
        if self.max_nesting < 1:
            raise ValueError(f"ReadLimits.max_nesting must be at least 1, got {self.max_nesting}.")
        if self.cap_chars is not None and self.cap_chars < 1:
            raise ValueError(f"ReadLimits.cap_chars must be None or at least 1, got {self.cap_chars}.")
        if self.blobs not in BLOB_POLICIES:
            choices = ", ".join(BLOB_POLICIES)
            raise ValueError(f"ReadLimits.blobs must be one of {choices}, got {self.blobs!r}.")


#: The limits used where a caller gives none.
DEFAULT_LIMITS = ReadLimits()


def too_long_reason(num_chars: int, limits: ReadLimits) -> str:
    """The one message for a document over ``max_chars`` (file, row, paste or ``predict``)."""
    return (
        f"its text has {num_chars:,} characters, more than the {limits.max_chars:,} allowed per "
        "document. Split it into smaller documents (or set a per-document cap, cap_chars, to "
        "read only the beginning)."
    )


def human_bytes(size: int) -> str:
    """``209715200`` → ``"200 MB"`` (binary units, as Streamlit counts its upload limit)."""
    if size < 1024:
        return f"{size} bytes"
    for unit in ("KB", "MB", "GB"):
        size_f = size / 1024
        if size_f < 1024 or unit == "GB":
            text = f"{size_f:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        size = int(size_f)
    raise AssertionError("unreachable")
