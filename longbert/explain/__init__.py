"""Explanations of predictions: which sentences (and words) made the label, for every strategy.

Three methods share one result type (:class:`Explanation`): sentence **occlusion** (drop in the
label's probability when a sentence is removed from what the model read), **integrated
gradients** / **gradient × input** on the word embeddings (Captum), and the prediction's own
**attention** summary. Every call into the classifier goes through :mod:`longbert.explain.model_io`.
"""

from longbert.explain.api import ExplanationMemoryError, check_probability, explain, explain_many
from longbert.explain.html import document_html, top_sentences_html
from longbert.explain.result import METHODS, Explanation, SentenceScore, WordScore
from longbert.explain.units import ReadSentences, keep_positions, read_sentences, remove_positions, top_share

__all__ = [
    "METHODS",
    "Explanation",
    "ExplanationMemoryError",
    "ReadSentences",
    "SentenceScore",
    "WordScore",
    "check_probability",
    "document_html",
    "explain",
    "explain_many",
    "keep_positions",
    "read_sentences",
    "remove_positions",
    "top_sentences_html",
    "top_share",
]
