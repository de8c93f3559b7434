"""The corpus as training and held-out sequences: held-out split, tokenisation and packing.

The held-out slice is a seeded ``heldout_fraction`` of the *documents* (:func:`split_heldout`).
Documents differ in length, though: one long document drawn into that slice (a book next to
short notes) would take most of the corpus out of training. So when the drawn documents hold more
than :data:`HELDOUT_TOKEN_FACTOR` times ``heldout_fraction`` of the corpus' tokens, the slice is
drawn by *tokens* instead (:func:`split_segments`): documents in the same seeded order, held out
whole while they fit ``heldout_fraction`` of the tokens, and the one that does not fit cut -- its
end held out, its beginning trained on. A corpus of many documents of similar sizes never comes
near the factor, so its split is the document split, as it always was. A run started before the
split by tokens existed keeps the document split when resumed (:data:`SPLIT_DOCUMENTS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from longbert.document import Document
from longbert.pretraining.errors import PretrainError
from longbert.pretraining.packing import PackedSequence, pack_dense, pack_long

if TYPE_CHECKING:
    from longbert.pretraining.config import PretrainConfig

#: The held-out documents may hold at most this many times ``heldout_fraction`` of the corpus'
#: tokens; past it, the held-out slice is drawn by tokens (see the module docstring).
HELDOUT_TOKEN_FACTOR = 3.0
#: Held-out split kinds a run keeps in its state: whole documents only (runs started before the
#: split by tokens existed, resumed as they began), or whole documents unless the drawn ones hold
#: too many tokens (every run since).
SPLIT_DOCUMENTS = "documents"
SPLIT_DOCUMENTS_OR_TOKENS = "documents-or-tokens"
SPLIT_KINDS = (SPLIT_DOCUMENTS, SPLIT_DOCUMENTS_OR_TOKENS)


@dataclass(frozen=True)
class Segment:
    """Tokens ``[start, end)`` of document ``document`` (all of it, or a cut part)."""

    document: int
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def split_heldout(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out document indices (sorted): a seeded ``fraction`` of the documents,
    at least one when ``fraction > 0``, always leaving one to train on."""
    if fraction <= 0:
        return np.arange(count), np.zeros(0, dtype=np.int64)
    order = np.random.default_rng([seed, count]).permutation(count)
    size = min(count - 1, max(1, round(fraction * count)))
    return np.sort(order[size:]), np.sort(order[:size])


def split_segments(
    lengths: Sequence[int], fraction: float, seed: int, kind: str = SPLIT_DOCUMENTS_OR_TOKENS
) -> tuple[list[Segment], list[Segment]]:
    """Training and held-out segments (in document order) of documents of ``lengths`` tokens:
    :func:`split_heldout`'s documents, or (``kind`` :data:`SPLIT_DOCUMENTS_OR_TOKENS`) a
    ``fraction`` of the tokens when those documents hold more than :data:`HELDOUT_TOKEN_FACTOR`
    times ``fraction`` of them."""
    if kind not in SPLIT_KINDS:
        raise PretrainError(f"Unknown held-out split {kind!r}: expected one of {', '.join(SPLIT_KINDS)}.")
    sizes = np.asarray(lengths, dtype=np.int64)
    train_idx, held_idx = split_heldout(len(sizes), fraction, seed)
    total = int(sizes.sum())
    documents_fit = int(sizes[held_idx].sum()) <= HELDOUT_TOKEN_FACTOR * fraction * total
    if kind == SPLIT_DOCUMENTS or documents_fit or total < 2:
        return _whole(sizes, train_idx.tolist()), _whole(sizes, held_idx.tolist())
    return _split_by_tokens(sizes, fraction, seed)


def _whole(sizes: np.ndarray, indices: list[int]) -> list[Segment]:
    return [Segment(i, 0, int(sizes[i])) for i in indices]


def _split_by_tokens(sizes: np.ndarray, fraction: float, seed: int) -> tuple[list[Segment], list[Segment]]:
    """Hold out ``fraction`` of the tokens (at least one, never all): documents in
    :func:`split_heldout`'s seeded order, whole while they fit, the last one's end."""
    total = int(sizes.sum())
    remaining = min(total - 1, max(1, round(fraction * total)))
    order = np.random.default_rng([seed, len(sizes)]).permutation(len(sizes))
    held: list[Segment] = []
    trained_to = {i: int(n) for i, n in enumerate(sizes)}  # where each document's training part ends
    for index in order.tolist():
        size = int(sizes[index])
        if not size:
            continue
        start = max(0, size - remaining)
        held.append(Segment(index, start, size))
        trained_to[index] = start
        remaining -= size - start
        if not remaining:
            break
    train = [Segment(i, 0, end) for i, end in trained_to.items() if end > 0 or not sizes[i]]
    return train, sorted(held, key=lambda s: s.document)


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
    """Training and held-out sequences, and the corpus' size: ``tokens`` in all, of which
    ``training_tokens`` are trained on and ``heldout_tokens`` held out; ``heldout_documents``
    documents give held-out text (``heldout_cut``: one of them only its end, the split by tokens)."""

    train: list[PackedSequence]
    heldout: list[PackedSequence]
    documents: int
    heldout_documents: int
    tokens: int
    training_tokens: int = 0
    heldout_tokens: int = 0
    heldout_cut: bool = False

    def notes(self) -> list[str]:
        """What the split did that a user would not expect (empty: the usual document split)."""
        if not self.heldout_cut:
            return []
        return [
            f"The documents drawn for the held-out slice held over {HELDOUT_TOKEN_FACTOR:g}x "
            f"--heldout-fraction of the tokens (a long document among them), so a share of the tokens "
            f"is held out instead: {self.heldout_tokens:,} of {self.tokens:,}, the end of one document "
            "among them (its beginning is trained on)."
        ]


def pack_corpus(
    config: PretrainConfig,
    documents: list[Document],
    tokenizer: Any,
    split: str = SPLIT_DOCUMENTS_OR_TOKENS,
) -> PackedCorpus:
    """Tokenisation, held-out split of kind ``split`` (module docstring) and packing
    (:mod:`~longbert.pretraining.packing`)."""
    ids, starts = tokenize_texts(documents, tokenizer, with_sentences=config.long and config.global_sentences)
    lengths = [len(x) for x in ids]
    train_part, held_part = split_segments(lengths, config.heldout_fraction, config.seed, split)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id

    def pack(segments: list[Segment]) -> list[PackedSequence]:
        kept = [s for s in segments if len(s)]
        pieces = [ids[s.document][s.start : s.end] for s in kept]
        if config.long:
            chosen = None
            if starts is not None:  # a cut part keeps the sentence starts inside it, shifted
                found = [(starts[s.document], s) for s in kept]
                chosen = [x[(x >= s.start) & (x < s.end)] - s.start for x, s in found]
            return pack_long(pieces, config.content_tokens, cls_id, sep_id, chosen)
        return pack_dense(pieces, config.content_tokens, cls_id, sep_id)

    train = pack(train_part)
    if not train:
        raise PretrainError("The training documents hold no tokens the tokenizer can read.")
    return PackedCorpus(
        train,
        pack(held_part)[: config.eval_sequences],
        len(documents),
        len(held_part),
        int(sum(len(x) for x in ids)),
        sum(len(s) for s in train_part),
        sum(len(s) for s in held_part),
        any(s.start > 0 for s in held_part),
    )
