"""Encoded blobs inside text: base64, uuencode, hex dumps, long runs without spaces.

A mail archive or a scraped page can carry a 2.5 M-character uuencoded attachment inside its
prose; read as text it costs minutes of tokenising and BERT for nothing a reader could use.
Blobs are told from prose line by line, by character classes: prose has spaces every few
characters and words of lower-case letters; a base64 or uuencode line has no spaces and mixes
cases, digits and symbols; a hex dump is hex digits in fixed groups. A single such line is left
alone (a long URL, a hash, a token in a log), only *blocks* of them (or one huge line) count.

Every encoding here writes ASCII, so only ASCII characters count as evidence. Chinese, Japanese
and Thai are written without spaces between words: a paragraph is one long line with no spaces,
which is prose, not a blob -- a line that is mostly letters (or combining marks) outside ASCII
is never a blob line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Lines shorter than this are never blob lines (a short line carries no evidence).
MIN_LINE = 40
#: Consecutive blob lines that make a block.
MIN_BLOCK_LINES = 4
#: Characters a block needs: smaller ones (a PGP signature, a formula, ASCII art) cost nothing.
MIN_BLOCK_CHARS = 500
#: A single line with at least this many ASCII characters and (almost) no spaces is a blob on its
#: own, however it is made.
HUGE_LINE = 2000

_HEX_LINE_RE = re.compile(r"^\s*(?:[0-9A-Fa-f]{4,8}[:]?\s+)?(?:[0-9A-Fa-f]{2,8}\s+){7,}.*$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/=_-]+$")
_UUENCODE_RE = re.compile(r"^M[\x20-\x60]{59,61}$")
_UU_BEGIN_RE = re.compile(r"^begin(?:-base64)? [0-7]{3,4} \S")


@dataclass(frozen=True)
class Blob:
    """One encoded block: character offsets in the text, its kind and size."""

    start: int
    end: int
    kind: str  # "uuencoded", "base64", "hex dump", "unbroken run"
    lines: int

    @property
    def chars(self) -> int:
        return self.end - self.start


def _is_uu_line(line: str) -> bool:
    """A uuencoded line: a length character, then four characters per three bytes."""
    body = line.rstrip("\r\n")
    if not body or not all(" " <= ch <= "`" for ch in body):
        return False
    count = (ord(body[0]) - 32) & 63
    return 0 < count <= 45 and len(body) - 1 in (-(-count // 3) * 4, -(-count // 3) * 4 + 1)


def line_kind(line: str) -> str | None:
    """The blob kind of one line, or ``None`` for a line that may be prose."""
    stripped = line.strip()
    if _UUENCODE_RE.match(line.rstrip("\r\n")) or (len(stripped) >= 8 and _is_uu_line(line)):
        return "uuencoded"
    if len(stripped) < MIN_LINE:
        return None
    spaces = stripped.count(" ")
    if _HEX_LINE_RE.match(stripped):
        hex_digits = sum(ch in "0123456789abcdefABCDEF" for ch in stripped)
        if hex_digits >= 0.6 * (len(stripped) - spaces):
            return "hex dump"
    if spaces > len(stripped) // 40:
        return None  # prose, tables and code have spaces
    if _BASE64_RE.match(stripped):
        return "base64"
    if not stripped.isascii() and 2 * _script_letters(stripped) >= len(stripped):
        return None  # prose in a script written without spaces (Chinese, Japanese, Thai...)
    if sum(ch.isascii() for ch in stripped) >= HUGE_LINE:
        return "unbroken run"
    # Dense ASCII digits and symbols without spaces: uuencode variants, binary read as text.
    symbols = sum(ch.isascii() and not ch.isalpha() for ch in stripped)
    if symbols > 0.5 * len(stripped):
        return "encoded"
    return None


def _script_letters(line: str) -> int:
    """How many characters of ``line`` are letters or combining marks outside ASCII (Thai vowel
    and tone marks are combining marks, not letters, to ``str.isalpha``)."""
    return sum(1 for ch in line if not ch.isascii() and (ch.isalpha() or unicodedata.category(ch)[0] == "M"))


def find_blobs(text: str) -> list[Blob]:
    """Blocks of encoded lines (at least :data:`MIN_BLOCK_LINES` and :data:`MIN_BLOCK_CHARS`), and
    single huge unbroken lines."""
    blobs: list[Blob] = []
    run_start = run_end = -1
    run_lines = 0
    kinds: dict[str, int] = {}
    position = 0
    header = -1  # where a "begin 644 name" line just before the current position starts
    for line in text.splitlines(keepends=True):
        kind = line_kind(line)
        if kind is None and run_lines and line.strip() in ("`", "end"):
            kind = "uuencoded"  # a uuencoded block's closing lines
        if kind is not None:
            if run_lines == 0:
                run_start = header if header >= 0 else position
                kinds = {}
            run_lines += 1
            run_end = position + len(line)
            kinds[kind] = kinds.get(kind, 0) + 1
        else:
            _close(blobs, run_start, run_end, run_lines, kinds, text)
            run_lines = 0
        header = position if _UU_BEGIN_RE.match(line) else -1
        position += len(line)
    _close(blobs, run_start, run_end, run_lines, kinds, text)
    return blobs


def _close(blobs: list[Blob], start: int, end: int, lines: int, kinds: dict[str, int], text: str) -> None:
    if lines == 0:
        return
    if (lines >= MIN_BLOCK_LINES and end - start >= MIN_BLOCK_CHARS) or end - start >= HUGE_LINE:
        kind = max(kinds, key=kinds.__getitem__)
        blobs.append(Blob(start, end, kind, lines))


def strip_blobs(text: str, blobs: list[Blob]) -> str:
    """``text`` without the blobs (a blank line where each was)."""
    parts = []
    position = 0
    for blob in blobs:
        parts.append(text[position : blob.start])
        parts.append("\n")
        position = blob.end
    parts.append(text[position:])
    return "".join(parts)


def describe(blobs: list[Blob]) -> str:
    """``"2 encoded blocks (uuencoded, base64; 2,451,203 characters in 39,720 lines)"``."""
    kinds = ", ".join(dict.fromkeys(blob.kind for blob in blobs))
    chars = sum(blob.chars for blob in blobs)
    lines = sum(blob.lines for blob in blobs)
    noun = "block" if len(blobs) == 1 else "blocks"
    return f"{len(blobs)} encoded {noun} ({kinds}; {chars:,} characters in {lines:,} lines)"
