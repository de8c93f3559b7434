"""Document → tokens, once: WordPiece ids with character offsets, words and sentences.

Every strategy works on token *positions* into this one tokenisation of the whole document, so
the character spans the model saw, and the attention it paid, always map back to the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from transformers import PreTrainedTokenizerBase

from longbert.document import Document
from longbert.sentences import split_sentences


@dataclass
class TokenizedDocument:
    """A document's tokens (without [CLS]/[SEP]) and how they map onto its text.

    Shapes (``n`` tokens, ``w`` words, ``s`` sentences):
    ``input_ids`` ``[n]`` int64; ``offsets`` ``[n, 2]`` int32 character spans;
    ``word_index`` ``[n]`` int32, the word each token belongs to; ``word_spans`` ``[w, 2]`` int32;
    ``sentence_spans`` ``[s, 2]`` int32; ``token_sentence`` ``[n]`` int32, each token's sentence.

    Sentences are split on first use: a prediction that reads only tokens (truncate or chunk,
    ``attention="none"``) never pays for sentence splitting; key sentences, sparse's sentence
    globals and attention summaries ask for them and get them once.
    """

    document: Document
    input_ids: np.ndarray
    offsets: np.ndarray
    word_index: np.ndarray
    word_spans: np.ndarray
    _sentences: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def sentence_spans(self) -> np.ndarray:
        return self._split_sentences()[0]

    @property
    def token_sentence(self) -> np.ndarray:
        return self._split_sentences()[1]

    def _split_sentences(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sentences is None:
            self._sentences = _sentences(self.document.text, self.offsets)
        return self._sentences

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def text(self) -> str:
        return self.document.text

    def sentence_token_ranges(self) -> np.ndarray:
        """``[s, 2]`` half-open token ranges of each sentence (empty ranges for token-less ones)."""
        s = self.sentence_spans.shape[0]
        starts = np.searchsorted(self.token_sentence, np.arange(s), side="left")
        ends = np.searchsorted(self.token_sentence, np.arange(s), side="right")
        return np.stack([starts, ends], axis=1).astype(np.int64)

    def char_spans(self, positions: np.ndarray) -> list[tuple[int, int]]:
        """Merged character spans covered by the given token positions.

        Consecutive positions merge into one span (whitespace between them included), so
        ``head`` truncation is one span and ``head+tail`` two.
        """
        if len(positions) == 0:
            return []
        pos = np.unique(np.asarray(positions, dtype=np.int64))
        breaks = np.nonzero(np.diff(pos) != 1)[0]
        run_starts = np.concatenate([[0], breaks + 1])
        run_ends = np.concatenate([breaks, [len(pos) - 1]])
        return [
            (int(self.offsets[pos[a], 0]), int(self.offsets[pos[b], 1]))
            for a, b in zip(run_starts, run_ends, strict=True)
        ]


def tokenize_document(document: Document, tokenizer: PreTrainedTokenizerBase) -> TokenizedDocument:
    """Tokenise the whole document (no length limit) and split it into words and sentences."""
    encoding = tokenizer(
        document.text,
        add_special_tokens=False,
        return_offsets_mapping=True,
        truncation=False,
        # A document that contains the text "[SEP]" or "[CLS]" (a pasted model input, a tutorial)
        # must not get real control tokens in its content: only collate adds those, by id.
        split_special_tokens=True,
        verbose=False,  # the whole point is going past model_max_length: don't warn about it
    )
    input_ids = np.asarray(encoding["input_ids"], dtype=np.int64)
    offsets = np.asarray(encoding["offset_mapping"], dtype=np.int32).reshape(-1, 2)
    raw_words = encoding.word_ids()
    word_ids = np.asarray([-1 if w is None else w for w in raw_words], dtype=np.int64)
    # Pre-tokenizer word ids are per-text and increasing; renumber densely so that words with no
    # surviving token (e.g. control characters) leave no holes.
    if len(word_ids):
        change = np.concatenate([[True], word_ids[1:] != word_ids[:-1]])
        word_index = (np.cumsum(change) - 1).astype(np.int32)
        first = np.nonzero(change)[0]
        last = np.concatenate([first[1:] - 1, [len(word_ids) - 1]])
        word_spans = np.stack([offsets[first, 0], offsets[last, 1]], axis=1).astype(np.int32)
    else:
        word_index = np.zeros(0, dtype=np.int32)
        word_spans = np.zeros((0, 2), dtype=np.int32)

    return TokenizedDocument(
        document=document,
        input_ids=input_ids,
        offsets=offsets,
        word_index=word_index,
        word_spans=word_spans,
    )


def _sentences(text: str, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sentence spans ``[s, 2]`` of ``text`` and the sentence of each token ``[n]``."""
    sentence_spans = np.asarray(split_sentences(text), dtype=np.int32).reshape(-1, 2)
    if len(sentence_spans) == 0:
        sentence_spans = np.asarray([[0, len(text)]], dtype=np.int32)
    # A token belongs to the last sentence starting at or before it.
    token_sentence = (
        (np.searchsorted(sentence_spans[:, 0], offsets[:, 0], side="right") - 1).clip(min=0).astype(np.int32)
    )
    return sentence_spans, token_sentence
