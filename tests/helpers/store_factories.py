"""Builders of realistic Documents and Predictions for the store tests (no model needed)."""

from __future__ import annotations

import re

import numpy as np

from longbert.document import Document
from longbert.results import AttentionSummary, FullAttention, Prediction, SegmentScore


def make_document(
    index: int = 0, words: int = 60, name: str | None = None, source: str = "upload"
) -> Document:
    """A multi-sentence text, different for every ``index``."""
    rng = np.random.default_rng(index)
    vocabulary = ["senate", "vote", "tax", "policy", "Rally", "crowd", "report", "said", "the", "a"]
    sentences = []
    for start in range(0, words, 12):
        chosen = rng.choice(vocabulary, size=min(12, words - start))
        sentences.append(" ".join(chosen).capitalize() + ".")
    text = f"Document {index}. " + " ".join(sentences)
    return Document(text=text, name=name or f"doc-{index}.txt", source=source)


def make_summary(document: Document, seed: int = 0) -> AttentionSummary:
    """A [CLS] summary over whitespace 'tokens' of the text, float32 like the core's."""
    rng = np.random.default_rng(seed)
    words = [m.span() for m in re.finditer(r"\S+", document.text)]
    word_spans = np.asarray(words, dtype=np.int32).reshape(-1, 2)
    token_scores = rng.dirichlet(np.ones(len(words))).astype(np.float32)
    token_scores[len(words) // 2 :] = 0.0  # unseen tokens score 0, as with head truncation
    sentences = [m.span() for m in re.finditer(r"[^.]+\.", document.text)]
    sentence_spans = np.asarray(sentences, dtype=np.int32).reshape(-1, 2)
    sentence_of_word = np.searchsorted(sentence_spans[:, 0], word_spans[:, 0], side="right") - 1
    sentence_scores = np.bincount(
        sentence_of_word.clip(min=0), weights=token_scores, minlength=len(sentences)
    ).astype(np.float32)
    return AttentionSummary(
        token_scores=token_scores,
        word_spans=word_spans,
        word_scores=token_scores.copy(),
        sentence_spans=sentence_spans,
        sentence_scores=sentence_scores,
    )


def make_full(seq_len: int = 16, seed: int = 0) -> FullAttention:
    """A small full map: ``[layers=2, heads=3, seq_len, seq_len]`` float16 rows summing to 1."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(seq_len), size=(2, 3, seq_len)).astype(np.float16)
    positions = np.concatenate([[-1], np.arange(seq_len - 2), [-1]]).astype(np.int64)
    tokens = ["[CLS]"] + [f"tok{i}" for i in range(seq_len - 2)] + ["[SEP]"]
    return FullAttention(window_index=0, weights=weights, token_positions=positions, tokens=tokens)


def make_prediction(
    document: Document,
    *,
    model: str = "hyperpartisan-v1",
    label: str = "true",
    strategy: str = "truncate",
    seed: int = 0,
    full: bool = False,
    labels: tuple[str, ...] = ("true", "false"),
    zero_shot: bool = False,
) -> Prediction:
    """A single-label prediction for ``document`` with a summary (and optionally a full map)."""
    rng = np.random.default_rng(seed)
    p = float(rng.uniform(0.5, 0.99))
    probabilities = {name: (p if name == label else (1 - p) / (len(labels) - 1)) for name in labels}
    total = len(document.text.split())
    return Prediction(
        document_name=document.name,
        document_sha256=document.sha256,
        label=label,
        probabilities=probabilities,
        labels=[label],
        model_name=model,
        strategy=strategy,
        strategy_params={"mode": "head", "max_tokens": 510, "ratio": 0.25},
        total_tokens=total,
        used_tokens=total // 2,
        spans=[(0, len(document.text) // 2)],
        segment_scores=[
            SegmentScore(kind="window", span=(0, 10), score=0.8, selected=True, weight=0.5),
            SegmentScore(kind="sentence", span=(11, 20), score=0.1, selected=False),
        ],
        attention=make_summary(document, seed),
        latency_ms=float(rng.uniform(5, 50)),
        full_attention=make_full(seed=seed) if full else None,
        zero_shot=zero_shot,
        extra={"windows": 1, "threshold": None},
    )
