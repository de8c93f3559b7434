"""``--method early-exit``: exits trained by self-distillation; threshold 0 is the full model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl

from longbert import Prediction, load_classifier
from longbert.checkpoints import read_manifest
from longbert.compress import compress, main
from longbert.compression.early_exit import layer_states, train_exits
from longbert.evaluate import main as evaluate_main

CHUNK = {"name": "chunk", "params": {"window": 16, "stride": 8}}


@pytest.fixture(autouse=True)
def fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")  # exact comparisons, no autocast


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("early-exit")
    return {
        "root": root,
        "train": write_jsonl(root / "train.jsonl", make_rows(24)),
        "dev": write_jsonl(root / "dev.jsonl", make_rows(12, seed=5)),
    }


@pytest.fixture(scope="module")
def source(data: dict[str, Path]) -> Path:
    encoder = save_tiny_encoder(data["root"] / "tiny-bert", **TRAIN_ENCODER)
    return train_quick_model(data["root"], data["train"], encoder)


@pytest.fixture(scope="module")
def exit_model(source: Path, data: dict[str, Path]) -> Path:
    folder = data["root"] / "tiny-exit"
    argv = [
        "--model",
        str(source),
        "--method",
        "early-exit",
        "--name",
        "tiny-exit",
        "--dev",
        str(data["dev"]),
    ]
    argv += [
        "--texts",
        str(data["train"]),
        "--output-dir",
        str(folder),
        "--device",
        "cpu",
        "--exit-threshold",
        "0.3",
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_PRECISION", "fp32")
        assert main(argv) == 0
    return folder


def texts() -> list[str]:
    return [row["text"] for row in make_rows(10, seed=11)]


def test_manifest_and_exits_folder(exit_model: Path, source: Path) -> None:
    manifest = read_manifest(exit_model)
    assert manifest.compression is not None and manifest.compression.method == "early-exit"
    assert manifest.compression.source_model == str(source)
    assert manifest.compression.accuracy_after is not None
    config = json.loads((exit_model / "exits" / "config.json").read_text())
    assert config["threshold"] == 0.3 and config["num_layers"] == 2
    assert (exit_model / "exits" / "model.safetensors").is_file()


@pytest.mark.parametrize("strategy", [None, CHUNK], ids=["truncate", "chunk"])
def test_threshold_zero_is_exactly_the_full_model(
    exit_model: Path, source: Path, strategy: dict | None
) -> None:
    model = load_classifier(exit_model, device="cpu")
    assert model.early_exit is not None and model.early_exit.threshold == 0.3
    full = load_classifier(source, device="cpu").predict(texts(), strategy=strategy)
    got = model.predict(texts(), strategy=strategy, exit_threshold=0)
    for a, b in zip(got, full, strict=True):
        assert a.probabilities == b.probabilities and a.label == b.label
        assert a.extra["exit_threshold"] == 0
        np.testing.assert_array_equal(a.attention.token_scores, b.attention.token_scores)


@pytest.mark.parametrize("strategy", [None, CHUNK], ids=["truncate", "chunk"])
def test_the_exit_loop_with_no_exit_taken_matches_the_full_model(
    exit_model: Path, source: Path, strategy: dict | None
) -> None:
    """A threshold no prediction is under runs the layer-by-layer loop to the end: same outputs
    (in chunk mode too: a document none of whose windows left gets the model's own pooling)."""
    model = load_classifier(exit_model, device="cpu")
    full = load_classifier(source, device="cpu").predict(texts(), strategy=strategy)
    got = model.predict(texts(), strategy=strategy, exit_threshold=1e-12)
    for a, b in zip(got, full, strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5)
        if strategy is None:
            np.testing.assert_allclose(a.attention.token_scores, b.attention.token_scores, atol=1e-5)


def test_chunk_models_pooling_by_learned_weights_never_exit_and_are_refused(
    exit_model: Path, source: Path, tmp_path: Path
) -> None:
    """A window's own prediction stands for the document's only under mean pooling: a chunk
    model with trained attention pooling runs the full path at any threshold, and compress
    refuses to give it exits."""
    model = load_classifier(exit_model, device="cpu")
    full = load_classifier(source, device="cpu")
    for m in (model, full):
        m.pooling.set_method("attention")
        with torch.no_grad():
            torch.manual_seed(0)
            m.pooling.scorer.weight.copy_(torch.randn_like(m.pooling.scorer.weight))
    want = full.predict(texts(), strategy=CHUNK)
    got = model.predict(texts(), strategy=CHUNK, exit_threshold=1.0)  # would leave at layer 1
    for a, b in zip(got, want, strict=True):
        assert a.probabilities == b.probabilities
    from longbert.compression.early_exit import pools_by_mean

    assert not pools_by_mean(model) and pools_by_mean(model, "mean")
    from longbert.compress import compress
    from longbert.strategies import get_strategy

    full.strategy = get_strategy(CHUNK)  # a chunk model that pools by trained attention
    chunk_source = full.save_pretrained(tmp_path / "attention-chunk")
    with pytest.raises(ValueError, match="pools them by 'attention'"):
        compress(chunk_source, "early-exit", "x", output_dir=tmp_path / "x", texts=texts())
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("strategy", [None, CHUNK], ids=["truncate", "chunk"])
def test_a_high_threshold_exits_at_the_first_layer(exit_model: Path, strategy: dict | None) -> None:
    model = load_classifier(exit_model, device="cpu")
    got = model.predict(texts(), strategy=strategy, exit_threshold=1.0)  # every row leaves at layer 1
    first = model.early_exit.heads[0]
    selections = model.prepare(texts(), strategy=None if strategy is None else model.strategy)
    assert all(isinstance(p, Prediction) for p in got)
    assert all(p.extra["exit_threshold"] == 1.0 for p in got)
    if strategy is None:  # one row per document: its probabilities are the first exit's
        inputs = model.collate(selections)
        states, _ = layer_states(model, inputs)
        with torch.no_grad():
            want = model.probabilities(first(states[0]))
        np.testing.assert_allclose([list(p.probabilities.values()) for p in got], want.numpy(), atol=1e-5)


def test_exits_move_toward_the_final_head(data: dict[str, Path]) -> None:
    from longbert.classifier import LongBertClassifier

    torch.manual_seed(3)
    encoder = save_tiny_encoder(data["root"] / "sharp-bert", **TRAIN_ENCODER)
    model = LongBertClassifier.from_encoder(encoder, labels=["econ", "sport"], device="cpu").eval()
    with torch.no_grad():  # a confident teacher, far from a random exit's even guess
        model.head.classifier.weight.mul_(30)
    rows = [json.loads(line)["text"] for line in data["train"].read_text().splitlines()]
    inputs = model.collate(model.prepare(rows))
    states, teacher = layer_states(model, inputs)
    target = model.probabilities(teacher)

    def kl(head: torch.nn.Module) -> float:
        with torch.no_grad():
            logp = torch.log_softmax(head(states[0]), dim=-1)
        return float((target * (target.log() - logp)).sum(-1).mean())

    untrained = train_exits(model, rows, epochs=0, start_from_head=False)
    trained = train_exits(model, rows, epochs=30, start_from_head=False)
    assert kl(untrained.heads[0]) > 1e-3
    assert kl(trained.heads[0]) < 0.5 * kl(untrained.heads[0])


def test_evaluate_cli_app_loader_and_errors(
    exit_model: Path, source: Path, data: dict[str, Path], tmp_path: Path
) -> None:
    assert evaluate_main(["--model", str(exit_model), "--data", str(data["dev"]), "--device", "cpu"]) == 0
    from longbert.ui.service import load_model

    model = load_model(str(exit_model), device="cpu")
    assert model.early_exit is not None
    assert isinstance(model.predict(["econ markets rates"])[0], Prediction)
    with pytest.raises(ValueError, match="--texts"):
        compress(source, "early-exit", "x", output_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()
