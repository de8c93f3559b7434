"""Two processes through torchrun with the gloo backend: the same code, data shared out, one checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.distributed import run_two_ranks
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert import LongBertClassifier
from longbert.store import get_store

# Runs in each rank: records which documents the rank trained on and a fingerprint of its
# weights at the end of every epoch (DDP must keep them identical), then trains as the CLI does.
RANK_SCRIPT = """
import json, os, sys
import torch
from longbert.training import epochs
from longbert.train import main

rank = int(os.environ["RANK"])
seen, prints, calls = [], [], []
original_items, original_end = epochs.group_items, epochs.EpochLoop.end_epoch

def group_items(data, indices, *args):
    seen.extend(int(i) for i in indices)
    calls.append(len(indices))
    return original_items(data, indices, *args)

def end_epoch(self, epoch):
    prints.append(float(sum(p.double().sum() for p in self.classifier.parameters())))
    stop = original_end(self, epoch)
    report = self.state.history[-1]["dev"]
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as out:
        json.dump({"seen": seen, "weights": prints, "dev_accuracy": report["accuracy"],
                   "n_train": len(self.data["train"]), "batches": len(calls)}, out)
    return stop

epochs.group_items, epochs.EpochLoop.end_epoch = group_items, end_epoch
sys.exit(main(sys.argv[2:]))
"""


def test_two_process_training_with_gloo(tmp_path: Path) -> None:
    encoder = save_tiny_encoder(tmp_path / "tiny-bert", **TRAIN_ENCODER)
    data = write_jsonl(tmp_path / "train.jsonl", make_rows(36))
    arguments = ["--train", str(data), "--encoder", str(encoder), "--name", "ddp"]
    arguments += ["--epochs", "2", "--batch-size", "4", "--dev-fraction", "0.25", "--quiet", "--threads", "1"]
    ranks = run_two_ranks(tmp_path, RANK_SCRIPT, arguments)
    # Each rank trained on its own half of the training documents in each of the 2 epochs...
    n = ranks[0]["n_train"]
    assert len(ranks[0]["seen"]) + len(ranks[1]["seen"]) >= 2 * n
    assert ranks[0]["batches"] == ranks[1]["batches"]  # DDP needs the same number of steps
    assert set(ranks[0]["seen"]) | set(ranks[1]["seen"]) == set(range(n))
    # ...and the ranks agree: the same weights after every epoch and the same dev score.
    assert ranks[0]["weights"] == pytest.approx(ranks[1]["weights"], rel=1e-9)
    assert ranks[0]["dev_accuracy"] == ranks[1]["dev_accuracy"]
    # One checkpoint, one run in the database (rank 0 writes; rank 1 does not).
    LongBertClassifier.from_pretrained(tmp_path / "models" / "ddp")
    runs = get_store(f"sqlite:///{tmp_path / 'db.sqlite'}").list_training_runs()
    assert [(r.name, r.status) for r in runs] == [("ddp", "done")]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["ddp"]
