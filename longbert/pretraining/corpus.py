"""The unlabelled corpus: documents from files (the training readers) and from the store.

Files are read by :mod:`longbert.readers` exactly as training reads them -- txt, md, html, pdf,
docx, JSONL/CSV rows, zip and gz -- with labels ignored. ``--from-store`` adds the documents
already in the database (those of one upload batch with ``--batch``). Repeated texts count once.
Unreadable files stop the run with every one of them named, unless ``skip_bad_files``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from longbert.data import DATASET_LIMITS
from longbert.document import Document
from longbert.pretraining.errors import CorpusError, PretrainError
from longbert.pretraining.packing import PackedSequence, pack_dense, pack_long
from longbert.readers import FileError, ReadDocument, TableOptions, read_paths

if TYPE_CHECKING:
    from longbert.pretraining.config import PretrainConfig

#: Fewest documents a run accepts: one to learn from and one held out to measure it on.
MIN_DOCUMENTS = 2
#: Bad files named in an error message; the rest are counted.
SHOWN_ERRORS = 10
#: History rows fetched per query when reading the store.
STORE_PAGE = 500


@dataclass
class Corpus:
    """Distinct documents in reading order, with where they came from and what was skipped."""

    documents: list[Document]
    sources: list[str] = field(default_factory=list)
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.documents)

    @property
    def sha256(self) -> str:
        """One hash of the corpus: of its documents' text hashes, sorted (order does not count)."""
        digest = hashlib.sha256()
        for text_hash in sorted(d.sha256 for d in self.documents):
            digest.update(text_hash.encode())
        return digest.hexdigest()

    def notes(self) -> list[str]:
        notes = []
        if self.duplicates:
            notes.append(f"{self.duplicates:,} repeated text(s) counted once.")
        if self.skipped:
            shown = "; ".join(self.skipped[:SHOWN_ERRORS])
            more = (
                f" and {len(self.skipped) - SHOWN_ERRORS:,} more" if len(self.skipped) > SHOWN_ERRORS else ""
            )
            notes.append(f"skipped {len(self.skipped):,} unreadable file(s) or row(s): {shown}{more}.")
        return notes


def _store_documents(batch_id: int | None, store: Any = None) -> tuple[list[Document], str]:
    """Every document with a prediction in the store (of batch ``batch_id`` when given)."""
    from longbert.store import HistoryFilter, RecordNotFoundError, get_store

    store = store or get_store()
    if batch_id is not None:
        try:
            store.get_batch(batch_id)
        except RecordNotFoundError as error:
            raise CorpusError(f"--batch {batch_id}: {error} List batches on the Batch page.") from error
    filters = HistoryFilter(batch_id=batch_id)
    hashes: dict[str, None] = {}
    offset = 0
    while True:
        page = store.history(filters, limit=STORE_PAGE, offset=offset)
        hashes.update(dict.fromkeys(row.document_sha256 for row in page.rows))
        offset += len(page.rows)
        if not page.rows or offset >= page.total:
            break
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
) -> Corpus:
    """Read the corpus from ``paths`` (files and folders), the store, and in-memory ``documents``.

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
            limits=DATASET_LIMITS,
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
    if from_store:
        stored, where = _store_documents(batch_id, store)
        found += stored
        sources.append(where)
    if documents is not None:
        found += [
            d if isinstance(d, Document) else Document(str(d), f"text-{i}", "api")
            for i, d in enumerate(documents)
        ]
        sources.append("in-memory documents")
    unique = list({d.sha256: d for d in reversed(found)}.values())[::-1]  # first of each text kept
    corpus = Corpus(unique, sources, len(found) - len(unique), [e.message for e in errors])
    if len(corpus) < MIN_DOCUMENTS:
        what = "no documents" if not corpus.documents else "only one distinct document"
        hint = " (the store has no classified documents yet)" if from_store and not paths else ""
        raise CorpusError(
            f"The corpus holds {what}{hint} from {', '.join(sources)}: pre-training needs at least "
            f"{MIN_DOCUMENTS} distinct documents (one is held out to measure the model); give more "
            "unlabelled text." + (f" {len(errors):,} file(s) could not be read." if errors else "")
        )
    return corpus


def split_heldout(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out document indices (sorted): a seeded ``fraction`` of the documents,
    at least one when ``fraction > 0``, always leaving one to train on."""
    if fraction <= 0:
        return np.arange(count), np.zeros(0, dtype=np.int64)
    order = np.random.default_rng([seed, count]).permutation(count)
    size = min(count - 1, max(1, round(fraction * count)))
    return np.sort(order[size:]), np.sort(order[:size])


def tokenize_texts(
    documents: Sequence[Document], tokenizer: Any, with_sentences: bool
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Token ids of each whole document (no special tokens, no length limit), and with
    ``with_sentences`` each sentence's first token position (the sentence splitter of
    :func:`longbert.tokenization.tokenize_document`, which the sparse strategy uses)."""
    if with_sentences:
        from longbert.tokenization import tokenize_document

        tokenized = [tokenize_document(d, tokenizer) for d in documents]
        starts = []
        for doc in tokenized:
            ranges = doc.sentence_token_ranges()
            starts.append(ranges[ranges[:, 0] < ranges[:, 1], 0].astype(np.int64))
        return [t.input_ids for t in tokenized], starts
    ids: list[np.ndarray] = []
    for first in range(0, len(documents), 64):
        texts = [d.text for d in documents[first : first + 64]]
        # As tokenize_document reads documents: typed "[SEP]"/"[MASK]" are text, not control tokens.
        encoded = tokenizer(
            texts, add_special_tokens=False, truncation=False, split_special_tokens=True, verbose=False
        )
        ids += [np.asarray(x, dtype=np.int64) for x in encoded["input_ids"]]
    return ids, None


@dataclass
class PackedCorpus:
    """Training and held-out sequences, and the corpus' size."""

    train: list[PackedSequence]
    heldout: list[PackedSequence]
    documents: int
    heldout_documents: int
    tokens: int


def pack_corpus(config: PretrainConfig, documents: list[Document], tokenizer: Any) -> PackedCorpus:
    """Held-out split, tokenisation and packing (see :mod:`~longbert.pretraining.packing`)."""
    train_idx, held_idx = split_heldout(len(documents), config.heldout_fraction, config.seed)
    ids, starts = tokenize_texts(documents, tokenizer, with_sentences=config.long and config.global_sentences)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id

    def pack(indices: np.ndarray) -> list[PackedSequence]:
        kept = [i for i in indices.tolist() if len(ids[i])]
        if config.long:
            chosen = None if starts is None else [starts[i] for i in kept]
            return pack_long([ids[i] for i in kept], config.content_tokens, cls_id, sep_id, chosen)
        return pack_dense([ids[i] for i in kept], config.content_tokens, cls_id, sep_id)

    train = pack(train_idx)
    if not train:
        raise PretrainError("The training documents hold no tokens the tokenizer can read.")
    return PackedCorpus(
        train,
        pack(held_idx)[: config.eval_sequences],
        len(documents),
        len(held_idx),
        int(sum(len(x) for x in ids)),
    )
