"""HTML views of an explanation: the top sentences for and against, and the highlighted document.

Every piece of document text goes through :func:`html.escape`: documents are untrusted (a
``<script>`` in an uploaded file must show as text, never run in the app).
"""

from __future__ import annotations

import html

from longbert.explain.result import Explanation

FOR_COLOUR = "rgba(46, 160, 67, {alpha:.2f})"
AGAINST_COLOUR = "rgba(215, 58, 73, {alpha:.2f})"


def _mark(text: str, score: float, scale: float, title: str) -> str:
    colour = FOR_COLOUR if score >= 0 else AGAINST_COLOUR
    alpha = 0.15 + 0.6 * min(abs(score) / scale, 1.0) if scale > 0 else 0.15
    return (
        f'<mark style="background:{colour.format(alpha=alpha)}" title="{html.escape(title)}">'
        f"{html.escape(text)}</mark>"
    )


def top_sentences_html(text: str, explanation: Explanation, k: int = 3) -> str:
    """Two lists: the ``k`` sentences most for the label and the ``k`` most against it."""
    scale = max((abs(s.score) for s in explanation.sentences), default=0.0)
    parts = []
    for heading, sign in (("For", 1), ("Against", -1)):
        chosen = explanation.top(k, sign=sign)
        items = "".join(
            "<li>"
            + _mark(text[s.span[0] : s.span[1]], s.score, scale, f"{s.score:+.4f}")
            + f" <small>({s.score:+.4f})</small></li>"
            for s in (explanation.sentences[i] for i in chosen)
        )
        label = html.escape(explanation.label)
        parts.append(f"<h4>{heading} '{label}'</h4><ol>{items or '<li><em>none</em></li>'}</ol>")
    return "".join(parts)


def document_html(text: str, explanation: Explanation, k: int = 3) -> str:
    """The whole text, the top ``k`` sentences for and against highlighted (others plain)."""
    scale = max((abs(s.score) for s in explanation.sentences), default=0.0)
    marked = {i for sign in (1, -1) for i in explanation.top(k, sign=sign)}
    spans = sorted((explanation.sentences[i].span, explanation.sentences[i].score) for i in marked)
    out, cursor = [], 0
    for (start, end), score in spans:
        out.append(html.escape(text[cursor:start]))
        out.append(_mark(text[start:end], score, scale, f"{score:+.4f}"))
        cursor = end
    out.append(html.escape(text[cursor:]))
    return '<div style="white-space: pre-wrap">' + "".join(out) + "</div>"
