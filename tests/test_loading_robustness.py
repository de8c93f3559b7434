"""Loading classifiers: devices, tokenizer files, unreachable hubs, corrupt checkpoint parts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of
from helpers.unsafe_pickles import write_unsafe

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


@pytest.fixture
def hub_probes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Every probe of the hub (huggingface_hub's metadata request) recorded and answered with a
    network error; any other connection attempt fails the test. Nothing reaches the network."""
    import socket

    import huggingface_hub

    probes: list[dict[str, object]] = []

    def probe(url: str, **options: object) -> None:
        probes.append({"url": url, **options})
        raise ConnectionError("no route to the hub (test)")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted besides the counted probe")

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", probe)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return probes


def test_an_unreachable_hub_costs_one_probe_without_retries(hub_probes: list[dict[str, object]]) -> None:
    from longbert.encoder_source import HUB_PROBE_TIMEOUT

    with pytest.raises(EncoderNotFoundError, match="Hugging Face hub could not provide it") as info:
        LongBertClassifier.from_encoder("nonexistent-org/nonexistent-model", labels=["x", "y"], device="cpu")
    assert "the hub is unreachable: ConnectionError" in str(info.value)
    # One request, with huggingface_hub's retries (about 25 s of backoff) switched off.
    (probe,) = hub_probes
    assert "nonexistent-org/nonexistent-model" in str(probe["url"]) and "config.json" in str(probe["url"])
    assert probe["retry_on_errors"] is False and probe["timeout"] == HUB_PROBE_TIMEOUT


def test_an_offline_hub_is_never_probed(
    hub_probes: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderNotFoundError, match="HF_HUB_OFFLINE is set"):
        LongBertClassifier.from_encoder("nonexistent-org/other-model", labels=["x", "y"], device="cpu")
    assert hub_probes == []


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


@pytest.mark.parametrize("content", ["malicious", "corrupt"])
def test_a_pickle_only_encoder_folder_gives_a_clear_error(
    encoder: Path, tmp_path: Path, content: str
) -> None:
    from longbert import UnreadableWeightsError

    folder = Path(shutil.copytree(encoder, tmp_path / "pickled"))
    (folder / "model.safetensors").unlink()
    weights, marker = folder / "pytorch_model.bin", tmp_path / "code-ran"
    write_unsafe(weights, content, marker, {"embeddings.word_embeddings.weight": None})
    with pytest.raises(UnreadableWeightsError) as info:
        LongBertClassifier.from_encoder(folder, labels=["x", "y"], device="cpu")
    message = str(info.value)
    assert str(weights) in message and "cannot be read safely" in message
    assert "weights_only" not in message  # never the advice to turn the safety off
    assert not marker.exists()
    from longbert.train import main  # the CLI prints it as one line, exit code 2

    assert main(["--train", str(tmp_path / "none.jsonl"), "--encoder", str(folder), "--quiet"]) == 2


def test_an_encoder_folder_with_plain_tensor_pickles_still_loads(encoder: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    folder = Path(shutil.copytree(encoder, tmp_path / "bin-only"))
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    clf = LongBertClassifier.from_encoder(folder, labels=["x", "y"], device="cpu")
    assert isinstance(clf.predict([text_of(3)])[0].label, str)
