"""A trained model as the starting point of another: ``train --encoder models/my-model`` (and
``pretrain --encoder``, zero-shot) start from its fine-tuned encoder, exported once into a cache;
compressed models are refused naming their source."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl
from safetensors.torch import load_file

from longbert import LongBertClassifier, UnsupportedEncoderError, ZeroShotClassifier
from longbert.checkpoints import Compression, read_manifest, write_manifest
from longbert.encoder_export import (
    ENCODER_CACHE_ENV,
    STAGING_PREFIX,
    STALE_STAGING_SECONDS,
    encoder_cache_dir,
    exported_encoder,
)
from longbert.encoder_source import load_encoder_config, load_tokenizer
from longbert.modeling import LongBertModel
from longbert.store import get_store
from longbert.train import main
from longbert.training import TrainConfig, train
from longbert.training.config import TrainConfigError

pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl", make_rows(16))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, encoder: Path, train_file: Path) -> Path:
    """A fine-tuned tiny classifier (one quick epoch), saved once; tests copy it."""
    return train_quick_model(tmp_path_factory.mktemp("trained"), train_file, encoder)


def copy_model(trained: Path, isolated: Path, name: str = "news-v1") -> Path:
    return Path(shutil.copytree(trained, isolated / "models" / name))


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a hash of its bytes (to show nothing was changed)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_starts_from(encoder: LongBertModel, folder: Path) -> None:
    """``encoder`` holds the weights saved in ``folder/encoder`` (a longer position table may
    follow the saved rows, tiled from them)."""
    saved = load_file(str(folder / "encoder" / "model.safetensors"))
    state = encoder.state_dict()
    assert set(state) == set(saved)
    for key, want in saved.items():
        torch.testing.assert_close(state[key][: want.shape[0]].cpu(), want, rtol=0, atol=0)


def test_a_new_classifier_starts_from_a_trained_models_encoder_and_trained_pooler(
    trained: Path, isolated: Path
) -> None:
    folder = copy_model(trained, isolated)
    before = fingerprint(folder)
    # A bare name is looked up under the models folder, as `predict --model` does.
    clf = LongBertClassifier.from_encoder("news-v1", labels=["x", "y", "z"], strategy="chunk", device="cpu")
    assert_starts_from(clf.encoder, folder)
    head = load_file(str(folder / "head" / "model.safetensors"))
    # Only the label layer is new: the [CLS] pooler goes on from the trained head's.
    torch.testing.assert_close(clf.head.pooler.weight.detach(), head["pooler.weight"], rtol=0, atol=0)
    assert clf.head.classifier.out_features == 3 and clf.encoder_source == "news-v1"
    # The model's folder is only read; the export lives in the cache, outside it, and is no
    # model of the Models page.
    assert fingerprint(folder) == before
    (export,) = encoder_cache_dir().iterdir()
    assert export.parent == isolated / "models" / ".encoder-cache"
    manifest = read_manifest(export)
    assert manifest.kind == "encoder" and manifest.metadata["exported_from"] == str(folder.resolve())
    from longbert.ui.models import scan_checkpoints, starting_encoders

    assert [c.path for c in scan_checkpoints()[0]] == [str(folder.resolve())]
    # The pickers offer the trained model itself as a start, never the cached export.
    assert [c.key for c in starting_encoders()][1:] == [str(folder.resolve())]
    # The config and tokenizer are found too (what the pickers and the CLI check first).
    config = load_encoder_config(str(folder))
    assert config.hidden_size == TRAIN_ENCODER["hidden"] and config.model_type == "bert"
    assert load_tokenizer(folder)("a bank").input_ids
    # Further pre-training starts from it as well (a fresh MLM head: a classifier has none).
    from longbert.pretraining.model import build_model

    model, head_loaded = build_model(str(folder), max_positions=512)
    assert not head_loaded
    assert_starts_from(model.encoder, folder)


def test_train_cli_goes_on_from_a_trained_model_and_says_so(
    trained: Path, train_file: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = copy_model(trained, isolated)
    starts: list[dict[str, torch.Tensor]] = []
    from_bert = LongBertModel.from_bert

    def spy(name: Any = None, max_positions: int = 512) -> LongBertModel:
        model = from_bert(name, max_positions)
        starts.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model

    monkeypatch.setattr(LongBertModel, "from_bert", spy)
    argv = ["--train", str(train_file), "--encoder", str(folder), "--name", "news-v2", "--mode", "fine-tune"]
    argv += ["--epochs", "1", "--batch-size", "4", "--learning-rate", "1e-3", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    (start,) = starts
    saved = load_file(str(folder / "encoder" / "model.safetensors"))
    for key, want in saved.items():  # training began from the trained weights, exactly
        torch.testing.assert_close(start[key][: want.shape[0]], want, rtol=0, atol=0)
    new = isolated / "models" / "news-v2"
    assert read_manifest(new).encoder == str(folder)  # the model it started from
    assert get_store().get_model("news-v2").encoder == str(folder)
    after = load_file(str(new / "encoder" / "model.safetensors"))
    assert not torch.equal(
        after["embeddings.word_embeddings.weight"], saved["embeddings.word_embeddings.weight"]
    )
    # ...and that new model is a start in turn (the second retrain of the Review page).
    result = train(
        TrainConfig(
            train=str(train_file),
            encoder="news-v2",
            name="news-v3",
            mode="fine-tune",
            epochs=1,
            batch_size=4,
            quiet=True,
            threads=1,
            record=False,
        )
    )
    assert result.status == "done" and read_manifest(result.output_dir).encoder == "news-v2"
    assert_starts_from_state(starts[-1], new)


def assert_starts_from_state(state: dict[str, torch.Tensor], folder: Path) -> None:
    for key, want in load_file(str(folder / "encoder" / "model.safetensors")).items():
        torch.testing.assert_close(state[key][: want.shape[0]], want, rtol=0, atol=0)


def test_a_sparse_models_long_positions_and_global_projections_are_the_start(
    encoder: Path, tmp_path: Path
) -> None:
    sparse = {"name": "sparse", "params": {"max_tokens": 1024}}
    source = LongBertClassifier.from_encoder(encoder, labels=["a", "b"], strategy=sparse, device="cpu")
    with torch.no_grad():  # as long-document training leaves them: no longer copies of the local ones
        for layer in source.encoder.encoder.layer:
            layer.attention.self.query_global.weight.add_(0.5)
        source.head.pooler.bias.add_(0.25)
    folder = source.save_pretrained(tmp_path / "long-model")
    assert (
        load_file(str(folder / "encoder" / "model.safetensors"))[
            "embeddings.position_embeddings.weight"
        ].shape[0]
        > 512
    )
    clf = LongBertClassifier.from_encoder(folder, labels=["x", "y"], strategy=sparse, device="cpu")
    assert_starts_from(clf.encoder, folder)
    torch.testing.assert_close(clf.head.pooler.bias.detach(), source.head.pooler.bias.detach())
    (prediction,) = clf.predict([text_of(60)])
    assert prediction.used_tokens > 512


def test_a_zero_shot_prior_models_encoder_is_a_start_for_zero_shot(encoder: Path, tmp_path: Path) -> None:
    from longbert.fewshot import train_zero_shot_prior

    rows = make_rows(8)
    prior = train_zero_shot_prior(
        [r["text"] for r in rows], [r["label"] for r in rows], encoder=encoder, strategy="truncate"
    )
    folder = prior.save_pretrained(tmp_path / "prior")
    zero_shot = ZeroShotClassifier(["econ", "sport"], encoder=folder)
    assert_starts_from(zero_shot.encoder, folder)
    assert zero_shot.predict([text_of(3)])[0].label in ("econ", "sport")


def test_a_compressed_model_is_refused_naming_its_source(
    trained: Path, train_file: Path, isolated: Path
) -> None:
    folder = copy_model(trained, isolated, "news-int8")
    manifest = dataclasses.replace(
        read_manifest(folder), compression=Compression(method="int8", source_model="models/news-v1")
    )
    write_manifest(folder, manifest)
    refusal = r"compressed model \(int8 of 'models/news-v1'\).*Start from its source model 'models/news-v1'"
    config = TrainConfig(
        train=str(train_file),
        encoder=str(folder),
        name="from-int8",
        mode="fine-tune",
        epochs=1,
        quiet=True,
        threads=1,
        record=False,
    )
    with pytest.raises(UnsupportedEncoderError, match=refusal):
        train(config)
    with pytest.raises(UnsupportedEncoderError, match=refusal):
        load_tokenizer(folder)
    assert not (isolated / "models" / "from-int8").exists()
    assert not encoder_cache_dir().exists()  # nothing was exported


def test_an_export_follows_the_models_saves_and_survives_concurrent_calls(
    trained: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = isolated / "cache"
    monkeypatch.setenv(ENCODER_CACHE_ENV, str(cache))
    (cache / "notes").mkdir(parents=True)  # not an export: never touched
    left = cache / (STAGING_PREFIX + "killed")  # what an export killed an hour ago left
    left.mkdir()
    os.utime(left, (time.time() - 2 * STALE_STAGING_SECONDS,) * 2)
    folder = copy_model(trained, isolated)
    with ThreadPoolExecutor(4) as pool:  # four first uses at once: one export, whole
        exports = set(pool.map(lambda _: exported_encoder(folder), range(4)))
    (first,) = exports
    assert first.parent == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, "notes"])  # no staging left
    assert read_manifest(first).kind == "encoder"
    config = json.loads((first / "encoder" / "config.json").read_text())
    assert config["model_type"] == "longbert"
    assert exported_encoder(folder) == first  # used again, not copied again
    # The model is trained again in place (--overwrite): the next use exports the new weights,
    # and the export of the old ones goes.
    model = LongBertClassifier.from_pretrained(folder, device="cpu")
    with torch.no_grad():
        model.encoder.embeddings.word_embeddings.weight.add_(1.0)
    model.save_pretrained(folder)
    second = exported_encoder(folder)
    assert second != first and not first.exists()
    assert_starts_from(LongBertModel.from_bert(folder), folder)
    # A deleted model's export goes with the next export of any model.
    other = copy_model(trained, isolated, "news-other")
    shutil.rmtree(folder)
    third = exported_encoder(other)
    assert sorted(p.name for p in cache.iterdir()) == sorted([third.name, "notes"])


def test_a_model_cannot_be_retrained_into_its_own_folder(
    trained: Path, train_file: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`train --encoder models/X --name X --overwrite` would remove X's manifest and then load
    the encoder from the emptied folder: refused up front, X left exactly as it was."""
    folder = copy_model(trained, isolated)
    before = fingerprint(folder)
    for encoder in (str(folder), "news-v1", str(folder / "encoder")):
        with pytest.raises(TrainConfigError, match="cannot replace the model it starts from"):
            TrainConfig(train=str(train_file), encoder=encoder, name="news-v1", overwrite=True).validate()
    argv = ["--train", str(train_file), "--encoder", str(folder), "--name", "news-v1", "--overwrite"]
    assert main([*argv, "--quiet", "--threads", "1"]) == 2
    assert "choose another name" in capsys.readouterr().err
    assert fingerprint(folder) == before
    assert read_manifest(folder).kind == "classifier"
    # Another name, or the same name saved elsewhere, is fine.
    TrainConfig(train=str(train_file), encoder=str(folder), name="news-v2", overwrite=True).validate()
    TrainConfig(
        train=str(train_file), encoder="news-v1", name="news-v1", output_dir=str(isolated / "elsewhere")
    ).validate()


def test_auto_few_shot_from_a_trained_classifier_is_setfit(
    trained: Path, train_file: Path, isolated: Path
) -> None:
    """The corrected zero-shot model needs sentence embeddings: auto picks it only from a
    sentence encoder (the default, an adapted encoder, a plain folder, a zero-shot-prior
    model's frozen encoder); from a trained [CLS] classifier, SetFit. An explicit method is
    honoured."""
    from longbert.training.few_shot_run import few_shot_method

    folder = copy_model(trained, isolated)
    prior = copy_model(trained, isolated, "prior-model")
    write_manifest(prior, dataclasses.replace(read_manifest(prior), architecture="zero-shot-prior"))
    adapted = copy_model(trained, isolated, "adapted")
    write_manifest(
        adapted, dataclasses.replace(read_manifest(adapted), kind="encoder", architecture="cls-head")
    )

    def method(encoder: str, chosen: str = "auto") -> str:
        return few_shot_method(TrainConfig(encoder=encoder, few_shot_method=chosen, mode="few-shot"))

    assert method(str(folder)) == method("news-v1") == "setfit"
    assert method(str(folder), "prior") == "zero-shot-prior"
    for sentence_encoder in ("default", str(prior), "prior-model", str(adapted), str(folder / "encoder")):
        assert method(sentence_encoder) == "zero-shot-prior", sentence_encoder
    # End to end: a few-shot run from the trained model trains SetFit and says why.
    result = train(
        TrainConfig(
            train=str(train_file),
            encoder=str(folder),
            name="news-v2",
            mode="few-shot",
            few_shot_iterations=1,
            few_shot_max_steps=2,
            quiet=True,
            threads=1,
        )
    )
    assert result.history[-1]["few_shot_method"] == "setfit"
    assert read_manifest(result.output_dir).architecture == "cls-head"
    notes = json.loads((result.output_dir / "metrics.json").read_text())["notes"]
    assert any("is a trained [CLS] classifier" in note for note in notes), notes


def test_a_model_in_a_non_utf8_folder_exports_and_the_export_follows_the_umask(
    trained: Path, isolated: Path
) -> None:
    """A path need not be UTF-8 (the export key hashes its bytes), and the export is as
    readable as any model folder (0o777 less the umask, not mkdtemp's 0o700)."""
    folder = copy_model(trained, isolated, os.fsdecode(b"news-\xff-v1"))
    old = os.umask(0o022)
    try:
        export = exported_encoder(folder)
    finally:
        os.umask(old)
    assert read_manifest(export).metadata["exported_from"] == str(folder.resolve())
    assert export.stat().st_mode & 0o777 == 0o755
    assert exported_encoder(folder) == export  # the same save: the same export
