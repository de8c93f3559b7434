"""How a "Why this label" result reads: method titles and what their scores mean, the top
sentences as table lines, the summary line. Plain text, no Streamlit; :mod:`longbert.ui.explanations`
computes and keeps the results (and re-exports these for the pages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from longbert.explain import Explanation
    from longbert.store.explanations import ExplanationRecord

METHOD_TITLES = {
    "occlusion": "Occlusion",
    "integrated_gradients": "Integrated gradients",
    "gradient_x_input": "Gradient × input",
    "attention": "Attention",
}

#: What each method's scores mean, for someone reading the result (shown under the switch).
METHOD_HELP = {
    "occlusion": (
        "Each sentence the model read is removed in turn and the document classified again: a "
        "sentence's score is how far the label's probability drops without it. Green sentences "
        "speak for the label (removing them lowers it), red ones against it. Measures the "
        "model's own behaviour; one extra model run per sentence, so the slowest on long texts."
    ),
    "integrated_gradients": (
        "Follows the gradient of the label's probability from an empty input ([PAD] tokens) to "
        "the text in 16 steps and sums it over each sentence's words (Captum). Green pushes "
        "towards the label, red away from it. About 16 backward passes per window."
    ),
    "gradient_x_input": (
        "The gradient of the label's probability times the word embeddings, in one backward "
        "pass: a fast, noisier version of integrated gradients. Green for the label, red against."
    ),
    "attention": (
        "Where the model's [CLS] token looked in its last layer. It shows what the model attended "
        "to, not whether that pushed towards the label, so nothing is ever 'against'. Cheap: one "
        "ordinary classification."
    ),
}


def method_title(method: str) -> str:
    return METHOD_TITLES.get(method, method)


def method_help(method: str) -> str:
    return METHOD_HELP.get(method, "")


def score_text(explanation: Explanation, score: float) -> str:
    """A score in its method's unit: probability points, or a share of attention."""
    if explanation.method == "attention":
        return f"{score:.1%} of attention"
    points = score * 100
    # Small scores keep two significant digits: "+0.0 pts" would hide which way they point.
    return f"{points:+.1f} pts" if abs(points) >= 0.1 or points == 0 else f"{points:+.2g} pts"


def seconds_text(seconds: float) -> str:
    """``1.3 s``, or ``45 ms`` under a tenth of a second."""
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


@dataclass(frozen=True)
class SentenceLine:
    """One of the top sentences for or against the label, as a table line."""

    rank: int
    sentence: str
    score: str
    words: str
    #: Share of the sentence the model read (a window may cut through it).
    coverage: float
    #: The score is an estimate (coarse-to-fine occlusion), not the sentence's measured drop;
    #: ``score`` then reads "≈… (estimated)".
    estimated: bool = False

    def row(self) -> dict[str, Any]:
        return {
            "#": self.rank,
            "sentence": self.sentence,
            "score": self.score,
            "key words": self.words,
            "share read": f"{self.coverage:.0%}",
        }


def _snippet(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def top_lines(
    text: str, explanation: Explanation, k: int = 3, *, sign: int = 1, max_chars: int = 300
) -> list[SentenceLine]:
    """The ``k`` sentences most for (``sign=1``) or against (``-1``) the label, strongest first,
    with their key words (where computed); an estimated score is marked "≈… (estimated)".
    Plain text: the page shows it in a table."""
    lines = []
    for rank, i in enumerate(explanation.top(k, sign=sign), start=1):
        sentence = explanation.sentences[i]
        scored = [(text[w.span[0] : w.span[1]], w.score) for w in explanation.top_words.get(i, [])]
        words = ", ".join(
            f"{_snippet(word, 40)} ({score_text(explanation, score)})"
            for word, score in scored
            if any(ch.isalnum() for ch in word)  # punctuation is scored too, but tells a reader nothing
        )
        score = score_text(explanation, sentence.score)
        lines.append(
            SentenceLine(
                rank,
                _snippet(text[sentence.span[0] : sentence.span[1]], max_chars),
                f"≈{score} (estimated)" if sentence.estimated else score,
                words,
                sentence.coverage,
                sentence.estimated,
            )
        )
    return lines


def summary_text(record: ExplanationRecord) -> str:
    """E.g. ``Occlusion of 'sport' (81.2% probability) · 14 sentences read · 3.2 s · saved
    2026-01-05 10:12 UTC``; attention says its scores are the same for every label, and the
    explanation's warnings (e.g. its probability is not the prediction's) follow, marked ⚠."""
    e = record.explanation
    count = len(e.sentences)
    same_for_all = (
        " · attention does not depend on the label: the same for every label"
        if e.method == "attention"
        else ""
    )
    warnings = "".join(f" · ⚠ {warning}" for warning in e.warnings)
    return (
        f"{method_title(e.method)} of '{e.label}' ({e.probability:.1%} probability){same_for_all} · "
        f"{count} sentence{'s' if count != 1 else ''} read{estimated_text(e)} · strategy {e.strategy} · "
        f"computed in {seconds_text(e.seconds)} · saved {record.created_at:%Y-%m-%d %H:%M} UTC"
        f"{warnings}"
    )


def estimated_text(explanation: Explanation) -> str:
    """`` (12 scores estimated from blocks of sentences, marked ≈)`` when coarse-to-fine
    occlusion left some sentence scores estimated (their block's drop shared by length), else
    ``""``."""
    flagged = sum(s.estimated for s in explanation.sentences)
    # Explanations stored before the per-sentence flag have only the count.
    count = flagged or int((explanation.details.get("occlusion") or {}).get("estimated_sentences") or 0)
    if not count:
        return ""
    scores = f"{count} score{'s' if count != 1 else ''} estimated from blocks of sentences"
    if not flagged:
        return f" ({scores}; computed before estimated scores were marked)"
    return f" ({scores}, marked ≈)"


def empty_list_text(explanation: Explanation, sign: int) -> str:
    """Why a for/against list is empty."""
    if sign < 0 and explanation.method == "attention":
        return "Attention is never negative: it cannot show what speaks against the label."
    return "No sentence speaks " + ("for" if sign > 0 else "against") + " the label."
