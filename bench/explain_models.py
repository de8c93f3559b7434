"""The fine-tuned models and test documents bench_explain.py explains (trained once, then reused).

Recipe (small and fast on a shared CPU, not tuned for accuracy): the default encoder, truncate
head+tail, ``EPOCHS`` epochs (hyperpartisan 1: the shared CPU did not allow 2; bbc_news 4: one epoch of its
269 training articles left the fresh head near chance, loss 1.60 -> 1.50), batch 8, lr 5e-5, 10% of
the training rows carved out as the dev set that picks the epoch. hyperpartisan: trained on
folds 2-5 of the 5-fold split of ``official_train`` (seed 0, as bench_train.py's
cross-validation), explained on fold 1;
bbc_news: trained on a stratified subset of ``train``, explained on ``test``. The trained
checkpoint folder is kept under ``bench/results/explain_models/<name>/`` (git-ignored) and
reused by later runs; the test rows are recomputed (deterministic).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import DATA_DIR, PROJECT_ROOT, hyperpartisan, read_jsonl

MODELS_DIR = PROJECT_ROOT / "bench" / "results" / "explain_models"
EPOCHS = {"hyperpartisan": 1, "bbc_news": 4}
#: bbc_news training rows (of 1,781): topics are easy, a subset trains in minutes.
BBC_TRAIN_DOCS = 300
DATASETS = ("hyperpartisan", "bbc_news")


def _stratified(rows: list[dict], n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    labels = sorted({r["label"] for r in rows})
    keep: list[int] = []
    for label in labels:
        members = [i for i, r in enumerate(rows) if r["label"] == label]
        keep.extend(rng.permutation(members)[: max(1, round(n * len(members) / len(rows)))].tolist())
    return [rows[i] for i in sorted(keep)]


def split(dataset: str) -> tuple[list[dict], list[dict]]:
    """(training rows, test rows) of ``dataset``."""
    if dataset == "hyperpartisan":
        from longbert.data import from_records, stratified_folds

        rows = hyperpartisan("official_train")
        fold = stratified_folds(from_records(rows, name="official_train"), k=5, seed=0)[0]

        def as_rows(subset: Any) -> list[dict]:
            return [{"id": e.id, "text": e.text, "label": e.label} for e in subset.examples]

        return as_rows(fold.train), as_rows(fold.dev)
    if dataset == "bbc_news":
        train_rows = list(read_jsonl(DATA_DIR / "bbc_news" / "train.jsonl.gz"))
        test_rows = list(read_jsonl(DATA_DIR / "bbc_news" / "test.jsonl.gz"))
        return _stratified(train_rows, BBC_TRAIN_DOCS, seed=0), test_rows
    raise SystemExit(f"Unknown data set {dataset!r}; choose from {DATASETS}.")


def model_folder(dataset: str) -> Path:
    return MODELS_DIR / f"explain-{dataset}-head-tail-{EPOCHS[dataset]}ep"


def ensure_model(dataset: str, threads: int = 0) -> Path:
    """The trained checkpoint folder of ``dataset``; trains it first when it is not there."""
    folder = model_folder(dataset)
    if (folder / "longbert.json").is_file():
        return folder
    from longbert.training import TrainConfig, train

    train_rows, test_rows = split(dataset)
    config = TrainConfig(
        name=folder.name,
        output_dir=str(folder),
        strategy="truncate",
        strategy_params={"mode": "head+tail"},
        epochs=EPOCHS[dataset],
        batch_size=8,
        learning_rate=5e-5,
        seed=42,
        record=False,
        threads=threads,
        patience=0,
        overwrite=True,
    )
    started = time.perf_counter()
    result = train(config, train_data=train_rows, test_data=test_rows)
    info = {
        "dataset": dataset,
        "train_docs": len(train_rows),
        "test_docs": len(test_rows),
        "test_accuracy": (result.test_metrics or {}).get("accuracy"),
        "test_macro_f1": (result.test_metrics or {}).get("macro_f1"),
        "best_epoch": result.best_epoch,
        "train_seconds": time.perf_counter() - started,
        "recipe": f"default encoder, truncate head+tail, {EPOCHS[dataset]} epochs, batch 8, lr 5e-5, seed 42",
    }
    (folder / "bench_explain_model.json").write_text(json.dumps(info, indent=1))
    return folder


def model_info(dataset: str) -> dict[str, Any]:
    path = model_folder(dataset) / "bench_explain_model.json"
    return json.loads(path.read_text()) if path.is_file() else {}


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or DATASETS:
        print(name, ensure_model(name), model_info(name), flush=True)
