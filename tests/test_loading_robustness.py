"""Loading classifiers: devices, tokenizer files, unreachable hubs, corrupt checkpoint parts."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from classifier_factories import save_tiny_encoder, text_of

from longbert import (
    CheckpointError,
    DeviceError,
    EncoderNotFoundError,
    LongBertClassifier,
    load_classifier,
    resolve_device,
)
from longbert.ui.service import load_model

HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def checkpoint(encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    clf = LongBertClassifier.from_encoder(encoder, labels=["x", "y"], device="cpu")
    return clf.save_pretrained(tmp_path_factory.mktemp("ckpt") / "m")


@pytest.fixture
def copy_of(checkpoint: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(checkpoint, tmp_path / "copy"))


def test_device_setting_is_honoured(monkeypatch: pytest.MonkeyPatch, checkpoint: Path) -> None:
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    assert resolve_device() == torch.device("cpu")
    clf = load_classifier(checkpoint)
    assert clf.device == torch.device("cpu")
    (prediction,) = clf.predict([text_of(3)])
    assert prediction.extra["device"] == "cpu"
    monkeypatch.setenv("LONGBERT_DEVICE", "cuda")
    if HAS_CUDA:  # the default placement really goes to the GPU
        assert load_classifier(checkpoint).device.type == "cuda"
    else:
        with pytest.raises(DeviceError, match="LONGBERT_DEVICE='cuda': CUDA is not available"):
            load_classifier(checkpoint)
    # device= wins over the environment
    assert load_classifier(checkpoint, device="cpu").device == torch.device("cpu")


@pytest.mark.parametrize(
    ("device", "message"),
    [("meta", "meta device holds shapes"), ("gpu0", "not a device torch knows"), ("cuda:99", "CUDA")],
)
def test_bad_devices_fail_before_loading(encoder: Path, device: str, message: str) -> None:
    with pytest.raises(DeviceError, match=message):
        LongBertClassifier.from_encoder(encoder, labels=["x", "y"], device=device)
    with pytest.raises(DeviceError, match=message):
        load_model("zero-shot", {"a": "sport", "b": "economy"}, device=device)


def test_bad_environment_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_DEVICE", "tpu!")
    with pytest.raises(DeviceError, match="LONGBERT_DEVICE='tpu!' is not a device torch knows"):
        resolve_device()


def test_checkpoint_without_tokenizer_files(copy_of: Path) -> None:
    for name in ("tokenizer.json", "vocab.txt"):
        (copy_of / "encoder" / name).unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match=r"no tokenizer\.json and no vocab\.txt") as info:
        load_classifier(copy_of, device="cpu")
    assert str(copy_of / "encoder") in str(info.value)


def test_checkpoint_with_a_foreign_tokenizer(copy_of: Path) -> None:
    from transformers import BertTokenizerFast

    folder = copy_of / "encoder"
    (folder / "tokenizer.json").unlink()
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the"]))
    BertTokenizerFast(vocab=str(folder / "vocab.txt")).save_pretrained(str(folder))
    with pytest.raises(CheckpointError, match="only 6 tokens for an embedding table of 30,522 rows"):
        load_classifier(copy_of, device="cpu")


def test_local_encoder_folder_problems(encoder: Path, tmp_path: Path) -> None:
    bare = Path(shutil.copytree(encoder, tmp_path / "bare"))
    (bare / "tokenizer.json").unlink()
    (bare / "vocab.txt").unlink(missing_ok=True)
    with pytest.raises(EncoderNotFoundError, match="tokenizer files are missing"):
        LongBertClassifier.from_encoder(bare, labels=["x", "y"], device="cpu")
    corrupt = Path(shutil.copytree(encoder, tmp_path / "corrupt"))
    (corrupt / "tokenizer.json").write_text("{not json")
    (corrupt / "vocab.txt").unlink(missing_ok=True)
    with pytest.raises(EncoderNotFoundError, match="exists but its tokenizer") as info:
        LongBertClassifier.from_encoder(corrupt, labels=["x", "y"], device="cpu")
    assert "hub" not in str(info.value) and str(corrupt) in str(info.value)
    small = save_tiny_encoder(tmp_path / "small", vocab_size=1000)  # the tokenizer has 30,522 ids
    with pytest.raises(EncoderNotFoundError, match="embedding table only 1,000 rows"):
        LongBertClassifier.from_encoder(small, labels=["x", "y"], device="cpu")


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    started = time.monotonic()
    with pytest.raises(EncoderNotFoundError, match="Hugging Face hub could not provide it"):
        LongBertClassifier.from_encoder("nonexistent-org/nonexistent-model", labels=["x", "y"], device="cpu")
    assert time.monotonic() - started < 15  # one probe, not huggingface_hub's ~25 s of retries
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(EncoderNotFoundError, match="HF_HUB_OFFLINE is set"):
        LongBertClassifier.from_encoder("nonexistent-org/other-model", labels=["x", "y"], device="cpu")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{}", "needs 'hidden_size' as a positive integer, got None"),
        ("[1]", "holds list, not an object"),
        ('{"hidden_size": 48, "num_labels": 2, "dropout": "x"}', "'dropout' as a number"),
    ],
)
def test_corrupt_head_config(copy_of: Path, content: str, message: str) -> None:
    (copy_of / "head" / "config.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        load_classifier(copy_of, device="cpu")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("labels", "xy", "labels 'xy': expected a list of label names"),
        ("labels", ["x", "x"], "invalid labels: labels must be distinct"),
        ("format", "1", "format '1': expected an integer"),
        ("multi_label", "no", "multi_label 'no'"),
        ("strategy", 3, "strategy 3"),
    ],
)
def test_corrupt_manifest_fields(copy_of: Path, field: str, value: object, message: str) -> None:
    manifest = json.loads((copy_of / "longbert.json").read_text())
    manifest[field] = value
    (copy_of / "longbert.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=message):
        load_classifier(copy_of, device="cpu")
    (copy_of / "longbert.json").write_text("[]")
    with pytest.raises(CheckpointError, match="does not hold a JSON object"):
        load_classifier(copy_of, device="cpu")
