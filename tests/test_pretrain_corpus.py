"""Pre-training corpora and outputs: the held-out split cannot take a long document's worth of
text out of training, a text over the per-document limit is read in parts, resume refuses the
same texts in another order, a dense run keeps a long encoder's trained global projections, the
long-mode window is saved, the sparse length minimum, notes and the store hint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.pretrain_fixtures import pretrain_options
from helpers.store_factories import make_document, make_prediction
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert.modeling.long_bert import LongBertModel
from longbert.pretraining import (
    CorpusError,
    PretrainConfig,
    PretrainError,
    pretrain,
    read_corpus,
    read_encoder_manifest,
)
from longbert.store import get_store

pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


def options(encoder: Path, paths: list[Path], **overrides: Any) -> PretrainConfig:
    return pretrain_options(encoder, paths, **{"max_steps": 2, "record": False, **overrides})


def drawn_first(count: int, seed_range: range, wanted: int) -> int:
    """A seed whose document split (:func:`split_heldout`'s permutation) holds out ``wanted``."""
    return next(s for s in seed_range if np.random.default_rng([s, count]).permutation(count)[0] == wanted)


# -- the held-out split --------------------------------------------------------------------


def test_a_long_document_drawn_into_the_held_out_slice_is_cut_to_a_share_of_the_tokens() -> None:
    from longbert.pretraining.sequences import split_heldout, split_segments

    seed = drawn_first(3, range(100), wanted=0)
    train, held = split_segments([100_000, 40, 60], 0.05, seed)
    cut = 100_000 - 5_005  # 5% of the 100,100 tokens held out: the end of the long document
    assert [(s.document, s.start, s.end) for s in held] == [(0, cut, 100_000)]
    assert [(s.document, s.start, s.end) for s in train] == [(0, 0, cut), (1, 0, 40), (2, 0, 60)]
    # Many documents of similar sizes: the document split as it always was, for any seed.
    lengths = np.random.default_rng(0).integers(600, 800, 500)
    for seed in range(20):
        train_idx, held_idx = split_heldout(500, 0.05, seed)
        train, held = split_segments(lengths, 0.05, seed)
        assert [s.document for s in held] == held_idx.tolist() and all(s.start == 0 for s in held)
        assert [s.document for s in train] == train_idx.tolist()
        assert all((s.start, s.end) == (0, lengths[s.document]) for s in train + held)


def test_a_book_held_out_no_longer_empties_the_training_set(encoder: Path, tmp_path: Path) -> None:
    book = " ".join(r["text"] for r in make_rows(60, words=(200, 300)))
    (tmp_path / "book.txt").write_text(book)
    (tmp_path / "note1.txt").write_text("A short note about the bank and the tax budget. " * 5)
    (tmp_path / "note2.txt").write_text("Another short note about the team and the match. " * 5)
    paths = [tmp_path / "book.txt", tmp_path / "note1.txt", tmp_path / "note2.txt"]
    seed = drawn_first(3, range(100), wanted=0)  # the document split would hold the book out
    result = pretrain(
        options(encoder, paths, seed=seed, heldout_fraction=0.05, output_dir=str(tmp_path / "o"))
    )
    corpus = read_encoder_manifest(tmp_path / "o").metadata["corpus"]
    assert corpus["training_sequences"] > 0.9 * corpus["tokens"] / 62  # was 2: the notes only
    assert corpus["heldout_split"] == "tokens"
    assert corpus["training_tokens"] + corpus["heldout_tokens"] == corpus["tokens"]
    assert corpus["heldout_tokens"] == round(0.05 * corpus["tokens"])
    assert any("held out instead" in note for note in result.notes)


# -- reading ---------------------------------------------------------------------------------


def test_a_text_over_the_per_document_limit_is_read_in_parts(tmp_path: Path) -> None:
    from longbert.data import DATASET_LIMITS

    part_chars = DATASET_LIMITS.max_chars  # the readers' limit per document
    words = " ".join(f"word{i % 997}" for i in range(700_000))  # ~5.5M characters
    assert len(words) > part_chars
    (tmp_path / "book.txt").write_text(words)
    (tmp_path / "note.txt").write_text("A short note about the bank. " * 4)
    corpus = read_corpus([str(tmp_path / "book.txt"), str(tmp_path / "note.txt")])
    names = [d.name for d in corpus.documents]
    assert len(corpus) == 3 and names[0].endswith("(part 1 of 2)") and names[1].endswith("(part 2 of 2)")
    assert all(d.num_chars <= part_chars for d in corpus.documents)
    assert corpus.documents[0].text + " " + corpus.documents[1].text == words  # cut at a space
    assert any("read in parts" in note for note in corpus.notes())
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 64)
    with pytest.raises(CorpusError, match=r"binary\.txt"):  # unreadable input still named
        read_corpus([str(tmp_path / "binary.txt"), str(tmp_path / "note.txt")])


def test_notes_on_skipped_files_end_with_one_full_stop(tmp_path: Path) -> None:
    for i, row in enumerate(make_rows(3)):
        (tmp_path / f"{i}.txt").write_text(row["text"])
    (tmp_path / "empty.txt").write_text("")
    notes = read_corpus([str(tmp_path)], skip_bad_files=True).notes()
    assert len(notes) == 1 and "empty.txt" in notes[0]
    assert notes[0].endswith(".") and not notes[0].endswith("..")


def test_the_store_hint_only_when_the_store_has_no_classified_documents(tmp_path: Path) -> None:
    store = get_store()
    with pytest.raises(CorpusError, match=r"the store has no classified documents yet"):
        read_corpus(from_store=True, store=store)
    batch = store.create_batch("same text thrice", items=["a", "b", "c"])
    document = make_document(1, words=80)
    for i in range(3):
        store.save_prediction(make_prediction(document, seed=i), document, batch_id=batch, item_index=i)
    with pytest.raises(CorpusError, match="only one distinct document") as caught:
        read_corpus(from_store=True, batch_id=batch, store=store)
    assert "no classified documents" not in str(caught.value)


# -- resume ------------------------------------------------------------------------------------


def test_resume_refuses_the_same_texts_in_another_order(encoder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    for i, row in enumerate(make_rows(12, words=(30, 90))):
        (folder / f"{i:02d}.txt").write_text(row["text"])
    steps: list[int] = []
    common = {"output_dir": str(tmp_path / "out"), "max_steps": 8, "log_every": 1}
    stopped = pretrain(
        options(encoder, [folder], **common),
        progress=lambda e: steps.append(e["step"]) if e["event"] in ("step", "progress") else None,
        should_stop=lambda: len(steps) >= 3,
    )
    assert stopped.status == "interrupted"
    for i in range(12):  # the same texts under names that list them in reverse
        (folder / f"{i:02d}.txt").rename(folder / f"x{11 - i:02d}.txt")
    with pytest.raises(PretrainError, match=r"same texts .* in another order"):
        pretrain(options(encoder, [folder], resume=True, **common))
    for i in range(12):
        (folder / f"x{11 - i:02d}.txt").rename(folder / f"{i:02d}.txt")
    assert pretrain(options(encoder, [folder], resume=True, **common)).status == "done"


def test_a_state_saved_before_the_order_was_kept_still_resumes(encoder: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "docs.jsonl", make_rows(12, words=(30, 90)))
    steps: list[int] = []
    common = {"output_dir": str(tmp_path / "out"), "max_steps": 4, "log_every": 1}
    pretrain(
        options(encoder, [data], **common),
        progress=lambda e: steps.append(e["step"]) if e["event"] in ("step", "progress") else None,
        should_stop=lambda: len(steps) >= 2,
    )
    trainer = tmp_path / "out" / ".last" / "trainer.json"
    meta = json.loads(trainer.read_text())
    for key in ("corpus_order_sha256", "head_steps"):  # what older versions did not save
        del meta["state"][key]
    trainer.write_text(json.dumps(meta))
    result = pretrain(options(encoder, [data], resume=True, **common))
    assert result.status == "done" and result.steps == 4


# -- the saved encoder -----------------------------------------------------------------------


def test_dense_training_keeps_a_long_encoders_trained_global_projections_and_its_window(
    encoder: Path, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "long.jsonl", make_rows(8, words=(500, 700)))
    long_run = pretrain(
        options(
            encoder,
            [data],
            name="long",
            strategy="sparse",
            max_tokens=600,
            batch_size=1,
            attention_window=16,
            max_steps=2,
        )
    )
    config = json.loads((long_run.output_dir / "encoder" / "config.json").read_text())
    assert config["attention_window"] == 16  # what --strategy sparse will read with
    trained = LongBertModel.from_bert(str(long_run.output_dir)).encoder.layer[0].attention.self
    assert not torch.equal(trained.query_global.weight, trained.query.weight)

    dense = pretrain(options(long_run.output_dir, [data], name="long-then-dense"))
    again = LongBertModel.from_bert(str(dense.output_dir))
    kept = again.encoder.layer[0].attention.self
    assert torch.equal(kept.query_global.weight, trained.query_global.weight)
    assert not torch.equal(kept.query.weight, trained.query.weight)  # the locals did train
    assert again.config.attention_window == 16

    plain = pretrain(options(encoder, [data], name="plain-dense"))  # from BERT: untrained copies
    refreshed = LongBertModel.from_bert(str(plain.output_dir)).encoder.layer[0].attention.self
    assert torch.equal(refreshed.query_global.weight, refreshed.query.weight)


def test_sparse_max_tokens_starts_at_the_sparse_strategys_minimum() -> None:
    for too_short in (510, 511):
        with pytest.raises(PretrainError, match="--max-tokens must be 512-32768"):
            PretrainConfig(strategy="sparse", max_tokens=too_short).validate()
    PretrainConfig(strategy="sparse", max_tokens=512).validate()
