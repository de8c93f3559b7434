"""The unlabelled corpus: documents from files (the training readers) and from the store.

Files are read by :mod:`longbert.readers` exactly as training reads them -- txt, md, html, pdf,
docx, JSONL/CSV rows, zip and gz -- with labels ignored. ``--from-store`` adds the documents
already in the database (those of one upload batch with ``--batch``), in the order they were first
classified: classifying a text again does not move it, so a stopped run still resumes (the order
decides the held-out split). Repeated texts count once.
A text longer than the readers' per-document limit (a whole book) is not refused: pre-training
cuts text into sequences anyway, so it is read in parts of at most :data:`PART_CHARS` characters.
Unreadable files stop the run with every one of them named, unless ``skip_bad_files``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from longbert.data import DATASET_LIMITS
from longbert.document import Document
from longbert.pretraining.errors import CorpusError
from longbert.readers import FileError, ReadDocument, TableOptions, read_paths

#: Fewest documents a run accepts: one to learn from and one held out to measure it on.
MIN_DOCUMENTS = 2
#: Bad files named in an error message; the rest are counted.
SHOWN_ERRORS = 10
#: History rows fetched per query when reading the store.
STORE_PAGE = 500
#: Longest corpus document, in characters: the readers' limit per document. A longer text
#: becomes several documents of at most this many (cut at a space where one is near).
PART_CHARS = DATASET_LIMITS.max_chars
#: The readers' limits for a corpus: a data set's, with texts as long as a file may be (they are
#: then cut into parts, above), so a long book is read rather than refused.
CORPUS_LIMITS = dataclasses.replace(DATASET_LIMITS, max_chars=DATASET_LIMITS.max_file_bytes)
#: Orders of the store's texts: by their first classification (stable: every run since it was
#: kept), or newest classification first (runs started before, resumed as they began).
STORE_ORDER_FIRST_CLASSIFIED = "first-classified"
STORE_ORDER_NEWEST_FIRST = "newest-first"
STORE_ORDERS = (STORE_ORDER_FIRST_CLASSIFIED, STORE_ORDER_NEWEST_FIRST)


@dataclass
class Corpus:
    """Distinct documents in reading order, with where they came from and what was skipped."""

    documents: list[Document]
    sources: list[str] = field(default_factory=list)
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)
    #: Texts over :data:`PART_CHARS` characters, each read as several documents.
    split_texts: int = 0

    def __len__(self) -> int:
        return len(self.documents)

    @property
    def sha256(self) -> str:
        """One hash of the corpus: of its documents' text hashes, sorted (order does not count)."""
        digest = hashlib.sha256()
        for text_hash in sorted(d.sha256 for d in self.documents):
            digest.update(text_hash.encode())
        return digest.hexdigest()

    @property
    def order_sha256(self) -> str:
        """One hash of the documents *in reading order*: the order decides the held-out split and
        the packing, so a resumed run must read them in the same order."""
        digest = hashlib.sha256()
        for document in self.documents:
            digest.update(document.sha256.encode())
        return digest.hexdigest()

    def notes(self) -> list[str]:
        notes = []
        if self.split_texts:
            notes.append(
                f"{self.split_texts:,} text(s) over {PART_CHARS:,} characters read in parts of at most "
                f"{PART_CHARS:,} (pre-training cuts text into sequences anyway)."
            )
        if self.duplicates:
            notes.append(f"{self.duplicates:,} repeated text(s) counted once.")
        if self.skipped:
            # The messages end with a full stop of their own: one at the end of the note is enough.
            shown = "; ".join(message.rstrip(". ") for message in self.skipped[:SHOWN_ERRORS])
            more = (
                f" and {len(self.skipped) - SHOWN_ERRORS:,} more" if len(self.skipped) > SHOWN_ERRORS else ""
            )
            notes.append(f"skipped {len(self.skipped):,} unreadable file(s) or row(s): {shown}{more}.")
        return notes


def store_text_hashes(
    store: Any,
    batch_id: int | None,
    order: str = STORE_ORDER_FIRST_CLASSIFIED,
    enough: int | None = None,
) -> tuple[list[str], int]:
    """``(distinct text hashes, classified rows)`` of the store's predictions (batch ``batch_id``'s
    when given), texts in ``order`` (:data:`STORE_ORDERS`). With ``enough``, reading stops once
    that many texts are found (a count, not a corpus: the rows are then a lower bound)."""
    if order not in STORE_ORDERS:
        raise CorpusError(f"Unknown store order {order!r}: expected one of {', '.join(STORE_ORDERS)}.")
    from longbert.store import HistoryFilter

    filters = HistoryFilter(batch_id=batch_id)
    # The history lists newest first; each text keeps that first place (the older versions'
    # order) and its oldest prediction id (the stable order: a new prediction does not change it).
    first_prediction: dict[str, int] = {}
    offset, rows = 0, 0
    while enough is None or len(first_prediction) < enough:
        page = store.history(filters, limit=STORE_PAGE, offset=offset)
        rows = page.total
        for row in page.rows:
            first_prediction[row.document_sha256] = min(
                row.id, first_prediction.get(row.document_sha256, row.id)
            )
        offset += len(page.rows)
        if not page.rows or offset >= page.total:
            break
    hashes = list(first_prediction)
    if order == STORE_ORDER_FIRST_CLASSIFIED:
        hashes.sort(key=first_prediction.__getitem__)
    return hashes, rows


def _store_documents(
    batch_id: int | None, store: Any = None, order: str = STORE_ORDER_FIRST_CLASSIFIED
) -> tuple[list[Document], str]:
    """Every document with a prediction in the store (of batch ``batch_id`` when given), in ``order``."""
    from longbert.store import RecordNotFoundError, get_store

    store = store or get_store()
    if batch_id is not None:
        try:
            store.get_batch(batch_id)
        except RecordNotFoundError as error:
            raise CorpusError(f"--batch {batch_id}: {error} List batches on the Batch page.") from error
    hashes, _ = store_text_hashes(store, batch_id, order)
    where = f"batch {batch_id} of the store" if batch_id is not None else "the store"
    return [store.get_document(h) for h in hashes], f"{where} ({store!r})"


def read_corpus(
    paths: Sequence[str] = (),
    *,
    from_store: bool = False,
    batch_id: int | None = None,
    text_column: str = "text",
    skip_bad_files: bool = False,
    documents: Iterable[Document | str] | None = None,
    store: Any = None,
    store_order: str = STORE_ORDER_FIRST_CLASSIFIED,
) -> Corpus:
    """Read the corpus from ``paths`` (files and folders), the store (texts in ``store_order``),
    and in-memory ``documents``.

    Raises :class:`CorpusError` when nothing is given, a file cannot be read (unless
    ``skip_bad_files``), or fewer than :data:`MIN_DOCUMENTS` distinct documents remain.
    """
    if not paths and not from_store and documents is None:
        raise CorpusError(
            "No corpus: give files or folders of unlabelled text (txt, md, html, pdf, docx, "
            "JSONL/CSV, zip, gz), and/or --from-store for the documents already in the database."
        )
    if batch_id is not None and not from_store:
        raise CorpusError("--batch picks documents from the store: add --from-store.")
    found: list[Document] = []
    errors: list[FileError] = []
    sources: list[str] = []
    if paths:
        for item in read_paths(
            list(paths),
            source="dataset",
            limits=CORPUS_LIMITS,
            table=TableOptions(text_column=text_column, label_column=None, id_column=None),
        ):
            if isinstance(item, ReadDocument):
                found.append(item.document)
            else:
                errors.append(item)
        sources += [str(p) for p in paths]
    if errors and not skip_bad_files:
        lines = [f"  - {e.message}" for e in errors[:SHOWN_ERRORS]]
        if len(errors) > SHOWN_ERRORS:
            lines.append(f"  - and {len(errors) - SHOWN_ERRORS:,} more")
        raise CorpusError(
            f"{len(errors):,} file(s) or row(s) of the corpus cannot be read:\n"
            + "\n".join(lines)
            + "\nFix or remove them, or pass --skip-bad-files to leave them out (they are listed in "
            "the run's notes)."
        )
    stored: list[Document] = []
    if from_store:
        stored, where = _store_documents(batch_id, store, store_order)
        found += stored
        sources.append(where)
    if documents is not None:
        found += [
            d if isinstance(d, Document) else Document(str(d), f"text-{i}", "api")
            for i, d in enumerate(documents)
        ]
        sources.append("in-memory documents")
    parts = [part for document in found for part in text_parts(document)]
    unique = list({d.sha256: d for d in reversed(parts)}.values())[::-1]  # first of each text kept
    split = sum(1 for d in found if d.num_chars > PART_CHARS)
    corpus = Corpus(unique, sources, len(parts) - len(unique), [e.message for e in errors], split)
    if len(corpus) < MIN_DOCUMENTS:
        what = "no documents" if not corpus.documents else "only one distinct document"
        hint = ""
        if from_store and not stored:  # only then: a store with documents has some classified
            holder = "this batch has" if batch_id is not None else "the store has"
            hint = f" ({holder} no classified documents yet)"
        elif corpus.duplicates:
            hint = f" ({corpus.duplicates:,} repeated text(s) counted once)"
        raise CorpusError(
            f"The corpus holds {what}{hint} from {', '.join(sources)}: pre-training needs at least "
            f"{MIN_DOCUMENTS} distinct documents (one is held out to measure the model); give more "
            "unlabelled text." + (f" {len(errors):,} file(s) could not be read." if errors else "")
        )
    return corpus


def text_parts(document: Document, limit: int = PART_CHARS) -> list[Document]:
    """``document``, or when it is longer than ``limit`` characters its parts of at most ``limit``
    (each cut after the last space or line break in its second half; named "part k of n")."""
    if document.num_chars <= limit:
        return [document]
    text, spans, start = document.text, [], 0
    while len(text) - start > limit:
        end = max(text.rfind(" ", start, start + limit), text.rfind("\n", start, start + limit))
        end = end if end > start + limit // 2 else start + limit
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    texts = [piece for piece in (text[a:b].strip() for a, b in spans) if piece]
    return [
        Document(piece, f"{document.name} (part {k} of {len(texts)})", document.source, notes=document.notes)
        for k, piece in enumerate(texts, 1)
    ]
