"""Sentence splitting: Punkt offline, paragraphs, CJK punctuation, the length cap, invariants."""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

import nltk
import pytest

from longbert import sentences
from longbert.sentences import MAX_SENTENCE_CHARS, split_sentences

WORDS = [
    *("market", "study", "results", "patients", "growth", "company", "river", "mountain"),
    *("engine", "theory", "data", "court", "contract", "payment", "music", "history"),
    *("science", "model", "weather", "energy", "policy", "city", "water", "school"),
]


def texts_of(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def assert_valid_spans(text: str, spans: list[tuple[int, int]]) -> None:
    """In order, non-overlapping, stripped, capped, and covering every non-whitespace char."""
    covered = [False] * len(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        assert end - start <= MAX_SENTENCE_CHARS
        covered[start:end] = [True] * (end - start)
        previous_end = end
    missed = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missed, f"uncovered characters at {missed[:10]}"


def random_text(rng: random.Random, sentences_count: int) -> str:
    """English-like sentences with abbreviations, numbers, CJK bits, odd whitespace and breaks."""
    parts: list[str] = []
    for _ in range(sentences_count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 25))]
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), rng.choice(["Dr.", "e.g.", "U.S.", "3.14"]))
        sentence = " ".join(words).capitalize() + rng.choice([".", "!", "?", "", '."', "..."])
        if rng.random() < 0.1:
            sentence = "今天天气很好。我们去公园吧！" + sentence
        parts.append(sentence)
        parts.append(rng.choice([" ", "  ", "\n", "\n\n", "\t", " \r\n \r\n ", "\f"]))
    return "".join(parts)


def test_english_sentences_and_common_abbreviations() -> None:
    text = (
        "Dr. Smith met Mr. Jones at 5 p.m. in the U.S. office. They talked for hours! "
        "Was it useful? Results are in Fig. 3 and the weather was fine, e.g. sunny."
    )
    assert texts_of(text) == [
        "Dr. Smith met Mr. Jones at 5 p.m. in the U.S. office.",
        "They talked for hours!",
        "Was it useful?",
        "Results are in Fig. 3 and the weather was fine, e.g. sunny.",
    ]


def test_blank_lines_end_sentences_but_single_newlines_do_not() -> None:
    text = (
        "Introduction\n\nThis sentence is wrapped\nacross two lines. Second one\r\n\r\n"
        "Methods  \n \t \nA list item\fNext page"
    )
    assert texts_of(text) == [
        "Introduction",
        "This sentence is wrapped\nacross two lines.",
        "Second one",
        "Methods",
        "A list item",
        "Next page",
    ]


def test_chinese_and_japanese_punctuation_end_sentences() -> None:
    chinese = "今天天气很好。我们去公园吧！你来吗？他说：「好。」然后走了。"
    assert texts_of(chinese) == [
        "今天天气很好。",
        "我们去公园吧！",
        "你来吗？",
        "他说：「好。」",
        "然后走了。",
    ]
    japanese = "これはペンです。（注意！）それは本です？“はい。”"
    assert texts_of(japanese) == ["これはペンです。", "（注意！）", "それは本です？", "“はい。”"]
    mixed = "这是中文。This is English. And more?"
    assert texts_of(mixed) == ["这是中文。", "This is English.", "And more?"]


def test_whitespace_only_and_tiny_texts() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\t \n ") == []
    assert texts_of("  word  ") == ["word"]
    assert texts_of("x") == ["x"]


def test_invariants_on_random_texts() -> None:
    rng = random.Random(7)
    for _ in range(40):
        text = random_text(rng, rng.randint(1, 40))
        assert_valid_spans(text, split_sentences(text))


def test_splitting_is_deterministic() -> None:
    text = random_text(random.Random(3), 300)
    assert split_sentences(text) == split_sentences(text)


def test_no_punctuation_blob_is_capped_hard() -> None:
    rng = random.Random(0)
    blob = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(100_000))
    started = time.perf_counter()
    spans = split_sentences(blob)
    assert time.perf_counter() - started < 5.0
    assert_valid_spans(blob, spans)
    assert len(spans) == 100_000 // MAX_SENTENCE_CHARS
    assert all(end - start == MAX_SENTENCE_CHARS for start, end in spans)


def test_uuencoded_like_blob_is_cut_at_whitespace() -> None:
    rng = random.Random(1)
    chars = string.ascii_uppercase + string.digits + "#$%&()*+-<=>@^_`"
    line_count = 100_000 // 62
    blob = "\n".join("M" + "".join(rng.choice(chars) for _ in range(60)) for _ in range(line_count))
    spans = split_sentences(blob)
    assert_valid_spans(blob, spans)
    assert len(spans) > len(blob) // MAX_SENTENCE_CHARS
    for _, end in spans[:-1]:
        assert blob[end].isspace(), "pieces should end at a line break, not inside a line"


def test_long_sentences_prefer_clause_breaks() -> None:
    clause = "the committee reviewed the budget and the schedule in detail"
    text = "; ".join([clause] * 60) + "."
    spans = split_sentences(text)
    assert_valid_spans(text, spans)
    assert len(spans) > 1
    for start, end in spans[:-1]:
        assert text[end - 1] == ";", text[start:end][-20:]


def test_fifty_thousand_words_split_into_every_sentence() -> None:
    # Speed is measured by bench/bench_sentences.py (about 0.4 s on one core), not asserted here.
    rng = random.Random(5)
    sentences_ = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))).capitalize() + "." for _ in range(2900)
    ]
    text = " ".join(sentences_)
    assert len(text.split()) >= 50_000
    spans = split_sentences(text)
    assert len(spans) == len(sentences_)
    assert [text[start:end] for start, end in spans] == sentences_


def test_installed_punkt_model_is_used_when_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without a model, parameters are learned from the text: "Blorf." ends a sentence.
    text = "We met Blorf. Smith was there too."
    monkeypatch.setattr(nltk, "download", _no_download)
    sentences._pretrained_tokenizer.cache_clear()
    try:
        if sentences._pretrained_tokenizer() is None:
            assert texts_of(text) == ["We met Blorf.", "Smith was there too."]
        # A punkt_tab model that knows "blorf" as an abbreviation is picked up from nltk's path.
        model = tmp_path / "tokenizers" / "punkt_tab" / "english"
        model.mkdir(parents=True)
        (model / "abbrev_types.txt").write_text("blorf\n", encoding="utf-8")
        for empty in ("collocations.tab", "sent_starters.txt", "ortho_context.tab"):
            (model / empty).write_text("", encoding="utf-8")
        monkeypatch.setattr(nltk.data, "path", [str(tmp_path), *nltk.data.path])
        sentences._pretrained_tokenizer.cache_clear()
        assert sentences._pretrained_tokenizer() is not None
        assert texts_of(text) == ["We met Blorf. Smith was there too."]
    finally:
        sentences._pretrained_tokenizer.cache_clear()


def _no_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("split_sentences must never download anything")


def test_spans_never_split_inside_words_for_normal_text() -> None:
    text = random_text(random.Random(11), 200)
    cjk_end = "。！？"
    for start, end in split_sentences(text):
        # A sentence starts after whitespace or a CJK ender, and ends before whitespace or
        # with a CJK ender: never in the middle of a word.
        assert start == 0 or text[start - 1].isspace() or text[start - 1] in cjk_end
        assert end == len(text) or text[end].isspace() or text[end - 1] in cjk_end
