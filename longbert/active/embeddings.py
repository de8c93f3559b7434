"""One pass of a classifier over documents: label probabilities *and* document embeddings.

Uncertainty samplers read the probabilities, diversity samplers the embeddings; both come from
the same forward pass, so ranking a pool costs one inference run, not two.

A document's embedding is what the zero-shot classifier compares with label descriptions
(:mod:`longbert.zero_shot`): the last layer's token states mean-pooled over each window the
strategy reads, L2-normalised, then averaged over the document's windows and normalised again.
So truncate and key sentences embed the span they read, chunk averages its windows, and sparse
embeds its whole long input under the sparse encoder. The probabilities are the classifier's
own (:meth:`~longbert.classifier.DocumentClassifier.classify_windows` on its window vectors), as
``predict`` computes them, because the encoder runs the full last layer here anyway.

This module builds its batches from the core's public pieces (``tokenize_document``,
``Strategy.encode``, ``classifier.collate``, ``classifier.encoder``); a core function "documents
-> window states" would let it, training and inference share one (see the report of issue 21).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from longbert.batching import ModelBatch
from longbert.classifier import DocumentClassifier
from longbert.config import autocast_dtype
from longbert.document import Document, as_document
from longbert.strategies import Encoded, Strategy, get_strategy
from longbert.tokenization import tokenize_document

ProgressFn = Callable[[int, int], None]


@dataclass
class DocumentScores:
    """A classifier's view of ``N`` documents, rows in input order.

    ``probabilities`` ``[N, L]`` float32 (softmax, or sigmoids when ``multi_label``);
    ``embeddings`` ``[N, H]`` float32, unit length; rows of documents that could not be read are
    NaN and their reasons are in ``errors`` (row index -> message).
    """

    labels: list[str]
    multi_label: bool
    probabilities: np.ndarray
    embeddings: np.ndarray
    errors: dict[int, str]


def encode_documents(
    classifier: DocumentClassifier, documents: Sequence[str | Document], strategy: Strategy
) -> list[Encoded | str]:
    """Tokenise and cut each document; a document that fails becomes its error message."""
    out: list[Encoded | str] = []
    for index, item in enumerate(documents):
        try:
            document = as_document(item, name=f"document {index + 1}")
            encoded = strategy.encode(tokenize_document(document, classifier.tokenizer))
        except Exception as error:  # one odd document costs that document only
            out.append(f"{type(error).__name__}: {error}")
            continue
        out.append(encoded if encoded.used_tokens else "it has no tokens the model can read")
    return out


def collate(classifier: DocumentClassifier, encoded: list[Encoded], strategy: Strategy) -> ModelBatch:
    """Model inputs for ``encoded``, placed on the classifier's device."""
    return classifier.collate(encoded, strategy).to(classifier.device)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[W, T, H]`` states with ``[W, T]`` mask -> ``[W, H]`` unit-length means over real tokens.

    The same pooling as the zero-shot classifier's window vectors (and the sentence-embedding
    model's own training), [CLS] and [SEP] included as they are there.
    """
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
    return torch.nn.functional.normalize(summed.float(), dim=-1)


def per_document_mean(vectors: torch.Tensor, window_doc: torch.Tensor, num_docs: int) -> torch.Tensor:
    """``[W, H]`` window vectors -> ``[B, H]`` unit-length mean of each document's windows."""
    sums = torch.zeros(num_docs, vectors.shape[1], dtype=vectors.dtype, device=vectors.device)
    sums.index_add_(0, window_doc, vectors)
    return torch.nn.functional.normalize(sums, dim=-1)


def _autocast(device: torch.device) -> Any:
    dtype = autocast_dtype(device)
    if dtype is None:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=dtype)


def _run(
    classifier: DocumentClassifier, batch: ModelBatch, rows_per_pass: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``([B, L] probabilities, [B, H] embeddings)`` of one batch, windows run in slices."""
    rows = batch.input_ids.shape[0]
    step = rows if batch.mode != "chunks" else max(1, rows_per_pass)
    window_vectors, window_embeddings = [], []
    for start in range(0, rows, step):
        part = dataclasses.replace(
            batch,
            input_ids=batch.input_ids[start : start + step],
            attention_mask=batch.attention_mask[start : start + step],
            window_doc=batch.window_doc[start : start + step],
            global_attention_mask=None
            if batch.global_attention_mask is None
            else batch.global_attention_mask[start : start + step],
        )
        out = classifier.encoder(
            part.input_ids,
            attention_mask=part.attention_mask,
            global_attention_mask=part.global_attention_mask,
            sparse=part.mode == "long",
            attention_window=part.attention_window,
        )
        window_vectors.append(classifier.window_vectors(out.last_hidden_state, part))
        window_embeddings.append(mean_pool(out.last_hidden_state, part.attention_mask))
    logits = classifier.classify_windows(torch.cat(window_vectors), batch).logits
    embeddings = per_document_mean(torch.cat(window_embeddings), batch.window_doc, batch.num_docs)
    return classifier.probabilities(logits), embeddings


@torch.inference_mode()
def score_documents(
    classifier: DocumentClassifier,
    documents: Sequence[str | Document],
    *,
    strategy: Strategy | dict[str, Any] | str | None = None,
    batch_size: int = 8,
    progress: ProgressFn | None = None,
) -> DocumentScores:
    """Probabilities and embeddings of ``documents`` under ``classifier`` (its strategy by default).

    ``batch_size`` counts windows per forward pass, as in ``predict``. Documents are run in
    length order (less padding) and returned in input order.
    """
    if isinstance(documents, str | bytes | Document):
        raise TypeError("score_documents takes a list of texts or Documents")
    strategy = get_strategy(strategy) if strategy is not None else classifier.strategy
    classifier._prepare_for(strategy)  # the position table a long strategy needs
    classifier.eval()
    documents = list(documents)
    hidden = classifier.encoder.config.hidden_size
    probabilities = np.full((len(documents), len(classifier.labels)), np.nan, dtype=np.float32)
    embeddings = np.full((len(documents), hidden), np.nan, dtype=np.float32)
    encoded = encode_documents(classifier, documents, strategy)
    errors = {i: e for i, e in enumerate(encoded) if isinstance(e, str)}
    ready = [i for i, e in enumerate(encoded) if not isinstance(e, str)]
    ready.sort(key=lambda i: sum(len(w) for w in encoded[i].windows))  # type: ignore[union-attr]
    device = classifier.device
    long_mode = strategy.mode == "long"
    done = len(errors)
    start = 0
    while start < len(ready):
        # Window strategies: batch_size windows per pass; long inputs: one document per pass.
        stop, windows = start, 0
        while stop < len(ready) and (stop == start or (not long_mode and windows < batch_size)):
            windows += len(encoded[ready[stop]].windows)  # type: ignore[union-attr]
            stop += 1
        group = ready[start:stop]
        batch = collate(classifier, [encoded[i] for i in group], strategy)  # type: ignore[misc]
        with _autocast(device):
            probs, vectors = _run(classifier, batch, batch_size)
        probabilities[group] = probs.float().cpu().numpy()
        embeddings[group] = vectors.float().cpu().numpy()
        done += len(group)
        start = stop
        if progress is not None:
            progress(done, len(documents))
    labels, multi_label = list(classifier.labels), bool(classifier.multi_label)
    return DocumentScores(labels, multi_label, probabilities, embeddings, errors)
