"""Literal control-token text in a document is read as text, never as control tokens."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import PreTrainedTokenizerBase

from longbert.document import Document
from longbert.encoder_source import load_tokenizer
from longbert.inputs import collate, prepare
from longbert.strategies import get_strategy
from longbert.tokenization import tokenize_document

MARKED_TEXT = "Quarterly results were strong. [SEP] [CLS][PAD] x[MASK]y [UNK]. The board approved the plan."


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerBase:
    return load_tokenizer(None)


def test_typed_special_tokens_are_split_into_ordinary_wordpieces(tokenizer: PreTrainedTokenizerBase) -> None:
    doc = tokenize_document(Document(MARKED_TEXT), tokenizer)
    specials = set(tokenizer.all_special_ids)
    assert not specials & set(doc.input_ids.tolist())
    # Offsets still map each piece back onto its own characters of the text.
    pieces = [MARKED_TEXT[a:b].lower() for a, b in doc.offsets.tolist()]
    tokens = [t.removeprefix("##") for t in tokenizer.convert_ids_to_tokens(doc.input_ids.tolist())]
    assert pieces == tokens
    assert {"sep", "cl", "pad", "mask", "un"} <= set(tokens)
    # Words (and their spans) come from the same tokenisation: "[SEP]" is three words.
    first_bracket = MARKED_TEXT.index("[SEP]")
    assert [first_bracket, first_bracket + 1] in doc.word_spans.tolist()


def test_model_inputs_keep_exactly_one_cls_and_sep_per_window(tokenizer: PreTrainedTokenizerBase) -> None:
    strategy = get_strategy("chunk", window=16, stride=8)
    selection = prepare(Document(MARKED_TEXT), tokenizer, strategy)
    inputs = collate([selection], tokenizer)
    ids = inputs.input_ids.numpy()
    assert len(selection.windows) > 1
    for row, mask in zip(ids, inputs.attention_mask.numpy(), strict=True):
        length = int(mask.sum())
        assert row[0] == tokenizer.cls_token_id and row[length - 1] == tokenizer.sep_token_id
        inner = row[1 : length - 1]
        assert not np.isin(inner, tokenizer.all_special_ids).any()
