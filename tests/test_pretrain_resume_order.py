"""Resuming pre-training runs across versions: a state saved before the held-out split by tokens
resumes with the document split it started with, and a ``--from-store`` run resumes after a stored
text is classified again (the store is read in the order texts were first classified); when the
database's order does change, the message speaks of the database, not of renamed files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.store_factories import make_document, make_prediction
from helpers.train_fixtures import TRAIN_ENCODER

from longbert.encoder_source import load_tokenizer
from longbert.pretraining import PretrainConfig, PretrainError, pretrain
from longbert.store import get_store

pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")

WORDS = ["market", "bank", "rates", "inflation", "match", "goal", "team", "season", "policy", "growth"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


def options(encoder: Path, **overrides: Any) -> PretrainConfig:
    values: dict[str, Any] = {
        "encoder": str(encoder),
        "name": "tiny",
        "max_tokens": 62,
        "batch_size": 2,
        "max_steps": 6,
        "learning_rate": 1e-3,
        "precision": "fp32",
        "threads": 1,
        "quiet": True,
        "record": False,
        "save_every_minutes": 0,
        **overrides,
    }
    return PretrainConfig(**values)


def stop_after(steps: int, config: PretrainConfig) -> None:
    """Run ``config`` and stop it after ``steps`` steps (its state saved in ``.last``)."""
    seen: list[int] = []
    result = pretrain(
        config,
        progress=lambda e: seen.append(e["step"]) if e["event"] in ("step", "progress") else None,
        should_stop=lambda: len(seen) >= steps,
    )
    assert result.status == "interrupted"


def forget(output: Path, *keys: str) -> None:
    """Remove ``keys`` from the saved state, as a version that did not keep them wrote it."""
    trainer = output / ".last" / "trainer.json"
    meta = json.loads(trainer.read_text())
    for key in keys:
        meta["state"].pop(key, None)
    trainer.write_text(json.dumps(meta))


# -- the held-out split of a state saved before the split by tokens ---------------------------


@pytest.mark.parametrize(
    ("forgotten", "document_split"),
    [
        # Before the split by tokens: no order hash either -> whole documents, as it started.
        (("corpus_order_sha256", "head_steps", "heldout_split", "store_order"), True),
        # Saved by the version that brought the split by tokens (order hash, no split kind).
        (("heldout_split", "store_order"), False),
    ],
)
def test_an_older_state_resumes_with_the_held_out_split_it_started_with(
    encoder: Path, tmp_path: Path, forgotten: tuple[str, ...], document_split: bool
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = np.random.default_rng(0)
    long_text = " ".join(rng.choice(WORDS, 3000))
    (corpus / "a_long.txt").write_text(long_text)
    for i in range(9):
        (corpus / f"b{i}.txt").write_text(" ".join(rng.choice(WORDS, 60)) + f" doc{i}")
    # A seed whose document split holds out the long document (the first of the 10).
    seed = next(s for s in range(200) if np.random.default_rng([s, 10]).permutation(10)[0] == 0)
    common = {"corpus": [str(corpus)], "output_dir": str(tmp_path / "out"), "seed": seed}
    common["heldout_fraction"] = 0.1
    stop_after(2, options(encoder, **common))
    forget(tmp_path / "out", *forgotten)
    seen: dict[str, Any] = {}
    result = pretrain(
        options(encoder, resume=True, **common),
        progress=lambda e: seen.update(e) if e["event"] == "start" else None,
    )
    assert result.status == "done" and result.steps == 6 and seen["start_step"] == 2
    long_tokens = len(load_tokenizer(str(encoder))(long_text, add_special_tokens=False)["input_ids"])
    held_whole = seen["training_tokens"] == seen["tokens"] - long_tokens
    assert held_whole == document_split
    assert any("held out instead" in note for note in result.notes) != document_split


# -- the store's order ----------------------------------------------------------------------------


def classify(store: Any, index: int, model: str = "m") -> None:
    document = make_document(index, words=80)
    prediction = dataclasses.replace(make_prediction(document, model=model, seed=index), attention=None)
    store.save_prediction(prediction, document)


def test_a_from_store_run_resumes_after_a_stored_text_is_classified_again(
    encoder: Path, tmp_path: Path
) -> None:
    store = get_store()
    for i in range(6):
        classify(store, i)
    common = {"corpus": [], "from_store": True, "heldout_fraction": 0.2, "output_dir": str(tmp_path / "out")}
    stop_after(2, options(encoder, **common))
    classify(store, 0, model="m2")  # the same text again: the store holds no new text
    result = pretrain(options(encoder, resume=True, **common))
    assert result.status == "done" and result.steps == 6


def test_the_store_lists_texts_in_the_order_they_were_first_classified() -> None:
    from longbert.pretraining.corpus import store_text_hashes

    store = get_store()
    for i in (3, 1, 2):
        classify(store, i)
    classify(store, 3, model="m2")
    first_classified = [make_document(i, words=80).sha256 for i in (3, 1, 2)]
    assert store_text_hashes(store, None) == (first_classified, 4)


def test_a_from_store_order_change_is_blamed_on_the_database(encoder: Path, tmp_path: Path) -> None:
    store = get_store()
    for i in range(6):
        classify(store, i)
    common = {"corpus": [], "from_store": True, "heldout_fraction": 0.2, "output_dir": str(tmp_path / "out")}
    stop_after(2, options(encoder, **common))
    trainer = tmp_path / "out" / ".last" / "trainer.json"
    meta = json.loads(trainer.read_text())
    meta["state"]["corpus_order_sha256"] = "0" * 64  # as if the database listed them otherwise
    trainer.write_text(json.dumps(meta))
    with pytest.raises(PretrainError, match="the database lists them in another order") as error:
        pretrain(options(encoder, resume=True, **common))
    assert "files" not in str(error.value)
