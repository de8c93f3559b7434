"""Batch labelling as a resumable background job: read files, classify, save each result.

Two passes, so that memory stays flat and an interrupted batch can be resumed:

1. *Stage*: uploaded files are read one at a time (archives and tables expand into many
   documents); each document's text goes to a spool file on disk, each unreadable file becomes an
   error item at once. Then the batch and its items are created in the database.
2. *Classify*: pending items are loaded from the spool a few at a time, classified, and each
   prediction is saved (with its document) in its own transaction, which also marks the item done.

Resuming (after a stop or a server restart) runs pass 2 over the items still pending. A spooled
text is deleted once its prediction is saved, and the spool folder when the batch is done.

The spool is kept per database: ``<spool root>/db-<database id>/batch-<key>``, where the database
id is made once per database (so two databases in one folder, or a database deleted and created
again, never share spooled texts) and ``key`` is random per batch, recorded in the batch's config
(the batch row is created last, so a failed upload leaves neither a batch nor a spool behind).
Each item records the SHA-256 of its text when staged, and a text read back must match it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from longbert.document import Document
from longbert.errors import StoreError
from longbert.readers import FileError, ReadLimits, read_many
from longbert.results import Prediction, PredictionError
from longbert.settings import PROJECT_ROOT
from longbert.store import BatchItemRecord, Store
from longbert.ui.jobs import JobContext
from longbert.ui.tables import result_row

#: Documents classified per ``predict`` call: small enough that rows appear every few seconds
#: on a CPU even for long documents (the model still batches their windows together).
CHUNK_DOCUMENTS = 4


#: The batch-config key of a batch's random spool key.
SPOOL_KEY = "spool"
_KEY_PATTERN = re.compile(r"[0-9a-f]{32}")


def spool_root(store: Store) -> Path:
    """Where staged batch texts wait (``LONGBERT_SPOOL_DIR``; default: beside a SQLite file)."""
    configured = os.environ.get("LONGBERT_SPOOL_DIR")
    if configured:
        return Path(configured)
    url = make_url(store.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).resolve().parent / "spool"
    return PROJECT_ROOT / "db" / "spool"


def database_spool(store: Store) -> Path:
    """This database's part of the spool (``db-<database id>``)."""
    return spool_root(store) / f"db-{store.database_id}"


def _spool_folder(store: Store, config: dict[str, Any]) -> Path | None:
    key = config.get(SPOOL_KEY)
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        return None  # staged by a LongBERT that kept one spool for every database
    return database_spool(store) / f"batch-{key}"


def batch_spool(store: Store, batch_id: int) -> Path | None:
    """The folder of a batch's staged texts; ``None`` for batches staged before spools were
    kept per database (their texts cannot be told from another database's, so none is read)."""
    return _spool_folder(store, store.get_batch(batch_id).config)


@dataclass
class BatchSettings:
    """How a batch runs, stored as the batch's config so History can resume it the same way.

    ``model`` is a checkpoint folder or ``"zero-shot"`` (then ``labels`` holds the label
    descriptions); ``strategy`` ``{"name", "params"}`` or ``None`` for the model's own.
    """

    model: str
    model_name: str
    strategy: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    batch_size: int = 8
    files: list[str] = field(default_factory=list)
    #: Column (CSV) or key (JSON Lines) holding each row's text.
    text_column: str = "text"

    def to_config(self) -> dict[str, Any]:
        return {
            "model": self.model, "model_name": self.model_name, "strategy": self.strategy,
            "labels": self.labels, "batch_size": self.batch_size, "files": self.files[:200],
            "text_column": self.text_column,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchSettings:
        return cls(
            model=str(config["model"]), model_name=str(config.get("model_name", config["model"])),
            strategy=config.get("strategy"), labels=config.get("labels"),
            batch_size=int(config.get("batch_size", 8)), files=list(config.get("files", [])),
            text_column=str(config.get("text_column", "text")),
        )


class _Spool:
    """Texts of one batch on disk, one UTF-8 file per item position (``folder`` None: none)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def write(self, position: int, document: Document) -> None:
        assert self.folder is not None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{position}.txt").write_bytes(document.text.encode("utf-8", "surrogatepass"))
        except OSError as error:
            raise StoreError(
                f"Could not keep the batch's texts in {self.folder} ({error.strerror or error}); "
                "nothing was saved. Free disk space, or set LONGBERT_SPOOL_DIR to a writable folder."
            ) from error

    def read(self, item: BatchItemRecord) -> tuple[Document | None, str]:
        """The item's document, or ``None`` and why it cannot be classified."""
        if self.folder is None:
            return None, ("it was staged by an older LongBERT whose spool could not tell databases "
                          "apart, so its waiting text is not used; upload the file again.")
        try:
            text = (self.folder / f"{item.position}.txt").read_bytes().decode("utf-8", "surrogatepass")
        except (OSError, UnicodeDecodeError):
            return None, ("its text is no longer on this server (the batch's spool folder is "
                          "gone); upload the file again.")
        document = Document(text=text, name=item.name, source="batch")
        if item.document_sha256 is None or document.sha256 != item.document_sha256:
            return None, ("the text waiting for it is not the one staged for it (SHA-256 differs); "
                          "upload the file again.")
        return document, ""

    def drop(self, position: int) -> None:
        if self.folder is not None:
            (self.folder / f"{position}.txt").unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the batch's folder, and the database's spool folder if that leaves it empty."""
        if self.folder is None:
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.folder.parent.rmdir()


def stage_batch(
    ctx: JobContext,
    store: Store,
    name: str,
    files: Iterable[tuple[str, bytes]],
    settings: BatchSettings,
    *,
    num_files: int | None = None,
    limits: ReadLimits | None = None,
) -> int:
    """Pass 1: read every file, spool the texts, create the batch; returns its id.

    ``files`` is consumed lazily (a generator keeps one file's bytes in memory at a time).
    Unreadable files become error items with the reader's reason. On any failure (including a
    stop) nothing is left: no batch row, no spooled text.
    """
    key = uuid.uuid4().hex
    spool = _Spool(database_spool(store) / f"batch-{key}")
    names: list[str] = []
    hashes: list[str | None] = []
    errors: dict[int, str] = {}
    counted = _CountingFiles(files)
    ctx.progress(0, num_files, "Reading files…")
    try:
        for item in read_many(counted, source="batch", limits=limits,
                              text_column=settings.text_column):
            ctx.check_stop()
            if isinstance(item, FileError):
                errors[len(names)] = item.reason
                names.append(item.name)
                hashes.append(None)
                ctx.add_row(result_row(PredictionError(item.name, item.reason)), error=True)
            else:
                spool.write(len(names), item.document)
                names.append(item.document.name)
                hashes.append(item.document.sha256)
            ctx.progress(counted.count, num_files, f"Reading files… {len(names):,} documents so far")
        if not names:
            raise_empty()
        config = {**settings.to_config(), SPOOL_KEY: key}
        # Last, and one transaction with the items and their errors: nothing can fail after it.
        return store.create_batch(name, config=config, items=names, hashes=hashes, errors=errors)
    except BaseException:
        spool.remove()
        raise


def raise_empty() -> None:
    from longbert.errors import UnreadableFileError

    raise UnreadableFileError("The upload holds no documents: add at least one file.")


class _CountingFiles:
    """Wraps the uploaded files and counts how many the reader has taken."""

    def __init__(self, files: Iterable[tuple[str, bytes]]) -> None:
        self._files = iter(files)
        self.count = 0

    def __iter__(self) -> _CountingFiles:
        return self

    def __next__(self) -> tuple[str, bytes]:
        item = next(self._files)
        self.count += 1
        return item


Classify = Callable[[Sequence[Document]], Sequence[Prediction | PredictionError]]


def classify_batch(
    ctx: JobContext,
    store: Store,
    batch_id: int,
    classify: Classify,
    *,
    show_finished: bool = True,
    chunk: int = CHUNK_DOCUMENTS,
) -> int:
    """Pass 2: classify the batch's pending items and save each result; returns how many ran.

    With ``show_finished``, rows for items finished earlier are added first (so a resumed batch
    shows its whole table). Stopping (``ctx.cancel``) or a failure leaves the batch
    ``interrupted``: History can resume it, and everything saved so far stays.
    """
    batch = store.get_batch(batch_id)
    spool = _Spool(_spool_folder(store, batch.config))
    if show_finished:
        for row in batch_rows(store, batch_id):
            if row["status"] != "pending":
                ctx.add_row(row, error=row["status"] == "error")
    pending = store.pending_items(batch_id)
    finished = batch.total - len(pending)
    ctx.progress(finished, batch.total, "Classifying…")
    ran = 0
    try:
        for start in range(0, len(pending), chunk):
            ctx.check_stop()
            part = pending[start : start + chunk]
            documents: list[tuple[int, Document]] = []
            for item in part:
                document, why = spool.read(item)
                if document is None:
                    error = PredictionError(item.name, why, item.document_sha256)
                    store.record_error(error, batch_id=batch_id, item_index=item.position)
                    ctx.add_row(result_row(error), error=True)
                else:
                    documents.append((item.position, document))
            results = classify([d for _, d in documents]) if documents else []
            for (position, document), result in zip(documents, results, strict=True):
                if isinstance(result, Prediction):
                    pid = store.save_prediction(result, document, batch_id=batch_id,
                                                item_index=position, store_full_attention=False)
                    ctx.add_row(result_row(result, prediction_id=pid))
                else:
                    store.record_error(result, batch_id=batch_id, item_index=position)
                    ctx.add_row(result_row(result), error=True)
                spool.drop(position)
                ran += 1
            finished += len(part)
            ctx.progress(finished, batch.total, "Classifying…")
    except BaseException:
        store.mark_batch_status(batch_id, "interrupted")
        raise
    if not store.pending_items(batch_id):
        spool.remove()
        if store.get_batch(batch_id).status != "done":
            store.mark_batch_status(batch_id, "done")
    return ran


def history_result_row(row: Any) -> dict[str, Any]:
    """A table row from the store's :class:`~longbert.store.HistoryRow` (history, batches)."""
    return {
        "document": row.document_name, "status": "ok", "label": row.label,
        "confidence": round(float(row.confidence), 4), "correction": row.corrected_label,
        "labels": ", ".join(row.labels), "strategy": row.strategy,
        "used_tokens": int(row.used_tokens), "total_tokens": int(row.total_tokens),
        "latency_ms": round(float(row.latency_ms), 1), "zero_shot": bool(row.zero_shot),
        "model": row.model_name, "error": None, "prediction_id": int(row.id),
    }


def batch_rows(store: Store, batch_id: int) -> list[dict[str, Any]]:
    """Every item of a batch as a table row (pending items included, marked ``pending``)."""
    rows: list[dict[str, Any]] = []
    for item in store.batch_items(batch_id):
        if item.status == "done" and item.row is not None:
            rows.append(history_result_row(item.row))
        elif item.status == "error":
            rows.append(result_row(PredictionError(item.name, item.error or "error")))
        else:
            row = result_row(PredictionError(item.name, ""))
            row.update(status="pending", error=None)
            rows.append(row)
    return rows


def summary_json(settings: BatchSettings) -> str:
    """The settings as one line for captions (model, strategy)."""
    strategy = settings.strategy or {"name": "the model's own"}
    return json.dumps({"model": settings.model_name, "strategy": strategy}, ensure_ascii=False)


def batch_labels(store: Store, config: dict[str, Any]) -> list[str]:
    """The labels a batch's predictions can be corrected to (from its model)."""
    settings = BatchSettings.from_config(config)
    if settings.labels:
        return list(settings.labels)
    from longbert.checkpoints import read_manifest

    try:
        return list(read_manifest(Path(settings.model)).labels)
    except (ValueError, OSError):
        pass
    try:
        return list(store.get_model(settings.model_name).labels)
    except LookupError:
        return []


def resume_work(store: Store, batch_id: int, classify_fn: Classify) -> Callable[[JobContext], int]:
    """A job function that finishes an interrupted batch (pending items only)."""

    def work(ctx: JobContext) -> int:
        ctx.set_meta(batch_id=batch_id)
        classify_batch(ctx, store, batch_id, classify_fn, show_finished=True)
        return batch_id

    return work
