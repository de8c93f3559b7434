"""Sentence splitting: character spans of a document's sentences, offline and deterministic.

Pipeline, applied in this order:

1. **Paragraphs.** Blank lines (a line holding only whitespace), form feeds and U+2029 always
   end a sentence: headings, list items and table rows separated by blank lines never merge.
2. **Punkt** (nltk) inside each paragraph. When nltk can find the installed ``punkt_tab``
   English model it is used as is. Otherwise (the usual case offline: nothing is ever
   downloaded) Punkt parameters are learned unsupervised from the document itself with
   :class:`nltk.tokenize.punkt.PunktTrainer` -- from its first :data:`TRAIN_CHARS` characters, to
   keep long documents fast -- and merged with a seed list of common English abbreviations that
   a single document is usually too short to learn.
3. **CJK punctuation.** Full-width sentence enders (``。｡！？．‼⁇⁈⁉``), with any closing quotes or
   brackets right after them, end a sentence; Punkt only knows ``.?!`` followed by a space.
4. **Length cap.** A "sentence" longer than :data:`MAX_SENTENCE_CHARS` (text without
   punctuation: uuencoded or base64 blobs, tables, OCR output) is cut into pieces of at most that
   many characters, preferably after ``;``/``:``, else after ``,``, else at whitespace, in the
   second half of the piece; text with no whitespace at all is cut hard.

Every span is stripped of surrounding whitespace; spans are in order, non-overlapping, and
together cover every non-whitespace character of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer, PunktTrainer

#: Longest sentence, in characters. Longer ones are cut (see the module docstring). 1,000
#: characters is about 200 English words (~250 WordPiece tokens), past nearly every real
#: sentence yet small enough that a cut piece always fits in a BERT window beside others.
MAX_SENTENCE_CHARS = 1000

#: How much of a document Punkt learns from when no pretrained model is installed. Training is
#: linear in the text (roughly 0.25 s per 100k characters); abbreviations and collocations are
#: found early, so the rest of a long document adds time but little knowledge.
TRAIN_CHARS = 100_000

#: Abbreviations (lower case, without the final period) that are not sentence ends. Ambiguous
#: words that also end sentences ("no", "art", "sun", "mar", "may"...) are left out on purpose.
# fmt: off
SEED_ABBREVIATIONS = frozenset(
    (
        "mr", "mrs", "ms", "mssrs", "messrs", "dr", "prof", "sr", "jr", "st", "mt", "rev", "hon",
        "gen", "col", "lt", "maj", "sgt", "capt", "cmdr", "adm", "gov", "sen", "rep", "pres",
        "supt", "insp", "fr", "vs", "cf", "al", "approx", "ca", "fig", "figs", "eq", "eqs",
        "vol", "vols", "pp", "ch", "chap", "sect", "para", "paras", "dept", "univ", "inst",
        "assn", "assoc", "inc", "ltd", "corp", "llc", "bros", "jan", "feb", "apr", "jun", "jul",
        "aug", "sep", "sept", "oct", "nov", "dec", "e.g", "i.e", "a.m", "p.m", "u.s", "u.k",
        "u.n", "e.u", "ph.d", "m.d", "b.a", "m.a", "b.sc", "m.sc", "d.c", "n.y", "l.a", "ave",
        "blvd", "rd", "esp", "resp", "incl", "excl", "ref", "refs", "cit", "eds", "nr", "tel",
        "ext",
    )
)
# fmt: on

# A paragraph break: a line that holds only whitespace (so "\n\n", "\r\n\r\n", "\n  \n"),
# a form feed (page break in PDF text) or the Unicode paragraph separator.
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n|[\f\u2029]")

# Full-width (CJK) sentence enders, then closing quotes and brackets that belong to the sentence.
_CJK_END = re.compile(
    "[\u3002\uff61\uff01\uff1f\uff0e\u203c\u2047\u2048\u2049]+"
    "[\u300d\u300f\uff09\u3011\u3015\u3009\u300b\u3017\u3019\u301b\uff3d\uff5d\u201d\u2019\"')\\]]*"
)

# Where to cut an over-long sentence, best first: after a clause mark, after a comma, at space.
_SOFT_BREAKS = (re.compile(r"[;:](?=\s)"), re.compile(r",(?=\s)"), re.compile(r"\s"))


@lru_cache(maxsize=1)
def _pretrained_tokenizer() -> PunktSentenceTokenizer | None:
    """nltk's installed English ``punkt_tab`` model, or None when it is not installed.

    Only looks on disk (``nltk.data.find``); never downloads.
    """
    import nltk.data
    from nltk.tokenize.punkt import PunktTokenizer

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return PunktTokenizer("english")
    except (LookupError, OSError, ValueError):
        return None


def _trained_tokenizer(text: str) -> PunktSentenceTokenizer:
    """A Punkt tokenizer whose parameters are learned from ``text`` (plus the seed abbreviations).

    Training is deterministic: the same text always gives the same parameters.
    """
    trainer = PunktTrainer()
    sample = text[:TRAIN_CHARS]
    if len(text) > TRAIN_CHARS:
        # End the sample at whitespace so its last word is not a fragment Punkt learns from.
        cut = sample.rfind(" ")
        sample = sample[:cut] if cut > 0 else sample
    trainer.train(sample, finalize=True)
    params: PunktParameters = trainer.get_params()
    params.abbrev_types |= SEED_ABBREVIATIONS
    return PunktSentenceTokenizer(params)


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """Spans between paragraph breaks (may hold only whitespace; callers strip)."""
    start = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        yield start, match.start()
        start = match.end()
    yield start, len(text)


def _strip(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``(start, end)`` without surrounding whitespace, or None when nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _split_cjk(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Cut ``text[start:end]`` after every full-width sentence ender (and its closing marks)."""
    piece_start = start
    for match in _CJK_END.finditer(text, start, end):
        yield piece_start, match.end()
        piece_start = match.end()
    yield piece_start, end


def _cap_length(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Cut a span longer than MAX_SENTENCE_CHARS into pieces no longer than that."""
    while end - start > MAX_SENTENCE_CHARS:
        limit = start + MAX_SENTENCE_CHARS
        # Only cut in the second half of the piece, so pieces are never tiny.
        floor = start + MAX_SENTENCE_CHARS // 2
        cut = limit
        for pattern in _SOFT_BREAKS:
            matches = list(pattern.finditer(text, floor, limit))
            if matches:
                cut = matches[-1].end()
                break
        piece = _strip(text, start, cut)
        if piece is not None:
            yield piece
        start = cut
        # The next piece starts at its first non-whitespace character.
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        yield start, end


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, in order.

    Spans are half-open, non-overlapping, stripped of surrounding whitespace, at most
    :data:`MAX_SENTENCE_CHARS` long, and cover every non-whitespace character. Whitespace-only
    text gives ``[]``. Deterministic and offline (see the module docstring for the rules).
    """
    if not text or text.isspace():
        return []
    tokenizer = _pretrained_tokenizer() or _trained_tokenizer(text)
    spans: list[tuple[int, int]] = []
    for para_start, para_end in _paragraphs(text):
        paragraph = _strip(text, para_start, para_end)
        if paragraph is None:
            continue
        p_start, p_end = paragraph
        for rel_start, rel_end in tokenizer.span_tokenize(text[p_start:p_end]):
            for cjk_start, cjk_end in _split_cjk(text, p_start + rel_start, p_start + rel_end):
                sentence = _strip(text, cjk_start, cjk_end)
                if sentence is not None:
                    spans.extend(_cap_length(text, *sentence))
    return spans


__all__ = ["MAX_SENTENCE_CHARS", "SEED_ABBREVIATIONS", "TRAIN_CHARS", "split_sentences"]
