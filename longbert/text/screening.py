"""The checks every text passes before it becomes a document, whatever the entry point.

A file, a table row, a pasted text and a string given to ``predict`` all go through
:func:`screen_text` with one :class:`~longbert.text.limits.ReadLimits`: encoded blobs are cut
out, flagged or refused (``limits.blobs``), a long job's per-document cap is applied
(``limits.cap_chars``), and a text still over ``limits.max_chars`` is refused with one message,
before anything is tokenised. What was done is returned as notes for the document to carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from longbert.text.blobs import describe, find_blobs, strip_blobs
from longbert.text.decoding import ReadFailure
from longbert.text.limits import DEFAULT_LIMITS, ReadLimits, too_long_reason

#: A text this many times over ``max_chars`` is refused at once: cutting blobs cannot save it.
_NO_HOPE = 4


@dataclass(frozen=True)
class Screened:
    """A text ready to be a document, and what screening did to it (empty: nothing)."""

    text: str
    notes: tuple[str, ...] = ()


def screen_text(text: str, limits: ReadLimits | None = None) -> Screened:
    """Apply ``limits`` to a cleaned text; raise :class:`ReadFailure` if it cannot be a document.

    Kinds raised: ``encoded`` (only blobs, or blobs with ``blobs="reject"``), ``too_large``.
    """
    limits = limits or DEFAULT_LIMITS
    if limits.cap_chars is None and len(text) > _NO_HOPE * limits.max_chars:
        # Far over the limit: refused before spending time on it (50 MB pasted by mistake).
        raise ReadFailure("too_large", too_long_reason(len(text), limits))
    notes: list[str] = []
    if limits.blobs != "keep":
        blobs = find_blobs(text)
        if blobs:
            found = describe(blobs)
            if limits.blobs == "reject":
                raise ReadFailure(
                    "encoded",
                    f"it holds {found}, not prose. Remove the attachment, or read it with "
                    "blobs='strip' (keep the prose) or blobs='keep'.",
                )
            text = strip_blobs(text, blobs).strip()
            if not text:
                raise ReadFailure(
                    "encoded", f"it is {found}, not prose: there is no text to classify."
                )
            notes.append(f"removed {found}")
    if limits.cap_chars is not None and len(text) > limits.cap_chars:
        cut = text.rfind(" ", 0, limits.cap_chars + 1)
        cut = cut if cut > limits.cap_chars // 2 else limits.cap_chars
        notes.append(f"cut to its first {cut:,} of {len(text):,} characters (cap_chars={limits.cap_chars:,})")
        text = text[:cut].rstrip()
    if len(text) > limits.max_chars:
        raise ReadFailure("too_large", too_long_reason(len(text), limits))
    return Screened(text, tuple(notes))
