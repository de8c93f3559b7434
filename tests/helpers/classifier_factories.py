"""Tiny real BERT checkpoints for classifier tests: random weights, the default vocabulary."""

from __future__ import annotations

from pathlib import Path

import torch

from longbert.encoder_source import load_tokenizer

#: Sentences of two topics, enough for documents of any length.
SENTENCES = [
    "The central bank raised interest rates again to fight inflation.",
    "Markets fell sharply after the announcement, and bond yields climbed.",
    "The football club won the championship after a dramatic penalty shoot-out.",
    "Fans celebrated in the streets long after the final whistle.",
]


def text_of(n_sentences: int, offset: int = 0) -> str:
    return " ".join(SENTENCES[(offset + i) % len(SENTENCES)] for i in range(n_sentences))


def save_tiny_encoder(
    folder: Path, hidden: int = 48, heads: int = 4, vocab_size: int | None = None
) -> Path:
    """A random 2-layer BERT of width ``hidden`` with the packaged tokenizer (saved next to it):
    the one tiny encoder of the tests (sizes must never be hard-coded in the library)."""
    from transformers import BertConfig, BertModel

    tokenizer = load_tokenizer(None)
    config = BertConfig(
        vocab_size=vocab_size or tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(str(folder))
    return folder
