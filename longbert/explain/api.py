"""``explain``: why one document got its label, as signed scores on the sentences the model read."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from longbert.document import Document
from longbert.errors import LongBertError
from longbert.exit_threshold import check_exit_threshold
from longbert.explain import model_io
from longbert.explain.methods import (
    GRADIENT_METHODS,
    gradient_token_scores,
    listed_sentences,
    occlude_blocks_then_sentences,
    occlude_sentences,
    occlude_words,
    resolve_occlusion_budget,
    sum_by,
)
from longbert.explain.result import METHODS, Explanation, SentenceScore, WordScore
from longbert.explain.units import ReadSentences, read_sentences
from longbert.strategies import Selection, Strategy

if TYPE_CHECKING:
    from longbert.classifier import DocumentClassifier


class ExplanationMemoryError(LongBertError, MemoryError):
    """An explanation ran out of memory on one document; the message says what to try instead."""


def _memory_guarded(function: Callable[..., Explanation]) -> Callable[..., Explanation]:
    """``function``, with running out of memory (CPU or GPU) turned into a clear
    :class:`ExplanationMemoryError` after the failed pass's memory is freed."""

    @functools.wraps(function)
    def guarded(classifier: DocumentClassifier, item: str | Document, **options: Any) -> Explanation:
        try:
            return function(classifier, item, **options)
        except (MemoryError, torch.OutOfMemoryError):
            pass
        # Outside the except block: the traceback, and the tensors its frames hold, are gone.
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        method = options.get("method", "occlusion")
        raise ExplanationMemoryError(
            f"Explaining with {method} ran out of memory on this document: try attention (one "
            "ordinary pass), or a strategy that reads less of it (head+tail, a smaller "
            "max_tokens); gradient methods also take a smaller internal_batch_size."
        )

    return guarded


@_memory_guarded
def explain(
    classifier: DocumentClassifier,
    item: str | Document,
    *,
    method: str = "occlusion",
    strategy: Strategy | dict[str, Any] | str | None = None,
    label: str | None = None,
    top_sentences: int = 3,
    words_per_sentence: int = 5,
    n_steps: int = 16,
    internal_batch_size: int | None = None,
    tokens_per_pass: int = model_io.TOKENS_PER_PASS,
    occlusion_budget: int | None = None,
    exit_threshold: float | None = None,
) -> Explanation:
    """Score every sentence the model reads of ``item`` for ``label`` (default: the predicted one).

    Args:
        method: one of :data:`~longbert.explain.result.METHODS`.
        strategy: explain under this strategy instead of the classifier's own (as ``predict``).
        top_sentences: how many sentences (by absolute score) get word scores; 0 for none. The
            gradient methods and attention, whose word scores cost no model run, also score
            the words of every sentence the app lists (:data:`LISTED_SENTENCES` for and against
            the label); occlusion reruns the model once per word, so it keeps to these.
        words_per_sentence: words kept per top sentence (by absolute score).
        n_steps, internal_batch_size: integrated gradients' steps and rows per forward/backward
            pass (the memory bound; default: as many as fit in 4,096 tokens, at least one).
        tokens_per_pass: content tokens per forward pass when occlusion runs perturbed copies.
        occlusion_budget: perturbed copies occlusion may run before it goes coarse-to-fine
            (blocks of sentences first, then the strongest blocks sentence by sentence; see
            :func:`~longbert.explain.methods.occlude_blocks_then_sentences`); 0 = exact, one
            copy per sentence; None = automatic (coarse-to-fine in long mode only).
        exit_threshold: early-exit models only: the threshold the explained prediction was made
            at, from 0 to 1 (None: the model's stored one, as ``predict``); 0 explains the full
            model.

    Raises :class:`ExplanationMemoryError` (a LongBertError) when it runs out of memory, and
    ValueError for an unknown method or label, an exit threshold that is not a number from 0
    to 1 (:class:`~longbert.exit_threshold.ExitThresholdError`), a document with no readable tokens, a
    gradient method on an int8 model (its layers have no backward), or occlusion or a gradient
    method on an early-exit model whose exits are in force (they run the model's full depth,
    not the layers the prediction stopped at).
    """
    if method not in METHODS:
        raise ValueError(f"unknown explanation method {method!r}; choose one of {', '.join(METHODS)}")
    exit_threshold = check_exit_threshold(exit_threshold)  # before any model run, whatever the method
    if method in GRADIENT_METHODS and getattr(classifier, "prepared_dtype", None) == torch.qint8:
        # torch's dynamic int8 linear layers have no backward: gradients would skip them and
        # the scores would be silently wrong.
        raise ValueError(
            f"{method} needs gradients through the encoder, and an int8 model's layers have none: "
            "use occlusion or attention (they explain what the int8 model computes), or explain "
            "with its source model."
        )
    started = perf_counter()
    chosen, settings = model_io.resolve(classifier, strategy)
    if method == "attention":
        return _attention(
            classifier, item, chosen, label, top_sentences, words_per_sentence, started, settings,
            exit_threshold,
        )  # fmt: skip
    exits = model_io.active_exit_threshold(classifier, chosen, settings, exit_threshold)
    if exits is not None:
        # Perturbed copies and gradients run every layer; the prediction stopped early where its
        # exit was confident, so the scores would explain another model's probabilities.
        raise ValueError(
            f"{method} runs the model's full depth, but this early-exit model lets confident "
            f"inputs stop at an earlier layer (exit threshold {exits:g}), so it would explain "
            "another model than the one that predicted: explain at exit_threshold=0 (the full "
            "model; predict at exit_threshold=0 too, so that prediction is the one explained), "
            "or use attention (it reads the layers the early-exit model ran)."
        )
    encoded = model_io.read(classifier, item, chosen)
    sentences = read_sentences(encoded)
    if len(sentences) == 0:
        raise ValueError("the document has no tokens the model can read")
    names = model_io.labels(classifier)
    details: dict[str, Any] = {}
    estimated = None
    if method == "occlusion":
        probs = model_io.variant_probabilities(
            classifier, encoded, [], chosen, tokens_per_pass=tokens_per_pass, settings=settings
        )[0]
        label_index = _label_index(names, label, probs)
        budget = resolve_occlusion_budget(encoded, occlusion_budget)
        if budget:
            probability, scores, estimated, details["occlusion"] = occlude_blocks_then_sentences(
                classifier, encoded, chosen, sentences, label_index, tokens_per_pass, budget, settings,
                listed=LISTED_SENTENCES,
            )  # fmt: skip
        else:
            probability, scores = occlude_sentences(
                classifier, encoded, chosen, sentences, label_index, tokens_per_pass, settings
            )
        top = _top(scores, top_sentences)
        word_groups = occlude_words(
            classifier,
            encoded,
            chosen,
            [sentences.positions[i] for i in top],
            label_index,
            tokens_per_pass,
            settings,
        )
        words = {
            i: _best_words(encoded, ws, s, words_per_sentence)
            for i, (ws, s) in zip(top, word_groups, strict=True)
        }
        details["removal"] = "tokens deleted from the windows that read them (not masked, no re-cut)"
    else:
        assert method in GRADIENT_METHODS
        probs = model_io.variant_probabilities(
            classifier, encoded, [], chosen, tokens_per_pass=tokens_per_pass, settings=settings
        )[0]
        label_index = _label_index(names, label, probs)
        probability = float(probs[label_index])
        token_scores, details = gradient_token_scores(
            classifier,
            encoded,
            chosen,
            label_index,
            method,
            n_steps=n_steps,
            internal_batch_size=internal_batch_size,
            settings=settings,
        )
        scores = _sentence_sums(encoded, sentences, token_scores)
        word_scores = sum_by(encoded.doc.word_index, token_scores, len(encoded.doc.word_spans))
        top = _word_sentences(scores, top_sentences)
        words = {i: _words_of(encoded, sentences, i, word_scores, words_per_sentence) for i in top}
    return _result(
        method, names[label_index], probability, chosen, encoded, sentences, scores, words, started, details,
        estimated,
    )  # fmt: skip


#: Sentences the app lists for, and against, the label (at most): coarse-to-fine occlusion
#: refines every estimated score among them, so the lists shown are of measured scores.
LISTED_SENTENCES = 10


#: How far (in probability) an explanation's base probability may be from the prediction's
#: before it warns: mixed precision and batch padding move a probability by well under a point;
#: explaining another model (early exits, another version, lost settings) moves it by more.
PROBABILITY_TOLERANCE = 0.02


def check_probability(
    explanation: Explanation, predicted: float | None, tolerance: float = PROBABILITY_TOLERANCE
) -> bool:
    """Whether ``explanation``'s base probability is the prediction's ``predicted`` probability of
    its label (within ``tolerance``); when not, a warning saying so is added to its ``warnings``
    (its scores are drops from, or paths to, another probability than the one shown)."""
    if predicted is None or abs(explanation.probability - float(predicted)) <= tolerance:
        return True
    explanation.warnings.append(
        f"The explained probability of '{explanation.label}' is {explanation.probability:.1%}, but "
        f"the prediction said {float(predicted):.1%}: the model or its settings differ from those "
        "that made the prediction, so these scores may not account for it."
    )
    return False


def explain_many(
    classifier: DocumentClassifier,
    items: Sequence[str | Document],
    methods: Sequence[str] = ("occlusion", "integrated_gradients", "attention"),
    **options: Any,
) -> list[dict[str, Explanation | str]]:
    """For a sample of documents: per document, ``{method: Explanation}`` (or the error message
    for a method that failed on it, so one bad document never sinks the batch)."""
    out: list[dict[str, Explanation | str]] = []
    for item in items:
        row: dict[str, Explanation | str] = {}
        for method in methods:
            try:
                row[method] = explain(classifier, item, method=method, **options)
            except (ValueError, RuntimeError, LongBertError) as error:
                row[method] = f"{type(error).__name__}: {error}"
        out.append(row)
    return out


def _label_index(names: list[str], label: str | None, probs: np.ndarray) -> int:
    if label is None:
        return int(np.argmax(probs))
    if label not in names:
        raise ValueError(f"unknown label {label!r}; the model's labels are {names}")
    return names.index(label)


def _top(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` largest absolute scores (ties: earlier first)."""
    order = np.lexsort((np.arange(len(scores)), -np.abs(scores)))
    return [int(i) for i in order[: max(k, 0)]]


def _sentence_sums(encoded: Selection, sentences: ReadSentences, token_scores: np.ndarray) -> np.ndarray:
    return np.asarray([token_scores[p].sum() for p in sentences.positions], dtype=np.float32)


def _word_sentences(scores: np.ndarray, k: int) -> list[int]:
    """Sentences whose words are scored when that costs no model run (gradients, attention):
    the ``k`` strongest by absolute score, and every sentence the app lists for and against
    the label (:data:`LISTED_SENTENCES` each); none when ``k`` is 0."""
    top = _top(scores, k)
    if k <= 0:
        return top
    chosen = set(top)
    return top + [i for i in listed_sentences(scores, LISTED_SENTENCES) if i not in chosen]


def _words_of(
    encoded: Selection, sentences: ReadSentences, i: int, word_scores: np.ndarray, k: int
) -> list[WordScore]:
    words = np.unique(encoded.doc.word_index[sentences.positions[i]])
    return _best_words(encoded, words, word_scores[words], k)


def _best_words(encoded: Selection, words: np.ndarray, scores: np.ndarray, k: int) -> list[WordScore]:
    order = np.lexsort((np.arange(len(scores)), -np.abs(scores)))[:k]
    spans = encoded.doc.word_spans
    return [WordScore((int(spans[words[j], 0]), int(spans[words[j], 1])), float(scores[j])) for j in order]


def _result(
    method: str,
    label: str,
    probability: float,
    strategy: Strategy,
    encoded: Selection,
    sentences: ReadSentences,
    scores: np.ndarray,
    words: dict[int, list[WordScore]],
    started: float,
    details: dict[str, Any],
    estimated: np.ndarray | None = None,
) -> Explanation:
    spans = encoded.doc.sentence_spans
    flags = estimated.tolist() if estimated is not None else [False] * len(sentences)
    return Explanation(
        method=method,
        label=label,
        probability=float(probability),
        strategy=strategy.name,
        strategy_params=dict(strategy.params),
        sentences=[
            SentenceScore((int(spans[s, 0]), int(spans[s, 1])), float(score), float(cov), bool(flag))
            for s, score, cov, flag in zip(
                sentences.index.tolist(), scores.tolist(), sentences.coverage.tolist(), flags, strict=True
            )
        ],
        top_words=words,
        seconds=perf_counter() - started,
        details={
            **details,
            "read_tokens": int(sentences.token_counts.sum()),
            "total_tokens": encoded.total_tokens,
        },
    )


def _attention(
    classifier: DocumentClassifier,
    item: str | Document,
    strategy: Strategy,
    label: str | None,
    top_sentences: int,
    words_per_sentence: int,
    started: float,
    settings: model_io.Settings | None = None,
    exit_threshold: float | None = None,
) -> Explanation:
    """The prediction's own attention summary, on the sentences the model read, as the
    explanation of ``label`` (default: the predicted one).

    The [CLS] attention is the same whichever label is asked about: the scores do not change
    with it, but the result is the requested label's (its label and probability), so it is
    kept and found under that label like the other methods' (``details["label_independent"]``).
    """
    prediction = model_io.attention_prediction(classifier, item, strategy, settings, exit_threshold)
    summary = prediction.attention
    assert summary is not None
    names = model_io.labels(classifier)
    probs = np.asarray([prediction.probabilities[name] for name in names], dtype=np.float64)
    explained = names[_label_index(names, label, probs)] if label is not None else prediction.label
    encoded = model_io.read(classifier, item, strategy)
    sentences = read_sentences(encoded)
    scores = summary.sentence_scores[sentences.index].astype(np.float32)
    top = _word_sentences(scores, top_sentences)
    words = {i: _words_of(encoded, sentences, i, summary.word_scores, words_per_sentence) for i in top}
    probability = prediction.probabilities[explained]
    details = {"unsigned": True, "label_independent": True}
    return _result(
        "attention",
        explained,
        probability,
        strategy,
        encoded,
        sentences,
        scores,
        words,
        started,
        details,
    )
