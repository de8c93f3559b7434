"""LongBERT's persistence layer: what was classified, by which model and strategy, with what
probabilities and attention, and what a person corrected.

Usage::

    from longbert.store import get_store, HistoryFilter
    store = get_store()                         # LONGBERT_DB_URL, default db/longbert.sqlite
    pid = store.save_prediction(prediction, document)
    stored = store.get_prediction(pid)          # Prediction + Document, arrays bit-exact
    page = store.history(HistoryFilter(label="true", text="senate"), limit=20)
    store.add_correction(pid, "false", note="satire")
    store.save_explanation(pid, explanation)    # why (longbert.explain); same method replaces
    store.explanations_for(pid)                 # [Explanation, ...]
    store.export_predictions("out.csv")         # formula-looking cells defused (csv_writer)
    for chosen in store.correction_sets():      # per model and label set, with counts
        print(chosen.title)
    store.export_corrections_training_set("corrections.jsonl", model="hp-v1")

Every method is one short transaction; a Store may be shared by threads and the database used
by several processes at once. Errors a user can act on are :class:`~longbert.errors.StoreError`.
"""

from __future__ import annotations

from longbert.errors import StoreError
from longbert.store.batches import BATCH_STATUSES, ITEM_STATUSES
from longbert.store.conflicts import CONFIRM_NOTE
from longbert.store.correction_sets import CONFLICT_POLICIES
from longbert.store.csv_writer import spreadsheet_safe, write_csv
from longbert.store.engine import redacted_url
from longbert.store.explanations import ExplanationRecord
from longbert.store.export import EXPORT_COLUMNS, EXPORT_FORMATS
from longbert.store.leases import BatchBusyError, BatchLease, Worker
from longbert.store.records import (
    BatchItemRecord,
    BatchRecord,
    ConfirmOutcome,
    CorrectionChangedError,
    CorrectionConflict,
    CorrectionRecord,
    CorrectionSet,
    EpochRecord,
    HistoryFilter,
    HistoryPage,
    HistoryRow,
    LabelCount,
    LabelSetRecord,
    ModelRecord,
    RecordNotFoundError,
    StoredPrediction,
    TrainingRunRecord,
)
from longbert.store.schema import SCHEMA_VERSION
from longbert.store.store import Store, get_store
from longbert.store.training import RUN_STATUSES

__all__ = [
    "BATCH_STATUSES",
    "CONFIRM_NOTE",
    "CONFLICT_POLICIES",
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "ITEM_STATUSES",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "BatchBusyError",
    "BatchItemRecord",
    "BatchLease",
    "BatchRecord",
    "ConfirmOutcome",
    "CorrectionChangedError",
    "CorrectionConflict",
    "CorrectionRecord",
    "CorrectionSet",
    "EpochRecord",
    "ExplanationRecord",
    "HistoryFilter",
    "HistoryPage",
    "HistoryRow",
    "LabelCount",
    "LabelSetRecord",
    "ModelRecord",
    "RecordNotFoundError",
    "Store",
    "StoreError",
    "StoredPrediction",
    "TrainingRunRecord",
    "Worker",
    "get_store",
    "redacted_url",
    "spreadsheet_safe",
    "write_csv",
]
