"""Faithfulness and cost of the explanations (longbert.explain), in the style of ERASER.

    python bench/bench_explain.py --datasets hyperpartisan --strategies head+tail,chunk --docs 30
    python bench/bench_explain.py --cost                    # seconds and peak memory at 1k/4k/10k tokens
    python bench/bench_explain.py --table                   # print what is done

Faithfulness (DeYoung et al. 2020, "ERASER", section 4): for each test document, each method ranks
the sentences the model read (most supportive of the predicted label first); the top k% of the
read tokens (whole sentences, best first, at least one) are then

- removed: **comprehensiveness** = p(label | read) − p(label | read without them); higher is better;
- kept alone: **sufficiency** = p(label | read) − p(label | only them); lower is better;

for k = 5/10/20% and their mean (ERASER's AOPC uses more bins; three are reported here).
"Removed" means deleted from the windows that read them, as the occlusion method does (see
longbert/explain/units.py for why). Methods: occlusion, integrated gradients, gradient × input,
attention and a random ranking (seeded per document). Models: a fine-tuned hyperpartisan and a
fine-tuned bbc_news classifier (bench/explain_models.py trains and caches them: truncate head+tail,
a small fast recipe); each is explained under every inference strategy (truncate head+tail, key
sentences, chunk, sparse) -- the model was trained with head+tail only, the others are
``predict``-time overrides as in the app's Compare page.

Every (data set, strategy, document) is one record appended to ``bench/results/bench_explain.json``
(committed) and skipped when already there with the same settings, so runs add up in pieces. The
cost records (``--cost``) time each method on one document of about 1k/4k/10k tokens (real
hyperpartisan articles joined) under chunk and sparse (which read the whole document) and head+tail.
The CPU is shared with other sessions: each record keeps the load average it ran under.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import PROJECT_ROOT, print_table
from explain_models import DATASETS, ensure_model, model_folder, model_info, split

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_explain.json"
STRATEGIES: dict[str, dict[str, Any]] = {
    "head+tail": {"name": "truncate", "params": {"mode": "head+tail"}},
    "key-sentences": {"name": "key_sentences", "params": {}},
    "chunk": {"name": "chunk", "params": {"window": 510, "stride": 256, "pooling": "mean"}},
    "sparse": {"name": "sparse", "params": {"max_tokens": 4096, "attention_window": 256}},
}
METHODS = ("occlusion", "integrated_gradients", "gradient_x_input", "attention", "random")
KS = (0.05, 0.10, 0.20)
COST_SIZES = (1000, 4000, 10000)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"n_steps": args.n_steps, "internal_batch_size": args.internal_batch_size, "ks": list(KS)}


def load_results(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def save_results(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(records, indent=1))
    tmp.replace(path)


def sample_docs(dataset: str, n: int) -> list[dict]:
    """The first ``n`` test rows in a seeded shuffle (the same ones on every run)."""
    _, test_rows = split(dataset)
    order = np.random.default_rng(0).permutation(len(test_rows))
    return [test_rows[i] for i in order[:n]]


def faithfulness(classifier: Any, row: dict, strategy_spec: dict, args: argparse.Namespace) -> dict[str, Any]:
    """One document: every method's ranking, then comprehensiveness/sufficiency at each k."""
    from longbert.explain import explain, keep_positions, read_sentences, remove_positions, top_share
    from longbert.explain.model_io import read, resolve, variant_probabilities

    strategy, settings = resolve(classifier, strategy_spec)  # settings: the spec's model overrides
    encoded = read(classifier, row["text"], strategy)
    sentences = read_sentences(encoded)
    counts = sentences.token_counts
    orders: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    label = None
    for method in args.methods:
        if method == "random":
            seed = int.from_bytes(row["id"].encode()[-4:].rjust(4, b"\0"), "little")
            orders[method] = np.random.default_rng(seed).permutation(len(sentences))
            continue
        started = time.perf_counter()
        result = explain(
            classifier,
            row["text"],
            method=method,
            strategy=strategy,
            top_sentences=0,
            n_steps=args.n_steps,
            internal_batch_size=args.internal_batch_size or None,
        )
        seconds[method] = time.perf_counter() - started
        label = label or result.label
        scores = np.asarray([s.score for s in result.sentences])
        assert len(scores) == len(sentences)
        orders[method] = np.lexsort((np.arange(len(scores)), -scores))
    variants, keys = [], []
    for method, order in orders.items():
        for k in KS:
            chosen = top_share(order, counts, k)
            positions = np.concatenate([sentences.positions[i] for i in chosen])
            variants += [remove_positions(encoded, positions), keep_positions(encoded, positions)]
            keys.append((method, k))
    probs = variant_probabilities(classifier, encoded, variants, strategy, settings=settings)
    label_index = classifier.labels.index(label) if label else int(np.argmax(probs[0]))
    base = float(probs[0, label_index])
    scores: dict[str, dict[str, float]] = {}
    for j, (method, k) in enumerate(keys):
        scores.setdefault(method, {})[f"comp@{k:g}"] = base - float(probs[1 + 2 * j, label_index])
        scores[method][f"suff@{k:g}"] = base - float(probs[2 + 2 * j, label_index])
    return {
        "label": classifier.labels[label_index],
        "gold": row["label"],
        "probability": base,
        "read_tokens": int(counts.sum()),
        "total_tokens": encoded.total_tokens,
        "read_sentences": len(sentences),
        "scores": scores,
        "seconds": seconds,
    }


class PeakRss:
    """Peak resident memory above the starting level, sampled every 5 ms from /proc (Linux)."""

    def __init__(self) -> None:
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


def cost_document(classifier: Any, tokens: int) -> str:
    """Real hyperpartisan articles joined (paragraph breaks between) until ``tokens`` tokens."""
    from common import hyperpartisan

    parts: list[str] = []
    count = 0
    for row in hyperpartisan("official_train"):
        parts.append(row["text"])
        count += len(classifier.tokenizer(row["text"], add_special_tokens=False, verbose=False)["input_ids"])
        if count >= tokens:
            break
    text = "\n\n".join(parts)
    ids = classifier.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return text[: ids["offset_mapping"][tokens - 1][1]] if len(ids["input_ids"]) > tokens else text


def cost_piece(
    classifier: Any, tokens: int, strategy_name: str, method: str, args: argparse.Namespace
) -> dict:
    from longbert.explain import explain

    spec = json.loads(json.dumps(STRATEGIES[strategy_name]))
    if strategy_name == "sparse":  # read the whole document, as the sparse strategy is for
        spec["params"]["max_tokens"] = max(4096, ((tokens + 511) // 512) * 512)
    text = cost_document(classifier, tokens)
    with PeakRss() as memory:
        started = time.perf_counter()
        result = explain(
            classifier,
            text,
            method=method,
            strategy=spec,
            n_steps=args.n_steps,
            internal_batch_size=args.internal_batch_size or None,
        )
        seconds = time.perf_counter() - started
    return {
        "kind": "cost",
        "tokens": tokens,
        "strategy": strategy_name,
        "method": method,
        "seconds": seconds,
        "peak_rss_mib": memory.mib,
        "read_tokens": result.details.get("read_tokens"),
        "read_sentences": len(result.sentences),
        "settings": settings(args),
        "load_average": os.getloadavg()[0],
        "threads": int(__import__("torch").get_num_threads()),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def encoder_tokens(classifier: Any, tokens: int, strategy_name: str, args: argparse.Namespace) -> dict:
    """Tokens each method runs through the encoder for one ~``tokens``-token document (counted,
    not timed: the same on any machine). Backward passes count as two forward passes.

    occlusion: the unchanged windows once, then for every sentence each window holding it,
    without it; integrated gradients: ``n_steps`` forward+backward passes over every window;
    gradient × input: one; attention: one forward pass (``predict``).
    """
    from longbert.explain import read_sentences
    from longbert.explain.methods import LONG_OCCLUSION_BUDGET
    from longbert.explain.model_io import read, resolve_strategy

    spec = json.loads(json.dumps(STRATEGIES[strategy_name]))
    if strategy_name == "sparse":
        spec["params"]["max_tokens"] = max(4096, ((tokens + 511) // 512) * 512)
    strategy = resolve_strategy(classifier, spec)
    encoded = read(classifier, cost_document(classifier, tokens), strategy)
    sentences = read_sentences(encoded)
    window_tokens = sum(len(w) + 2 for w in encoded.windows)
    occluded = sum(
        len(w) + 2 - int(np.isin(w, p).sum())
        for p in sentences.positions
        for w in encoded.windows
        if np.isin(w, p).any()
    )
    if encoded.mode == "long" and len(sentences) > LONG_OCCLUSION_BUDGET:
        # Long mode goes coarse-to-fine within the budget of perturbed copies (at most this many
        # whole-document passes), not one pass per sentence.
        occluded = LONG_OCCLUSION_BUDGET * window_tokens
    return {
        "kind": "encoder_tokens",
        "tokens": encoded.total_tokens,
        "strategy": strategy_name,
        "windows": len(encoded.windows),
        "read_sentences": len(sentences),
        "attention": window_tokens,
        "occlusion": window_tokens + occluded,
        "integrated_gradients": window_tokens + 3 * args.n_steps * window_tokens,
        "gradient_x_input": window_tokens + 3 * window_tokens,
        "n_steps": args.n_steps,
    }


def throughput(classifier: Any) -> dict[str, float]:
    """Encoder tokens per second on this machine now: bf16/auto forward (occlusion, attention)
    and float32 forward+backward counted as 3 forward tokens (gradient methods)."""
    from longbert.explain.model_io import LabelForward, read, resolve_strategy, variant_probabilities

    strategy = resolve_strategy(classifier, STRATEGIES["head+tail"])
    encoded = read(classifier, cost_document(classifier, 2000), strategy)
    started = time.perf_counter()
    variant_probabilities(classifier, encoded, [encoded] * 0, strategy)
    variant_probabilities(classifier, encoded, [encoded] * 0, strategy)
    forward_s = (time.perf_counter() - started) / 2
    tokens = len(encoded.windows[0]) + 2
    import torch

    runner = LabelForward(classifier, encoded, strategy, 0)
    ids, mask, global_mask, index = runner.inputs()
    started = time.perf_counter()
    with torch.enable_grad():
        embedded = runner.embedding_layer.weight
        runner(ids, mask, global_mask, index).sum().backward(inputs=[embedded])
        embedded.grad = None
    backward_s = time.perf_counter() - started
    return {"forward_tokens_per_s": tokens / forward_s, "fwd_bwd_tokens_per_s": 3 * tokens / backward_s}


def faithfulness_table(records: list[dict]) -> None:
    groups: dict[tuple[str, str], list[dict]] = {}
    verdicts: list[str] = []
    for r in records:
        if r.get("kind") == "faithfulness":
            groups.setdefault((r["dataset"], r["strategy"]), []).append(r)
    rows = []
    for (dataset, strategy), members in sorted(groups.items()):
        methods = [m for m in METHODS if all(m in r["scores"] for r in members)]
        best_comp = {}
        for method in methods:
            row: dict[str, Any] = {
                "data set": dataset,
                "strategy": strategy,
                "docs": len(members),
                "method": method,
            }
            for k in KS:
                comp = np.array([r["scores"][method][f"comp@{k:g}"] for r in members])
                suff = np.array([r["scores"][method][f"suff@{k:g}"] for r in members])
                row[f"comp {k:.0%}"] = f"{comp.mean():.3f}"
                row[f"suff {k:.0%}"] = f"{suff.mean():.3f}"
                best_comp.setdefault(k, []).append((comp.mean(), method))
            spent = [r["seconds"].get(method) for r in members if method in r["seconds"]]
            row["s/doc"] = f"{np.mean(spent):.1f}" if spent else "-"
            rows.append(row)
        verdict = []
        for k, pairs in best_comp.items():
            best, name = max(pairs)
            others = {m: v for v, m in pairs if m in ("attention", "random")}
            beats = all(best > v for v in others.values())
            verdict.append(f"{k:.0%}: {name} {'beats' if beats else 'does NOT beat'} attention/random")
        verdicts.append(f"{dataset} {strategy}: " + "; ".join(verdict))
    if not rows:
        return
    columns = ["data set", "strategy", "docs", "method"]
    columns += [f"{w} {k:.0%}" for w in ("comp", "suff") for k in KS] + ["s/doc"]
    print_table(rows, columns)
    print("\nBest comprehensiveness vs attention and random, per k:")
    for line in verdicts:
        print("  " + line)


def cost_table(records: list[dict]) -> None:
    rows = [
        {
            "tokens": r["tokens"],
            "strategy": r["strategy"],
            "method": r["method"],
            "seconds": f"{r['seconds']:.1f}",
            "peak MiB": f"{r['peak_rss_mib']:.0f}",
            "sentences": r["read_sentences"],
            "load": f"{r['load_average']:.1f}",
        }
        for r in sorted(
            (r for r in records if r.get("kind") == "cost"),
            key=lambda r: (r["strategy"], r["method"], r["tokens"]),
        )
    ]
    if rows:
        print_table(rows, ["strategy", "method", "tokens", "seconds", "peak MiB", "sentences", "load"])


def count_table(records: list[dict]) -> None:
    """Encoder tokens per method, and the seconds they take at this CPU's measured speed."""
    speeds = [r for r in records if r.get("kind") == "throughput"]
    counts = [r for r in records if r.get("kind") == "encoder_tokens"]
    if not counts:
        return
    speed = speeds[-1] if speeds else None
    rows = []
    for r in sorted(counts, key=lambda r: (r["strategy"], r["tokens"])):
        for method in ("attention", "gradient_x_input", "occlusion", "integrated_gradients"):
            per_s = None
            if speed:
                gradient = method in ("integrated_gradients", "gradient_x_input")
                per_s = speed["fwd_bwd_tokens_per_s" if gradient else "forward_tokens_per_s"]
            rows.append(
                {
                    "strategy": r["strategy"],
                    "tokens": r["tokens"],
                    "windows": r["windows"],
                    "sentences": r["read_sentences"],
                    "method": method,
                    "encoder tokens": f"{r[method]:,}",
                    "projected s": f"{r[method] / per_s:.1f}" if per_s else "-",
                }
            )
    if speed:
        print(
            f"\nSpeed measured here: {speed['forward_tokens_per_s']:.0f} forward tokens/s, "
            f"{speed['fwd_bwd_tokens_per_s']:.0f} tokens/s fwd+bwd (load {speed['load_average']:.1f})"
        )
    columns = ["strategy", "tokens", "windows", "sentences", "method", "encoder tokens", "projected s"]
    print_table(rows, columns)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="hyperpartisan", help=f"comma list of {', '.join(DATASETS)}")
    parser.add_argument(
        "--strategies", default="head+tail,chunk", help=f"comma list of {', '.join(STRATEGIES)}"
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma list of methods (random included)"
    )
    parser.add_argument("--docs", type=int, default=30, help="test documents per data set (seeded sample)")
    parser.add_argument(
        "--min-tokens", type=int, default=0, help="only sampled documents longer than this (e.g. 510)"
    )
    parser.add_argument("--n-steps", type=int, default=16, help="integrated gradients steps")
    parser.add_argument(
        "--internal-batch-size",
        type=int,
        default=8,
        help="rows per gradient pass (0: as fit in 4,096 tokens)",
    )
    parser.add_argument("--cost", action="store_true", help="run the cost table instead of faithfulness")
    parser.add_argument("--cost-sizes", default=",".join(map(str, COST_SIZES)))
    parser.add_argument(
        "--count", action="store_true", help="count encoder tokens per method (no timing) + this CPU's speed"
    )
    parser.add_argument("--cost-strategies", default="chunk,sparse")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="only print the tables of what is done")
    args = parser.parse_args()
    args.methods = args.methods.split(",")
    records = load_results(args.results)
    if not args.table:
        import torch

        from longbert import LongBertClassifier

        if args.threads:
            torch.set_num_threads(args.threads)
        if args.count:
            classifier = LongBertClassifier.from_pretrained(ensure_model("hyperpartisan"), device="cpu")
            speed = {**throughput(classifier), "load_average": os.getloadavg()[0], "kind": "throughput"}
            print(speed, flush=True)
            counted = [speed]
            for tokens in [int(t) for t in args.cost_sizes.split(",")]:
                for strategy_name in args.cost_strategies.split(","):
                    counted.append(encoder_tokens(classifier, tokens, strategy_name, args))
                    print(counted[-1], flush=True)
            records = [
                *[
                    r
                    for r in load_results(args.results)
                    if r.get("kind") not in ("throughput", "encoder_tokens")
                ],
                *counted,
            ]
            save_results(args.results, records)
        elif args.cost:
            classifier = LongBertClassifier.from_pretrained(ensure_model("hyperpartisan"), device="cpu")
            # Cheapest first (short documents, then longer), so a run stopped for time keeps the most.
            for tokens in [int(t) for t in args.cost_sizes.split(",")]:
                for strategy_name in args.cost_strategies.split(","):
                    for method in [m for m in args.methods if m != "random"]:
                        key = ("cost", tokens, strategy_name, method, json.dumps(settings(args)))
                        if any(
                            (
                                r.get("kind"),
                                r.get("tokens"),
                                r.get("strategy"),
                                r.get("method"),
                                json.dumps(r.get("settings")),
                            )
                            == key
                            for r in records
                        ):
                            continue
                        record = cost_piece(classifier, tokens, strategy_name, method, args)
                        print(
                            f"cost {strategy_name} {method} {tokens} tokens: {record['seconds']:.1f} s, "
                            f"{record['peak_rss_mib']:.0f} MiB (load {record['load_average']:.1f})",
                            flush=True,
                        )
                        records = [*load_results(args.results), record]
                        save_results(args.results, records)
        else:
            for dataset in args.datasets.split(","):
                classifier = LongBertClassifier.from_pretrained(ensure_model(dataset), device="cpu")
                for strategy_name in args.strategies.split(","):
                    for row in sample_docs(dataset, args.docs):
                        if (
                            args.min_tokens
                            and len(classifier.tokenizer.tokenize(row["text"])) <= args.min_tokens
                        ):
                            continue
                        key = (dataset, strategy_name, row["id"], json.dumps(settings(args)))
                        done = [
                            r
                            for r in records
                            if r.get("kind") == "faithfulness"
                            and (r["dataset"], r["strategy"], r["doc_id"], json.dumps(r["settings"])) == key
                            and set(args.methods) <= set(r["scores"])
                        ]
                        if done:
                            continue
                        started = time.perf_counter()
                        piece = faithfulness(classifier, row, STRATEGIES[strategy_name], args)
                        record = {
                            "kind": "faithfulness",
                            "dataset": dataset,
                            "strategy": strategy_name,
                            "doc_id": row["id"],
                            "model": model_folder(dataset).name,
                            "model_info": model_info(dataset),
                            **piece,
                            "wall_seconds": time.perf_counter() - started,
                            "settings": settings(args),
                            "load_average": os.getloadavg()[0],
                            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                        }
                        print(
                            f"{dataset} {strategy_name} {row['id']}: {record['read_sentences']} sentences, "
                            f"{record['wall_seconds']:.0f} s, comp@10% "
                            + " ".join(f"{m}={s['comp@0.1']:.3f}" for m, s in record["scores"].items()),
                            flush=True,
                        )
                        records = [*load_results(args.results), record]
                        save_results(args.results, records)
    faithfulness_table(records)
    cost_table(records)
    count_table(records)


if __name__ == "__main__":
    main()
