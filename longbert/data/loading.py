"""Reading labelled data sets from files and folders, with every bad row named up front."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from longbert.data.dataset import SHOWN, DatasetReport, Example, LabeledDataset, build_dataset, names_list
from longbert.document import Document
from longbert.errors import DatasetError
from longbert.readers import (
    FileError,
    LabelError,
    ReadDocument,
    ReadLimits,
    TableOptions,
    is_junk,
    parse_labels,
    read_path,
)

#: Limits for data sets: big files and many rows are expected, and every bad row is listed.
DATASET_LIMITS = ReadLimits(
    max_file_bytes=4 * 1024**3,
    max_documents=50_000_000,
    max_archive_members=1_000_000,
    max_archive_bytes=16 * 1024**3,
    max_row_errors=1_000_000_000,
)
#: The columns of a labelled table: :class:`TableOptions`' defaults, with labels in ``label``.
DATASET_TABLE = TableOptions(label_column="label")
_TABLE_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".tsv"}


def load_dataset(
    path: str | os.PathLike[str],
    *,
    table: TableOptions = DATASET_TABLE,
    multi_label: bool | None = None,
    skip_bad_rows: bool = False,
    drop_duplicates: bool = True,
    min_classes: int = 2,
    limits: ReadLimits | None = None,
) -> LabeledDataset:
    """Load a labelled data set from a JSONL/JSON/CSV/TSV file (``.gz`` too) or a label folder.

    ``table`` names the text, label, id and name columns (default :data:`DATASET_TABLE`).
    Labels are a string per row, a JSON list (multi-label), or a string split on
    ``table.label_delimiter``. ``multi_label`` ``None`` decides from the data: multi-label when
    a delimiter is given or any row has other than one label. Bad rows (empty text, no label,
    broken JSON, a non-text value, an unreadable file) raise :class:`DatasetError` naming each
    with its reason, unless ``skip_bad_rows`` (then counted and listed in the report); a missing
    column always raises, naming the columns that exist, and so does a table that cannot be
    read to its end (an unterminated quote, a malformed CSV): its lost rows cannot be counted.
    Repeated texts are dropped (the first kept; conflicting labels reported in
    ``report.problems``) unless ``drop_duplicates`` is off.
    Fewer than ``min_classes`` distinct labels raise (pass 1 for a dev or test set).
    ``report.problems`` also notes what was read but is easy to miss: labels that differ only
    in case (separate classes), and in a label folder, files beside the label sub-folders (not
    read) and label sub-folders with no files (no class).
    """
    path = Path(path)
    _check_table(table)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder.")
    limits = limits or DATASET_LIMITS
    notes: list[str] = []
    if path.is_dir():
        examples, errors, notes = _read_label_folders(path, limits)
    else:
        lower = path.name.lower()
        inner = lower.removesuffix(".gz")
        if Path(inner).suffix not in _TABLE_SUFFIXES:
            raise DatasetError(
                f"{path.name}: a data set is a .jsonl, .json, .csv or .tsv file (optionally .gz) "
                "or a folder with one sub-folder per label."
            )
        items = read_path(path, source="dataset", limits=limits, table=table)
        examples, errors = _collect(items)
    report = DatasetReport(source=str(path), rows_read=len(examples) + len(errors), problems=notes)
    if not path.is_dir():
        _refuse_unread_rows(path.name, errors)
        if not examples and [e.kind for e in errors] == ["empty"] and errors[0].row is None:
            # The file itself is empty: no row to fix or skip (--skip-bad-rows cannot help).
            raise DatasetError(f"{path.name}: the file is empty (0 bytes): it holds no examples.")
    _handle_errors(path.name, errors, skip_bad_rows, report)
    if table.label_delimiter is not None and multi_label is None:
        multi_label = True
    return _note_case_variants(
        build_dataset(
            examples,
            multi_label=multi_label,
            name=path.name,
            report=report,
            drop_duplicates=drop_duplicates,
            min_classes=min_classes,
        )
    )


def from_records(
    records: Iterable[Mapping[str, Any]],
    *,
    table: TableOptions = DATASET_TABLE,
    multi_label: bool | None = None,
    name: str = "records",
    skip_bad_rows: bool = False,
    min_classes: int = 2,
) -> LabeledDataset:
    """A data set from in-memory rows (dicts with a text and a label), checked like a file:
    every bad row is named with its reason, and ``skip_bad_rows`` drops them (reported).
    ``table`` names the keys, as for :func:`load_dataset`."""
    _check_table(table)
    text_column, label_column = table.text_column, str(table.label_column)
    examples: list[Example] = []
    errors: list[FileError] = []
    count = 0
    for row, record in enumerate(records, start=1):
        count = row
        where = f"{name}#row={row}"
        missing = [c for c in (text_column, label_column) if c not in record]
        if missing:
            found = ", ".join(map(repr, record)) or "nothing"
            errors.append(
                FileError(where, f"row {row} has no {missing[0]!r}; it has: {found}.", "missing_column", row)
            )
            continue
        text = "" if record[text_column] is None else record[text_column]
        if not isinstance(text, str):
            reason = f"its {text_column!r} is a {type(text).__name__}, not text."
            errors.append(FileError(where, reason, "bad_row", row))
            continue
        if not text.strip():
            errors.append(FileError(where, "the row has no text.", "empty", row))
            continue
        try:
            labels = parse_labels(record[label_column], table.label_delimiter)
        except LabelError as exc:
            errors.append(FileError(where, str(exc), "missing_label" if exc.missing else "bad_row", row))
            continue
        doc_name = str(_value(record, table.name_column) or where)
        record_id = _value(record, table.id_column)
        examples.append(Example(Document(text, doc_name, "dataset"), labels, record_id))
    report = DatasetReport(source=name, rows_read=count)
    _handle_errors(name, errors, skip_bad_rows, report)
    if table.label_delimiter is not None and multi_label is None:
        multi_label = True
    dataset = build_dataset(
        examples, multi_label=multi_label, name=name, report=report, min_classes=min_classes
    )
    return _note_case_variants(dataset)


def _note_case_variants(dataset: LabeledDataset) -> LabeledDataset:
    """Note labels that differ only in case (``Sport``, ``SPORT``, ``sport``): they are separate
    classes, as written, but are often one class spelled differently -- said, never merged."""
    groups: dict[str, list[str]] = {}
    for label in dataset.labels:
        groups.setdefault(label.casefold(), []).append(label)
    variants = [group for group in groups.values() if len(group) > 1]
    if variants:
        counts = dataset.label_counts()
        named = "; ".join(", ".join(f"'{lab}' ({counts[lab]:,})" for lab in group) for group in variants)
        dataset.report.problems.append(
            f"labels that differ only in case are separate classes: {named}. If they mean one "
            "class, spell them alike in the data."
        )
    return dataset


def _refuse_unread_rows(name: str, errors: list[FileError]) -> None:
    """A table that could not be read to its end (an unterminated quote, a malformed CSV) has
    lost rows no one can count: never train or score on what is left, skipping or not."""
    broken = [e for e in errors if e.kind == "corrupt"]
    if broken:
        lines = [f"row {e.row}: {e.reason}" if e.row is not None else e.reason for e in broken[:SHOWN]]
        raise DatasetError(
            f"{name}: the table cannot be read to its end, so an unknown number of rows would be "
            "lost (--skip-bad-rows does not skip this):\n" + "\n".join(f"  - {line}" for line in lines)
        )


def _check_table(table: TableOptions) -> None:
    if table.label_column is None:
        raise ValueError("A labelled data set needs TableOptions.label_column (e.g. 'label').")


def _value(record: Mapping[str, Any], column: str | None) -> str | None:
    if column is None or record.get(column) is None:
        return None
    return str(record[column])


def _read_label_folders(
    root: Path, limits: ReadLimits
) -> tuple[list[Example], list[FileError], list[str]]:
    """The examples and bad files of each label sub-folder, and notes on what was not read:
    files beside the sub-folders (they have no label) and sub-folders with no files (their
    label is no class). Both were once dropped without a word."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not is_junk(p.name + "/x"))
    if not folders:
        raise DatasetError(
            f"{root.name}: the folder has no sub-folders. Put each label's files in a sub-folder "
            "named after the label (e.g. sport/, politics/)."
        )
    examples: list[Example] = []
    errors: list[FileError] = []
    empty: list[str] = []
    for folder in folders:
        found, bad = _collect(read_path(folder, source="dataset", limits=limits), folder.name)
        examples.extend(found)
        errors.extend(bad)
        if not found and not bad:
            empty.append(folder.name + "/")
    notes = []
    loose = sorted(p.name for p in root.iterdir() if not p.is_dir() and not is_junk(p.name))
    if loose:
        notes.append(
            f"{len(loose):,} file(s) beside the label sub-folders of {root.name}/ were not read "
            f"(a file's label is its sub-folder): {names_list(loose)}."
        )
    if empty:
        notes.append(
            f"label sub-folder(s) with no files, so no class: {names_list(empty)} (add that "
            "label's files, or remove the folder)."
        )
    return examples, errors, notes


def _collect(
    items: Iterable[ReadDocument | FileError], label: str | None = None
) -> tuple[list[Example], list[FileError]]:
    examples: list[Example] = []
    errors: list[FileError] = []
    for item in items:
        if isinstance(item, FileError):
            errors.append(item)
            continue
        labels = (label,) if label is not None else (item.labels or ())
        examples.append(Example(item.document, labels, item.record_id))
    return examples, errors


#: Problems shared by many rows, listed as one line each ("empty text: row 2, row 9").
_GROUPED = {"empty": "empty text", "missing_label": "no label"}


def _handle_errors(name: str, errors: list[FileError], skip: bool, report: DatasetReport) -> None:
    """Raise for missing columns always, and for other problems unless ``skip`` (then the
    skipped rows are counted in ``report.rows_skipped`` and listed, with reasons, in
    ``report.problems``)."""
    if not errors:
        return
    missing = [e for e in errors if e.kind == "missing_column"]
    if missing:
        where = f" (rows: {_rows(missing)})" if missing[0].row is not None else ""
        raise DatasetError(f"{name}: {missing[0].reason}{where}")
    count = f"{len(errors):,} " + ("row or file" if len(errors) == 1 else "rows or files")
    lines = error_lines(errors)
    if skip:
        report.rows_skipped = len(errors)
        report.problems.append(f"skipped {count}: " + "; ".join(lines))
        return
    raise DatasetError(
        f"{name}: {count} cannot be used:\n"
        + "\n".join(f"  - {line}" for line in lines)
        + "\nFix them, or skip them: --skip-bad-rows on the command line (skip_bad_rows=True "
        "from Python); skipped rows are counted and listed in the run's notes."
    )


def error_lines(errors: Sequence[FileError]) -> list[str]:
    """What is wrong with each bad row or file: one line per shared problem (empty text, no
    label) naming its rows, then one line per other row or file with its own reason."""
    groups: dict[str, list[FileError]] = {}
    others: list[FileError] = []
    for error in errors:
        if error.kind in _GROUPED:
            groups.setdefault(_GROUPED[error.kind], []).append(error)
        else:
            others.append(error)
    lines = [f"{title}: {_rows(group)}" for title, group in groups.items()]
    lines += [f"row {e.row}: {e.reason}" if e.row is not None else e.message for e in others[:SHOWN]]
    if len(others) > SHOWN:
        lines.append(f"and {len(others) - SHOWN:,} more rows or files with other problems")
    return lines


def _rows(errors: Sequence[FileError]) -> str:
    labels = [f"row {e.row}" if e.row is not None else e.name for e in errors]
    return names_list(labels)
