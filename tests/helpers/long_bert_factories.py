"""Small models and batches shared by the LongBertModel tests."""

from __future__ import annotations

import torch

from longbert.modeling.long_bert import LongBertConfig, LongBertModel

TINY = {
    "vocab_size": 100,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "max_position_embeddings": 256,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}


def tiny_model(seed: int = 0, std: float = 0.3, **overrides: object) -> LongBertModel:
    """A random tiny model with large weights, so attention patterns are sharp (a weak test
    would pass with near-uniform attention), in float64 for exact comparisons."""
    torch.manual_seed(seed)
    model = LongBertModel(LongBertConfig(**{**TINY, **overrides}))  # type: ignore[arg-type]
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "LayerNorm" not in name:
                param.normal_(0.0, std)
    return model.double().eval()


def batch(lengths: list[int], total: int, vocab: int = 30522, seed: int = 0) -> tuple[
    torch.Tensor, torch.Tensor
]:
    """Random ids ``[B, total]`` ([CLS]=101 first) and the mask of ``lengths`` real tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (len(lengths), total), generator=generator)
    ids[:, 0] = min(101, vocab - 1)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
    return ids * mask, mask
