"""Does further MLM pre-training make reading the whole document pay? (issue 19)

The 5-fold cross-validation of ``bench_train.py`` on hyperpartisan ``official_train`` (same folds,
same fine-tuning settings: 3 epochs, batch 8, lr 5e-5, bf16, seed 42), where each fold's encoder is
first further pre-trained (``longbert.pretraining.pretrain``) with one fixed budget of optimiser
steps on a corpus that depends on the variant:

- ``tapt``: the fold's training texts only (task-adaptive; never the fold's test texts);
- ``tapt+news``: those plus other unlabelled news (bbc_news train, 20newsgroups train bodies);
- ``transductive``: the training texts and the fold's *unlabelled test texts* -- what the app does
  when it adapts to the documents it is about to label; reported on its own, never mixed in.
  Together they are all of ``official_train`` for every fold, so one encoder, pre-trained once,
  serves the five folds (its record is repeated in each fold's piece);
- ``long``: like ``tapt`` but through the sparse local/global attention at 4,096 tokens (long
  mode), for the sparse strategy.

Every piece (one variant, fold and strategy) is appended to ``bench/results/bench_pretrain.json``
as soon as it ends, so the protocol runs in pieces across sessions; a piece already there with the
same settings is skipped. The baseline (``none``) is the same strategy fine-tuned from the
un-adapted encoder; it is taken from ``bench_train.json`` when a record with the same settings is
there, and run (``--variants none``) otherwise. Pre-trained encoders are cached in ``--cache``
(outside the project) so several strategies reuse one.

    python bench/bench_pretrain.py --variants tapt --strategies head+tail --fold-ids 1,2
    python bench/bench_pretrain.py --table

``--keep-models DIR`` keeps each fine-tuned model (as ``bench_train.py`` does), for example as a
member of ``bench_ensemble.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_train import (
    DEFAULT_SEED,
    STRATEGIES,
    load_results,
    piece_data,
    record_settings,
    run_piece,
    save_results,
)
from bench_train import RESULTS as TRAIN_RESULTS
from bench_train import settings as train_settings
from common import DATA_DIR, PROJECT_ROOT, hyperpartisan, print_table, read_jsonl

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_pretrain.json"
VARIANTS = ("none", "tapt", "tapt+news", "transductive", "long")
#: Variants whose encoder is pre-trained in long mode (sparse attention at 4,096 tokens).
LONG_VARIANTS = {"long"}


def news_texts(limit: int) -> list[str]:
    """Other unlabelled news: bbc_news train articles and 20newsgroups train bodies (headers cut)."""
    texts = [r["text"] for r in read_jsonl(DATA_DIR / "bbc_news" / "train.jsonl.gz")]
    for row in read_jsonl(DATA_DIR / "20newsgroups" / "train.jsonl.gz"):
        body = row["text"].split("\n\n", 1)[-1].strip()
        if len(body.split()) >= 50:  # one-liners and quoted fragments teach little
            texts.append(body)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))[:limit]
    return [texts[i] for i in sorted(order)]


def corpus_for(variant: str, fold: int, args: argparse.Namespace) -> list[str]:
    if variant == "transductive":
        # A fold's training texts plus its test texts are all of official_train, whichever the
        # fold: one corpus, in file order (a repeated text once, as the folds hold it), so one
        # pre-trained encoder serves every fold.
        return list(dict.fromkeys(r["text"] for r in hyperpartisan("official_train")))
    train_rows, _, _ = piece_data("cv", fold, args.folds)
    texts = [r["text"] for r in train_rows]
    if variant == "tapt+news":
        texts += news_texts(args.news_docs)
    return texts


def corpus_key(variant: str, fold: int) -> str:
    """The cache name's corpus part: the transductive corpus is the same for every fold."""
    return "all-folds" if variant == "transductive" else f"fold{fold}"


def pretrain_settings(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """What makes two pre-trained encoders interchangeable (the cache key)."""
    long = variant in LONG_VARIANTS
    return {
        "variant": variant,
        "steps": args.long_steps if long else args.steps,
        "strategy": "sparse" if long else "dense",
        "max_tokens": 4096 if long else 0,
        "batch_size": 1 if long else 8,
        "gradient_accumulation": 4 if long else 1,
        "learning_rate": args.pretrain_lr,
        "masking": args.masking,
        "news_docs": args.news_docs if variant == "tapt+news" else None,
        "seed": DEFAULT_SEED,
    }


def pretrained_encoder(variant: str, fold: int, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The fold's further pre-trained encoder folder (cached), and its pre-training record."""
    from longbert.pretraining import PretrainConfig, pretrain

    setting = pretrain_settings(variant, args)
    digest = hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:10]
    key = f"{variant}-{corpus_key(variant, fold)}-{digest}"
    folder = args.cache / key
    record_path = folder / "bench_record.json"
    if record_path.exists():
        return str(folder), json.loads(record_path.read_text())
    texts = corpus_for(variant, fold, args)
    # A run stopped before (Ctrl-C, SIGTERM: its state in .last) continues where it was.
    resume = (folder / ".last").is_dir()
    config = PretrainConfig(
        output_dir=str(folder),
        strategy=setting["strategy"],
        max_tokens=setting["max_tokens"],
        batch_size=setting["batch_size"],
        gradient_accumulation=setting["gradient_accumulation"],
        max_steps=setting["steps"],
        learning_rate=setting["learning_rate"],
        masking=setting["masking"],
        seed=setting["seed"],
        threads=args.threads,
        record=False,
        quiet=True,
        resume=resume,
        overwrite=not resume,
        save_every_minutes=0,
    )
    print(f"   pre-training {variant} on {len(texts)} documents, {setting['steps']} steps", flush=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = pretrain(config, documents=texts)
    if result.status != "done":  # no encoder saved: nothing to cache or fine-tune from
        raise SystemExit(
            f"Pre-training stopped at step {result.steps} of {result.total_steps} ({result.status}); "
            "run the same command again to continue it."
        )
    heldout = {
        moment: {k: v for k, v in report.items() if isinstance(v, (int, float))}
        for moment, report in result.heldout.items()
    }
    record = {
        "variant": variant,
        "fold": None if variant == "transductive" else fold,  # one corpus for every fold
        "documents": len(texts),
        "steps": result.steps,
        "tokens_seen": result.tokens_seen,
        "seconds": result.seconds,
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "tokens_per_second": result.tokens_seen / result.seconds if result.seconds else None,
        "final_loss": result.final_loss,
        "heldout": heldout,
        "settings": setting,
    }
    record_path.write_text(json.dumps(record, indent=1))
    after = heldout.get("after", {}).get("perplexity")
    warm = heldout.get("after_head_warmup", {}).get("perplexity")
    print(f"   MLM held-out perplexity after head warm-up {warm:.1f} -> after {after:.1f}", flush=True)
    return str(folder), record


def piece_settings(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    return {"finetune": train_settings(args), "pretrain": pretrain_settings(variant, args)}


def baseline_records(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Fine-tuning from the un-adapted encoder with the same settings: bench_train.json's, plus
    any ``none`` pieces run here."""
    wanted = train_settings(args)
    rows = [r for r in load_results(TRAIN_RESULTS) if r["split"] == "cv" and record_settings(r) == wanted]
    rows = [{**r, "variant": "none"} for r in rows]
    here = [
        r
        for r in load_results(args.results)
        if r["variant"] == "none" and r["settings"]["finetune"] == wanted
    ]
    # A baseline rerun here (same code as the adapted pieces) wins over bench_train's older one.
    rerun = {(r["strategy"], r["fold"]) for r in here}
    return here + [r for r in rows if (r["strategy"], r["fold"]) not in rerun]


def run(args: argparse.Namespace) -> None:
    names = args.strategies.split(",")
    variants = args.variants.split(",")
    for bad, known, what in ((names, STRATEGIES, "strategies"), (variants, VARIANTS, "variants")):
        unknown = [n for n in bad if n not in known]
        if unknown:
            raise SystemExit(f"Unknown {what} {unknown}; choose from {list(known)}.")
    fold_ids = [int(f) for f in args.fold_ids.split(",")] if args.fold_ids else range(1, args.folds + 1)
    args.cache.mkdir(parents=True, exist_ok=True)
    for fold in fold_ids:
        for variant in variants:
            for name in names:
                records = load_results(args.results)
                setting = piece_settings(variant, args)
                done = [
                    r
                    for r in records
                    if (r["variant"], r["strategy"], r["fold"], r["settings"])
                    == (variant, name, fold, setting)
                ]
                if variant == "none":
                    done += [r for r in baseline_records(args) if (r["strategy"], r["fold"]) == (name, fold)]
                if done and not args.force:
                    print(f"skip {variant} {name} fold {fold}: already measured")
                    continue
                print(f"== {variant} / {name} fold {fold}/{args.folds}", flush=True)
                encoder, pre = (None, None) if variant == "none" else pretrained_encoder(variant, fold, args)
                record = run_piece(name, "cv", fold, args, encoder=encoder)
                record.update({"variant": variant, "settings": setting, "pretraining": pre})
                print(
                    f"   accuracy {100 * record['accuracy']:.2f}  macro-F1 {100 * record['macro_f1']:.2f}",
                    flush=True,
                )
                records = [r for r in load_results(args.results) if r not in done] + [record]
                save_results(args.results, records)


def table(args: argparse.Namespace) -> None:
    """Mean over folds per (strategy, variant), and the difference paired by fold against the same
    strategy fine-tuned from the un-adapted encoder."""
    records = baseline_records(args) + [r for r in load_results(args.results) if r["variant"] != "none"]
    base = {(r["strategy"], r["fold"]): r for r in baseline_records(args)}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["strategy"], r["variant"]), []).append(r)
    rows = []
    for (name, variant), members in sorted(groups.items()):
        acc = np.array([100 * m["accuracy"] for m in members])
        f1 = np.array([100 * m["macro_f1"] for m in members])
        diffs = [
            100 * (m["accuracy"] - base[(name, m["fold"])]["accuracy"])
            for m in members
            if variant != "none" and (name, m["fold"]) in base
        ]
        pre = [m["pretraining"] for m in members if m.get("pretraining")]
        spread = lambda a: f" ± {a.std(ddof=1):.2f}" if len(a) > 1 else ""  # noqa: E731
        rows.append(
            {
                "strategy": name,
                "pre-training": variant
                + (" (transductive: not comparable)" if variant == "transductive" else ""),
                "folds": ",".join(str(m["fold"]) for m in sorted(members, key=lambda m: m["fold"])),
                "accuracy": f"{acc.mean():.2f}{spread(acc)}",
                "macro-F1": f"{f1.mean():.2f}{spread(f1)}",
                "vs none (paired)": f"{np.mean(diffs):+.2f} ({sum(d > 0 for d in diffs)}/{len(diffs)} up)"
                if diffs
                else "",
                # The transductive encoder is pre-trained once and serves every fold.
                "MLM CPU min/fold": (
                    f"{np.mean([p['cpu_seconds'] for p in pre]) / 60:.1f}"
                    + (" (once, all folds)" if variant == "transductive" else "")
                )
                if pre
                else "",
                "ppl warm->after": (
                    f"{np.mean([p['heldout']['after_head_warmup']['perplexity'] for p in pre]):.1f}->"
                    f"{np.mean([p['heldout']['after']['perplexity'] for p in pre]):.1f}"
                )
                if pre
                else "",
            }
        )
    columns = ["strategy", "pre-training", "folds", "accuracy", "macro-F1", "vs none (paired)"]
    print_table(rows, [*columns, "MLM CPU min/fold", "ppl warm->after"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", default="tapt", help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--strategies", default="head+tail", help=f"comma list of {', '.join(STRATEGIES)}")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-ids", help="Run only these folds (1-based, comma list).")
    parser.add_argument(
        "--steps", type=int, default=240, help="Dense MLM optimiser steps (8 x 512 tokens each)."
    )
    parser.add_argument(
        "--long-steps",
        type=int,
        default=60,
        help="Long-mode MLM steps (4 documents of up to 4,096 tokens each); 60 take about the CPU "
        "time of the dense default's 240 (long mode costs ~5x more per token).",
    )
    parser.add_argument("--pretrain-lr", type=float, default=1e-4)
    parser.add_argument("--masking", choices=("token", "word", "span"), default="word")
    parser.add_argument("--news-docs", type=int, default=4000, help="Other news documents in tapt+news.")
    # Fine-tuning: bench_train.py's defaults, so its records are the baseline.
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/longbert-bench-pretrain"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--force", action="store_true")
    parser.add_argument(
        "--keep-models",
        type=Path,
        help="Move each fine-tuned model into this folder (e.g. an ensemble member for "
        "bench_ensemble.py; default: deleted).",
    )
    parser.add_argument("--table", action="store_true", help="Only print the table so far.")
    args = parser.parse_args()
    args.max_train_docs = None
    if not args.table:
        run(args)
    table(args)


if __name__ == "__main__":
    main()
