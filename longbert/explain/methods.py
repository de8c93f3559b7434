"""The three ways to score what the model read: occlusion, gradients (Captum), attention.

Each returns scores for the explained label; :mod:`longbert.explain.api` turns them into an
:class:`~longbert.explain.result.Explanation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from longbert.explain.model_io import LabelForward, Settings, variant_probabilities
from longbert.explain.units import ReadSentences, remove_positions
from longbert.strategies import Selection, Strategy

if TYPE_CHECKING:
    from longbert.classifier import DocumentClassifier

GRADIENT_METHODS = ("integrated_gradients", "gradient_x_input")
#: Tokens per forward/backward pass of the gradient methods (their activations are kept for
#: the backward pass, so this, not the document's length, bounds their memory).
GRADIENT_TOKENS_PER_PASS = 4096


def occlude_sentences(
    classifier: DocumentClassifier,
    encoded: Selection,
    strategy: Strategy,
    sentences: ReadSentences,
    label_index: int,
    tokens_per_pass: int,
    settings: Settings | None = None,
) -> tuple[float, np.ndarray]:
    """``(p, [S] scores)``: the label's probability ``p`` and its drop when each sentence is removed.

    One perturbed copy per sentence; only the windows holding that sentence run again, in
    token-budgeted passes (see :func:`~longbert.explain.model_io.variant_probabilities`).
    """
    variants = [remove_positions(encoded, positions) for positions in sentences.positions]
    probs = variant_probabilities(
        classifier, encoded, variants, strategy, tokens_per_pass=tokens_per_pass, settings=settings
    )
    base = float(probs[0, label_index])
    return base, (base - probs[1:, label_index]).astype(np.float32)


def occlude_words(
    classifier: DocumentClassifier,
    encoded: Selection,
    strategy: Strategy,
    positions: list[np.ndarray],
    label_index: int,
    tokens_per_pass: int,
    settings: Settings | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per group of read positions (a top sentence): ``(word indices, drop when each is removed)``.

    Every word of every group runs in one batched call.
    """
    word_index = encoded.doc.word_index
    groups = [np.unique(word_index[p]) for p in positions]
    variants = [
        remove_positions(encoded, p[word_index[p] == word])
        for p, words in zip(positions, groups, strict=True)
        for word in words.tolist()
    ]
    if not variants:
        return [(words, np.zeros(0, dtype=np.float32)) for words in groups]
    probs = variant_probabilities(
        classifier, encoded, variants, strategy, tokens_per_pass=tokens_per_pass, settings=settings
    )
    drops = (probs[0, label_index] - probs[1:, label_index]).astype(np.float32)
    out, start = [], 0
    for words in groups:
        out.append((words, drops[start : start + len(words)]))
        start += len(words)
    return out


def gradient_token_scores(
    classifier: DocumentClassifier,
    encoded: Selection,
    strategy: Strategy,
    label_index: int,
    method: str,
    *,
    n_steps: int = 16,
    internal_batch_size: int | None = None,
    tokens_per_pass: int = GRADIENT_TOKENS_PER_PASS,
    settings: Settings | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``([n] per-token attributions, details)`` on the word embeddings, summed over the hidden size.

    ``integrated_gradients``: Captum's LayerIntegratedGradients from a [PAD] baseline ([CLS],
    [SEP] kept), ``n_steps`` Gauss-Legendre steps, at most ``internal_batch_size`` rows per
    forward/backward pass so memory does not grow with ``n_steps``; by default as many rows as
    fit in ``tokens_per_pass`` tokens (8 BERT windows, or one row of a 10k-token sparse input).
    ``gradient_x_input``: Captum's LayerGradientXActivation, one pass, rows in groups of
    ``internal_batch_size``. Chunks mode:
    per window, with the other windows held at their unperturbed vectors, then summed over the
    windows holding each token. Runs in float32 (no autocast): attributions must add up.
    """
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    if method not in GRADIENT_METHODS:
        raise ValueError(f"unknown gradient method {method!r}; choose one of {GRADIENT_METHODS}")
    classifier.eval()
    forward = LabelForward(classifier, encoded, strategy, label_index, settings=settings)
    input_ids, attention_mask, global_mask, window_index = forward.inputs()
    if internal_batch_size is None:
        internal_batch_size = max(1, tokens_per_pass // input_ids.shape[1])
    if n_steps < 1 or internal_batch_size < 1:
        raise ValueError("n_steps and internal_batch_size must be at least 1")
    extra = (attention_mask, global_mask, window_index)
    details: dict[str, Any] = {"rows_per_pass": internal_batch_size}
    with torch.enable_grad():
        # Windows go in groups of at most internal_batch_size rows: Captum never runs fewer rows
        # than it has examples, so a 40-window document would otherwise be one 40-row pass.
        groups = [
            slice(s, s + internal_batch_size) for s in range(0, input_ids.shape[0], internal_batch_size)
        ]
        parts = []
        if method == "integrated_gradients":
            explainer = LayerIntegratedGradients(forward, forward.embedding_layer)
            deltas = []
            for rows in groups:
                ids = input_ids[rows]
                part, delta = explainer.attribute(
                    ids,
                    baselines=forward.baseline(ids, attention_mask[rows]),
                    additional_forward_args=tuple(t[rows] for t in extra),
                    n_steps=n_steps,
                    internal_batch_size=internal_batch_size,
                    return_convergence_delta=True,
                )
                parts.append(part)
                deltas.append(float(delta.abs().max()))
            details.update(n_steps=n_steps, convergence_delta=max(deltas))
        else:
            explainer = LayerGradientXActivation(forward, forward.embedding_layer)
            for rows in groups:
                parts.append(
                    explainer.attribute(
                        input_ids[rows], additional_forward_args=tuple(t[rows] for t in extra)
                    )
                )
        attributions = torch.cat(parts)
    per_model_token = attributions.detach().float().sum(-1).cpu().numpy()  # [W, T]
    token_scores = np.zeros(encoded.doc.num_tokens, dtype=np.float32)
    for w, positions in enumerate(encoded.windows):
        np.add.at(token_scores, positions, per_model_token[w, 1 : len(positions) + 1])
    return token_scores, details


def sum_by(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``[size]`` sums of ``values`` by group index."""
    return np.bincount(groups, weights=values, minlength=size).astype(np.float32)[:size]
