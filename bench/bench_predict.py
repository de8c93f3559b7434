"""Throughput and memory of ``python -m longbert.predict`` (local and Ray) against a plain loop.

Corpus: ~2,000 real documents, 20newsgroups test (raw posts, including the longest uuencoded
ones, 100k+ tokens) plus every hyperpartisan ``official_train`` article, written as JSON Lines
(one row per document, ``id``/``text``/``label``, the label carried through as a column).

Model: zero-shot with the packaged default encoder (all-MiniLM-L6-v2) and four topic labels,
strategy ``truncate`` (head, ``--max-tokens`` tokens): the benchmark measures the pipeline
(reading, tokenising long posts, batching, writing, the store, Ray) more than the encoder.

Each configuration runs in its own process; peak memory is the largest sum of RSS over that
process and all its descendants (Ray's raylet, GCS and workers included), sampled every 0.1 s
from /proc. Results are appended to bench/results/bench_predict.json.

    nice -n 10 python bench/bench_predict.py                 # every configuration
    python bench/bench_predict.py --configs local-500 local-2000 --docs 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from common import DATA_DIR, PROJECT_ROOT, read_jsonl

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_predict.json"
LABELS = [
    "politics=politics, government, guns, the middle east",
    "science=science, space, medicine, electronics, cryptography",
    "computers=computers, software, graphics, hardware, windows",
    "leisure=sports, hockey, baseball, cars, motorcycles, religion",
]
CONFIGS = ("local-500", "local-2000", "loop", "ray1-2000", "ray2-2000", "local-2000-store")

PLAIN_LOOP = """
import json, sys, time
from longbert import ZeroShotClassifier
labels = dict(l.split("=", 1) for l in json.loads(sys.argv[2]))
texts = [json.loads(line)["text"] for line in open(sys.argv[1])]
clf = ZeroShotClassifier(labels)
strategy = {"name": "truncate", "params": {"mode": "head", "max_tokens": int(sys.argv[3])}}
started = time.perf_counter()
results = []
for i in range(0, len(texts), 32):
    results.extend(clf.predict(texts[i : i + 32], strategy=strategy, batch_size=8))
print(json.dumps({"seconds": time.perf_counter() - started, "errors": sum(not r.ok for r in results)}))
"""


def build_corpus(folder: Path, n: int) -> Path:
    """``n`` documents: all hyperpartisan official_train articles, the rest 20newsgroups test
    (the 10 longest posts first, so the uuencoded giants are always in)."""
    hyper = list(read_jsonl(DATA_DIR / "hyperpartisan" / "official_train.jsonl.gz"))
    news = list(read_jsonl(DATA_DIR / "20newsgroups" / "test.jsonl.gz"))
    longest = sorted(range(len(news)), key=lambda i: -len(news[i]["text"]))[:10]
    rest = [i for i in range(len(news)) if i not in set(longest)]
    picked = [news[i] for i in (longest + rest)[: max(0, n - len(hyper))]]
    rows = [{"id": f"20ng-{r['id']}", "text": r["text"], "label": r["label"]} for r in picked]
    rows += [{"id": f"hp-{r['id']}", "text": r["text"], "label": r["label"]} for r in hyper]
    rows = rows[:n]
    # Interleave so that a prefix (the 500-document run) mixes both sets and has a giant post.
    rows = rows[::2] + rows[1::2]
    path = folder / f"corpus-{n}.jsonl"
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def tree_rss(pid: int) -> int:
    """RSS in bytes of ``pid`` and every descendant, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        stack.extend(children.get(current, []))
    return total


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, int, str, int]:
    """Run ``command``; returns (seconds, peak tree RSS, stdout+stderr tail, exit code)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    return time.perf_counter() - started, peak[0], output[-3000:], process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--note", default="", help="Free text stored with the results (e.g. machine load).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    corpora = {n: build_corpus(work, n) for n in (500, args.docs)}
    env = {
        **os.environ,
        "LONGBERT_DEVICE": "cpu",
        "LONGBERT_DB_URL": f"sqlite:///{work / 'db.sqlite'}",
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        # One intra-op thread per process: on a shared, oversubscribed CPU, OpenMP's spinning
        # threads made every configuration ~4x slower (60 docs: 7 s with 1 thread, 30 s with 2).
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    strategy = [
        "--strategy",
        "truncate",
        "--strategy-param",
        "mode=head",
        "--strategy-param",
        f"max_tokens={args.max_tokens}",
    ]
    results = []
    for config in args.configs:
        n = 500 if config.endswith("-500") else args.docs
        corpus = corpora[n]
        if config == "loop":
            command = [
                sys.executable,
                "-c",
                PLAIN_LOOP,
                str(corpus),
                json.dumps(LABELS),
                str(args.max_tokens),
            ]
        else:
            out = work / f"{config}.jsonl"
            command = [
                sys.executable,
                "-m",
                "longbert.predict",
                "--labels",
                *LABELS,
                "--input",
                str(corpus),
                "--output",
                str(out),
                *strategy,
                "--quiet",
                "--batch-size",
                "8",
            ]
            if not config.endswith("-store"):
                command.append("--no-store")
            if config.startswith("ray"):
                command += ["--engine", "ray", "--workers", config[3]]
        seconds, peak, tail, code = run_measured(command, env)
        row = {
            "config": config,
            "documents": n,
            "exit": code,
            "wall_seconds": round(seconds, 1),
            "docs_per_s_wall": round(n / seconds, 2),
            "peak_rss_mb": round(peak / 2**20),
        }
        summary = [line for line in tail.splitlines() if "documents in" in line or line.startswith("{")]
        if config == "loop" and summary:
            inner = json.loads(summary[-1])
            row["loop_seconds"] = round(inner["seconds"], 1)
            row["docs_per_s"] = round(n / inner["seconds"], 2)
        elif summary:
            row["summary"] = summary[-1].strip()[:300]
        if code != 0:
            row["error"] = tail[-800:]
        print(json.dumps(row), flush=True)
        results.append(row)
        _save(args, results, first=config == args.configs[0])
    print(f"appended to {RESULTS}")


def _save(args: argparse.Namespace, results: list[dict], first: bool) -> None:
    """Append this run's record (first configuration) or update it (later ones): a run cut
    short still leaves the configurations it finished."""
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "bench": "bench_predict",
        "model": "zero-shot, default encoder (all-MiniLM-L6-v2), 4 labels",
        "strategy": {"name": "truncate", "params": {"mode": "head", "max_tokens": args.max_tokens}},
        "corpus": f"{args.docs} docs: hyperpartisan official_train (645) + 20newsgroups test "
        "(its 10 longest included)",
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "1"),
        "load_average_now": [round(x, 1) for x in os.getloadavg()],
        "note": args.note or "2 CPU cores shared with several other sessions: absolute figures are noisy",
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    if first or not history:
        history.append(record)
    else:
        history[-1] = record
    RESULTS.write_text(json.dumps(history, indent=2) + "\n")


if __name__ == "__main__":
    main()
