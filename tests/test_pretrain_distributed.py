"""Two pre-training processes through torchrun (gloo): the data shared out, the ranks' weights
identical through the head warm-up and after it, one encoder folder and one database record."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.distributed import run_two_ranks
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert.pretraining import read_encoder_manifest
from longbert.store import get_store

# Runs in each rank: records the sequences it trained on and a fingerprint of its weights after
# every optimiser step (DDP must keep them identical), then pre-trains as the CLI does.
RANK_SCRIPT = """
import json, os, sys
from longbert.pretraining import step_loop
from longbert.pretrain import main

rank = int(os.environ["RANK"])
seen, prints = [], []
original_batch, original_step = step_loop.make_batch, step_loop.StepLoop._step

def make_batch(sequences, indices, *args, **kwargs):
    seen.extend(int(i) for i in indices)
    return original_batch(sequences, indices, *args, **kwargs)

def step(self, group):
    out = original_step(self, group)
    prints.append(float(sum(p.double().sum() for p in self.parts.model.parameters())))
    return out

step_loop.make_batch, step_loop.StepLoop._step = make_batch, step
code = main(sys.argv[2:])
with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as out:
    json.dump({"seen": seen, "weights": prints}, out)
sys.exit(code)
"""


@pytest.mark.slow
def test_two_process_pretraining_with_gloo(tmp_path: Path) -> None:
    encoder = save_tiny_encoder(tmp_path / "tiny-bert", **TRAIN_ENCODER)
    data = write_jsonl(tmp_path / "docs.jsonl", make_rows(24, words=(30, 90)))
    arguments = [str(data), "--encoder", str(encoder), "--name", "ddp"]
    arguments += ["--max-tokens", "62", "--batch-size", "2", "--max-steps", "4", "--head-warmup-steps", "2"]
    arguments += ["--precision", "fp32", "--threads", "1", "--quiet", "--heldout-fraction", "0.2"]
    ranks = run_two_ranks(tmp_path, RANK_SCRIPT, arguments)
    # Different sequences on each rank, identical weights after every step (head phase included).
    assert not set(ranks[0]["seen"][:4]) & set(ranks[1]["seen"][:4])
    assert len(ranks[0]["weights"]) == 4
    assert ranks[0]["weights"] == pytest.approx(ranks[1]["weights"], rel=1e-12)
    folder = tmp_path / "models" / "ddp"
    training = read_encoder_manifest(folder).metadata["training"]
    assert training["world_size"] == 2 and training["steps"] == 4
    runs = get_store(f"sqlite:///{tmp_path / 'db.sqlite'}").list_training_runs()
    assert [(r.name, r.status) for r in runs] == [("ddp", "done")]
