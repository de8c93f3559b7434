"""Documents as escaped HTML with what the model saw, or where it looked, highlighted.

Every character of document text goes through :func:`html.escape`: a document containing
``<script>`` or markup is shown as text, never interpreted. Highlights are a bounded number of
``<span>`` runs (adjacent units with the same shade merge, and at most ``max_marks`` units are
painted), so a 10,000-token document stays a light page.
"""

from __future__ import annotations

import bisect
import html
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from longbert.results import SegmentScore, Span, segment_windows

#: Longest text rendered into a page; the rest is cut with a note (the model output is unaffected).
MAX_RENDER_CHARS = 200_000

SEEN_RGB = (34, 139, 230)
ATTENTION_RGB = (230, 85, 13)
UNSEEN_COLOR = "#8a8a8a"
#: Text the model never read, in the attention view: grey and struck through with a dotted line.
UNREAD_STYLE = "text-decoration:underline dotted rgba(138,138,138,0.8)"
UNREAD_SWATCH = "repeating-linear-gradient(45deg,#bbb 0 2px,#eee 2px 4px)"

_DOC_STYLE = (
    "white-space:pre-wrap;word-wrap:break-word;font-family:ui-serif,Georgia,serif;"
    "line-height:1.65;font-size:0.95rem;max-height:520px;overflow-y:auto;padding:0.6rem 0.8rem;"
    "border:1px solid rgba(128,128,128,0.35);border-radius:0.4rem;"
)


@dataclass(frozen=True)
class Run:
    """A painted stretch of text: ``[start, end)`` with an inline style and a hover title."""

    start: int
    end: int
    style: str
    title: str = ""


def _rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})"


def paint(text: str, runs: Sequence[Run], max_chars: int = MAX_RENDER_CHARS) -> str:
    """Escape ``text`` and wrap each run in a styled span; runs must not overlap.

    Returns a ``<div>`` (pre-wrapped, scrollable). Text past ``max_chars`` is left out and the
    div ends with a note saying how much was cut.
    """
    shown = text[:max_chars]
    parts: list[str] = [f'<div class="longbert-doc" style="{_DOC_STYLE}">']
    cursor = 0
    for run in sorted(runs, key=lambda r: r.start):
        start, end = max(run.start, cursor), min(run.end, len(shown))
        if end <= start:
            continue
        parts.append(html.escape(shown[cursor:start]))
        title = f' title="{html.escape(run.title, quote=True)}"' if run.title else ""
        style = html.escape(run.style, quote=True)
        parts.append(f'<span style="{style}"{title}>{html.escape(shown[start:end])}</span>')
        cursor = end
    parts.append(html.escape(shown[cursor:]))
    parts.append(cut_note(len(text), max_chars))
    parts.append("</div>")
    return "".join(parts)


def cut_note(length: int, max_chars: int = MAX_RENDER_CHARS) -> str:
    """The note ending a view of a ``length``-character text cut at ``max_chars`` ("" if not cut)."""
    if length <= max_chars:
        return ""
    return (
        f'\n\n<em style="color:{UNSEEN_COLOR}">[… {length - max_chars:,} more characters '
        "not shown here]</em>"
    )


def _complement(spans: Sequence[Span], length: int) -> list[Span]:
    gaps: list[Span] = []
    cursor = 0
    for start, end in sorted(spans):
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < length:
        gaps.append((cursor, length))
    return gaps


def seen_html(text: str, spans: Sequence[Span], max_chars: int = MAX_RENDER_CHARS) -> str:
    """The document with the spans the model read highlighted and the rest greyed out."""
    seen = f"background:{_rgba(SEEN_RGB, 0.22)}"
    runs = [Run(s, e, seen, "seen by the model") for s, e in spans]
    gaps = _complement(spans, len(text))
    runs += [Run(s, e, f"color:{UNSEEN_COLOR}", "not seen") for s, e in gaps]
    return paint(text, runs, max_chars)


def _elementary(
    segments: Sequence[SegmentScore], length: int, extra_bounds: Sequence[int] = ()
) -> list[tuple[int, int, list[int]]]:
    """Split overlapping segments into disjoint pieces, each with the segments covering it;
    ``extra_bounds`` are further places a piece must end (the edges of the read spans)."""
    ends = [p for s in segments for p in s.span] + list(extra_bounds)
    bounds = sorted({0, length, *(max(0, min(length, p)) for p in ends)})
    pieces: list[tuple[int, int, list[int]]] = []
    order = sorted(range(len(segments)), key=lambda i: segments[i].span[0])
    for a, b in itertools.pairwise(bounds):
        if b <= a:
            continue
        covering = [i for i in order if segments[i].span[0] <= a and segments[i].span[1] >= b]
        pieces.append((a, b, covering))
    return pieces


def segments_html(
    text: str,
    segments: Sequence[SegmentScore],
    spans: Sequence[Span] = (),
    max_chars: int = MAX_RENDER_CHARS,
) -> str:
    """What the model saw, shaded by the strategy's own segment scores.

    Key sentences: selected sentences are shaded by their centrality, unselected ones greyed.
    Chunk windows (which overlap): each stretch is shaded by the best score of the windows
    covering it, and its hover title lists those windows. Without segment scores this falls back
    to :func:`seen_html` over ``spans``.

    ``spans`` (the characters the model read) bound the shading: text outside them is "not
    seen" whatever segment covers it. Predictions stored before windows were split into
    contiguous runs have one segment from a head+tail window's first token to its last (the
    whole document); this keeps their unread middle grey.
    """
    if not segments:
        return seen_html(text, spans, max_chars)
    read = merged_spans(spans)
    read_starts = [start for start, _ in read]
    top = max((s.score for s in segments), default=0.0) or 1.0
    names = segment_names(segments)
    runs: list[Run] = []
    for a, b, covering in _elementary(segments, len(text), [p for span in read for p in span]):
        chosen = [i for i in covering if segments[i].selected]
        if covering and not chosen:  # key sentences the strategy left out: the reason it gives
            runs.append(Run(a, b, f"color:{UNSEEN_COLOR}", "not selected"))
            continue
        if not chosen or (read and not _inside(a, b, read, read_starts)):
            runs.append(Run(a, b, f"color:{UNSEEN_COLOR}", "not seen"))
            continue
        best = max(segments[i].score for i in chosen)
        alpha = 0.06 + 0.3 * max(0.0, best) / top  # light enough to read the text on it
        title = "; ".join(_segment_title(names[i], segments[i]) for i in chosen)
        runs.append(Run(a, b, f"background:{_rgba(SEEN_RGB, alpha)}", title))
    return paint(text, runs, max_chars)


def merged_spans(spans: Sequence[Span]) -> list[Span]:
    """Sorted, non-overlapping spans covering the same characters."""
    merged: list[list[int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _inside(start: int, end: int, merged: Sequence[Span], starts: Sequence[int]) -> bool:
    """Whether ``[start, end)`` lies within one of the sorted, disjoint ``merged`` spans
    (``starts``: their start offsets)."""
    i = bisect.bisect_right(starts, start) - 1
    return i >= 0 and merged[i][1] >= end


def run_labels(count: int) -> list[str]:
    """What the runs of a window read in ``count`` separate runs are called, in reading order:
    ``head`` and ``tail`` for two (chunk's head+tail window, the only one that reads apart),
    ``part 1 of 3``... should a window ever read more; nothing for one."""
    if count == 2:
        return ["head", "tail"]
    return [f"part {j} of {count}" for j in range(1, count + 1)] if count > 2 else [""]


def segment_names(segments: Sequence[SegmentScore]) -> list[str]:
    """Each segment as the pages name it: ``sentence 3``, ``window 2``, ``window 1 (head)`` and
    ``window 1 (tail)``: windows are numbered as the model read them
    (:func:`~longbert.results.segment_windows`), not by segment."""
    windows = segment_windows(segments)
    runs = Counter(w for w in windows if w is not None)
    named: Counter[int] = Counter()
    names = []
    for i, (segment, window) in enumerate(zip(segments, windows, strict=True)):
        if window is None:
            names.append(f"{segment.kind} {i + 1}")
            continue
        part = run_labels(runs[window])[named[window]]
        named[window] += 1
        names.append(f"window {window + 1}" + (f" ({part})" if part else ""))
    return names


def _segment_title(name: str, segment: SegmentScore) -> str:
    title = f"{name}: score {segment.score:.3f}"
    if segment.weight is not None:
        title += f", pooling weight {segment.weight:.3f}"
    return title


def attention_html(
    text: str,
    unit_spans: np.ndarray,
    unit_scores: np.ndarray,
    *,
    unit: str = "word",
    levels: int = 6,
    max_marks: int = 1500,
    max_chars: int = MAX_RENDER_CHARS,
    seen: Sequence[Span] | None = None,
) -> str:
    """A heat map drawn on the text: each word (or sentence) shaded by its attention.

    ``seen``: the character spans the model read; text outside them is greyed ("not read"), so
    a word the model never saw does not look like one it read and gave no attention.

    ``unit_spans`` ``[n, 2]`` and ``unit_scores`` ``[n]``. Scores are bucketed into ``levels``
    shades relative to the 99th percentile (higher scores share the darkest shade); units in the
    lowest bucket stay plain, only the
    ``max_marks`` highest-scoring units are painted, and neighbours in the same bucket share one
    span, so the output size is bounded whatever the document length.
    """
    spans = np.asarray(unit_spans, dtype=np.int64).reshape(-1, 2)
    scores = np.asarray(unit_scores, dtype=np.float64).reshape(-1)
    unread = [] if seen is None else [
        Run(s, e, f"color:{UNSEEN_COLOR};{UNREAD_STYLE}", "not read by the model")
        for s, e in _complement(seen, len(text))
    ]
    if len(spans) == 0 or len(scores) != len(spans) or not np.isfinite(scores).any():
        return paint(text, unread, max_chars)
    scores = np.nan_to_num(scores, nan=0.0).clip(min=0.0)
    # Attention is peaky (a few words take most of it): scaling by the maximum would leave almost
    # every word unshaded, so the darkest shade starts at the 99th percentile of positive scores.
    positive = scores[scores > 0]
    top = float(np.quantile(positive, 0.99)) if len(positive) else 1.0
    bucket = np.ceil(np.minimum(scores / (top or 1.0), 1.0) * levels).astype(np.int64) - 1
    bucket[scores <= 0] = 0
    keep = bucket > 0
    if keep.sum() > max_marks:
        threshold = np.sort(scores[keep])[-max_marks]
        keep &= scores >= threshold
    runs: list[Run] = []
    current: list[int] | None = None  # [start, end, bucket, max_score_index]
    for i in np.nonzero(keep)[0]:
        start, end, level = int(spans[i, 0]), int(spans[i, 1]), int(bucket[i])
        joinable = (
            current is not None
            and current[2] == level
            and not text[current[1] : start].strip()  # only whitespace between the two units
        )
        if joinable and current is not None:
            current[1] = end
            if scores[i] > scores[current[3]]:
                current[3] = int(i)
        else:
            if current is not None:
                runs.append(_attention_run(current, levels, scores, unit))
            current = [start, end, level, int(i)]
    if current is not None:
        runs.append(_attention_run(current, levels, scores, unit))
    return paint(text, runs + unread, max_chars)


def _attention_run(current: list[int], levels: int, scores: np.ndarray, unit: str) -> Run:
    start, end, level, best = current
    alpha = 0.08 + 0.55 * (level + 1) / levels  # the darkest shade keeps text readable
    return Run(
        start,
        end,
        f"background:{_rgba(ATTENTION_RGB, alpha)};border-radius:2px",
        f"{unit} attention {scores[best]:.4f}",
    )


def legend_html(items: Sequence[tuple[str, str]]) -> str:
    """A one-line legend: ``[(css_background, label), ...]`` as small swatches (labels escaped)."""
    swatches = [
        f'<span style="display:inline-block;width:0.9em;height:0.9em;background:{html.escape(css)};'
        f'border-radius:2px;vertical-align:middle;margin:0 0.3em 0 0.9em"></span>'
        f"{html.escape(label)}"
        for css, label in items
    ]
    return f'<div style="font-size:0.85rem">{"".join(swatches)}</div>'


def seen_legend(unread: bool) -> str:
    """The "what the model saw" legend; the "not seen" swatch only when something was not."""
    items = [(_rgba(SEEN_RGB, 0.35), "seen by the model (darker: higher segment score)")]
    return legend_html(items + ([(UNSEEN_COLOR, "not seen")] if unread else []))


def attention_legend(unread: bool) -> str:
    """The attention legend; "not read" (grey text) only when part of the document was not."""
    items = [(_rgba(ATTENTION_RGB, 0.3), "some attention"),
             (_rgba(ATTENTION_RGB, 0.85), "most attention")]
    if unread:
        items.append((UNREAD_SWATCH, "grey text / grey cells: not read by the model"))
    return legend_html(items)
