"""Store write throughput and database size per 1,000 predictions of hyperpartisan-length documents.

Usage: .venv/bin/python bench/bench_store.py [--n 1000] [--real 160] [--threads 4] [--full 12]

Predictions are real: the packaged encoder (untrained head; the attention is the encoder's own)
classifies ``--real`` hyperpartisan ``official_train`` articles with truncation (head) and chunking,
logging the [CLS] attention summary the app stores. They are then saved ``--n`` times each onto
distinct documents (the article's text plus a marker, so no two share a hash) into fresh SQLite
files in a temporary folder:

* sequential writes (one writer, as the app saves one result after another);
* ``--threads`` parallel writers sharing one Store (browser sessions);
* ``--full`` predictions with full attention maps (6 layers x 12 heads x 512 x 512, float16).

Size = database file after a clean close (WAL checkpointed) minus an empty database. Throughput
includes compressing the attention arrays (done before each transaction opens).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from common import hyperpartisan, print_table
from sqlalchemy.orm import Session

from longbert import LongBertClassifier
from longbert.document import Document
from longbert.results import Prediction
from longbert.store import HistoryFilter, Store
from longbert.store.convert import pack_summary

SUMMARY_FIELDS = ("token_scores", "word_spans", "word_scores", "sentence_spans", "sentence_scores")
STRATEGIES = {
    "truncate": {"name": "truncate", "params": {"mode": "head"}},
    "chunk": {"name": "chunk", "params": {"pooling": "mean"}},
}


def classify(
    texts: list[str], strategy: dict, attention: str = "summary"
) -> list[tuple[Document, Prediction]]:
    """Real predictions (with their documents) from the packaged encoder."""
    classifier = LongBertClassifier.from_encoder(None, labels=["false", "true"], name="bench-hp")
    documents = [Document(text, name=f"hp-{i}.txt", source="batch") for i, text in enumerate(texts)]
    results = classifier.predict(documents, strategy=strategy, attention=attention)
    pairs = [(d, r) for d, r in zip(documents, results, strict=True) if isinstance(r, Prediction)]
    if len(pairs) != len(documents):
        raise SystemExit(f"{len(documents) - len(pairs)} documents failed to classify")
    return pairs


def replicate(pairs: list[tuple[Document, Prediction]], n: int) -> list[tuple[Document, Prediction]]:
    """``n`` (document, prediction) pairs on distinct texts, cycling through the real ones."""
    out = []
    for j in range(n):
        document, prediction = pairs[j % len(pairs)]
        copy = Document(f"{document.text}\n[{j}]", name=f"hp-{j}.txt", source="batch")
        out.append(
            (copy, dataclasses.replace(prediction, document_name=copy.name, document_sha256=copy.sha256))
        )
    return out


def empty_size(folder: Path) -> int:
    path = folder / "empty.sqlite"
    Store(f"sqlite:///{path}").close()
    return path.stat().st_size


def write_all(path: Path, items: list[tuple[Document, Prediction]], threads: int = 1) -> tuple[float, Store]:
    """Seconds to save every item with ``threads`` writers sharing one Store."""
    store = Store(f"sqlite:///{path}")
    chunks = [items[t::threads] for t in range(threads)]
    errors: list[BaseException] = []

    def writer(chunk: list[tuple[Document, Prediction]]) -> None:
        try:
            for document, prediction in chunk:
                store.save_prediction(prediction, document)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=writer, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds, store


def breakdown(store: Store) -> dict[str, float]:
    """Bytes of attention payloads and document texts, per prediction."""

    def work(session: Session) -> dict[str, float]:
        connection = session.connection()
        maps = connection.exec_driver_sql(
            "SELECT sum(length(payload)), sum(raw_bytes) FROM attention_maps WHERE kind = 'summary'"
        ).one()
        text = connection.exec_driver_sql("SELECT sum(length(CAST(text AS BLOB))) FROM documents").scalar()
        count = connection.exec_driver_sql("SELECT count(*) FROM predictions").scalar()
        return {"payload": maps[0] / count, "raw": maps[1] / count, "text": text / count}

    return store._db.read(work)


def codec_comparison(predictions: list[Prediction]) -> dict[str, float]:
    """Mean summary bytes per prediction: raw, zlib alone, and the store's shuffle + zlib."""
    raw = plain = ours = 0
    for prediction in predictions:
        assert prediction.attention is not None
        arrays = [np.asarray(getattr(prediction.attention, f)) for f in SUMMARY_FIELDS]
        raw += sum(a.nbytes for a in arrays)
        plain += len(zlib.compress(b"".join(a.tobytes() for a in arrays), 6))
        ours += len(pack_summary(prediction.attention).payload)
    n = len(predictions)
    return {"raw": raw / n, "zlib": plain / n, "shuffle+zlib": ours / n}


def read_latency(store: Store, n: int) -> dict[str, float]:
    ids = [row.id for row in store.history(limit=n).rows]
    sample = random.Random(0).sample(ids, min(200, len(ids)))
    started = time.perf_counter()
    for prediction_id in sample:
        store.get_prediction(prediction_id)
    one = (time.perf_counter() - started) / len(sample) * 1000
    started = time.perf_counter()
    for _ in range(20):
        store.history(HistoryFilter(text="president", label="true"), limit=50)
    page = (time.perf_counter() - started) / 20 * 1000
    return {"get_prediction ms": one, "history page (text search) ms": page}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="predictions written per run")
    parser.add_argument("--real", type=int, default=160, help="articles classified for real")
    parser.add_argument("--threads", type=int, default=4, help="parallel writers in the threaded run")
    parser.add_argument("--full", type=int, default=12, help="predictions saved with full maps")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    texts = [row["text"] for row in hyperpartisan("official_train", args.real)]
    print(f"Classifying {len(texts)} hyperpartisan articles (truncate head, chunk mean)...")
    real = {name: classify(texts, strategy) for name, strategy in STRATEGIES.items()}
    tokens = [p.total_tokens for _, p in real["truncate"]]
    print(f"tokens per article: mean {statistics.mean(tokens):.0f}, median {statistics.median(tokens):.0f}")

    rows = []
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        base = empty_size(folder)
        for name, threads in (("truncate", 1), ("chunk", 1), ("truncate", args.threads)):
            items = replicate(real[name], args.n)
            path = folder / f"{name}-{threads}.sqlite"
            seconds, store = write_all(path, items, threads)
            parts = breakdown(store)
            latency = read_latency(store, args.n) if threads == 1 else {}
            retries = store._db.lock_retries
            store.close()
            size = path.stat().st_size - base
            rows.append(
                {
                    "run": f"{name}, {threads} writer(s)",
                    "pred/s": f"{args.n / seconds:.0f}",
                    "MB per 1k": f"{size / args.n * 1000 / 1e6:.2f}",
                    "attention KB/pred": f"{parts['payload'] / 1e3:.2f} (raw {parts['raw'] / 1e3:.2f})",
                    "text KB/pred": f"{parts['text'] / 1e3:.2f}",
                    "get ms": f"{latency.get('get_prediction ms', float('nan')):.2f}",
                    "history ms": f"{latency.get('history page (text search) ms', float('nan')):.1f}",
                    "lock retries": retries,
                }
            )
        print_table(rows, list(rows[0]))

        codecs = codec_comparison([p for _, p in real["truncate"]])
        print(
            "\n[CLS] summary bytes per prediction (truncate):",
            ", ".join(f"{k} {v / 1e3:.2f} KB" for k, v in codecs.items()),
        )

        if args.full:
            full = classify(texts[: args.full], STRATEGIES["truncate"], attention="full")
            path = folder / "full.sqlite"
            seconds, store = write_all(path, replicate(full, args.full))
            store.close()
            size = path.stat().st_size - base
            shape = full[0][1].full_attention.weights.shape if full[0][1].full_attention is not None else None
            print(
                f"Full maps {shape} float16: {args.full / seconds:.2f} pred/s, "
                f"{size / args.full / 1e6:.1f} MB per prediction"
            )


if __name__ == "__main__":
    main()
