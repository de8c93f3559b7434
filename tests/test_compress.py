"""``python -m longbert.compress``: compressed checkpoints load and predict through every entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl

from longbert import CheckpointError, Prediction, load_classifier
from longbert.checkpoints import read_manifest
from longbert.compress import compress, main
from longbert.evaluate import main as evaluate_main


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compress")
    encoder = save_tiny_encoder(root / "tiny-bert", **TRAIN_ENCODER)
    return train_quick_model(root, write_jsonl(root / "train.jsonl", make_rows(24)), encoder)


@pytest.fixture(scope="module")
def dev_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("compress-dev") / "dev.jsonl", make_rows(12, seed=5))


@pytest.fixture(scope="module")
def int8_model(source: Path, dev_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("int8") / "tiny-int8"
    argv = ["--model", str(source), "--method", "int8", "--name", "tiny-int8", "--dev", str(dev_file)]
    assert main([*argv, "--output-dir", str(folder), "--device", "cpu"]) == 0
    return folder


def test_manifest_names_method_source_and_accuracy(int8_model: Path, source: Path, dev_file: Path) -> None:
    manifest = read_manifest(int8_model)
    assert manifest.kind == "classifier" and manifest.name == "tiny-int8"
    compression = manifest.compression
    assert compression is not None and compression.method == "int8"
    assert compression.source_model == str(source) and compression.dev_data == str(dev_file)
    assert 0.0 <= compression.accuracy_before <= 1.0 and 0.0 <= compression.accuracy_after <= 1.0
    assert 0.0 <= compression.macro_f1_before <= 1.0 and 0.0 <= compression.macro_f1_after <= 1.0
    assert compression.docs_per_second_before > 0 and compression.docs_per_second_after > 0
    assert manifest.metadata["compression"]["method"] == "int8"
    assert manifest.labels == read_manifest(source).labels
    # Stored without pickles: the source's safetensors, unchanged.
    for part in ("encoder", "pooling", "head"):
        assert (int8_model / part / "model.safetensors").read_bytes() == (
            source / part / "model.safetensors"
        ).read_bytes()
    assert not list(int8_model.rglob("*.bin")) and not list(int8_model.rglob("*.pt"))


def test_load_classifier_gives_int8_linear_layers_and_close_predictions(
    int8_model: Path, source: Path
) -> None:
    model = load_classifier(int8_model, device="cpu")
    assert model.prepared_dtype == torch.qint8
    linears = [m for m in model.encoder.modules() if type(m).__name__ == "Linear"]
    assert linears and all(m.__module__.startswith("torch.ao.nn.quantized") for m in linears)
    reference = load_classifier(source, device="cpu", precision="fp32")
    texts = [row["text"] for row in make_rows(10, seed=11)]
    got, want = model.predict(texts), reference.predict(texts)
    assert all(isinstance(p, Prediction) for p in got)
    assert got[0].extra["precision"] == "qint8"
    assert [p.label for p in got] == [p.label for p in want]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=0.05)
        assert a.attention is not None  # the [CLS] row still comes with int8 weights
    chunked = model.predict(texts, strategy={"name": "chunk", "params": {"window": 16, "stride": 8}})
    assert all(isinstance(p, Prediction) for p in chunked)


def test_evaluate_cli_and_the_app_loader_take_it(
    int8_model: Path, dev_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    assert (
        evaluate_main(
            ["--model", str(int8_model), "--data", str(dev_file), "--device", "cpu", "--output", str(out)]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["accuracy"] == pytest.approx(read_manifest(int8_model).compression.accuracy_after)

    from longbert.ui.models import model_choices
    from longbert.ui.service import load_model

    model = load_model(str(int8_model), device="cpu")
    assert model.prepared_dtype == torch.qint8
    assert isinstance(model.predict(["econ markets rates"])[0], Prediction)
    choices = model_choices(int8_model.parent)
    assert [c.title for c in choices if not c.zero_shot] == ["tiny-int8"]


def test_bad_requests_are_clear_errors(
    int8_model: Path, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="already exists"):
        compress(source, "int8", "again", output_dir=int8_model)
    with pytest.raises(ValueError, match="already compressed"):
        compress(int8_model, "int8", "twice", output_dir=tmp_path / "twice")
    with pytest.raises(ValueError, match="--method must be one of"):
        compress(source, "zip", "z", output_dir=tmp_path / "z")
    assert (
        main(
            [
                "--model",
                str(tmp_path / "nope"),
                "--method",
                "int8",
                "--name",
                "x",
                "--output-dir",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "No checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_an_unknown_method_in_a_manifest_is_refused_at_load(int8_model: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "odd"
    shutil.copytree(int8_model, copy)
    data = json.loads((copy / "longbert.json").read_text())
    data["compression"]["method"] = "pruned-9000"
    (copy / "longbert.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="pruned-9000"):
        load_classifier(copy, device="cpu")
