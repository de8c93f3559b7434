"""One pass of a classifier over documents: label probabilities *and* document embeddings.

Uncertainty samplers read the probabilities, diversity samplers the embeddings; both come from
the same forward pass, so ranking a pool costs one inference run, not two.

A document's embedding is what the zero-shot classifier compares with label descriptions
(:mod:`longbert.zero_shot`): the last layer's token states mean-pooled over each window the
strategy reads, L2-normalised, then averaged over the document's windows and normalised again.
So truncate and key sentences embed the span they read, chunk averages its windows, and sparse
embeds its whole long input under the sparse encoder. The probabilities are the classifier's
own (:meth:`~longbert.classifier.DocumentClassifier.classify_windows` on its window vectors), as
``predict`` computes them, because the encoder runs the full last layer here anyway (the one
forward path, :meth:`~longbert.classifier.DocumentClassifier.forward`, keeps only the [CLS]
state; running it too would run the encoder twice).

Documents become model inputs the core's way (:func:`longbert.inputs.prepare`,
``classifier.collate``); precision is :func:`longbert.devices.precision_dtype`'s, as in ``infer``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from longbert.classifier import DocumentClassifier
from longbert.devices import autocast, precision_dtype
from longbert.document import Document, as_document
from longbert.inputs import ModelInputs, prepare
from longbert.strategies import Selection, Strategy, parse_strategy

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


def prepare_documents(
    classifier: DocumentClassifier, documents: Sequence[str | Document], strategy: Strategy
) -> list[Selection | str]:
    """Tokenise each document and select what the model reads; a document that fails becomes
    its error message."""
    out: list[Selection | str] = []
    for index, item in enumerate(documents):
        try:
            document = as_document(item, name=f"document {index + 1}")
            encoded = prepare(document, classifier.tokenizer, strategy)
        except Exception as error:  # one odd document costs that document only
            out.append(f"{type(error).__name__}: {error}")
            continue
        out.append(encoded if encoded.used_tokens else "it has no tokens the model can read")
    return out


def collate(classifier: DocumentClassifier, selections: list[Selection]) -> ModelInputs:
    """Model inputs for ``selections``, placed on the classifier's device."""
    return classifier.collate(selections).to(classifier.device)


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


def precision(device: torch.device, *, training: bool = False) -> Any:
    """The configured mixed precision on ``device`` (``LONGBERT_PRECISION``), as ``infer`` uses."""
    return autocast(device, precision_dtype(device, training=training))


def _run(
    classifier: DocumentClassifier,
    batch: ModelInputs,
    rows_per_pass: int,
    settings: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``([B, L] probabilities, [B, H] embeddings)`` of one batch, windows run in slices."""
    settings = settings or {}
    rows = batch.num_rows
    step = rows if batch.mode != "chunks" else max(1, rows_per_pass)
    window = settings.get("attention_window") or classifier.attention_window
    window_vectors, window_embeddings = [], []
    for start in range(0, rows, step):
        part = batch if step >= rows else batch.rows(start, start + step)
        out = classifier.encoder(
            part.input_ids,
            attention_mask=part.attention_mask,
            global_attention_mask=part.global_attention_mask,
            sparse=part.mode == "long",
            attention_window=window,
        )
        window_vectors.append(classifier.window_vectors(out.last_hidden_state, part))
        window_embeddings.append(mean_pool(out.last_hidden_state, part.attention_mask))
    logits = classifier.classify_windows(
        torch.cat(window_vectors), batch, pooling=settings.get("pooling")
    ).logits
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
    strategy, settings = parse_strategy(strategy) if strategy is not None else (classifier.strategy, {})
    classifier.fit_positions(strategy)  # the position table a long strategy needs
    classifier.eval()
    documents = list(documents)
    hidden = classifier.encoder.config.hidden_size
    probabilities = np.full((len(documents), len(classifier.labels)), np.nan, dtype=np.float32)
    embeddings = np.full((len(documents), hidden), np.nan, dtype=np.float32)
    encoded = prepare_documents(classifier, documents, strategy)
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
        batch = collate(classifier, [encoded[i] for i in group])  # type: ignore[misc]
        with autocast(device, classifier.autocast_dtype()):  # as infer runs it (int8: none)
            probs, vectors = _run(classifier, batch, batch_size, settings)
        probabilities[group] = probs.float().cpu().numpy()
        embeddings[group] = vectors.float().cpu().numpy()
        done += len(group)
        start = stop
        if progress is not None:
            progress(done, len(documents))
    labels, multi_label = list(classifier.labels), bool(classifier.multi_label)
    return DocumentScores(labels, multi_label, probabilities, embeddings, errors)
