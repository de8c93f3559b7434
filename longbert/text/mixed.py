"""UTF-8 files with a few lines in a legacy code page: decode each part in its own encoding.

A UTF-8 table with one row pasted from a Windows program, a UTF-8 letter whose signature was
typed in cp1252: strict UTF-8 fails on those few bytes, and reading the *whole* file in a legacy
code page would turn every correct "café" into "cafÃ©". Here lines that decode as UTF-8 stay
UTF-8, and the legacy code page is detected on the invalid lines' bytes together (all the
evidence there is), less the UTF-8 text in them. Each invalid line is then read the most
plausible of three ways (:func:`~longbert.text.charsets.implausibility`), in this order of
preference: its valid UTF-8 as UTF-8 and only the invalid bytes in the code page; only its
stretches of UTF-8 *text* as UTF-8 (in a multi-byte code page such as Shift-JIS some byte pairs
happen to be valid UTF-8); the whole line in the code page (so do "É”" in cp1252: "ɔ").

:func:`decode_mixed` applies only to files that are mostly UTF-8: more valid multi-byte UTF-8
characters than invalid bytes. A legacy file, where valid sequences are rare accidents, is left to
whole-file detection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from longbert.text.charsets import implausibility

_ASCII_BYTES = bytes(range(128))
#: Runs of invalid bytes and the valid stretches between them.
_RUN_RE = re.compile("[\udc80-\udcff]+|[^\udc80-\udcff]+")
#: Multi-byte characters (anything not ASCII and not an escaped invalid byte).
_UTF8_CHARACTER_RE = re.compile("[^\x00-\x7f\udc80-\udcff]")
#: How much more plausible (per non-ASCII character) a later reading of an invalid line must be
#: than an earlier one to replace it: valid UTF-8 keeps its reading on near-ties.
_WHOLE_LINE_MARGIN = 0.15
#: Characters of a line scored to choose between its readings: enough, cheap on a huge line.
_SCORED_CHARS = 20_000
#: Line numbers named in the note at most.
_LINES_NAMED = 5

#: ``detect(data) -> (encoding, text)``: the legacy code page of some bytes (the decoder's), or
#: ``None`` when none fits.
Detect = Callable[[bytes], tuple[str, str] | None]


@dataclass(frozen=True)
class MixedDecoding:
    """A mostly-UTF-8 file's text, the code page its other lines were read in, and which lines."""

    text: str
    encoding: str
    #: 1-based numbers of the lines that were not valid UTF-8.
    lines: tuple[int, ...]
    total_lines: int

    @property
    def note(self) -> str:
        """What was done, for :attr:`Document.notes` and the readers' warning."""
        named = ", ".join(str(n) for n in self.lines[:_LINES_NAMED])
        if len(self.lines) > _LINES_NAMED:
            named += f" and {len(self.lines) - _LINES_NAMED:,} more"
        one = len(self.lines) == 1
        where, which = (f"line {named}", "that line") if one else (f"lines {named}", "those lines")
        return (
            f"mixed text encodings: what is not valid UTF-8 on {where} was read as "
            f"{_display_name(self.encoding)}, the rest of the file as UTF-8. Check {which}, or save "
            "the file as UTF-8 throughout."
        )


def _display_name(encoding: str) -> str:
    """``cp1252`` as people know it: ``Windows-1252 (cp1252)``."""
    match = re.fullmatch(r"cp(125\d)", encoding)
    return f"Windows-{match.group(1)} ({encoding})" if match else encoding


def decode_mixed(data: bytes, detect: Detect) -> MixedDecoding | None:
    """``data`` (not valid UTF-8 as a whole) read as UTF-8 wherever it is, and in one legacy
    code page where it is not; ``None`` when the file is not mostly UTF-8, or when ``detect``
    finds no code page for its invalid lines."""
    if not _mostly_utf8(data):
        return None
    lines: list[str] = []
    bad: list[int] = []
    for number, line in enumerate(data.split(b"\n")):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("utf-8", errors="surrogateescape"))  # invalid bytes: U+DC80-U+DCFF
            bad.append(number)
    # The code page, from every invalid line at once: one word per line is little evidence, the
    # lines together are more.
    sample = "\n".join(_legacy_sample(lines[number]) for number in bad)
    detected = detect(sample.encode("utf-8", errors="surrogateescape"))
    if detected is None:
        return None
    encoding = detected[0]
    for number in bad:
        lines[number] = _read_line(lines[number], encoding)
    return MixedDecoding("\n".join(lines), encoding, tuple(number + 1 for number in bad), len(lines))


def _legacy_sample(line: str) -> str:
    """A line with invalid bytes (escaped), less the UTF-8 text in it: what the legacy code page
    wrote, to detect it by (see :func:`_is_utf8_text`)."""
    return "".join(
        run if _is_invalid(run) or not _is_utf8_text(run) else _UTF8_CHARACTER_RE.sub("", run)
        for run in _RUN_RE.findall(line)
    )


def _is_invalid(run: str) -> bool:
    return "\udc80" <= run[0] <= "\udcff"


def _is_utf8_text(run: str) -> bool:
    """Whether a stretch of valid UTF-8 between invalid bytes is UTF-8 text: two multi-byte
    characters or more. A lone one is as likely two bytes of a multi-byte code page that happen
    to be valid UTF-8 (Shift-JIS "のの" is 82 CC 82 CC, and its CC 82 is valid UTF-8)."""
    return len(_UTF8_CHARACTER_RE.findall(run)) >= 2


def _mostly_utf8(data: bytes) -> bool:
    """Whether ``data`` holds invalid UTF-8 bytes, but fewer than valid multi-byte characters
    (counted at C speed: a legacy file is turned away before any line is looked at)."""
    valid = data.decode("utf-8", errors="ignore")
    invalid_bytes = len(data) - len(valid.encode("utf-8"))
    ascii_bytes = len(data) - len(data.translate(None, _ASCII_BYTES))
    return 0 < invalid_bytes <= len(valid) - ascii_bytes


def _read_line(line: str, encoding: str) -> str:
    """One line with invalid bytes (escaped), read the most plausible way of three: UTF-8 where
    valid and ``encoding`` for the invalid bytes (the first choice: valid UTF-8 keeps its
    reading on near-ties); UTF-8 only for stretches of UTF-8 text (:func:`_is_utf8_text`); the
    line wholly in ``encoding`` (legacy bytes that happened to form valid UTF-8: "É”" is "ɔ")."""
    first, *others = dict.fromkeys(
        _reading(line, encoding, keep) for keep in (lambda run: True, _is_utf8_text, lambda run: False)
    )
    best, best_score = first, implausibility(first[:_SCORED_CHARS])[0] if others else 0.0
    for text in others:
        score, _ = implausibility(text[:_SCORED_CHARS])
        if score < best_score - _WHOLE_LINE_MARGIN:
            best, best_score = text, score
    return best


def _reading(line: str, encoding: str, keep: Callable[[str], bool]) -> str:
    """``line`` with the valid stretches ``keep`` accepts as UTF-8, the rest read in ``encoding``."""
    parts: list[str] = []
    legacy: list[str] = []
    for run in _RUN_RE.findall(line):
        if _is_invalid(run) or not keep(run):
            legacy.append(run)
            continue
        if legacy:
            parts.append(_legacy("".join(legacy), encoding))
            legacy = []
        parts.append(run)
    if legacy:
        parts.append(_legacy("".join(legacy), encoding))
    return "".join(parts)


def _legacy(escaped: str, encoding: str) -> str:
    """Escaped text's original bytes, read in ``encoding``."""
    return escaped.encode("utf-8", errors="surrogateescape").decode(encoding, errors="replace")
