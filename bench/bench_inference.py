"""Inference throughput per strategy vs the HF text-classification pipeline, on hyperpartisan.

Usage: .venv/bin/python bench/bench_inference.py [--limit 128] [--threads 2]

Same encoder (the packaged default), same documents, this machine's CPU. The pipeline runs with
``truncation=True`` (the first 512 tokens) one document at a time, its documented default; LongBERT
runs ``predict`` with its length-sorted batching and logs the [CLS] attention summary it stores,
in the precision ``LONGBERT_PRECISION`` picks (bf16 on CPUs with native bf16; set it to ``fp32`` to
compare like with like).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import torch
from common import hyperpartisan, print_table

from longbert import LongBertClassifier
from longbert.devices import precision_dtype
from longbert.encoder_source import default_encoder_path

STRATEGIES = [
    ("truncate head", {"name": "truncate", "params": {"mode": "head"}}),
    ("truncate head+tail", {"name": "truncate", "params": {"mode": "head+tail"}}),
    ("key sentences", {"name": "key_sentences", "params": {}}),
    ("chunk (mean)", {"name": "chunk", "params": {}, "model": {"pooling": "mean"}}),
    ("sparse 4096", {"name": "sparse", "params": {"max_tokens": 4096}}),
]


def make_pipeline() -> Callable[[list[str]], object]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    path = str(default_encoder_path())
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(path))
    classify(["warm-up", "warm-up"], truncation=True)
    return lambda texts: classify(texts, truncation=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=128, help="documents of official_train to use")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (best one counts)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = [row["text"] for row in hyperpartisan("official_train", args.limit)]
    dtype = precision_dtype(torch.device("cpu"))
    print(
        f"{len(texts)} hyperpartisan documents, {args.threads} threads, batch size {args.batch_size}, "
        f"LongBERT precision {dtype or torch.float32} (LONGBERT_PRECISION), pipeline float32"
    )

    classify = make_pipeline()
    classifier = LongBertClassifier.from_encoder(None, labels=["false", "true"])
    classifier.predict(texts[:2])  # warm-up
    pipeline_name = "HF pipeline (truncation=True)"
    runs: list[tuple[str, Callable[[], object]]] = [(pipeline_name, lambda: classify(texts))]
    for name, strategy in STRATEGIES:
        predict = functools.partial(classifier.predict, texts, strategy=strategy, batch_size=args.batch_size)
        runs.append((f"LongBERT {name}", predict))
    # Round-robin, so every method sees the same spells of background load; the fastest run of
    # each (the least disturbed) counts, the median ratio is shown beside it.
    timings: dict[str, list[float]] = {name: [] for name, _ in runs}
    outputs: dict[str, object] = {}
    for _ in range(args.repeats):
        for name, run in runs:
            started = time.perf_counter()
            outputs[name] = run()
            timings[name].append(time.perf_counter() - started)
    pipeline_seconds = min(timings[pipeline_name])
    pipeline_median = statistics.median(timings[pipeline_name])
    rows = []
    for name, _ in runs:
        seconds = min(timings[name])
        row = {
            "method": name,
            "docs/s": f"{len(texts) / seconds:.2f}",
            "vs pipeline": f"{pipeline_seconds / seconds:.2f}x",
            "median vs pipeline": f"{pipeline_median / statistics.median(timings[name]):.2f}x",
        }
        results = outputs[name]
        if name.startswith("LongBERT"):
            ok = [r for r in results if r.ok]  # type: ignore[attr-defined]
            for failed in (r for r in results if not r.ok):  # type: ignore[attr-defined]
                print(f"  {name}: {failed.document_name}: {failed.message}")
            row["tokens used/doc"] = f"{sum(r.used_tokens for r in ok) / max(1, len(ok)):.0f}"
        rows.append(row)
    print(f"best of {args.repeats} round-robin runs per method (median ratio beside it)")
    print_table(rows, ["method", "docs/s", "vs pipeline", "median vs pipeline", "tokens used/doc"])


if __name__ == "__main__":
    main()
