"""Model inputs: turning strategies' :class:`Encoded` into padded tensors.

A batch holds documents of one strategy mode. In ``chunks`` mode a document contributes several
windows (rows); ``window_doc`` says which document each row belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from longbert.strategies.base import Encoded, Mode


@dataclass
class ModelBatch:
    """Padded model inputs for ``B`` documents spread over ``W`` rows of length ``T``.

    ``input_ids``/``attention_mask`` ``[W, T]`` int64 ([CLS] content [SEP] padding);
    ``global_attention_mask`` ``[W, T]`` (``long`` mode) or None; ``window_doc`` ``[W]`` int64;
    ``labels`` ``[B]`` int64 (single-label) or ``[B, L]`` float (multi-label) or None.
    """

    mode: Mode
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    window_doc: torch.Tensor
    num_docs: int
    global_attention_mask: torch.Tensor | None = None
    attention_window: int | None = None
    pooling: str = "mean"
    labels: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> ModelBatch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return ModelBatch(
            mode=self.mode,
            input_ids=self.input_ids.to(device, non_blocking=True),
            attention_mask=self.attention_mask.to(device, non_blocking=True),
            window_doc=self.window_doc.to(device, non_blocking=True),
            num_docs=self.num_docs,
            global_attention_mask=move(self.global_attention_mask),
            attention_window=self.attention_window,
            pooling=self.pooling,
            labels=move(self.labels),
        )


def window_rows(encoded: Encoded) -> list[np.ndarray]:
    """The model token ids of each window: ``[CLS] ids[positions] [SEP]``."""
    return [encoded.doc.input_ids[positions] for positions in encoded.windows]


def collate(
    encoded: list[Encoded],
    *,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    attention_window: int | None = None,
    pooling: str = "mean",
    labels: torch.Tensor | None = None,
    pad_to_multiple_of: int = 8,
) -> ModelBatch:
    """Pad a list of encoded documents (all of one mode) into a :class:`ModelBatch`."""
    if not encoded:
        raise ValueError("collate needs at least one encoded document")
    modes = {e.mode for e in encoded}
    if len(modes) != 1:
        raise ValueError(f"one batch holds one strategy mode, got {sorted(modes)}")
    mode = encoded[0].mode
    rows: list[np.ndarray] = []
    globals_: list[np.ndarray] = []
    window_doc: list[int] = []
    for doc_index, item in enumerate(encoded):
        for window_index, positions in enumerate(item.windows):
            rows.append(item.doc.input_ids[positions])
            window_doc.append(doc_index)
            if mode == "long" and window_index == 0:
                # Global positions are document positions; +1 for the leading [CLS].
                inside = np.searchsorted(positions, item.global_positions)
                valid = inside < len(positions)
                valid[valid] &= positions[inside[valid]] == item.global_positions[valid]
                globals_.append(inside[valid] + 1)
            else:
                globals_.append(np.zeros(0, dtype=np.int64))
    longest = max(len(r) for r in rows) + 2
    # Long inputs are not rounded up: the sparse model blocks them itself, and rounding could
    # step past the position table (4,096 + [CLS] + [SEP] = 4,098 positions).
    multiple = 1 if mode == "long" else pad_to_multiple_of
    length = int(np.ceil(longest / multiple) * multiple)
    input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    global_mask = torch.zeros((len(rows), length), dtype=torch.long) if mode == "long" else None
    for i, row in enumerate(rows):
        n = len(row)
        input_ids[i, 0] = cls_id
        input_ids[i, 1 : n + 1] = torch.from_numpy(row)
        input_ids[i, n + 1] = sep_id
        attention_mask[i, : n + 2] = 1
        if global_mask is not None:
            global_mask[i, 0] = 1
            if len(globals_[i]):
                global_mask[i, torch.from_numpy(globals_[i])] = 1
    return ModelBatch(
        mode=mode,
        input_ids=input_ids,
        attention_mask=attention_mask,
        window_doc=torch.tensor(window_doc, dtype=torch.long),
        num_docs=len(encoded),
        global_attention_mask=global_mask,
        attention_window=attention_window,
        pooling=pooling,
        labels=labels,
    )
