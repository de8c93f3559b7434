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


#: Perturbed copies a long-mode (sparse) occlusion may run before it goes coarse-to-fine. Every
#: copy reruns the whole document there (one sequence), so exact sentence occlusion of a
#: 10,000-token document is ~350 full passes; blocks first keeps it near this many.
LONG_OCCLUSION_BUDGET = 64


def resolve_occlusion_budget(encoded: Selection, budget: int | None) -> int:
    """Perturbed copies allowed (0 = exact, one per sentence). ``None``: automatic, i.e.
    :data:`LONG_OCCLUSION_BUDGET` in long mode and exact in window modes, where a copy reruns
    only the windows holding the sentence (so exact occlusion already costs about one pass of
    the document per window)."""
    if budget is not None:
        if budget < 0 or budget == 1:
            raise ValueError(f"occlusion budget must be 0 (exact) or at least 2, got {budget}")
        return budget
    return LONG_OCCLUSION_BUDGET if encoded.mode == "long" else 0


def occlude_blocks_then_sentences(
    classifier: DocumentClassifier,
    encoded: Selection,
    strategy: Strategy,
    sentences: ReadSentences,
    label_index: int,
    tokens_per_pass: int,
    budget: int,
    settings: Settings | None = None,
    *,
    listed: int = 0,
) -> tuple[float, np.ndarray, np.ndarray, dict[str, Any]]:
    """Coarse-to-fine occlusion within ``budget`` perturbed copies: ``(p, [S] scores, [S]
    estimated, details)``.

    Half the budget removes blocks of consecutive sentences (each block's drop in ``p``); the
    other half refines the blocks with the largest absolute drops sentence by sentence (exact
    scores there). A sentence of a block not refined gets the block's drop shared by its token
    count -- an estimate, flagged in ``estimated`` and counted in ``details``. The top
    sentences therefore come from exact scores wherever the signal is concentrated, at a cost
    that does not grow with the length. Then every estimated sentence among the ``listed``
    strongest for and against the label is occluded exactly (see :func:`_refine_listed`), so
    the lists a reader sees first are exact scores.
    """
    count = len(sentences)
    if count <= budget:
        base, scores = occlude_sentences(
            classifier, encoded, strategy, sentences, label_index, tokens_per_pass, settings
        )
        details = {"blocks": 0, "estimated_sentences": 0, "perturbed_copies": count}
        return base, scores, np.zeros(count, dtype=bool), details
    block_budget = budget // 2
    size = -(-count // block_budget)  # ceil: sentences per block
    starts = list(range(0, count, size))
    blocks = [np.concatenate(sentences.positions[i : i + size]) for i in starts]
    probs = variant_probabilities(
        classifier,
        encoded,
        [remove_positions(encoded, b) for b in blocks],
        strategy,
        tokens_per_pass=tokens_per_pass,
        settings=settings,
    )
    base = float(probs[0, label_index])
    block_drops = base - probs[1:, label_index]
    tokens = sentences.token_counts.astype(np.float64)
    scores = np.zeros(count, dtype=np.float64)
    for b, start in enumerate(starts):
        part = slice(start, start + size)
        scores[part] = block_drops[b] * tokens[part] / max(tokens[part].sum(), 1.0)
    refine_blocks = max(1, (budget - len(blocks)) // size)
    chosen = np.argsort(-np.abs(block_drops), kind="stable")[:refine_blocks]
    refined = [i for b in sorted(chosen.tolist()) for i in range(starts[b], min(starts[b] + size, count))]
    estimated = np.ones(count, dtype=bool)
    occlude = _Occluder(classifier, encoded, strategy, sentences, label_index, tokens_per_pass, settings)
    occlude(refined, base, scores, estimated)
    # At most another budget's worth of copies: where the estimates are all alike the lists
    # could otherwise chase them sentence by sentence; what is left stays flagged.
    extra = _refine_listed(occlude, base, scores, estimated, listed, limit=budget)
    details = {
        "blocks": len(blocks),
        "sentences_per_block": size,
        "refined_blocks": len(chosen),
        "refined_for_lists": extra,
        "estimated_sentences": int(estimated.sum()),
        "perturbed_copies": len(blocks) + len(refined) + extra,
    }
    return base, scores.astype(np.float32), estimated, details


class _Occluder:
    """Exact occlusion of chosen sentences, writing their scores and clearing their flags."""

    def __init__(
        self,
        classifier: DocumentClassifier,
        encoded: Selection,
        strategy: Strategy,
        sentences: ReadSentences,
        label_index: int,
        tokens_per_pass: int,
        settings: Settings | None,
    ) -> None:
        self.run = (classifier, encoded, strategy)
        self.sentences, self.label_index = sentences, label_index
        self.tokens_per_pass, self.settings = tokens_per_pass, settings

    def __call__(self, chosen: list[int], base: float, scores: np.ndarray, estimated: np.ndarray) -> None:
        if not chosen:
            return
        classifier, encoded, strategy = self.run
        probs = variant_probabilities(
            classifier,
            encoded,
            [remove_positions(encoded, self.sentences.positions[i]) for i in chosen],
            strategy,
            tokens_per_pass=self.tokens_per_pass,
            settings=self.settings,
        )
        scores[chosen] = base - probs[1:, self.label_index]
        estimated[chosen] = False


def listed_sentences(scores: np.ndarray, k: int) -> list[int]:
    """The ``k`` highest positive scores and the ``k`` lowest negative ones, strongest first
    (ties: earlier first), as :meth:`~longbert.explain.result.Explanation.top` lists them."""
    order = np.arange(len(scores))
    best = [int(i) for i in np.lexsort((order, -scores)) if scores[i] > 0][:k]
    worst = [int(i) for i in np.lexsort((order, scores)) if scores[i] < 0][:k]
    return best + worst


def _refine_listed(
    occlude: _Occluder, base: float, scores: np.ndarray, estimated: np.ndarray, listed: int, limit: int
) -> int:
    """Occlude exactly every estimated sentence among the ``listed`` strongest for and against,
    again until none is left there (an exact score may drop out and let another estimate in),
    within ``limit`` copies; returns the copies run."""
    spent = 0
    while spent < limit:
        wanted = [i for i in listed_sentences(scores, listed) if estimated[i]][: limit - spent]
        if not wanted:
            break
        occlude(wanted, base, scores, estimated)
        spent += len(wanted)
    return spent


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

    ``integrated_gradients``: Captum's IntegratedGradients on the word embeddings from a [PAD]
    baseline's ([CLS], [SEP] kept), ``n_steps`` Gauss-Legendre steps, at most
    ``internal_batch_size`` rows per forward/backward pass so memory does not grow with
    ``n_steps``; by default as many rows as fit in ``tokens_per_pass`` tokens (8 BERT windows, or
    one row of a 10k-token sparse input). ``gradient_x_input``: Captum's InputXGradient on the
    word embeddings, one pass, rows in groups of ``internal_batch_size``. Chunks mode:
    per window, with the other windows held at their unperturbed vectors, then summed over the
    windows holding each token. Runs in float32 (no autocast): attributions must add up.

    The embeddings are looked up once and passed as ``inputs_embeds`` (the same attributions as
    Captum's layer methods on the embedding layer, without a hook on the shared model).
    """
    from captum.attr import InputXGradient, IntegratedGradients

    if method not in GRADIENT_METHODS:
        raise ValueError(f"unknown gradient method {method!r}; choose one of {GRADIENT_METHODS}")
    classifier.eval()
    forward = LabelForward(classifier, encoded, strategy, label_index, settings=settings)
    input_ids, attention_mask, global_mask, window_index = forward.inputs()
    if internal_batch_size is None:
        internal_batch_size = max(1, tokens_per_pass // input_ids.shape[1])
    if n_steps < 1 or internal_batch_size < 1:
        raise ValueError("n_steps and internal_batch_size must be at least 1")

    def from_embeddings(
        embeds: torch.Tensor,
        ids: torch.Tensor,
        mask: torch.Tensor,
        global_attention: torch.Tensor,
        index: torch.Tensor,
    ) -> torch.Tensor:
        return forward(ids, mask, global_attention, index, inputs_embeds=embeds)

    details: dict[str, Any] = {"rows_per_pass": internal_batch_size}
    with torch.enable_grad():
        # Windows go in groups of at most internal_batch_size rows: Captum never runs fewer rows
        # than it has examples, so a 40-window document would otherwise be one 40-row pass.
        groups = [
            slice(s, s + internal_batch_size) for s in range(0, input_ids.shape[0], internal_batch_size)
        ]
        parts = []
        if method == "integrated_gradients":
            explainer = IntegratedGradients(from_embeddings)
            deltas = []
            for rows in groups:
                ids = input_ids[rows]
                extra = (ids, attention_mask[rows], global_mask[rows], window_index[rows])
                part, delta = explainer.attribute(
                    forward.embed(ids),
                    baselines=forward.embed(forward.baseline(ids, attention_mask[rows])),
                    additional_forward_args=extra,
                    n_steps=n_steps,
                    internal_batch_size=internal_batch_size,
                    return_convergence_delta=True,
                )
                parts.append(part)
                deltas.append(float(delta.abs().max()))
            details.update(n_steps=n_steps, convergence_delta=max(deltas))
        else:
            explainer = InputXGradient(from_embeddings)
            for rows in groups:
                ids = input_ids[rows]
                extra = (ids, attention_mask[rows], global_mask[rows], window_index[rows])
                embeds = forward.embed(ids).requires_grad_()
                parts.append(explainer.attribute(embeds, additional_forward_args=extra))
        attributions = torch.cat(parts)
    per_model_token = attributions.detach().float().sum(-1).cpu().numpy()  # [W, T]
    token_scores = np.zeros(encoded.doc.num_tokens, dtype=np.float32)
    for w, positions in enumerate(encoded.windows):
        np.add.at(token_scores, positions, per_model_token[w, 1 : len(positions) + 1])
    return token_scores, details


def sum_by(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``[size]`` sums of ``values`` by group index."""
    return np.bincount(groups, weights=values, minlength=size).astype(np.float32)[:size]
