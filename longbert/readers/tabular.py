"""Tables of documents: CSV/TSV and JSON/JSON Lines, one document per row.

A row whose text is empty, whose JSON is broken or whose label is missing becomes a
:class:`FileError` for that row (``data.csv#row=12``); the other rows still yield documents.
A missing text column is one error for the whole file, naming the columns it does have.
Every row's other columns travel on its document (:attr:`ReadDocument.fields`), so nobody has to
parse the file again to join results back to their rows.

Row numbers (``#row=N``, :attr:`ReadDocument.row`): in a CSV/TSV file the 1-based count of
records after the header (blank lines are no records; a quoted cell over several lines is one);
in a JSON list its 1-based position; in JSON Lines the 1-based *line of the file*, blank lines
included, so that ``#row=N`` and an error's "line N" name the line an editor shows as N.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from longbert.readers.base import FileError, ReadFailure, ReadItem
from longbert.readers.csvrows import csv_records
from longbert.readers.items import Context, cell_text, document_item, resolve_column
from longbert.text.decoding import decode_text

_CSV_DELIMITERS = ",;\t|"


class LabelError(ValueError):
    """A label value that cannot be read; ``missing`` when it is simply absent or empty."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


def parse_labels(value: Any, delimiter: str | None = None) -> tuple[str, ...]:
    """Labels from one table cell: a string, a number, a boolean, or a list of those.

    A string that is a JSON list (``'["a", "b"]'``, as CSV files store lists) is read as the
    list; with ``delimiter`` a string is split on it (``"a|b"`` → ``("a", "b")``). Booleans
    become ``"true"``/``"false"`` and whole floats lose their ``.0`` so that JSON and CSV files
    agree. Labels are stripped and de-duplicated, first occurrence first; an explicit empty
    list gives ``()`` (a multi-label row with no label). Raises :class:`LabelError`.
    """
    if isinstance(value, list):
        labels = [_scalar_label(item) for item in value]
        return tuple(dict.fromkeys(label for label in labels if label))
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            try:
                parsed = json.loads(stripped)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return parse_labels(parsed, None)
        if delimiter is not None:
            parts = [part.strip() for part in stripped.split(delimiter)]
            labels = tuple(dict.fromkeys(part for part in parts if part))
            if not labels:
                raise LabelError("its label is empty.", missing=True)
            return labels
    label = _scalar_label(value)
    if not label:
        raise LabelError("its label is empty.", missing=True)
    return (label,)


def _scalar_label(value: Any) -> str:
    if value is None:
        raise LabelError("its label is missing (null).", missing=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        return value.strip()
    raise LabelError(f"its label is a JSON {type(value).__name__}, not a string or a list of strings.")


def read_table(fmt: str, display: str, data: bytes, ctx: Context, member: str | None) -> Iterator[ReadItem]:
    """Rows of a ``csv``/``tsv``/``json``/``jsonl`` file as documents and per-row errors."""
    try:
        text = decode_text(data, name=display)  # warns, naming the file, if its encodings are mixed
    except ReadFailure as failure:
        yield FileError(display, failure.reason, kind=failure.kind)
        return
    records = (
        csv_records(fmt, display, text, ctx)
        if fmt in ("csv", "tsv")
        else _json_records(fmt, display, text, ctx)
    )
    errors = 0
    hidden = 0
    yielded = 0
    for item in records:
        yielded += 1
        if isinstance(item, FileError):
            if item.row is not None:  # per-row errors are capped; file-level ones always shown
                errors += 1
                if errors > ctx.limits.max_row_errors:
                    hidden += 1
                    continue
            yield item
            continue
        row, record = item
        result = _record_item(ctx, display, member, row, record)
        if isinstance(result, FileError):
            errors += 1
            if errors > ctx.limits.max_row_errors:
                hidden += 1
                continue
        yield result
    if not yielded:
        yield FileError(display, "the table holds no rows (a header at most).", kind="empty")
    if hidden:
        yield FileError(
            display,
            f"{hidden:,} more rows have errors like the ones reported above (only the first "
            f"{ctx.limits.max_row_errors:,} are listed). Fix the table and retry.",
            kind="bad_row",
            details={"hidden_errors": hidden},
        )


def _record_item(
    ctx: Context, display: str, member: str | None, row: int, record: Mapping[str, Any]
) -> ReadItem:
    options = ctx.options
    name = f"{display}#row={row}"
    text_key = resolve_column(record.keys(), options.text_column)
    fields = {key: value for key, value in record.items() if key != text_key}
    if text_key is None:
        return FileError(
            name,
            f"the row has no {options.text_column!r} field; fields found: {_fields(record)}. "
            "Choose the text column that holds the documents.",
            kind="missing_column",
            row=row,
            details={"columns": list(record)},
            fields=fields,
        )
    value = cell_text(record[text_key])
    if value is None:
        return FileError(
            name,
            f"its {options.text_column!r} value is a JSON {type(record[text_key]).__name__}, not text.",
            kind="bad_row",
            row=row,
            fields=fields,
        )
    labels: tuple[str, ...] | None = None
    if options.label_column is not None:
        label_key = resolve_column(record.keys(), options.label_column)
        if label_key is None:
            return FileError(
                name,
                f"the row has no {options.label_column!r} field; fields found: {_fields(record)}.",
                kind="missing_column",
                row=row,
                details={"columns": list(record)},
                fields=fields,
            )
        try:
            labels = parse_labels(record[label_key], options.label_delimiter)
        except LabelError as exc:
            kind = "missing_label" if exc.missing else "bad_row"
            return FileError(name, str(exc), kind=kind, row=row, fields=fields)
    record_id = _optional_str(record, options.id_column)
    custom_name = _optional_str(record, options.name_column)
    return document_item(
        ctx,
        value,
        custom_name or name,
        member=member,
        labels=labels,
        row=row,
        record_id=record_id,
        fields=fields,
    )


def _fields(record: Mapping[str, Any]) -> str:
    return ", ".join(repr(key) for key in record) or "none"


def _optional_str(record: Mapping[str, Any], column: str | None) -> str | None:
    if column is None:
        return None
    key = resolve_column(record.keys(), column)
    if key is None or record[key] is None or isinstance(record[key], dict | list):
        return None
    value = str(record[key]).strip()
    return value or None


def _json_records(
    fmt: str, display: str, text: str, ctx: Context
) -> Iterator[tuple[int, dict[str, Any]] | FileError]:
    stripped = text.removeprefix("\ufeff").strip()
    if not stripped:
        yield FileError(display, "the file is empty.", kind="empty")
        return
    if fmt == "json" or stripped.startswith("["):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError as exc:
            if not exc.msg.startswith("Extra data"):
                yield FileError(
                    display,
                    f"it is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
                    kind="corrupt",
                )
                return
            whole = None  # several JSON values: JSON Lines after all
        if isinstance(whole, list):
            yield from _list_records(display, whole, ctx)
            return
        if isinstance(whole, dict):
            yield 1, whole
            return
        if whole is not None:
            yield FileError(
                display,
                "the JSON holds a single value, not a list of objects with a text field.",
                kind="corrupt",
            )
            return
    # The text as decoded, not stripped: leading blank lines count (rows are lines of the file).
    yield from _jsonl_records(display, text.removeprefix("\ufeff"))


def _list_records(
    display: str, items: list[Any], ctx: Context
) -> Iterator[tuple[int, dict[str, Any]] | FileError]:
    for row, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield row, item
        elif isinstance(item, str):  # a plain list of texts
            yield row, {ctx.options.text_column: item}
        else:
            yield FileError(
                f"{display}#row={row}",
                f"item {row} is a JSON {type(item).__name__}, not an object or a string.",
                kind="bad_row",
                row=row,
            )


def jsonl_objects(lines: Iterable[str], first_line: int = 1) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """``(line, object)`` per non-blank line of JSON Lines, or ``(line, why)`` for a line that is
    not a JSON object; every line counts (blank ones too), the first as ``first_line``. The one
    JSON Lines parser: the readers feed it a decoded text, the CLI's streaming table reader a file."""
    for lineno, raw in enumerate(lines, start=first_line):
        line = raw.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, f"line {lineno} is not valid JSON ({exc.msg}, column {exc.colno})."
            continue
        if isinstance(value, dict):
            yield lineno, value
        else:
            yield lineno, f"line {lineno} is a JSON {type(value).__name__}, not an object."


def _jsonl_records(display: str, text: str) -> Iterator[tuple[int, dict[str, Any]] | FileError]:
    """``(line, object)`` per non-blank line of a JSON Lines text, counting every line from 1."""
    for lineno, value in jsonl_objects(text.split("\n")):
        if isinstance(value, str):
            yield FileError(f"{display}#row={lineno}", value, kind="bad_row", row=lineno)
        else:
            yield lineno, value
