"""Documents → training sequences, and sequences → masked model inputs.

Two layouts, one per attention mode:

* **dense** (BERT's 512 positions): documents are *packed* -- concatenated, a [SEP] between two
  documents, and cut into sequences of exactly ``max_tokens`` content tokens, each framed as
  ``[CLS] ... [SEP]`` (RoBERTa's FULL-SENTENCES input). No position is padding except in the very
  last sequence, so no compute is spent on padding.
* **long** (sparse attention): one document per sequence, so document boundaries are respected;
  a document longer than ``max_tokens`` becomes several sequences of consecutive pieces. With
  ``global_sentences`` each sentence's first token gets global attention (as the sparse strategy
  gives it), besides [CLS], which the model always makes global.

Sequences are built once; every epoch masks them again (:mod:`~longbert.pretraining.masking`)
with a generator seeded from ``(seed, epoch, sequence index)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from longbert.pretraining.masking import IGNORE, MaskingSpec, MaskVocabulary, mask_sequence
from longbert.training.distributed import rank_share

#: Sequences per bucketing pool (long mode), in batches: batches of similar lengths, little padding.
POOL_BATCHES = 32


@dataclass
class PackedSequence:
    """One training sequence: ``input_ids`` ``[n]`` int64 with [CLS] first and [SEP] last;
    ``global_positions`` positions (in the sequence) of extra global tokens; ``documents`` the
    indices of the documents it holds pieces of."""

    input_ids: np.ndarray
    documents: tuple[int, ...]
    global_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def pack_dense(
    documents: Sequence[np.ndarray], max_tokens: int, cls_id: int, sep_id: int
) -> list[PackedSequence]:
    """Pack documents' token ids (no special tokens) into ``[CLS] content [SEP]`` sequences of
    ``max_tokens`` content tokens; a [SEP] separates two documents inside a sequence (one never
    starts a sequence), and a document that does not fit continues in the next sequence."""
    if max_tokens < 2:
        raise ValueError(f"max_tokens must be at least 2, got {max_tokens}")
    sequences: list[PackedSequence] = []
    parts: list[np.ndarray] = []
    held: list[int] = []
    used = 0
    separator = np.asarray([sep_id], dtype=np.int64)

    def flush() -> None:
        nonlocal parts, held, used
        if used:
            body = np.concatenate([[cls_id], *parts, [sep_id]]).astype(np.int64)
            sequences.append(PackedSequence(body, tuple(dict.fromkeys(held))))
        parts, held, used = [], [], 0

    for index, tokens in enumerate(documents):
        tokens = np.asarray(tokens, dtype=np.int64)
        position = 0
        while position < len(tokens):
            if used:  # a new document after another: a [SEP] and at least one of its tokens
                if max_tokens - used < 2:
                    flush()
                else:
                    parts.append(separator)
                    used += 1
            take = min(max_tokens - used, len(tokens) - position)
            parts.append(tokens[position : position + take])
            held.append(index)
            used += take
            position += take
            if used == max_tokens:
                flush()
    flush()
    return sequences


def pack_long(
    documents: Sequence[np.ndarray],
    max_tokens: int,
    cls_id: int,
    sep_id: int,
    sentence_starts: Sequence[np.ndarray] | None = None,
) -> list[PackedSequence]:
    """One ``[CLS] piece [SEP]`` sequence per ``max_tokens`` consecutive tokens of each document.

    ``sentence_starts``: per document, token positions (into the document) that get global
    attention; kept for the piece they fall in, shifted by the piece start and [CLS].
    """
    sequences = []
    for index, tokens in enumerate(documents):
        tokens = np.asarray(tokens, dtype=np.int64)
        starts = None if sentence_starts is None else np.asarray(sentence_starts[index], dtype=np.int64)
        for first in range(0, len(tokens), max_tokens):
            piece = tokens[first : first + max_tokens]
            body = np.concatenate([[cls_id], piece, [sep_id]]).astype(np.int64)
            globals_ = np.zeros(0, dtype=np.int64)
            if starts is not None:
                inside = starts[(starts >= first) & (starts < first + len(piece))]
                globals_ = inside - first + 1
            sequences.append(PackedSequence(body, (index,), globals_))
    return sequences


def plan_epoch(
    lengths: np.ndarray,
    batch_size: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    bucket: bool = False,
) -> list[np.ndarray]:
    """This rank's micro-batches (arrays of sequence indices) for ``epoch``: a shuffle seeded by
    ``(seed, epoch)``, so every rank computes the same plan and takes every ``world_size``-th batch
    (the list wraps round so all ranks get as many, as DistributedDataParallel needs).

    ``bucket``: sort by length inside pools of ``POOL_BATCHES`` batches (sequences of different
    lengths: long mode), then shuffle the batches.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if bucket:
        pool = batch_size * POOL_BATCHES
        pools = [order[s : s + pool] for s in range(0, len(order), pool)]
        order = np.concatenate([p[np.argsort(lengths[p], kind="stable")] for p in pools])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if bucket:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return rank_share(batches, rank, world_size)


@dataclass
class MlmBatch:
    """Model inputs of ``B`` masked sequences padded to ``N`` tokens.

    ``input_ids``/``attention_mask``/``labels`` ``[B, N]`` int64 (labels :data:`IGNORE` where
    nothing is predicted); ``global_attention_mask`` ``[B, N]`` (long mode) or None.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    global_attention_mask: torch.Tensor | None = None

    @property
    def num_tokens(self) -> int:
        return int(self.attention_mask.sum())

    @property
    def num_predictions(self) -> int:
        return int((self.labels != IGNORE).sum())

    def to(self, device: torch.device) -> MlmBatch:
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return MlmBatch(
            move(self.input_ids),
            move(self.attention_mask),
            move(self.labels),
            move(self.global_attention_mask),
        )


def make_batch(
    sequences: Sequence[PackedSequence],
    indices: np.ndarray,
    vocab: MaskVocabulary,
    spec: MaskingSpec,
    seed: int,
    epoch: int,
    pad_id: int,
    long: bool = False,
    global_masked_share: float = 0.0,
) -> MlmBatch:
    """Mask sequences ``indices`` afresh (generator ``(seed, epoch, index)``) and pad them.

    Long mode: global attention on each sequence's sentence starts and, with
    ``global_masked_share``, on that share of its selected positions, so global tokens take part
    in the loss and the last layer's ``*_global`` projections are trained too (Longformer's MLM
    never trained them: its global tokens were never predicted).
    """
    rows = [sequences[i] for i in indices.tolist()]
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    globals_ = torch.zeros((len(rows), width), dtype=torch.long) if long else None
    for row, (index, sequence) in enumerate(zip(indices.tolist(), rows, strict=True)):
        rng = np.random.default_rng([seed, epoch, index])
        masked = mask_sequence(sequence.input_ids, vocab, spec, rng)
        n = len(sequence)
        input_ids[row, :n] = torch.from_numpy(masked.input_ids)
        labels[row, :n] = torch.from_numpy(masked.labels)
        attention[row, :n] = 1
        if globals_ is not None:
            globals_[row, torch.from_numpy(sequence.global_positions)] = 1
            if global_masked_share > 0:
                chosen = np.flatnonzero(masked.selected)
                # At least one, so every sequence's loss reaches the global projections.
                count = min(len(chosen), max(1, round(global_masked_share * len(chosen))))
                globals_[row, torch.from_numpy(rng.choice(chosen, size=count, replace=False))] = 1
    return MlmBatch(input_ids, attention, labels, globals_)
