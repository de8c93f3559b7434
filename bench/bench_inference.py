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
import time

import torch
from common import hyperpartisan, print_table

from longbert import LongBertClassifier
from longbert.config import autocast_dtype
from longbert.encoder import default_encoder_path

STRATEGIES = [
    ("truncate head", {"name": "truncate", "params": {"mode": "head"}}),
    ("truncate head+tail", {"name": "truncate", "params": {"mode": "head+tail"}}),
    ("key sentences", {"name": "key_sentences", "params": {}}),
    ("chunk (mean)", {"name": "chunk", "params": {"pooling": "mean"}}),
    ("sparse 4096", {"name": "sparse", "params": {"max_tokens": 4096}}),
]


def time_pipeline(texts: list[str]) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    path = str(default_encoder_path())
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(path))
    classify(texts[:2], truncation=True)  # warm-up
    started = time.perf_counter()
    classify(texts, truncation=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=128, help="documents of official_train to use")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = [row["text"] for row in hyperpartisan("official_train", args.limit)]
    dtype = autocast_dtype(torch.device("cpu"))
    print(
        f"{len(texts)} hyperpartisan documents, {args.threads} threads, batch size {args.batch_size}, "
        f"LongBERT precision {dtype or torch.float32} (LONGBERT_PRECISION), pipeline float32"
    )

    pipeline_seconds = time_pipeline(texts)
    rows = [
        {
            "method": "HF pipeline (truncation=True)",
            "docs/s": f"{len(texts) / pipeline_seconds:.2f}",
            "vs pipeline": "1.00x",
        }
    ]
    classifier = LongBertClassifier.from_encoder(None, labels=["false", "true"])
    classifier.predict(texts[:2])  # warm-up
    for name, strategy in STRATEGIES:
        started = time.perf_counter()
        results = classifier.predict(texts, strategy=strategy, batch_size=args.batch_size)
        seconds = time.perf_counter() - started
        ok = [r for r in results if r.ok]
        for failed in (r for r in results if not r.ok):
            print(f"  {name}: {failed.document_name}: {failed.message}")
        used = sum(r.used_tokens for r in ok) / max(1, len(ok))
        rows.append(
            {
                "method": f"LongBERT {name}",
                "docs/s": f"{len(texts) / seconds:.2f}",
                "vs pipeline": f"{pipeline_seconds / seconds:.2f}x",
                "tokens used/doc": f"{used:.0f}",
            }
        )
    print_table(rows, ["method", "docs/s", "vs pipeline", "tokens used/doc"])


if __name__ == "__main__":
    main()
