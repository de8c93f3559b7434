"""Small data and a tiny random BERT for the training and evaluation tests (milliseconds per step)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

VOCAB = {
    "econ": ["bank", "rates", "inflation", "market", "bonds", "prices", "budget", "tax", "growth", "economy"],
    "sport": ["team", "match", "goal", "fans", "coach", "league", "player", "season", "score", "cup"],
    "tech": ["software", "chip", "network", "data", "cloud", "code", "robot", "phone", "server", "app"],
}
FILLER = ["the", "a", "of", "and", "to", "in", "it", "was", "on", "for"]


def make_tiny_encoder(folder: Path) -> Path:
    """A random 2-layer, 32-wide BERT with the default encoder's WordPiece vocabulary."""
    from transformers import BertConfig, BertModel

    from longbert.encoder import load_tokenizer

    tokenizer = load_tokenizer(None)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(str(folder))
    return folder


def make_rows(
    n: int, labels: tuple[str, ...] = ("econ", "sport"), seed: int = 0, words: tuple[int, int] = (15, 60)
) -> list[dict[str, Any]]:
    """``n`` documents whose label shows in their vocabulary (cycled through ``labels``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        size = int(rng.integers(*words))
        picks = rng.choice(VOCAB[label] + FILLER, size=size)
        rows.append(
            {"id": f"{seed}-{i}", "text": " ".join(picks) + f". Document {seed}-{i}.", "label": label}
        )
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """JSON Lines, gzipped when the name ends in ``.gz``."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path
