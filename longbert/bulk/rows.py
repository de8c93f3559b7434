"""One output row per input document: what it is, what the model said, or why it failed.

Columns, in order: ``id`` (the table row's id, else the name), ``name`` (path, ``file#row=N``,
``archive.zip/member``), ``sha256`` (of the text), ``label``, ``probabilities`` (every label's;
flattened to ``p_<label>`` columns in CSV and Parquet), ``used_tokens``, ``total_tokens``,
``strategy``, ``model``, ``precision`` (what the model ran in: ``float32``, ``bfloat16``...),
``exit_threshold`` (an early-exit model's threshold in force; empty for a model without exits),
``error`` (the reason, for a document that could not be read or classified; else empty), then
the source row's other columns, unchanged. A multi-label model's
rows also have ``labels`` (every label at or over its decision threshold, possibly none; a list,
written as JSON text in CSV) and ``threshold`` (that threshold), right after ``label`` (the most
probable label, always set). A source column whose name is one of these, or starts with ``p_``
(a probability column's name in CSV and Parquet), is kept as ``source_<name>``, as in the app's
exports (:func:`longbert.columns.source_column`).

An output holds one row per input *name*: when an input is classified again (its text changed,
or it could not be read before and can now), its newer row replaces the older one
(:func:`latest_rows`). :class:`DoneInputs` says which inputs a resumed run skips.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from longbert.bulk.sources import SourceItem
from longbert.columns import source_column
from longbert.results import Prediction, PredictionError, PredictionResult

COLUMNS = (
    "id",
    "name",
    "sha256",
    "label",
    "probabilities",
    "used_tokens",
    "total_tokens",
    "strategy",
    "model",
    "precision",
    "exit_threshold",
    "error",
)
#: The layout of the rows an output's ledger holds, recorded in its state file (``rows_format``).
#: 1 (a state without it): before :data:`MODEL_COLUMNS_SINCE_2` existed, when a source column of
#: such a name kept its bare name; :func:`upgrade_row` renames it as today's rows name it.
ROWS_FORMAT = 2
MODEL_COLUMNS_SINCE_2 = ("precision", "exit_threshold")
#: A multi-label model's extra columns (every row of its output has them, errors included), placed
#: after ``label``. Single-label outputs keep :data:`COLUMNS` alone, as before they existed.
MULTI_LABEL_COLUMNS = ("labels", "threshold")


def output_row(
    item: SourceItem,
    result: PredictionResult | None,
    model: str,
    strategy: str,
    multi_label: bool = False,
) -> dict[str, Any]:
    """The row for one input: ``result`` is None when the input could not be read.
    ``multi_label``: the model is multi-label (its rows carry :data:`MULTI_LABEL_COLUMNS`)."""
    reserved = COLUMNS + MULTI_LABEL_COLUMNS if multi_label else COLUMNS
    row: dict[str, Any] = dict.fromkeys(reserved)
    row.update(id=item.id, name=item.name, sha256=item.sha256 or None, model=model, strategy=strategy)
    if isinstance(result, Prediction):
        row.update(
            label=result.label,
            probabilities={k: round(float(v), 6) for k, v in result.probabilities.items()},
            used_tokens=int(result.used_tokens),
            total_tokens=int(result.total_tokens),
            strategy=result.strategy,
            # How it was computed, as the store records it (rows of a resumed output may have
            # run elsewhere: another device's precision).
            precision=result.extra.get("precision"),
            exit_threshold=result.extra.get("exit_threshold"),
        )
        if multi_label:
            threshold = result.extra.get("threshold")
            row.update(
                labels=[str(label) for label in result.labels],
                threshold=float(threshold) if threshold is not None else None,
            )
    elif isinstance(result, PredictionError):
        row["error"] = result.message
    else:
        row["error"] = item.error or "not read"
    for key, value in item.extra.items():
        if key == "id" and str(value).strip() == str(item.id):
            continue  # the id column itself, already the row's id
        row[source_column(key, reserved)] = value
    return row


def upgrade_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of format 1 as format 2 writes it: the user's ``precision`` / ``exit_threshold`` as
    ``source_<name>``. Which keys are the user's is told by their place: a row's own columns
    come first, up to ``error``, its source columns after it (:func:`output_row`; a ledger line
    keeps that order), so a row written today (the model's columns before ``error``; a run of
    the version that first wrote them may have appended some to a format 1 ledger) is left as
    it is, and upgrading twice changes nothing. A name already taken (the user also had a
    ``source_precision`` column) gets one more ``source_`` prefix: no value is lost.
    Returns ``row`` itself when nothing changes."""
    keys = list(row)
    if "error" not in keys or not any(k in MODEL_COLUMNS_SINCE_2 for k in keys[keys.index("error") :]):
        return row
    upgraded: dict[str, Any] = {}
    for at, (key, value) in enumerate(row.items()):
        if key in MODEL_COLUMNS_SINCE_2 and at > keys.index("error"):
            key = source_column(key, MODEL_COLUMNS_SINCE_2)
            while key in row or key in upgraded:
                key = source_column(key, (key,))
        upgraded[key] = value
    return upgraded


def row_key(name: str, sha256: str | None) -> int:
    """The resume key of an input: 64 bits of SHA-256 over its name and its text's hash.

    The run's model and strategy are fixed per output (checked from its state file), so within
    one output a document is done once its name and text were seen; a file whose text changed
    since (or that could not be read then and can now) is done again, and its new row replaces
    the old one (:func:`latest_rows`). 64 bits: 10^7 rows collide
    with a probability of about 3e-6, and a resume holds 8 bytes per row already done.
    """
    digest = hashlib.sha256(f"{name}\x00{sha256 or ''}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # fits int64 (numpy, Arrow)


def item_key(item: SourceItem) -> int:
    return row_key(item.name, item.sha256 or None)


def name_key(name: str) -> int:
    """64 bits of SHA-256 over an input's name: which rows are the same input (see :func:`row_key`)."""
    digest = hashlib.sha256(f"name\x00{name}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def latest_rows(names: np.ndarray, labelled: np.ndarray | None = None, legacy: int = 0) -> np.ndarray:
    """A boolean mask over rows (given as their :func:`name_key`, in output order) that is True
    for the row of each input that an output keeps: its last one.

    Except among the first ``legacy`` rows (those of a ledger written in rows format 1, by a
    release that appended an error row for a labelled input it could not read any more, and
    never compacted), where an input's kept row is its last labelled one (``labelled``: a row
    has a label, not an error), else its last error: one that cannot be read now keeps its
    earlier row, as the store's schema-v8 recount of that release's batches keeps its item
    (:mod:`longbert.store.recount`). Rows after those replace them as usual."""
    keep = np.zeros(len(names), dtype=bool)
    if not len(names):
        return keep
    last = _last_of_each(names, np.arange(len(names)))
    keep[last] = True
    legacy = min(int(legacy), len(names))
    if legacy and labelled is not None:
        # Inputs whose last row is a legacy error: their last legacy labelled row, if any, wins.
        stale = last[(last < legacy) & ~labelled[last]]
        done = np.flatnonzero(labelled[:legacy])
        if stale.size and done.size:
            last_done = _last_of_each(names[done], done)
            back = last_done[np.isin(names[last_done], names[stale])]
            keep[stale[np.isin(names[stale], names[back])]] = False
            keep[back] = True
    return keep


def _last_of_each(names: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Of rows ``at`` (ascending) with name keys ``names``, the last of each name, ascending."""
    _, first_from_end = np.unique(names[::-1], return_index=True)
    return np.sort(at[len(at) - 1 - first_from_end])


def _sorted(values: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(values, dtype=np.int64))


@dataclass(frozen=True)
class DoneInputs:
    """The inputs an output already holds, for a resume to skip.

    ``keys``: the :func:`row_key` of each input's latest row (its name and text); ``names``: the
    :func:`name_key` of every input with a row. An input read now is done when its name and text
    are those of its latest row (a changed text runs again and its row replaces the old one). An
    input that cannot be read now (missing, unreadable) is done when the output has any row for
    it: the earlier row, perhaps a prediction, stands rather than being replaced by an error.
    ``errors``: the :func:`name_key` of every input whose kept row is an error (for a run to
    retire those of files and folders that read now: :meth:`has_error`).
    """

    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    names: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def of_rows(
        cls, keys: np.ndarray, names: np.ndarray, labelled: np.ndarray | None = None, legacy: int = 0
    ) -> DoneInputs:
        """From the rows' keys and name keys, in output order (stale rows included); the row
        an input keeps is chosen as :func:`latest_rows` does (``labelled``, ``legacy``)."""
        latest = latest_rows(names, labelled, legacy)
        errors = names[latest & ~labelled] if labelled is not None else names[:0]
        return cls(_sorted(keys[latest]), _sorted(names[latest]), _sorted(errors))

    def has_error(self, name: str) -> bool:
        """Whether the output's row for the input ``name`` is an error."""
        return _has(self.errors, name_key(name))

    def __len__(self) -> int:
        return int(self.names.size)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, SourceItem):
            return False
        if item.document is None:
            return _has(self.names, name_key(item.name))
        return _has(self.keys, item_key(item))


def _has(sorted_keys: np.ndarray, key: int) -> bool:
    at = int(np.searchsorted(sorted_keys, key))
    return at < sorted_keys.size and int(sorted_keys[at]) == key


def dumps(row: dict[str, Any]) -> str:
    """One JSON Lines line (no newline); values JSON does not know (dates, bytes) as text."""
    return json.dumps(row, ensure_ascii=False, default=str)
