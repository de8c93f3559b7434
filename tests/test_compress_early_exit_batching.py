"""Early exit saves work: rows that leave at layer k never run the layers after k, the rows
still running stay in one batch, and the outputs of those rows are the full model's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import SENTENCES, text_of
from torch import Tensor, nn

from longbert.classifier import LongBertClassifier
from longbert.compression.early_exit import ExitHeads
from longbert.encoder_source import load_tokenizer
from longbert.strategies import parse_strategy

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LAYERS = 4
CHUNK = {"name": "chunk", "params": {"window": 16, "stride": 8}}


@pytest.fixture(autouse=True)
def fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")  # exact comparisons, no autocast


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 4-layer BERT (the shared tiny encoder has 2: too few to exit in the middle)."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("four-layer-bert")
    tokenizer = load_tokenizer(None)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(str(folder))
    return folder


def exit_model(encoder_folder: Path, exit_at: int) -> LongBertClassifier:
    """A classifier whose exits are unsure (uniform) before layer ``exit_at`` and sure (label
    'econ') at it: with threshold 0.5 every row leaves after layer ``exit_at``."""
    model = LongBertClassifier.from_encoder(encoder_folder, labels=["econ", "sport"], device="cpu").eval()
    exits = ExitHeads(model.encoder.config.hidden_size, 2, LAYERS, threshold=0.5)
    with torch.no_grad():
        for index, head in enumerate(exits.heads):
            head.classifier.weight.zero_()
            head.classifier.bias.copy_(
                torch.tensor([10.0, -10.0]) if index == exit_at - 1 else torch.zeros(2)
            )
    model.early_exit = exits.eval()
    return model


def count_layers(model: LongBertClassifier) -> list[tuple[int, int, int]]:
    """From now on, (layer index, rows, tokens) of each call of one of ``model``'s encoder layers."""
    calls: list[tuple[int, int, int]] = []
    for index, layer in enumerate(model.encoder.encoder.layer):

        def record(module: nn.Module, args: tuple[Tensor, ...], index: int = index) -> None:
            calls.append((index, args[0].shape[0], args[0].shape[1]))

        layer.register_forward_pre_hook(record)
    return calls


def texts() -> list[str]:
    return [text_of(n, offset=n) for n in (2, 5, 3, 8, 1, 4)]


@pytest.mark.parametrize("exit_at", [1, 2, 3])
def test_rows_that_exit_at_layer_k_never_run_the_later_layers(encoder_folder: Path, exit_at: int) -> None:
    model = exit_model(encoder_folder, exit_at)
    layer_calls = count_layers(model)
    got = model.predict(texts(), batch_size=8, attention="none")
    # One batched call per layer up to k, over all six documents; nothing after k.
    assert [(index, rows) for index, rows, _ in layer_calls] == [(i, 6) for i in range(exit_at)]
    want = torch.softmax(torch.tensor([10.0, -10.0]), dim=0)
    for prediction in got:
        assert prediction.label == "econ" and prediction.extra["exit_threshold"] == 0.5
        np.testing.assert_allclose(list(prediction.probabilities.values()), want.numpy(), rtol=1e-6)


def test_the_full_path_runs_every_layer_once_per_batch(encoder_folder: Path) -> None:
    model = exit_model(encoder_folder, 2)
    layer_calls = count_layers(model)
    model.predict(texts(), batch_size=8, attention="none", exit_threshold=0)
    assert [(index, rows) for index, rows, _ in layer_calls] == [(i, 6) for i in range(LAYERS)]


def test_chunk_windows_exit_in_passes_of_batch_size_rows(encoder_folder: Path) -> None:
    """Chunk mode: the unit is the window; a long document's windows go in passes of at most
    ``batch_size`` rows, as in the full path, and stop at the exit layer."""
    model = exit_model(encoder_folder, 2)
    layer_calls = count_layers(model)
    long_text = text_of(12)
    n_windows = len(model.prepare([long_text], strategy=parse_strategy(CHUNK)[0])[0].windows)
    assert n_windows > 4
    got = model.predict([long_text], strategy=CHUNK, batch_size=4, attention="none")
    assert got[0].ok and got[0].label == "econ"
    assert {index for index, _, _ in layer_calls} == {0, 1}
    assert max(rows for _, rows, _ in layer_calls) <= 4
    assert sum(rows for index, rows, _ in layer_calls if index == 0) == n_windows


class ExitSome(nn.Module):
    """An exit sure of 'sport' for the batch rows in ``rows``, unsure for the others."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__()
        self.rows = rows

    def forward(self, cls_states: Tensor) -> Tensor:
        logits = torch.zeros(cls_states.shape[0], 2, dtype=cls_states.dtype)
        logits[self.rows] = torch.tensor([-10.0, 10.0], dtype=cls_states.dtype)
        return logits


def test_the_rows_still_running_shrink_the_batch_and_keep_the_full_models_outputs(
    encoder_folder: Path,
) -> None:
    """Rows 0 and 2 (the longest) leave after layer 1: layer 2 on runs the other rows alone,
    cut to their own padded length; their logits and [CLS] rows are the full model's."""
    model = exit_model(encoder_folder, exit_at=99)  # no exit of its own is sure
    model.early_exit.heads[0] = ExitSome([0, 2])
    docs = [text_of(20), text_of(2), text_of(16, 1), text_of(3, 2), text_of(1, 3)]
    inputs = model.collate(model.prepare(docs))
    full = model.infer(inputs, exit_threshold=0, output_cls_attention=True)
    layer_calls = count_layers(model)
    got = model.infer(inputs, exit_threshold=0.5, output_cls_attention=True)
    width = inputs.input_ids.shape[1]
    short = int(inputs.attention_mask[[1, 3, 4]].sum(dim=1).max())
    assert layer_calls[0] == (0, 5, width)
    assert all(rows == 3 and tokens < width and tokens >= short for _, rows, tokens in layer_calls[1:])
    assert [index for index, _, _ in layer_calls] == list(range(LAYERS))
    stayed = [1, 3, 4]
    torch.testing.assert_close(got.logits[stayed], full.logits[stayed], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.cls_attention[stayed], full.cls_attention[stayed], atol=1e-5, rtol=1e-5)
    assert torch.equal(got.logits[[0, 2]], torch.tensor([[-10.0, 10.0]] * 2))
    # An exited row's [CLS] row is that of the layer it left after: a distribution on its tokens.
    torch.testing.assert_close(got.cls_attention[[0, 2]].sum(dim=1), torch.ones(2))


def test_exits_under_autocast_keep_every_document(
    encoder_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """float32 weights under bf16 autocast (load_classifier's default, LONGBERT_PRECISION=bf16):
    the exits' logits are bf16 there. Every document is still predicted, batched, at its exit
    (this once raised and sent predict back to one document at a time, losing the exiting ones)."""
    monkeypatch.setenv("LONGBERT_PRECISION", "bf16")
    model = exit_model(encoder_folder, 2)
    assert model.prepared_dtype is None  # float32 weights: autocast
    layer_calls = count_layers(model)
    got = model.predict([*texts(), SENTENCES[0]], batch_size=8)
    assert all(p.ok for p in got), [p for p in got if not p.ok]
    assert all(p.label == "econ" and p.attention is not None for p in got)
    assert [(index, rows) for index, rows, _ in layer_calls] == [(0, 7), (1, 7)]
