"""int8 under sparse attention: the quantized global projections are read correctly, and
``compress`` refuses to save a compressed model that fails on dev documents its source reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import QUICK_RUN, TRAIN_ENCODER, make_rows, write_jsonl

from longbert import Prediction, load_classifier
from longbert.compress import compress, main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPARSE = {"name": "sparse", "params": {"max_tokens": 1024}}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sparse-int8")
    return {
        "root": root,
        "train": write_jsonl(root / "train.jsonl", make_rows(16)),
        # Long documents: past 512 tokens, so the sparse layout (window + globals) is used.
        "dev": write_jsonl(root / "dev.jsonl", make_rows(6, seed=5, words=(300, 700))),
    }


@pytest.fixture(scope="module")
def sparse_source(data: dict[str, Path]) -> Path:
    """A tiny model trained to read with sparse attention (global [CLS], windowed tokens)."""
    from longbert.training import TrainConfig, train

    encoder = save_tiny_encoder(data["root"] / "tiny-bert", **TRAIN_ENCODER)
    config = TrainConfig(
        train=str(data["train"]),
        encoder=str(encoder),
        output_dir=str(data["root"] / "sparse"),
        strategy="sparse",
        strategy_params=dict(SPARSE["params"]),
        **QUICK_RUN,
    )
    return train(config).output_dir


def long_texts() -> list[str]:
    return [row["text"] for row in make_rows(4, seed=11, words=(300, 900))]


def test_an_int8_sparse_model_predicts_as_its_float_source(
    sparse_source: Path, data: dict[str, Path]
) -> None:
    folder, _ = compress(
        sparse_source, "int8", "sparse-int8", output_dir=data["root"] / "sparse-int8", device="cpu"
    )
    model = load_classifier(folder, device="cpu")
    assert model.prepared_dtype == torch.qint8
    reference = load_classifier(sparse_source, device="cpu", precision="fp32")
    got, want = model.predict(long_texts()), reference.predict(long_texts())
    assert all(isinstance(p, Prediction) for p in got), [getattr(p, "message", "") for p in got]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=0.05)
        assert a.label == b.label


def test_a_head_tail_int8_model_reads_with_sparse_when_asked(data: dict[str, Path]) -> None:
    """The Compare page's sparse column: a head+tail (truncate) int8 model read with sparse."""
    from longbert.classifier import LongBertClassifier

    encoder = data["root"] / "tiny-bert"
    if not encoder.exists():
        save_tiny_encoder(encoder, **TRAIN_ENCODER)
    torch.manual_seed(0)
    source = LongBertClassifier.from_encoder(encoder, labels=["econ", "sport"], device="cpu")
    source_folder = source.save_pretrained(data["root"] / "head-tail")
    folder, _ = compress(source_folder, "int8", "ht-int8", output_dir=data["root"] / "ht-int8", device="cpu")
    model = load_classifier(folder, device="cpu")
    reference = load_classifier(source_folder, device="cpu", precision="fp32")
    texts = long_texts()[:2]
    got, want = model.predict(texts, strategy=SPARSE), reference.predict(texts, strategy=SPARSE)
    assert all(isinstance(p, Prediction) for p in got), [getattr(p, "message", "") for p in got]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=0.05)


def test_the_folded_and_projecting_global_paths_agree_on_int8_layers() -> None:
    """Folding the key/value projections into the queries is exact algebra: with int8 layers it
    uses their (dequantized) weights and agrees with projecting every token through them."""
    from longbert.modeling.sparse_attention import build_sparse_layout, global_attention

    torch.manual_seed(0)
    heads, dim, size, length = 2, 8, 16, 40
    projections = torch.nn.Sequential(torch.nn.Linear(size, size), torch.nn.Linear(size, size))
    quantized = torch.ao.quantization.quantize_dynamic(projections, {torch.nn.Linear}, dtype=torch.qint8)
    hidden = torch.randn(1, length, size)
    query = torch.randn(1, 1, heads, dim)
    layout = build_sparse_layout(torch.ones(1, length, dtype=torch.long), None, window=4)
    key_proj, value_proj = quantized[0], quantized[1]
    folded = global_attention(query, hidden, key_proj, value_proj, layout, fold=True)
    projected = global_attention(query, hidden, key_proj, value_proj, layout, fold=False)
    # int8 activations in the projecting path only: agreement within int8 rounding.
    torch.testing.assert_close(folded[0], projected[0], atol=0.05, rtol=0.05)
    torch.testing.assert_close(folded[1], projected[1], atol=0.02, rtol=0.05)


def test_compress_refuses_a_model_that_fails_where_its_source_did_not(
    sparse_source: Path,
    data: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The audit's case: the int8 model failed on every dev document, and compress said
    "Saved ... accuracy 50.00 before, 0.00 after". Now nothing is saved and the error says why."""
    from longbert.modeling import sparse_attention

    def broken(projection: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        return projection.weight, projection.bias  # the old reading: a method on int8 layers

    monkeypatch.setattr(sparse_attention, "linear_parameters", broken)
    target = data["root"] / "refused"
    argv = ["--model", str(sparse_source), "--method", "int8", "--name", "refused", "--dev", str(data["dev"])]
    assert main([*argv, "--output-dir", str(target), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "could not read 6 of the 6 documents" in err and "its source read" in err
    assert "'function' object has no attribute 'view'" in err
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".refused")]
