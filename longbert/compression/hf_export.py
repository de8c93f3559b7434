"""A LongBERT classifier as a ``transformers.BertForSequenceClassification``: the same weights.

The benchmark's Hugging Face peers (``pipeline`` fp32/bf16, ONNX Runtime int8) run the very
model LongBERT runs, so speed and labels compare like with like. The encoder's parameter names
mirror ``BertModel``; the Longformer global projections (unused by window strategies) are left
out; the [CLS] head's pooler becomes BERT's pooler and its linear layer the classifier. The HF
model reads the first 512 tokens (what ``truncation=True`` does), i.e. LongBERT's ``truncate``
``head`` mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import BertForSequenceClassification

    from longbert.classifier import LongBertClassifier


def to_bert_for_sequence_classification(classifier: LongBertClassifier) -> BertForSequenceClassification:
    """A float32 ``BertForSequenceClassification`` holding ``classifier``'s encoder and head."""
    from transformers import BertConfig, BertForSequenceClassification

    own = classifier.encoder.config
    config = BertConfig(
        vocab_size=own.vocab_size,
        hidden_size=own.hidden_size,
        num_hidden_layers=own.num_hidden_layers,
        num_attention_heads=own.num_attention_heads,
        intermediate_size=own.intermediate_size,
        hidden_act=own.hidden_act,
        max_position_embeddings=own.original_max_position_embeddings,
        type_vocab_size=own.type_vocab_size,
        layer_norm_eps=own.layer_norm_eps,
        pad_token_id=own.pad_token_id,
        num_labels=len(classifier.labels),
        id2label=dict(enumerate(classifier.labels)),
        label2id={label: i for i, label in enumerate(classifier.labels)},
    )
    model = BertForSequenceClassification(config)
    state: dict[str, Any] = {}
    for key, value in classifier.encoder.state_dict().items():
        if "_global." in key:
            continue
        if key == "embeddings.position_embeddings.weight":
            value = value[: config.max_position_embeddings]
        state[f"bert.{key}"] = value.float()
    state["bert.pooler.dense.weight"] = classifier.head.pooler.weight.float()
    state["bert.pooler.dense.bias"] = classifier.head.pooler.bias.float()
    state["classifier.weight"] = classifier.head.classifier.weight.float()
    state["classifier.bias"] = classifier.head.classifier.bias.float()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"weights do not map onto BERT: missing {missing}, unexpected {unexpected}")
    return model.eval().to(torch.float32)
