"""HTML views of an explanation: the top sentences for and against, and the highlighted document.

Every piece of document text goes through :func:`html.escape`: documents are untrusted (a
``<script>`` in an uploaded file must show as text, never run in the app).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from longbert.explain.result import Explanation, SentenceScore, Span
from longbert.ui.highlight import MAX_RENDER_CHARS, UNSEEN_COLOR, cut_note, merged_spans

FOR_COLOUR = "rgba(46, 160, 67, {alpha:.2f})"
AGAINST_COLOUR = "rgba(215, 58, 73, {alpha:.2f})"


def _mark(text: str, score: float, scale: float, title: str) -> str:
    colour = FOR_COLOUR if score >= 0 else AGAINST_COLOUR
    alpha = 0.15 + 0.6 * min(abs(score) / scale, 1.0) if scale > 0 else 0.15
    return (
        f'<mark style="background:{colour.format(alpha=alpha)}" title="{html.escape(title)}">'
        f"{html.escape(text)}</mark>"
    )


def _score_text(sentence: SentenceScore) -> str:
    """A sentence's score as shown: ``≈`` and "estimated" when coarse-to-fine occlusion spread a
    block's score over it instead of measuring it."""
    if sentence.estimated:
        return f"≈{sentence.score:+.4f} estimated"
    return f"{sentence.score:+.4f}"


def top_sentences_html(text: str, explanation: Explanation, k: int = 3) -> str:
    """Two lists: the ``k`` sentences most for the label and the ``k`` most against it."""
    scale = max((abs(s.score) for s in explanation.sentences), default=0.0)
    parts = []
    for heading, sign in (("For", 1), ("Against", -1)):
        chosen = explanation.top(k, sign=sign)
        items = "".join(
            "<li>"
            + _mark(text[s.span[0] : s.span[1]], s.score, scale, _score_text(s))
            + f" <small>({_score_text(s)})</small></li>"
            for s in (explanation.sentences[i] for i in chosen)
        )
        label = html.escape(explanation.label)
        parts.append(f"<h4>{heading} '{label}'</h4><ol>{items or '<li><em>none</em></li>'}</ol>")
    return "".join(parts)


def document_html(
    text: str,
    explanation: Explanation,
    k: int = 3,
    *,
    read: Sequence[Span] | None = None,
    max_chars: int = MAX_RENDER_CHARS,
) -> str:
    """The text, the top ``k`` sentences for and against highlighted (others plain).

    ``read``: the character spans the model read (the prediction's ``spans``). A sentence a
    window cut through is highlighted only where it was read; its unread rest is grey. Without
    them such a sentence is highlighted whole and its hover title says how much was read.
    Like every document view, the text stops at ``max_chars`` with a note saying how much is cut.
    """
    scale = max((abs(s.score) for s in explanation.sentences), default=0.0)
    marked = {i for sign in (1, -1) for i in explanation.top(k, sign=sign)}
    read_spans = merged_spans(read or [])
    shown = text[:max_chars]
    out, cursor = [], 0
    for i in sorted(marked, key=lambda i: explanation.sentences[i].span):
        sentence = explanation.sentences[i]
        start, end = max(sentence.span[0], cursor), min(sentence.span[1], len(shown))
        if end <= start:
            continue
        title = _score_text(sentence)
        if sentence.coverage < 1.0:
            title += f" · {sentence.coverage:.0%} of this sentence read"
        out.append(html.escape(shown[cursor:start]))
        for piece_start, piece_end, was_read in _read_pieces(start, end, read_spans):
            piece = shown[piece_start:piece_end]
            if was_read:
                out.append(_mark(piece, sentence.score, scale, title))
            else:
                out.append(
                    f'<span style="color:{UNSEEN_COLOR}" title="not read by the model">'
                    f"{html.escape(piece)}</span>"
                )
        cursor = end
    out.append(html.escape(shown[cursor:]))
    return '<div style="white-space: pre-wrap">' + "".join(out) + cut_note(len(text), max_chars) + "</div>"


def _read_pieces(start: int, end: int, read: list[Span]) -> list[tuple[int, int, bool]]:
    """``[start, end)`` split into ``(piece_start, piece_end, was_read)`` by the merged ``read``
    spans. The whole range counts as read when no span is known or none meets it (spans of
    another reading of the text must not make a sentence's score vanish from the view)."""
    pieces: list[tuple[int, int, bool]] = []
    cursor = start
    for read_start, read_end in read:
        a, b = max(read_start, start), min(read_end, end)
        if b <= a:
            continue
        if a > cursor:
            pieces.append((cursor, a, False))
        pieces.append((a, b, True))
        cursor = b
    if not pieces:
        return [(start, end, True)]
    if cursor < end:
        pieces.append((cursor, end, False))
    return pieces
