"""Training-side data flow: documents are tokenised and cut once, then batched every epoch.

Tokenisation and the strategy (TextRank for key sentences, window cutting for chunks) run once
per document before the first epoch; epochs only shuffle and pad. Batches are *bucketed*: the
shuffled documents are grouped in pools of ``32 * batch_size``, sorted by length inside a pool,
cut into batches, and the batches shuffled again -- random order, little padding (padding is
most of the waste on a CPU). The plan depends only on ``(seed, epoch)``, so every rank of a
distributed run computes the same plan and takes its own share, and a resumed epoch can skip
the batches already done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from longbert.document import Document
from longbert.strategies import Encoded, Strategy
from longbert.tokenization import tokenize_document

#: Documents per bucketing pool, in batches.
POOL_BATCHES = 32


@dataclass
class EncodedSet:
    """Documents ready for the model: ``encoded[i]`` with target ``targets[i]``.

    ``targets``: ``[N]`` int64 label indices, or ``[N, L]`` float32 indicators (multi-label).
    """

    names: list[str]
    encoded: list[Encoded]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.encoded)

    def lengths(self) -> np.ndarray:
        """``[N]`` tokens each document feeds the model (all windows)."""
        return np.asarray([sum(len(w) for w in e.windows) for e in self.encoded], dtype=np.int64)


def encode_set(
    documents: Sequence[Document],
    targets: np.ndarray,
    tokenizer: object,
    strategy: Strategy,
    progress: Callable[[int], None] | None = None,
) -> EncodedSet:
    """Tokenise every document and apply the strategy (``progress(n)`` after each document)."""
    encoded = []
    for document in documents:
        encoded.append(strategy.encode(tokenize_document(document, tokenizer)))  # type: ignore[arg-type]
        if progress is not None:
            progress(1)
    return EncodedSet([d.name for d in documents], encoded, targets)


def plan_epoch(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> list[np.ndarray]:
    """This rank's batches (arrays of document indices) for ``epoch``.

    Every rank gets the same number of batches (the list is padded by wrapping around, as
    ``DistributedSampler`` does), which DistributedDataParallel needs.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    batches = [batches[i] for i in rng.permutation(len(batches))]
    if world_size > 1:
        padded = -(-len(batches) // world_size) * world_size
        batches = [batches[i % len(batches)] for i in range(padded)]
        batches = batches[rank::world_size]
    return batches


def cap_windows(encoded: Encoded, max_windows: int, rng: np.random.Generator) -> Encoded:
    """At most ``max_windows`` windows (a random subset kept in document order); others as is.

    Chunk mode only: a 100-window document would otherwise make one training step 100 forward
    passes deep. Over epochs different subsets are drawn, so every part of the document is seen.
    """
    if encoded.mode != "chunks" or max_windows <= 0 or len(encoded.windows) <= max_windows:
        return encoded
    keep = np.sort(rng.choice(len(encoded.windows), size=max_windows, replace=False))
    return Encoded(doc=encoded.doc, mode=encoded.mode, windows=[encoded.windows[i] for i in keep])


def batch_items(
    data: EncodedSet, indices: np.ndarray, seed: int, epoch: int, max_windows: int
) -> tuple[list[Encoded], torch.Tensor]:
    """The (window-capped) encoded documents of one batch and their targets tensor."""
    items = []
    for index in indices.tolist():
        rng = np.random.default_rng([seed, epoch, index])
        items.append(cap_windows(data.encoded[index], max_windows, rng))
    targets = torch.from_numpy(np.ascontiguousarray(data.targets[indices]))
    return items, targets


def scoring_batches(
    data: EncodedSet, indices: np.ndarray, max_rows: int, max_tokens: int
) -> list[np.ndarray]:
    """Length-sorted batches for scoring: at most ``max_rows`` windows (or ``max_tokens`` tokens
    in ``long`` mode) per batch -- a single document bigger than that forms its own batch."""
    lengths = data.lengths()
    order = indices[np.argsort(lengths[indices], kind="stable")]
    batches: list[list[int]] = []
    rows = tokens = 0
    for index in order.tolist():
        enc = data.encoded[index]
        n_rows, n_tokens = len(enc.windows), int(lengths[index])
        full = tokens + n_tokens > max_tokens if enc.mode == "long" else rows + n_rows > max_rows
        if batches and batches[-1] and full:
            batches.append([])
            rows = tokens = 0
        if not batches:
            batches.append([])
        batches[-1].append(index)
        rows += n_rows
        tokens += n_tokens
    return [np.asarray(b, dtype=np.int64) for b in batches if b]
