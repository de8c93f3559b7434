"""LongBertModel's configuration, position table, warm start from BERT, and checkpoint I/O."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.long_bert_factories import TINY, batch, tiny_model
from torch import nn

from longbert.errors import CheckpointError, EncoderNotFoundError, UnsupportedEncoderError
from longbert.modeling.long_bert import LongBertConfig, LongBertModel, PositionLimitError


@pytest.fixture(scope="module")
def warm() -> LongBertModel:
    """The packaged default BERT, warm-started with positions tiled to 4,096."""
    return LongBertModel.from_bert(None, max_positions=4096).eval()


# --- configuration ---------------------------------------------------------------------------


def test_config_round_trip_and_errors() -> None:
    config = LongBertConfig(**TINY)  # type: ignore[arg-type]
    assert LongBertConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert LongBertConfig.from_dict({**config.to_dict(), "model_type": "longbert"}) == config
    with pytest.raises(ValueError, match="hidden_size"):
        LongBertConfig.from_dict({"vocab_size": 5})
    with pytest.raises(ValueError, match="multiple"):
        LongBertConfig(**{**TINY, "num_attention_heads": 5})  # type: ignore[arg-type]


def test_config_from_hf_rejects_relative_positions() -> None:
    from transformers import BertConfig

    hf = BertConfig(hidden_size=64, num_attention_heads=4, max_position_embeddings=128)
    config = LongBertConfig.from_hf(hf)
    assert config.original_max_position_embeddings == 128 and config.hidden_size == 64
    hf.position_embedding_type = "relative_key"
    with pytest.raises(UnsupportedEncoderError, match="relative_key"):
        LongBertConfig.from_hf(hf)

# --- positions -------------------------------------------------------------------------------


def test_positions_are_tiled_and_limited() -> None:
    model = LongBertModel(LongBertConfig(**{**TINY, "max_position_embeddings": 16,  # type: ignore[arg-type]
                                           "original_max_position_embeddings": 16}))
    ids = torch.ones(1, 20, dtype=torch.long)
    with pytest.raises(PositionLimitError, match="extend_positions"):
        model(ids)
    before = model.embeddings.position_embeddings.weight.detach().clone()
    model.extend_positions(40)
    after = model.embeddings.position_embeddings.weight.detach()
    assert after.shape == (40, 64) and model.config.max_position_embeddings == 40
    assert torch.equal(after[:16], before) and torch.equal(after[16:32], before)
    assert torch.equal(after[32:], before[:8])
    model.extend_positions(10)  # no-op
    assert model.embeddings.position_embeddings.num_embeddings == 40
    assert model(ids).last_hidden_state.shape == (1, 20, 64)

# --- warm start ------------------------------------------------------------------------------


def test_from_bert_copies_weights(warm: LongBertModel, hf_bert: nn.Module) -> None:
    layer = warm.encoder.layer[3].attention.self
    for local, glob in (("query", "query_global"), ("key", "key_global"), ("value", "value_global")):
        assert torch.equal(getattr(layer, local).weight, getattr(layer, glob).weight)
        assert torch.equal(getattr(layer, local).bias, getattr(layer, glob).bias)
    table = warm.embeddings.position_embeddings.weight
    assert table.shape == (4096, 384)
    assert torch.equal(table[512 * 7 + 5], hf_bert.embeddings.position_embeddings.weight[5])
    assert warm.bert_pooler_state is not None
    assert torch.equal(warm.bert_pooler_state["dense.weight"], hf_bert.pooler.dense.weight)
    assert warm.bert_pooler_state["dense.bias"].shape == (384,)


def test_from_bert_local_folder_without_pooler(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    hf_config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    hf = BertModel(hf_config, add_pooling_layer=False).eval()
    hf.save_pretrained(tmp_path / "tiny")
    model = LongBertModel.from_bert(tmp_path / "tiny", max_positions=100).eval()
    assert model.bert_pooler_state is None
    assert model.config.hidden_size == 32 and model.config.max_position_embeddings == 100
    ids, mask = batch([20, 11], 20, vocab=99)
    with torch.no_grad():
        diff = model(ids, mask).last_hidden_state - hf(input_ids=ids, attention_mask=mask)[0]
    assert diff.abs().max() < 1e-5


def test_from_bert_errors(tmp_path: Path) -> None:
    with pytest.raises(EncoderNotFoundError):
        LongBertModel.from_bert(tmp_path / "nowhere")
    (tmp_path / "roberta").mkdir()
    (tmp_path / "roberta" / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    with pytest.raises(UnsupportedEncoderError, match="roberta"):
        LongBertModel.from_bert(tmp_path / "roberta")


# --- save / load -----------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = tiny_model(seed=1).float()
    model.extend_positions(300)
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    loaded = LongBertModel.from_pretrained(tmp_path / "ckpt").eval()
    assert loaded.config == model.config
    ids, mask = batch([280, 100], 280, vocab=100)
    with torch.no_grad():
        for sparse in (False, True):
            a = model(ids, mask, sparse=sparse, attention_window=16).last_hidden_state
            b = loaded(ids, mask, sparse=sparse, attention_window=16).last_hidden_state
            assert torch.equal(a, b)


def test_from_pretrained_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        LongBertModel.from_pretrained(tmp_path / "missing")
    folder = tmp_path / "ckpt"
    tiny_model().float().save_pretrained(folder)
    weights = (folder / "model.safetensors").read_bytes()

    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="corrupt"):
        LongBertModel.from_pretrained(folder)
    (folder / "model.safetensors").write_bytes(weights)

    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match=r"config\.json"):
        LongBertModel.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 32}))
    with pytest.raises(CheckpointError, match="do not match"):
        LongBertModel.from_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json is missing"):
        LongBertModel.from_pretrained(folder)
