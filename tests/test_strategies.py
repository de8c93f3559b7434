"""The four long-input strategies on real WordPiece tokenisations of synthetic documents."""

from __future__ import annotations

import itertools
import json
import random
import re
import string

import numpy as np
import pytest
from transformers import PreTrainedTokenizerBase

from longbert.document import Document
from longbert.encoder_source import load_tokenizer
from longbert.errors import StrategyConfigError
from longbert.settings import BERT_CONTENT_TOKENS
from longbert.strategies import (
    STRATEGIES,
    ChunkStrategy,
    KeySentencesStrategy,
    Selection,
    SparseStrategy,
    TruncateStrategy,
    get_strategy,
    parse_strategy,
)
from longbert.strategies.chunk import window_starts
from longbert.strategies.key_sentences import greedy_fill
from longbert.tokenization import TokenizedDocument, tokenize_document

TOPIC = ("photosynthesis", "chlorophyll", "sunlight", "glucose", "oxygen", "leaves", "carbon")


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerBase:
    return load_tokenizer(None)


@pytest.fixture(scope="module")
def vocab(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """Whole English words from the tokenizer's vocabulary (no topic words)."""
    words = (w for w in tokenizer.get_vocab() if w.isascii() and w.isalpha() and len(w) >= 3)
    return sorted(w for w in words if w not in TOPIC)


def make_text(vocab: list[str], sentence_count: int, seed: int) -> str:
    """Varied sentences (lengths 3-40 words, commas, numbers) in paragraphs."""
    rng = random.Random(seed)
    paragraphs, current = [], []
    for _ in range(sentence_count):
        words = [rng.choice(vocab) for _ in range(rng.randint(3, 40))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), f"{rng.randint(1, 9999)},")
        current.append(" ".join(words).capitalize() + rng.choice(".!?"))
        if rng.random() < 0.1:
            paragraphs.append(" ".join(current))
            current = []
    paragraphs.append(" ".join(current))
    return "\n\n".join(p for p in paragraphs if p)


def tokenize(tokenizer: PreTrainedTokenizerBase, text: str) -> TokenizedDocument:
    return tokenize_document(Document(text), tokenizer)


@pytest.fixture(scope="module")
def long_doc(tokenizer: PreTrainedTokenizerBase, vocab: list[str]) -> TokenizedDocument:
    doc = tokenize(tokenizer, make_text(vocab, 900, seed=1))
    assert 15_000 <= doc.num_tokens <= 30_000
    return doc


@pytest.fixture(scope="module")
def docs_of_many_sizes(tokenizer: PreTrainedTokenizerBase, vocab: list[str]) -> list[TokenizedDocument]:
    """Prefixes of one text, from a few tokens to about 3,000 (around every window size)."""
    text = make_text(vocab, 200, seed=2)
    cuts = [12, 40, 300, 1000, 1500, 2000, 2100, 2200, 2500, 3000, 4000, 6000, 9000, len(text)]
    return [tokenize(tokenizer, text[:cut]) for cut in cuts]


def check_selection(selection: Selection, budget: int) -> None:
    """Every window: sorted distinct in-range positions, at most ``budget`` of them."""
    n = selection.doc.num_tokens
    assert selection.windows, "at least one window"
    for window in selection.windows:
        assert window.dtype == np.int64
        assert len(window) <= budget
        assert np.all(np.diff(window) > 0), "document order, no repeats"
        assert len(window) == 0 or (window[0] >= 0 and window[-1] < n)


def check_spans_match_tokens(selection: Selection) -> None:
    """Each character span holds exactly the text of its tokens (plus whitespace between)."""
    doc, text = selection.doc, selection.doc.text
    positions = selection.used_positions
    spans = selection.spans
    runs = np.split(positions, np.nonzero(np.diff(positions) != 1)[0] + 1)
    assert len(runs) == len(spans)
    for (start, end), run in zip(spans, runs, strict=True):
        token_text = "".join(text[a:b] for a, b in doc.offsets[run].tolist())
        assert re.sub(r"\s", "", text[start:end]) == token_text


STRATEGY_CONFIGS = [
    ("truncate", {}, BERT_CONTENT_TOKENS),
    ("truncate", {"mode": "head"}, BERT_CONTENT_TOKENS),
    ("truncate", {"mode": "tail", "max_tokens": 100}, 100),
    ("truncate", {"head_tokens": 0, "tail_tokens": 510}, BERT_CONTENT_TOKENS),
    ("truncate", {"head_tokens": 50, "tail_tokens": 7, "max_tokens": 64}, 57),
    ("key_sentences", {}, BERT_CONTENT_TOKENS),
    ("key_sentences", {"max_tokens": 64, "scorer": "centroid"}, 64),
    ("key_sentences", {"max_tokens": 5}, 5),
    ("chunk", {}, BERT_CONTENT_TOKENS),
    ("chunk", {"window": 128, "stride": 128, "max_chunks": 3}, 128),
    ("chunk", {"window": 64, "stride": 1, "pooling": "attention"}, 64),
    ("sparse", {}, 4096),
    ("sparse", {"max_tokens": 1024, "global_sentences": True}, 1024),
]


@pytest.mark.parametrize(("name", "params", "budget"), STRATEGY_CONFIGS)
def test_budget_never_exceeded_and_spans_map_back(
    name: str, params: dict, budget: int, docs_of_many_sizes: list[TokenizedDocument]
) -> None:
    strategy = get_strategy(name, **params)
    for doc in docs_of_many_sizes:
        selection = strategy.select(doc)
        assert selection.mode == strategy.mode
        check_selection(selection, budget)
        check_spans_match_tokens(selection)
        if doc.num_tokens <= budget:
            # Short documents are kept whole (chunk: in one window).
            assert selection.used_tokens == doc.num_tokens


def test_head_span_retokenizes_to_the_same_ids(
    long_doc: TokenizedDocument, tokenizer: PreTrainedTokenizerBase
) -> None:
    selection = TruncateStrategy(mode="head").select(long_doc)
    [(start, end)] = selection.spans
    assert start == 0
    ids = tokenizer(long_doc.text[start:end], add_special_tokens=False)["input_ids"]
    assert ids == long_doc.input_ids[:BERT_CONTENT_TOKENS].tolist()


def test_head_plus_tail_is_first_128_and_last_382(long_doc: TokenizedDocument) -> None:
    n = long_doc.num_tokens
    selection = TruncateStrategy().select(long_doc)
    [window] = selection.windows
    expected = np.concatenate([np.arange(128), np.arange(n - 382, n)])
    np.testing.assert_array_equal(window, expected)
    assert selection.used_tokens == 510 and selection.total_tokens == n
    head_span, tail_span = selection.spans
    assert head_span == (int(long_doc.offsets[0, 0]), int(long_doc.offsets[127, 1]))
    assert tail_span == (int(long_doc.offsets[n - 382, 0]), int(long_doc.offsets[n - 1, 1]))


def test_head_and_tail_modes(long_doc: TokenizedDocument) -> None:
    n = long_doc.num_tokens
    head = TruncateStrategy(mode="head", max_tokens=300).select(long_doc).windows[0]
    tail = TruncateStrategy(mode="tail").select(long_doc).windows[0]
    np.testing.assert_array_equal(head, np.arange(300))
    np.testing.assert_array_equal(tail, np.arange(n - 510, n))


def test_truncate_keeps_short_documents_whole(tokenizer: PreTrainedTokenizerBase) -> None:
    doc = tokenize(tokenizer, "A short document. It has two sentences.")
    for mode in ("head", "tail", "head+tail"):
        [window] = TruncateStrategy(mode=mode).select(doc).windows
        np.testing.assert_array_equal(window, np.arange(doc.num_tokens))


def test_truncate_positions_for_every_size() -> None:
    strategy = TruncateStrategy(head_tokens=10, tail_tokens=20, max_tokens=40)
    for n in range(0, 80):
        positions = strategy.positions(n)
        if n <= 30:
            np.testing.assert_array_equal(positions, np.arange(n))
        else:
            assert positions.tolist() == [*range(10), *range(n - 20, n)]


def test_chunk_windows_cover_every_token_with_configured_overlap(
    long_doc: TokenizedDocument,
) -> None:
    n = long_doc.num_tokens
    selection = ChunkStrategy().select(long_doc)
    windows = selection.windows
    assert selection.used_tokens == n
    np.testing.assert_array_equal(np.unique(np.concatenate(windows)), np.arange(n))
    assert all(len(w) == 510 for w in windows)
    assert windows[0][0] == 0 and windows[-1][-1] == n - 1
    starts = [int(w[0]) for w in windows]
    # Every window but the last starts `stride` after the previous one...
    assert all(b - a == 256 for a, b in itertools.pairwise(starts[:-1]))
    for previous, following in itertools.pairwise(windows[:-1]):
        assert len(np.intersect1d(previous, following)) == 510 - 256
    # The last window is moved back to end at the last token: it overlaps at least as much.
    assert len(np.intersect1d(windows[-2], windows[-1])) >= 510 - 256


def test_chunk_starts_property_over_sizes() -> None:
    for window, stride in [(510, 256), (510, 510), (100, 1), (64, 50), (1, 1)]:
        for n in [0, 1, window - 1, window, window + 1, 2 * window, 1234, 5000]:
            starts = window_starts(n, window, stride)
            covered = np.zeros(max(n, 1), dtype=bool)
            for s in starts.tolist():
                covered[s : s + window] = True
            assert covered[:n].all()
            assert starts[0] == 0
            assert np.all(np.diff(starts) > 0)
            assert np.all(np.diff(starts) <= stride)
            if n > window:
                assert starts[-1] + window == n


def test_max_chunks_spreads_windows_evenly_from_first_to_last(
    long_doc: TokenizedDocument,
) -> None:
    n = long_doc.num_tokens
    windows = ChunkStrategy(max_chunks=4).select(long_doc).windows
    assert len(windows) == 4
    assert windows[0][0] == 0 and windows[-1][-1] == n - 1
    gaps = np.diff([int(w[0]) for w in windows])
    assert gaps.max() - gaps.min() <= 1
    assert [w[0] for w in ChunkStrategy(max_chunks=1).select(long_doc).windows] == [0]
    # A cap above the number of windows needed changes nothing.
    uncapped = ChunkStrategy().select(long_doc).windows
    capped = ChunkStrategy(max_chunks=len(uncapped)).select(long_doc).windows
    assert [w.tolist() for w in capped] == [w.tolist() for w in uncapped]


def test_chunk_can_also_read_the_head_tail_view_as_its_first_window(
    long_doc: TokenizedDocument, docs_of_many_sizes: list[TokenizedDocument]
) -> None:
    n = long_doc.num_tokens
    plain = ChunkStrategy().select(long_doc).windows
    first, *rest = ChunkStrategy(head_tail=True).select(long_doc).windows
    assert first.tolist() == [*range(128), *range(n - 382, n)]
    assert first.tolist() == TruncateStrategy(mode="head+tail").select(long_doc).windows[0].tolist()
    assert [w.tolist() for w in rest] == [w.tolist() for w in plain]
    small = ChunkStrategy(window=64, stride=32, head_tail=True)
    for doc in docs_of_many_sizes:
        windows = small.select(doc).windows
        plain_count = len(ChunkStrategy(window=64, stride=32).select(doc).windows)
        # One window more only when the document needs more than one window.
        assert len(windows) == plain_count + (doc.num_tokens > 64)
        if doc.num_tokens > 64:
            assert len(windows[0]) == 64 and windows[0][0] == 0 and windows[0][-1] == doc.num_tokens - 1


def test_sparse_window_and_global_sentence_starts(long_doc: TokenizedDocument) -> None:
    selection = SparseStrategy(max_tokens=2048, global_sentences=True).select(long_doc)
    [window] = selection.windows
    np.testing.assert_array_equal(window, np.arange(2048))
    assert selection.spans == [(int(long_doc.offsets[0, 0]), int(long_doc.offsets[2047, 1]))]
    globals_ = selection.global_positions
    assert globals_.dtype == np.int64 and len(globals_) > 10
    assert globals_[0] == 0 and globals_.max() < 2048 and np.all(np.diff(globals_) > 0)
    # Exactly the tokens that start a sentence inside the window.
    starts = np.nonzero(np.diff(long_doc.token_sentence[:2048], prepend=-1) != 0)[0]
    np.testing.assert_array_equal(globals_, starts)
    text = long_doc.text
    for position in globals_.tolist():
        sentence = long_doc.sentence_spans[long_doc.token_sentence[position]]
        assert long_doc.offsets[position, 0] == sentence[0], text[sentence[0] : sentence[1]]


def test_sparse_without_global_sentences_and_short_docs(
    long_doc: TokenizedDocument, tokenizer: PreTrainedTokenizerBase
) -> None:
    selection = SparseStrategy().select(long_doc)
    assert selection.used_tokens == 4096 and len(selection.global_positions) == 0
    short = tokenize(tokenizer, "Short. Very short.")
    selection = SparseStrategy(global_sentences=True).select(short)
    assert selection.used_tokens == short.num_tokens
    assert selection.global_positions.tolist() == [0, 2]


def topic_document(vocab: list[str], seed: int = 3) -> str:
    """A third of the sentences share topic words; the rest are unrelated random words."""
    rng = random.Random(seed)
    sentences = []
    for index in range(240):
        words = rng.sample(vocab, rng.randint(4, 9))
        if index % 3 == 0:
            words += rng.sample(TOPIC, 4)
        rng.shuffle(words)
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def test_key_sentences_prefer_central_sentences(tokenizer: PreTrainedTokenizerBase, vocab: list[str]) -> None:
    doc = tokenize(tokenizer, topic_document(vocab))
    assert doc.num_tokens > 3 * BERT_CONTENT_TOKENS
    for scorer in ("textrank", "centroid"):
        selection = KeySentencesStrategy(scorer=scorer).select(doc)
        chosen = [s for s in selection.segment_scores if s.selected]
        assert len(chosen) >= 20
        on_topic = [any(t in doc.text[a:b].lower() for t in TOPIC) for a, b in (s.span for s in chosen)]
        assert all(on_topic), scorer
        # Budget well used: greedy filling keeps trying smaller sentences.
        assert BERT_CONTENT_TOKENS - 10 <= selection.used_tokens <= BERT_CONTENT_TOKENS


def test_key_sentences_document_order_scores_and_determinism(long_doc: TokenizedDocument) -> None:
    selection = KeySentencesStrategy().select(long_doc)
    [window] = selection.windows
    again = KeySentencesStrategy(**KeySentencesStrategy().params).select(long_doc)
    np.testing.assert_array_equal(window, again.windows[0])
    assert [s.score for s in selection.segment_scores] == [s.score for s in again.segment_scores]
    scores = selection.segment_scores
    assert all(s.kind == "sentence" for s in scores)
    assert len(scores) == len(long_doc.sentence_spans)  # no sentence is over 510 tokens here
    assert max(s.score for s in scores) == 1.0 and min(s.score for s in scores) >= 0.0
    spans = [s.span for s in scores]
    assert spans == sorted(spans)
    # Selected sentences are exactly the window's tokens, whole sentences, in document order.
    selected_positions = np.concatenate(
        [np.nonzero(long_doc.token_sentence == i)[0] for i, s in enumerate(scores) if s.selected]
    )
    np.testing.assert_array_equal(window, selected_positions)
    # Nothing left out would still fit: greedy filling tried every smaller sentence.
    left = BERT_CONTENT_TOKENS - len(window)
    lengths = np.bincount(long_doc.token_sentence, minlength=len(scores))
    assert all(lengths[i] > left for i, s in enumerate(scores) if not s.selected)


def test_key_sentences_split_sentences_longer_than_the_budget(long_doc: TokenizedDocument) -> None:
    budget = 16
    selection = KeySentencesStrategy(max_tokens=budget).select(long_doc)
    [window] = selection.windows
    assert len(window) == budget  # pieces of long sentences make the budget fillable
    assert len(selection.segment_scores) > len(long_doc.sentence_spans)
    text = long_doc.text
    for score in selection.segment_scores:
        start, end = score.span
        assert not text[start].isspace() and not text[end - 1].isspace()


def test_key_sentences_short_document_keeps_everything_with_scores(
    tokenizer: PreTrainedTokenizerBase,
) -> None:
    doc = tokenize(tokenizer, "Cats purr. Dogs bark loudly. Cats and dogs play.\n\nThe end.")
    selection = KeySentencesStrategy().select(doc)
    assert selection.used_tokens == doc.num_tokens
    assert [s.selected for s in selection.segment_scores] == [True] * 4
    assert max(s.score for s in selection.segment_scores) == 1.0


def test_greedy_fill_skips_what_does_not_fit_and_breaks_ties_by_position() -> None:
    chosen = greedy_fill(np.array([0.9, 0.8, 0.1]), np.array([6, 5, 3]), budget=9)
    assert chosen.tolist() == [True, False, True]
    tied = greedy_fill(np.array([0.5, 0.5, 0.5, 0.5]), np.array([3, 3, 3, 3]), budget=6)
    assert tied.tolist() == [True, True, False, False]
    empty = greedy_fill(np.array([1.0, 0.5]), np.array([0, 2]), budget=5)
    assert empty.tolist() == [False, True]


def test_identical_sentences_tie_to_the_earliest(tokenizer: PreTrainedTokenizerBase) -> None:
    sentence = "The river flows through the quiet valley past the old mill."
    doc = tokenize(tokenizer, " ".join([sentence] * 60))
    per_sentence = doc.num_tokens // 60
    selection = KeySentencesStrategy(max_tokens=per_sentence * 3).select(doc)
    assert [i for i, s in enumerate(selection.segment_scores) if s.selected] == [0, 1, 2]


def test_no_punctuation_blob_through_every_strategy(tokenizer: PreTrainedTokenizerBase) -> None:
    rng = random.Random(0)
    blob = "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(100_000))
    doc = tokenize(tokenizer, blob)
    assert len(doc.sentence_spans) >= 100
    for name, params, budget in STRATEGY_CONFIGS:
        selection = get_strategy(name, **params).select(doc)
        check_selection(selection, budget)


BAD_PARAMS = [
    ("truncate", {"mode": "middle"}, "mode"),
    ("truncate", {"head_tokens": -1}, "head_tokens"),
    ("truncate", {"head_tokens": "128"}, "head_tokens"),
    ("truncate", {"tail_tokens": 12.5}, "tail_tokens"),
    ("truncate", {"head_tokens": 300, "tail_tokens": 300}, "max_tokens"),
    ("truncate", {"max_tokens": 511}, "max_tokens"),
    ("truncate", {"max_tokens": True}, "max_tokens"),
    ("truncate", {"mode": "head+tail", "head_tokens": 0, "tail_tokens": 0}, "head_tokens"),
    ("truncate", {"windw": 3}, "windw"),
    ("key_sentences", {"max_tokens": 0}, "max_tokens"),
    ("key_sentences", {"scorer": "lexrank"}, "scorer"),
    ("key_sentences", {"damping": 1.0}, "damping"),
    ("key_sentences", {"damping": "0.85"}, "damping"),
    ("chunk", {"window": 0}, "window"),
    ("chunk", {"window": 511}, "window"),
    ("chunk", {"window": 100, "stride": 101}, "stride"),
    ("chunk", {"stride": 0}, "stride"),
    ("chunk", {"pooling": "sum"}, "pooling"),
    ("chunk", {"max_chunks": 0}, "max_chunks"),
    ("chunk", {"max_chunks": 2.0}, "max_chunks"),
    ("sparse", {"max_tokens": 511}, "max_tokens"),
    ("sparse", {"max_tokens": 40_000}, "max_tokens"),
    ("sparse", {"attention_window": 0}, "attention_window"),
    ("sparse", {"max_tokens": 1024, "attention_window": 2048}, "attention_window"),
    ("sparse", {"global_sentences": "yes"}, "global_sentences"),
]


@pytest.mark.parametrize(("name", "params", "parameter"), BAD_PARAMS)
def test_bad_parameters_name_the_parameter(name: str, params: dict, parameter: str) -> None:
    with pytest.raises(StrategyConfigError, match=parameter):
        get_strategy(name, **params)


def test_configs_are_json_and_round_trip() -> None:
    assert set(STRATEGIES) == {"truncate", "key_sentences", "chunk", "sparse"}
    for name, params, _ in STRATEGY_CONFIGS:
        strategy = get_strategy(name, **params)
        config = json.loads(json.dumps(strategy.config()))
        rebuilt = get_strategy(config)
        assert type(rebuilt) is type(strategy) and rebuilt.params == strategy.params
    assert ChunkStrategy().params == {"window": 510, "stride": 256, "max_chunks": None, "head_tail": False}
    # Pooling and the sparse window are the model's settings: older specs still parse, and hand them over.
    assert parse_strategy({"name": "chunk", "params": {"pooling": "max"}})[1] == {"pooling": "max"}
    spec = {"name": "sparse", "params": {"max_tokens": 1024, "attention_window": 64}}
    strategy, model = parse_strategy(spec)
    assert strategy.config() == {"name": "sparse", "params": {"max_tokens": 1024, "global_sentences": False}}
    assert model == {"attention_window": 64}
    assert TruncateStrategy().params["mode"] == "head+tail"
