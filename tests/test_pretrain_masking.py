"""The MLM objective's statistics, whole words, spans, determinism; packing and batch plans."""

from __future__ import annotations

import numpy as np
import pytest

from longbert.encoder_source import load_tokenizer
from longbert.pretraining import MaskingSpec, MaskVocabulary, make_batch, mask_sequence, pack_dense, pack_long
from longbert.pretraining.masking import IGNORE, _spans, budget, selection_units
from longbert.pretraining.packing import plan_epoch

TEXT = (
    "Tokenization of unbelievably antidisestablishmentarian paragraphs, said the parliamentarian, "
    "is counterintuitive; hyperpartisan newspapers rarely comprehend transliteration. "
)


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return load_tokenizer(None)


@pytest.fixture(scope="module")
def vocab(tokenizer) -> MaskVocabulary:  # type: ignore[no-untyped-def]
    return MaskVocabulary.from_tokenizer(tokenizer, 30522)


@pytest.fixture(scope="module")
def sequence(tokenizer) -> np.ndarray:  # type: ignore[no-untyped-def]
    """[CLS] doc [SEP] doc [SEP] [PAD] [PAD]: two documents, specials inside, padding at the end."""
    doc = tokenizer(TEXT * 6, add_special_tokens=False)["input_ids"]
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    return np.asarray([cls, *doc, sep, *doc[:100], sep, pad, pad], dtype=np.int64)


def words_of(ids: np.ndarray, vocab: MaskVocabulary) -> list[np.ndarray]:
    starts, lengths = selection_units(ids, vocab, "word")
    return [np.arange(s, s + n) for s, n in zip(starts, lengths, strict=True)]


def test_token_masking_selects_15_percent_then_80_10_10_and_never_specials(
    sequence: np.ndarray, vocab: MaskVocabulary
) -> None:
    special = vocab.special[sequence]
    target = budget(int((~special).sum()), 0.15)
    kinds = np.zeros(4)
    for draw in range(1500):
        masked = mask_sequence(sequence, vocab, MaskingSpec(), np.random.default_rng(draw))
        selected = masked.selected
        assert selected.sum() == target  # BERT's exact budget, every draw
        assert not (selected & special).any()  # [CLS], [SEP], [PAD] never selected or changed
        assert np.array_equal(masked.input_ids[special], sequence[special])
        assert np.array_equal(masked.labels[selected], sequence[selected])
        assert (masked.labels[~selected] == IGNORE).all()
        assert np.array_equal(masked.input_ids[~selected], sequence[~selected])
        assert not vocab.special[masked.input_ids[masked.replacement == 2]].any()  # random: real tokens
        kinds += np.bincount(masked.replacement, minlength=4)
    shares = kinds[1:] / kinds[1:].sum()  # [MASK], random, unchanged over ~2e5 selections
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.006)
    replaced = masked.replacement == 1
    assert (masked.input_ids[replaced] == vocab.mask_id).all()


def test_whole_word_masking_keeps_every_word_together(sequence: np.ndarray, vocab: MaskVocabulary) -> None:
    words = words_of(sequence, vocab)
    assert max(len(w) for w in words) >= 3  # the text really has multi-piece words
    target = budget(int((~vocab.special[sequence]).sum()), 0.15)
    counts = []
    for draw in range(300):
        masked = mask_sequence(sequence, vocab, MaskingSpec("word"), np.random.default_rng(draw))
        for word in words:  # all of a word's pieces, or none, and one replacement for all of them
            assert len(set(masked.replacement[word].tolist())) == 1
        counts.append(int(masked.selected.sum()))
    assert max(counts) <= target and min(counts) >= target - 2  # the budget, never exceeded
    kinds = np.bincount(masked.replacement, minlength=4)
    assert kinds[1] > kinds[2] + kinds[3]


def test_span_masking_draws_geometric_whole_word_spans_within_budget(
    sequence: np.ndarray, vocab: MaskVocabulary
) -> None:
    spec = MaskingSpec("span")
    lengths = spec.span_lengths()
    assert len(lengths) == 10 and lengths.sum() == pytest.approx(1.0)
    assert (lengths * np.arange(1, 11)).sum() == pytest.approx(3.8, abs=0.05)  # SpanBERT's mean
    # Spans measured in words on a long sequence, where the budget rarely cuts them.
    long = np.tile(sequence[1:-4], 20)
    starts, units = selection_units(long, vocab, "word")
    target = budget(int(units.sum()), 0.15)
    sizes = []
    for draw in range(20):
        spans = _spans(starts, units, long, vocab, spec, target, np.random.default_rng(draw))
        assert sum(int(units[a:b].sum()) for a, b in spans) <= target
        sizes += [b - a for a, b in spans]
    assert max(sizes) <= 10 and 2.8 < np.mean(sizes) < 4.0
    # n-gram masking: spans of at most 3 words.
    short = _spans(
        starts, units, long, vocab, MaskingSpec("span", max_span=3), target, np.random.default_rng(0)
    )
    assert max(b - a for a, b in short) <= 3
    words = words_of(sequence, vocab)
    for draw in range(100):
        masked = mask_sequence(sequence, vocab, spec, np.random.default_rng(draw))
        assert not (masked.selected & vocab.special[sequence]).any()  # never across [SEP]
        assert masked.selected.sum() <= budget(int((~vocab.special[sequence]).sum()), 0.15)
        assert all(len(set(masked.replacement[w].tolist())) == 1 for w in words)


def test_masks_are_dynamic_and_reproducible_from_seed_epoch_and_index(vocab: MaskVocabulary) -> None:
    rng = np.random.default_rng(0)
    sequences = pack_dense([rng.integers(1000, 20000, 300) for _ in range(4)], 126, 101, 102)
    spec = MaskingSpec()
    first = make_batch(sequences, np.asarray([2, 0]), vocab, spec, seed=1, epoch=0, pad_id=0)
    again = make_batch(sequences, np.asarray([0, 2]), vocab, spec, seed=1, epoch=0, pad_id=0)
    assert (first.input_ids[0] == again.input_ids[1]).all()  # same (seed, epoch, index): same mask
    assert (first.labels[1] == again.labels[0]).all()
    later = make_batch(sequences, np.asarray([2, 0]), vocab, spec, seed=1, epoch=1, pad_id=0)
    assert not (first.labels == later.labels).all()  # the next epoch masks afresh
    other = make_batch(sequences, np.asarray([2, 0]), vocab, spec, seed=2, epoch=0, pad_id=0)
    assert not (first.labels == other.labels).all()


def test_masking_options_are_checked() -> None:
    for bad in (
        {"unit": "sentence"},
        {"rate": 0.0},
        {"mask_share": 0.95, "random_share": 0.1},
        {"span_p": 0.0},
        {"max_span": 0},
    ):
        with pytest.raises(ValueError):
            MaskingSpec(**bad)  # type: ignore[arg-type]


def test_dense_packing_fills_full_sequences_and_marks_document_boundaries() -> None:
    docs = [np.arange(1000, 1000 + n) for n in (5, 300, 40, 7, 250)]
    sequences = pack_dense(docs, 62, cls_id=101, sep_id=102)
    assert all(len(s) == 64 for s in sequences[:-1])  # no padding: full sequences but the last
    assert len(sequences[-1]) <= 64
    content = []
    for s in sequences:
        assert s.input_ids[0] == 101 and s.input_ids[-1] == 102
        assert s.input_ids[1] != 102  # a boundary [SEP] never opens a sequence
        content.append(s.input_ids[1:-1])
    stream = np.concatenate(content)
    pieces = np.split(stream, np.flatnonzero(stream == 102))
    rebuilt = [pieces[0]] + [p[1:] for p in pieces[1:]]
    # Documents come back whole and in order (a cut between sequences joins back up).
    assert np.array_equal(np.concatenate(rebuilt), np.concatenate(docs))
    # One [SEP] between two documents (none of these ends exactly where a sequence is full).
    assert int((stream == 102).sum()) == len(docs) - 1
    assert sequences[0].documents == (0, 1)


def test_long_packing_keeps_one_document_per_sequence_with_its_sentence_starts() -> None:
    docs = [np.arange(2000, 2000 + n) for n in (1300, 200)]
    starts = [np.asarray([0, 100, 600, 1250]), np.asarray([0, 150])]
    sequences = pack_long(docs, 512, 101, 102, starts)
    assert [s.documents for s in sequences] == [(0,), (0,), (0,), (1,)]
    assert [len(s) for s in sequences] == [514, 514, 278, 202]
    assert np.array_equal(np.concatenate([s.input_ids[1:-1] for s in sequences[:3]]), docs[0])
    assert sequences[0].global_positions.tolist() == [1, 101]  # shifted past [CLS]
    assert sequences[1].global_positions.tolist() == [600 - 512 + 1]
    assert sequences[2].global_positions.tolist() == [1250 - 1024 + 1]


def test_long_batches_make_selected_positions_global(vocab: MaskVocabulary) -> None:
    rng = np.random.default_rng(0)
    sequences = pack_long([rng.integers(1000, 20000, 700)], 1024, 101, 102, [np.asarray([0, 350])])
    batch = make_batch(
        sequences, np.asarray([0]), vocab, MaskingSpec(), 0, 0, 0, long=True, global_masked_share=0.1
    )
    assert batch.global_attention_mask is not None
    global_ = batch.global_attention_mask[0].bool()
    assert global_[1] and global_[351]  # sentence starts
    selected = batch.labels[0] != IGNORE
    assert int((global_ & selected).sum()) == round(0.1 * int(selected.sum()))  # predicted globals


def test_epoch_plans_share_the_batches_out_between_ranks() -> None:
    lengths = np.random.default_rng(0).integers(10, 500, 23)
    one = plan_epoch(lengths, 4, seed=3, epoch=0)
    assert sorted(np.concatenate(one).tolist()) == list(range(23))
    ranks = [plan_epoch(lengths, 4, 3, 0, rank, 2) for rank in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 3
    assert set(np.concatenate(ranks[0] + ranks[1]).tolist()) == set(range(23))
    assert [b.tolist() for b in plan_epoch(lengths, 4, 3, 1)] != [b.tolist() for b in one]
    bucketed = plan_epoch(lengths, 4, 3, 0, bucket=True)
    assert sorted(np.concatenate(bucketed).tolist()) == list(range(23))
