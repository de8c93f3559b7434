"""Document → model inputs: the one way every caller turns documents into tensors.

:func:`prepare` tokenises a document once and lets the strategy select what the model reads
(a :class:`~longbert.strategies.Selection`); :func:`collate` pads selections into
:class:`ModelInputs`. Prediction, scoring and training call these two (and next: pre-training,
explanations, compression), so none keeps its own copy of document → inputs.

Model inputs hold documents of one strategy mode. In ``chunks`` mode a document contributes
several windows (rows); ``window_doc`` says which document each row belongs to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from longbert.document import Document
from longbert.strategies.base import Mode, Selection, Strategy
from longbert.tokenization import tokenize_document


def prepare(document: Document, tokenizer: PreTrainedTokenizerBase, strategy: Strategy) -> Selection:
    """Tokenise ``document`` (whole, no length limit) and select what the model reads of it."""
    return strategy.select(tokenize_document(document, tokenizer))


@dataclass(frozen=True)
class ModelInputs:
    """Padded model inputs for ``B`` documents spread over ``W`` rows of length ``T``.

    ``input_ids``/``attention_mask`` ``[W, T]`` int64 ([CLS] content [SEP] padding);
    ``global_attention_mask`` ``[W, T]`` (``long`` mode) or None; ``window_doc`` ``[W]`` int64;
    ``labels`` ``[B]`` int64 (single-label) or ``[B, L]`` float (multi-label) or None;
    ``inputs_embeds`` ``[W, T, H]`` or None: word embeddings to use instead of looking up
    ``input_ids`` (gradient attributions run the model from them); ``window_start`` ``[W]``
    float32 or None: the share of its document before each row's first token (where the window
    sits, for pooling that places windows; kept when training samples a subset of windows).
    """

    #: Fields with one entry per row (window): what :meth:`rows` slices.
    ROW_FIELDS: ClassVar[tuple[str, ...]] = (
        "input_ids", "attention_mask", "window_doc", "global_attention_mask", "inputs_embeds",
        "window_start",
    )

    mode: Mode
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    window_doc: torch.Tensor
    num_docs: int
    global_attention_mask: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    inputs_embeds: torch.Tensor | None = None
    window_start: torch.Tensor | None = None

    @property
    def num_rows(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> ModelInputs:
        """Every tensor on ``device``."""
        moved = {
            f.name: value.to(device, non_blocking=True)
            for f in dataclasses.fields(self)
            if isinstance(value := getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **moved)

    def rows(self, start: int, stop: int) -> ModelInputs:
        """Rows ``start:stop`` (windows); per-document fields (``labels``, ``num_docs``) stay whole."""
        cut = {
            name: value[start:stop]
            for name in self.ROW_FIELDS
            if (value := getattr(self, name)) is not None
        }
        return dataclasses.replace(self, **cut)

    def with_embeddings(self, inputs_embeds: torch.Tensor) -> ModelInputs:
        """The same inputs read from ``inputs_embeds`` ``[W, T, H]`` instead of the word table."""
        if inputs_embeds.shape[:2] != self.input_ids.shape:
            raise ValueError(
                f"inputs_embeds is {tuple(inputs_embeds.shape)}, the inputs {tuple(self.input_ids.shape)}."
            )
        return dataclasses.replace(self, inputs_embeds=inputs_embeds)


def collate(
    selections: list[Selection],
    tokenizer: PreTrainedTokenizerBase,
    *,
    labels: torch.Tensor | None = None,
    pad_to_multiple_of: int = 8,
) -> ModelInputs:
    """Pad selections (all of one mode) into :class:`ModelInputs` with ``tokenizer``'s special ids."""
    if not selections:
        raise ValueError("collate needs at least one selection")
    modes = {s.mode for s in selections}
    if len(modes) != 1:
        raise ValueError(f"model inputs hold one strategy mode, got {sorted(modes)}")
    mode = selections[0].mode
    rows: list[np.ndarray] = []
    globals_: list[np.ndarray] = []
    window_doc: list[int] = []
    window_start: list[float] = []
    for doc_index, item in enumerate(selections):
        for window_index, positions in enumerate(item.windows):
            rows.append(item.doc.input_ids[positions])
            window_doc.append(doc_index)
            window_start.append(float(positions[0]) / max(item.doc.num_tokens, 1) if len(positions) else 0.0)
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
    input_ids = torch.full((len(rows), length), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
    global_mask = torch.zeros((len(rows), length), dtype=torch.long) if mode == "long" else None
    for i, row in enumerate(rows):
        n = len(row)
        input_ids[i, 0] = tokenizer.cls_token_id
        input_ids[i, 1 : n + 1] = torch.from_numpy(row)
        input_ids[i, n + 1] = tokenizer.sep_token_id
        attention_mask[i, : n + 2] = 1
        if global_mask is not None:
            global_mask[i, 0] = 1
            if len(globals_[i]):
                global_mask[i, torch.from_numpy(globals_[i])] = 1
    return ModelInputs(
        mode=mode,
        input_ids=input_ids,
        attention_mask=attention_mask,
        window_doc=torch.tensor(window_doc, dtype=torch.long),
        num_docs=len(selections),
        global_attention_mask=global_mask,
        labels=labels,
        window_start=torch.tensor(window_start, dtype=torch.float32),
    )
