"""Small labelled data for the training and evaluation tests (the tiny encoder is
:func:`helpers.classifier_factories.save_tiny_encoder`; :data:`TRAIN_ENCODER` its size here)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

VOCAB = {
    "econ": ["bank", "rates", "inflation", "market", "bonds", "prices", "budget", "tax", "growth", "economy"],
    "sport": ["team", "match", "goal", "fans", "coach", "league", "player", "season", "score", "cup"],
    "tech": ["software", "chip", "network", "data", "cloud", "code", "robot", "phone", "server", "app"],
}
FILLER = ["the", "a", "of", "and", "to", "in", "it", "was", "on", "for"]
#: The tiny encoder of the training tests: 32 wide, 2 heads (milliseconds per step).
TRAIN_ENCODER = {"hidden": 32, "heads": 2}
#: Options of a quick, silent, unrecorded one-epoch run on the CPU.
QUICK_RUN: dict[str, Any] = {
    "epochs": 1, "batch_size": 4, "quiet": True, "record": False, "threads": 1, "device": "cpu",
}


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


def train_quick_model(root: Path, train_file: Path, encoder: Path) -> Path:
    """A classifier trained for one quick CPU epoch on ``train_file`` from a tiny ``encoder``,
    saved in ``root/model`` (not recorded in the store); returns its folder."""
    from longbert.training import TrainConfig, train

    config = TrainConfig(
        train=str(train_file),
        encoder=str(encoder),
        output_dir=str(root / "model"),
        epochs=1,
        batch_size=4,
        quiet=True,
        record=False,
        threads=1,
        device="cpu",
    )
    return train(config).output_dir
