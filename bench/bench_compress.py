"""Accuracy of each compression method against its source, on a held-out split.

Usage::

    nice -n 10 .venv/bin/python bench/bench_compress.py [--methods int8] [--cache /tmp/longbert-compress]

Held-out split: hyperpartisan CV fold 1 of ``bench_train.py`` (``official_train`` in 5
stratified folds, seed 0; fold 1's 129 articles are the test set). The source model is
head+tail (128 + 382 tokens), 3 epochs, batch 8, lr 5e-5, seed 42, bf16 autocast: the
``bench_train.py`` recipe, trained once with :func:`longbert.training.train` and cached under
``--cache`` (training takes ~6 minutes on an idle 2-core CPU). Each method then runs
(early-exit distils on fold 1's training texts, and reports its threshold curve)
``python -m longbert.compress`` with ``--dev`` = that test set: the manifest records accuracy
before (the source as it runs by default here) and after. Results are appended to
bench/results/bench_compress.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_train import piece_data
from common import PROJECT_ROOT

from longbert.compress import compress
from longbert.compression import METHODS

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_compress.json"


def source_model(cache: Path) -> tuple[Path, Path]:
    """The cached source checkpoint and the fold-1 test file (trained/written when missing)."""
    from longbert.training import TrainConfig, train

    cache.mkdir(parents=True, exist_ok=True)
    model, test_file = cache / "source", cache / "fold1_test.jsonl"
    train_rows, dev_rows, test_rows = piece_data("cv", 1, 5)
    test_file.write_text(
        "".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in test_rows)
    )
    if not (model / "longbert.json").is_file():
        config = TrainConfig(
            name="compress-source-headtail-fold1",
            output_dir=str(model),
            strategy="truncate",
            strategy_params={"mode": "head+tail"},
            epochs=3,
            batch_size=8,
            learning_rate=5e-5,
            seed=42,
            record=False,
            threads=2,
            precision="bf16",
            patience=0,
            overwrite=True,
        )
        train(config, train_data=train_rows, dev_data=dev_rows, test_data=test_rows)
    return model, test_file


def exit_curve(folder: Path, test_file: Path) -> list[dict[str, float]]:
    """Accuracy and docs/s of an early-exit model at several thresholds (0 = the full model)."""
    from longbert import load_classifier
    from longbert.evaluate import evaluate

    model = load_classifier(folder)
    curve = []
    for threshold in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5):
        model.early_exit.threshold = threshold
        report = evaluate(model, test_file)
        curve.append(
            {
                "threshold": threshold,
                "accuracy": report["accuracy"],
                "docs_per_second": report["docs_per_second"],
            }
        )
        print(
            f"  threshold {threshold}: accuracy {100 * report['accuracy']:.2f}, "
            f"{report['docs_per_second']:.1f} docs/s"
        )
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/longbert-compress"))
    args = parser.parse_args()
    model, test_file = source_model(args.cache)
    train_texts = [r["text"] for r in piece_data("cv", 1, 5)[0]]
    records = []
    for method in args.methods:
        started = time.perf_counter()
        folder, provenance = compress(
            model,
            method,
            f"source-{method}",
            dev=test_file,
            output_dir=args.cache / method,
            overwrite=True,
            texts=train_texts,
        )
        curve = exit_curve(folder, test_file) if method == "early-exit" else None
        before, after = provenance.accuracy_before or 0.0, provenance.accuracy_after or 0.0
        print(
            f"{method}: accuracy {100 * before:.2f} -> {100 * after:.2f} "
            f"({100 * (after - before):+.2f} points)"
        )
        records.append(
            {
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                "method": method,
                "split": "hyperpartisan cv fold 1 (bench_train folds)",
                "source": "head+tail, 3 epochs, bench_train recipe",
                "accuracy_before": before,
                "accuracy_after": after,
                "seconds": time.perf_counter() - started,
                "folder": str(folder),
                "threshold_curve": curve,
            }
        )
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps([*previous, *records], indent=2) + "\n")


if __name__ == "__main__":
    main()
