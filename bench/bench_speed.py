"""Inference speed of LongBERT (and its compressed models) vs the paths a user could take with HF.

Usage::

    nice -n 10 .venv/bin/python bench/bench_speed.py --model /tmp/src/model \
        [--compressed int8=/tmp/int8 ...] [--repeats 3] [--threads 2] [--per-set 48]

One process, the same documents for every path (``--per-set`` long articles each from
hyperpartisan ``official_train`` and bbc_news ``test``, longest first), ``--threads`` threads,
round-robin: every repeat runs each path once in turn, and the best repeat counts, so load from
other processes hits all paths alike. Paths:

* HF ``pipeline("text-classification")`` with ``truncation=True``, batch size ``--batch-size``:
  float32; with bf16 weights (``torch_dtype=torch.bfloat16``); ONNX Runtime dynamic int8 (when
  ``onnxruntime`` is installed: requirements-compress.txt). All three hold ``--model``'s weights,
  converted to ``BertForSequenceClassification`` (:mod:`longbert.compression.hf_export`);
  without ``--model``, the packaged encoder with a random head (pure speed).
* LongBERT ``predict(..., attention="none")`` (labels only) with truncate head, head+tail,
  chunk and the checkpoint's own strategy (as saved, e.g. a compressed chunk model's stride), in
  default precision (``load_classifier``: bf16 weights where the CPU has native bf16),
  for ``--model`` and each ``--compressed`` checkpoint.

Per path: docs/s, tokens/s (tokens the model read), peak resident memory over the process's
state before the path ran (sampled every 5 ms), and label agreement with HF fp32. Results are
appended to bench/results/bench_speed.json with the load average before and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from common import DATA_DIR, PROJECT_ROOT, hyperpartisan, print_table, read_jsonl

from longbert import load_classifier
from longbert.classifier import LongBertClassifier
from longbert.compression.hf_export import to_bert_for_sequence_classification

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_speed.json"
LONGBERT_STRATEGIES = {
    "truncate head": {"name": "truncate", "params": {"mode": "head"}},
    "head+tail": {"name": "truncate", "params": {"mode": "head+tail"}},
    "chunk": {"name": "chunk", "params": {}},
    "own strategy": None,  # as the checkpoint reads (a compressed chunk model's stride, say)
}

Run = Callable[[list[str]], tuple[list[str], int]]  # texts -> (labels, tokens read)


def documents(per_set: int) -> list[str]:
    """The ``per_set`` longest articles of each set (long documents are LongBERT's case)."""
    hyper = [row["text"] for row in hyperpartisan("official_train")]
    bbc = [row["text"] for row in read_jsonl(DATA_DIR / "bbc_news" / "test.jsonl.gz")]
    return sorted(hyper, key=len)[-per_set:] + sorted(bbc, key=len)[-per_set:]


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_during(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and the peak resident memory above the start, sampled every 5 ms."""
    gc.collect()
    start = peak = rss_bytes()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, rss_bytes())

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        result = fn()
    finally:
        done.set()
        watcher.join()
    return result, max(peak, rss_bytes()) - start


def hf_paths(classifier: LongBertClassifier, batch_size: int, onnx: bool) -> dict[str, Run]:
    from transformers import BertForSequenceClassification, pipeline

    tokenizer = classifier.tokenizer
    folder = Path(tempfile.mkdtemp(prefix="bench-speed-hf-"))
    to_bert_for_sequence_classification(classifier).save_pretrained(folder)
    tokenizer.save_pretrained(str(folder))

    def via(model: Any) -> Run:
        classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")

        def run(texts: list[str]) -> tuple[list[str], int]:
            out = classify(texts, truncation=True, batch_size=batch_size)
            return [o["label"] for o in out], hf_tokens(tokenizer, texts)

        return run

    paths = {
        "HF pipeline fp32": via(BertForSequenceClassification.from_pretrained(folder)),
        "HF pipeline bf16 weights": via(
            BertForSequenceClassification.from_pretrained(folder, torch_dtype=torch.bfloat16)
        ),
    }
    if onnx:
        try:
            paths["HF + ONNX Runtime int8"] = onnx_int8_path(folder, tokenizer, batch_size)
        except ImportError as error:
            print(f"(ONNX Runtime int8 skipped: {error}; pip install -r requirements-compress.txt)")
    return paths


def hf_tokens(tokenizer: Any, texts: list[str]) -> int:
    return sum(min(len(ids), 510) + 2 for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])


def onnx_int8_path(folder: Path, tokenizer: Any, batch_size: int) -> Run:
    """Export to ONNX, quantize the linear layers' weights to int8 (onnxruntime's quantize_dynamic)."""
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(folder).eval()
    fp32_path, int8_path = folder / "model.onnx", folder / "model.int8.onnx"
    sample = tokenizer(["a b c", "d e"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(fp32_path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits"],
            dynamic_axes={
                n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids")
            },
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(int8_path), options, providers=["CPUExecutionProvider"])
    names = model.config.id2label

    def run(texts: list[str]) -> tuple[list[str], int]:
        labels = []
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                truncation=True,
                max_length=512,
                padding=True,
                return_tensors="np",
            )
            (logits,) = session.run(
                None,
                {k: batch[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")},
            )
            labels += [names[int(i)] for i in logits.argmax(-1)]
        return labels, hf_tokens(tokenizer, texts)

    return run


def longbert_path(
    classifier: LongBertClassifier, strategy: dict[str, Any] | None, batch_size: int, **options: Any
) -> Run:
    def run(texts: list[str]) -> tuple[list[str], int]:
        out = classifier.predict(texts, strategy=strategy, attention="none", batch_size=batch_size, **options)
        failed = [p for p in out if not hasattr(p, "label")]
        if failed:
            raise RuntimeError(f"{len(failed)} documents failed: {failed[0]}")
        tokens = sum(
            p.used_tokens + 2 * max(1, sum(s.kind == "window" for s in p.segment_scores)) for p in out
        )
        return [p.label for p in out], tokens

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="LongBERT classifier checkpoint (default: packaged encoder, random head)"
    )
    parser.add_argument(
        "--compressed", nargs="*", default=[], metavar="NAME=PATH", help="compressed checkpoints"
    )
    parser.add_argument("--per-set", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--only", nargs="*", help="run only paths whose name contains one of these")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    texts = documents(args.per_set)

    if args.model:
        source = load_classifier(args.model, device="cpu", precision="auto")
        reference = load_classifier(args.model, device="cpu", precision="fp32")
        weights = f"{args.model} (its encoder + head, converted)"
    else:
        reference = LongBertClassifier.from_encoder(labels=["a", "b"], strategy="truncate", device="cpu")
        folder = Path(tempfile.mkdtemp(prefix="bench-speed-model-"))
        reference.save_pretrained(folder)
        source = load_classifier(folder, device="cpu", precision="auto")
        weights = "packaged encoder + random head (pure speed)"
    paths: dict[str, Run] = dict(hf_paths(reference, args.batch_size, onnx=not args.no_onnx))
    del reference
    models = {"": source} | {
        f" [{name}]": load_classifier(path, device="cpu", precision="auto")
        for name, path in (item.split("=", 1) for item in args.compressed)
    }
    for suffix, model in models.items():
        for label, strategy in LONGBERT_STRATEGIES.items():
            paths[f"LongBERT {label}{suffix}"] = longbert_path(model, strategy, args.batch_size)
    if args.only:
        paths = {k: v for k, v in paths.items() if any(o in k for o in args.only) or k == "HF pipeline fp32"}

    for run in paths.values():  # warm-up: first calls allocate, fill caches, pick kernels
        run(texts[:4])
    best: dict[str, dict[str, Any]] = {}
    for repeat in range(args.repeats):
        for name, run in paths.items():
            started = time.perf_counter()
            (labels, tokens), peak = peak_rss_during(lambda run=run: run(texts))
            seconds = time.perf_counter() - started
            row = best.get(name)
            if row is None or seconds < row["seconds"]:
                best[name] = {"seconds": seconds, "tokens": tokens, "labels": labels}
            best[name]["peak_mib"] = max(best[name].get("peak_mib", 0.0), peak / 2**20)
            print(f"repeat {repeat + 1} {name}: {seconds:.2f} s", flush=True)

    reference_labels = best["HF pipeline fp32"]["labels"]
    fastest_hf = max((len(texts) / r["seconds"], n) for n, r in best.items() if n.startswith("HF"))
    rows = []
    for name, r in best.items():
        docs_per_s = len(texts) / r["seconds"]
        rows.append(
            {
                "path": name,
                "docs/s": round(docs_per_s, 2),
                "tokens/s": round(r["tokens"] / r["seconds"]),
                "vs fastest HF": round(docs_per_s / fastest_hf[0], 2),
                "peak MiB": round(r["peak_mib"], 1),
                "same label as HF fp32": round(
                    sum(a == b for a, b in zip(r["labels"], reference_labels, strict=True)) / len(texts), 3
                ),
            }
        )
    load_after = os.getloadavg()
    print(
        f"\n{len(texts)} documents ({args.per_set} hyperpartisan + {args.per_set} bbc_news, longest), "
        f"{args.threads} threads, batch size {args.batch_size}, best of {args.repeats}, weights: {weights}; "
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}; fastest HF: {fastest_hf[1]}"
    )
    print_table(rows, list(rows[0]))
    record = {
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "documents": len(texts),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "weights": weights,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "torch": torch.__version__,
        "rows": rows,
    }
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps([*previous, record], indent=2) + "\n")
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
