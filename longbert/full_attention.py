"""``predict(attention="full")``: every layer's and head's attention map for one window.

Out of :mod:`longbert.inference`, which calls it once per document when asked: a second forward
pass over that window alone, with the attention maps kept (window strategies only; the sparse
strategy never materialises a dense map).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from longbert.inputs import ModelInputs
from longbert.results import FullAttention
from longbert.strategies import Selection


class MapReader(Protocol):
    """What this module uses of a classifier."""

    tokenizer: PreTrainedTokenizerBase

    def collate(self, selections: list[Selection], labels: torch.Tensor | None = None) -> ModelInputs: ...
    def infer(self, model_inputs: ModelInputs, **options: Any) -> Any: ...


def full_attention(classifier: MapReader, selection: Selection, window: int) -> FullAttention | None:
    """Every layer's and head's map for window ``window`` of ``selection`` (clamped to the windows
    it has), in float16; None in the sparse (long) mode or for a selection without windows."""
    if selection.mode == "long" or not selection.windows:
        return None
    window = min(max(window, 0), len(selection.windows) - 1)
    positions = selection.windows[window]
    single = Selection(doc=selection.doc, mode="window", windows=[positions])
    out = classifier.infer(classifier.collate([single]), output_attentions=True)
    n = len(positions) + 2
    weights = torch.stack([m[0, :, :n, :n] for m in out.attentions]).to(torch.float16).cpu().numpy()
    tokenizer = classifier.tokenizer
    ids = [tokenizer.cls_token_id, *selection.doc.input_ids[positions].tolist(), tokenizer.sep_token_id]
    return FullAttention(
        window_index=window,
        weights=weights,
        token_positions=np.concatenate([[-1], positions, [-1]]).astype(np.int64),
        tokens=tokenizer.convert_ids_to_tokens(ids),
    )
