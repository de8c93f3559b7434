"""Training-side data flow: documents are prepared once, then grouped every epoch.

Preparing (tokenisation and the strategy's selection: TextRank for key sentences, windows for
chunks -- :func:`longbert.inputs.prepare`, as prediction does) runs once per document before
the first epoch; epochs only shuffle and pad. Each epoch is planned as *groups* of at most
``batch_size`` documents, one forward pass each, *bucketed*: the shuffled documents are pooled
by ``32 * batch_size``, sorted by length inside a pool, cut into groups, and the groups shuffled
again -- random order, little padding (padding is most of the waste on a CPU). The plan depends
only on ``(seed, epoch)``, so every rank of a distributed run computes the same plan and takes
its own share, and a resumed epoch can skip the groups already done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from longbert.document import Document
from longbert.inputs import prepare
from longbert.strategies import Selection, Strategy
from longbert.training.distributed import rank_share

#: Documents per bucketing pool, in groups.
POOL_GROUPS = 32


@dataclass
class PreparedSet:
    """Documents ready for the model: ``selections[i]`` with target ``targets[i]``.

    ``targets``: ``[N]`` int64 label indices, or ``[N, L]`` float32 indicators (multi-label).
    """

    names: list[str]
    selections: list[Selection]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.selections)

    def lengths(self) -> np.ndarray:
        """``[N]`` tokens each document feeds the model (all windows)."""
        return np.asarray([sum(len(w) for w in s.windows) for s in self.selections], dtype=np.int64)


def prepare_set(
    documents: Sequence[Document],
    targets: np.ndarray,
    tokenizer: PreTrainedTokenizerBase,
    strategy: Strategy,
    progress: Callable[[int], None] | None = None,
) -> PreparedSet:
    """Prepare every document (``progress(n)`` after each one)."""
    selections = []
    for document in documents:
        selections.append(prepare(document, tokenizer, strategy))
        if progress is not None:
            progress(1)
    return PreparedSet([d.name for d in documents], selections, targets)


def plan_epoch(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> list[np.ndarray]:
    """This rank's groups (arrays of at most ``batch_size`` document indices) for ``epoch``.

    Every rank gets the same number of groups (the list is padded by wrapping around, as
    ``DistributedSampler`` does), which DistributedDataParallel needs.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL_GROUPS
    groups: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        part = order[start : start + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        groups.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    groups = [groups[i] for i in rng.permutation(len(groups))]
    return rank_share(groups, rank, world_size)


def cap_windows(selection: Selection, max_windows: int, rng: np.random.Generator) -> Selection:
    """At most ``max_windows`` windows (a random subset kept in document order); others as is.

    Chunk mode only: a 100-window document would otherwise make one training step 100 forward
    passes deep. Over epochs different subsets are drawn, so every part of the document is seen.
    """
    if selection.mode != "chunks" or max_windows <= 0 or len(selection.windows) <= max_windows:
        return selection
    keep = np.sort(rng.choice(len(selection.windows), size=max_windows, replace=False))
    return Selection(doc=selection.doc, mode=selection.mode, windows=[selection.windows[i] for i in keep])


def group_items(
    data: PreparedSet, indices: np.ndarray, seed: int, epoch: int, max_windows: int
) -> tuple[list[Selection], torch.Tensor]:
    """The (window-capped) selections of one group and their targets tensor."""
    items = []
    for index in indices.tolist():
        rng = np.random.default_rng([seed, epoch, index])
        items.append(cap_windows(data.selections[index], max_windows, rng))
    targets = torch.from_numpy(np.ascontiguousarray(data.targets[indices]))
    return items, targets


def scoring_groups(
    data: PreparedSet, indices: np.ndarray, max_rows: int, max_tokens: int
) -> list[np.ndarray]:
    """Length-sorted groups for scoring: at most ``max_rows`` windows (or ``max_tokens`` tokens
    in ``long`` mode) per group -- a single document bigger than that forms its own group."""
    lengths = data.lengths()
    order = indices[np.argsort(lengths[indices], kind="stable")]
    groups: list[list[int]] = []
    rows = tokens = 0
    for index in order.tolist():
        selection = data.selections[index]
        n_rows, n_tokens = len(selection.windows), int(lengths[index])
        full = tokens + n_tokens > max_tokens if selection.mode == "long" else rows + n_rows > max_rows
        if groups and groups[-1] and full:
            groups.append([])
            rows = tokens = 0
        if not groups:
            groups.append([])
        groups[-1].append(index)
        rows += n_rows
        tokens += n_tokens
    return [np.asarray(g, dtype=np.int64) for g in groups if g]
