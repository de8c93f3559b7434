"""Zero-shot labels before any model is trained: embedding similarity to label descriptions.

The default encoder is a sentence-embedding model (all-MiniLM-L6-v2: mean pooling, normalised),
so a document's window embeddings can be compared with embeddings of the label names or short
descriptions the user types. This gives a first batch usable pre-labels, to be corrected and used
to train the first [CLS] model. Predictions are marked ``zero_shot=True`` everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from longbert.classifier import ClassifierOutput, DocumentClassifier
from longbert.document import Document
from longbert.encoder_source import load_tokenizer
from longbert.inputs import ModelInputs
from longbert.modeling.long_bert import LongBertModel
from longbert.results import Prediction, PredictionResult
from longbert.settings import DEFAULT_ENCODER
from longbert.strategies import Strategy, get_strategy

#: all-MiniLM-L6-v2 was trained on inputs of up to 256 tokens: embed documents in such windows.
ZERO_SHOT_STRATEGY: dict[str, Any] = {"name": "chunk", "params": {"window": 256, "stride": 256}}


class ZeroShotClassifier(DocumentClassifier):
    """Label documents by cosine similarity between window embeddings and label embeddings.

    Args:
        labels: label names, or ``{label: description}``; the description (or the name) is embedded.
        encoder: a sentence-embedding BERT checkpoint (default: the packaged one).
        strategy: how documents are cut (default: 256-token chunks, mean of window embeddings).
        temperature: softmax temperature on cosine similarities (lower = more confident).
        model, tokenizer: an encoder and tokenizer already loaded (e.g. from a checkpoint folder);
            ``encoder`` then only names where they came from.
    """

    zero_shot = True

    def __init__(
        self,
        labels: Sequence[str] | Mapping[str, str],
        encoder: str | os.PathLike[str] | None = None,
        strategy: Strategy | dict[str, Any] | str | None = None,
        temperature: float = 0.05,
        *,
        model: LongBertModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ) -> None:
        super().__init__()
        descriptions = dict(labels) if isinstance(labels, Mapping) else {str(x): str(x) for x in labels}
        descriptions = {str(k).strip(): (str(v).strip() or str(k).strip()) for k, v in descriptions.items()}
        if len(descriptions) < 2 or any(not k for k in descriptions):
            raise ValueError("zero-shot labelling needs at least two non-empty label names")
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        source = str(encoder) if encoder is not None else DEFAULT_ENCODER
        self.encoder = model if model is not None else LongBertModel.from_bert(source)
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(source)
        self.labels = list(descriptions)
        self.descriptions = descriptions
        self.multi_label = False
        self.temperature = temperature
        self.encoder_source = source
        self.name = f"zero-shot:{source}"
        self.metadata = {"zero_shot": True, "descriptions": descriptions, "temperature": temperature}
        self.strategy = get_strategy(strategy if strategy is not None else ZERO_SHOT_STRATEGY)
        self.fit_positions(self.strategy)
        self.eval()
        self.register_buffer(
            # Cloned out of inference mode: gradient explanations backpropagate through it.
            "label_embeddings", self.embed_texts(list(descriptions.values())).clone(), persistent=False
        )

    reads_cls_only = False  # window vectors mean-pool every token of the last layer

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """``[len(texts), H]`` normalised mean-pooled embeddings of short texts (≤ 512 tokens)."""
        tokens = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=512,
            split_special_tokens=True,  # a typed "[SEP]" in a description is text, as in documents
            return_tensors="pt",
        )
        mask = tokens["attention_mask"].to(self.device)
        out = self.encoder(tokens["input_ids"].to(self.device), attention_mask=mask)
        return _mean_pool(out.last_hidden_state, mask)

    def window_vectors(self, hidden: torch.Tensor, inputs: ModelInputs) -> torch.Tensor:
        """Window embeddings: mean pooling, as the sentence-embedding model was trained."""
        return _mean_pool(hidden, inputs.attention_mask)

    def document_vectors(
        self, window_vectors: torch.Tensor, inputs: ModelInputs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``([B, H] unit-length mean of each document's window embeddings, [W] window weights)``."""
        docs, weights = [], torch.empty(window_vectors.shape[0], device=window_vectors.device)
        for doc in range(inputs.num_docs):
            index = torch.nonzero(inputs.window_doc == doc, as_tuple=True)[0]
            docs.append(torch.nn.functional.normalize(window_vectors[index].mean(dim=0), dim=-1))
            weights[index] = 1.0 / len(index)
        return torch.stack(docs), weights

    def classify_windows(
        self, window_vectors: torch.Tensor, inputs: ModelInputs, *, pooling: str | None = None,
        output_window_logits: bool = False,
    ) -> ClassifierOutput:
        """Mean of a document's window embeddings, cosine to each label, divided by temperature.

        Always the mean (``pooling`` is ignored): that is how sentence embeddings compare.
        """
        return self.classify_documents(window_vectors, inputs, output_window_logits)[0]

    def classify_documents(
        self, window_vectors: torch.Tensor, inputs: ModelInputs, output_window_logits: bool = False
    ) -> tuple[ClassifierOutput, torch.Tensor]:
        """:meth:`classify_windows`'s output and the document vectors ``[B, H]`` (float32) it
        compared, for subclasses that add to the logits (the prior classifier)."""
        window_vectors = window_vectors.float()
        docs, weights = self.document_vectors(window_vectors, inputs)
        labels = self.label_embeddings.float()
        logits = docs @ labels.T / self.temperature
        window_logits = window_vectors @ labels.T / self.temperature if output_window_logits else None
        return ClassifierOutput(logits=logits, window_weights=weights, window_logits=window_logits), docs

    def predict(self, items: Sequence[str | Document], **kwargs: Any) -> list[PredictionResult]:
        results = super().predict(items, **kwargs)
        for result in results:
            if isinstance(result, Prediction):
                result.zero_shot = self.zero_shot  # False for a model trained on top of it
                result.extra["descriptions"] = self.descriptions
        return results


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[W, T, H]`` with ``[W, T]`` mask → ``[W, H]`` normalised mean over real tokens."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return torch.nn.functional.normalize(summed.float(), dim=-1)
