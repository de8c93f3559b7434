"""Fine-tuning benchmark on hyperpartisan: every strategy, 5-fold CV and the Longformer split.

    python bench/bench_train.py --strategies all --folds 5 --split both        # the whole protocol
    python bench/bench_train.py --strategies truncate-head --fold-ids 1 --max-train-docs 200
    python bench/bench_train.py --table                                        # print what is done

Protocol. Cross-validation: ``official_train`` (645 articles) in 5 stratified folds (seed 0); for
each fold the model trains on the other four (10% of them carved out, stratified, as the dev set
that picks the best epoch) and is scored on the held-out fold with its best checkpoint. Longformer
split: train on ``train``, pick the epoch on ``dev``, score ``test`` (published with an overlap:
51 of its 65 test articles are in its train list -- see ../shared/data/README.md; Park et al.
2022 report BERT-base first-512 at 92.00 accuracy on it). Every piece (strategy x split x fold)
appends one record to ``bench/results/bench_train.json`` and is skipped when already there, so
pieces run at different times add up into one table. That file is committed (the rest of
bench/results/ is not): on a 2-core CPU the whole protocol takes about a day, so sessions add the
pieces they measured to it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import PROJECT_ROOT, hyperpartisan, print_table

from longbert.settings import PRECISIONS

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_train.json"

#: Strategy presets: name -> (strategy spec, extra train options).
STRATEGIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "truncate-head": ({"name": "truncate", "params": {"mode": "head"}}, {}),
    "head+tail": ({"name": "truncate", "params": {"mode": "head+tail"}}, {}),
    "key-sentences": ({"name": "key_sentences", "params": {}}, {}),
    "chunk": ({"name": "chunk", "params": {}}, {"pooling": "mean", "max_train_windows": 4}),
    # Issue 19's levers: every window in training (no cap) and learned pooling -- attention, or a
    # document-level transformer layer then attention -- whose fresh weights learn at 1e-3.
    "chunk-attention-all": (
        {"name": "chunk", "params": {}},
        {"pooling": "attention", "max_train_windows": 0, "head_learning_rate": 1e-3},
    ),
    "chunk-transformer-all": (
        {"name": "chunk", "params": {}},
        {"pooling": "transformer", "max_train_windows": 0, "head_learning_rate": 1e-3},
    ),
    # ...and the third: head+tail and the long view read together (the head+tail view is one more
    # window beside the chunks, weighed by the document layer).
    "chunk-ht-transformer-all": (
        {"name": "chunk", "params": {"head_tail": True}},
        {"pooling": "transformer", "max_train_windows": 0, "head_learning_rate": 1e-3},
    ),
    "sparse": ({"name": "sparse", "params": {"max_tokens": 4096}}, {"attention_window": 256}),
}

#: The training seed when --seed is not given; the table names only other seeds.
DEFAULT_SEED = 42

#: Park et al. 2022 (ACL), Longformer split, BERT-base class models, mean of 5 seeds.
PUBLISHED = {"truncate-head": 92.00, "key-sentences": 91.15}


def stratified_subset(rows: list[dict], n: int | None, seed: int) -> list[dict]:
    """At most ``n`` rows keeping label proportions (seeded); all rows when ``n`` is None."""
    if n is None or n >= len(rows):
        return rows
    rng = np.random.default_rng(seed)
    labels = sorted({r["label"] for r in rows})
    keep: list[int] = []
    for label in labels:
        members = [i for i, r in enumerate(rows) if r["label"] == label]
        take = max(1, round(n * len(members) / len(rows)))
        keep.extend(rng.permutation(members)[:take].tolist())
    return [rows[i] for i in sorted(keep)]


def pieces(split: str, folds: int, fold_ids: list[int] | None) -> list[tuple[str, int]]:
    out = []
    if split in ("cv", "both"):
        out += [("cv", f) for f in (fold_ids or range(1, folds + 1))]
    if split in ("longformer", "both"):
        out.append(("longformer", 0))
    return out


def piece_data(split: str, fold: int, folds: int) -> tuple[list[dict], list[dict] | None, list[dict]]:
    """(train, dev or None = carve 10% of train, test) rows."""
    if split == "longformer":
        return hyperpartisan("train"), hyperpartisan("dev"), hyperpartisan("test")
    from longbert.data import from_records, stratified_folds

    rows = hyperpartisan("official_train")
    dataset = from_records(rows, name="official_train")
    chosen = stratified_folds(dataset, k=folds, seed=0)[fold - 1]

    def as_rows(subset: Any) -> list[dict]:
        return [{"id": e.id, "text": e.text, "label": e.label} for e in subset.examples]

    return as_rows(chosen.train), None, as_rows(chosen.dev)


def run_piece(
    name: str, split: str, fold: int, args: argparse.Namespace, encoder: str | None = None
) -> dict[str, Any]:
    """Train and test one strategy on one fold; ``encoder``: start from this encoder folder
    (e.g. a further pre-trained one, bench_pretrain.py) instead of the default."""
    from longbert.training import TrainConfig, train

    strategy, extra = STRATEGIES[name]
    train_rows, dev_rows, test_rows = piece_data(split, fold, args.folds)
    train_rows = stratified_subset(train_rows, args.max_train_docs, seed=fold)
    workdir = Path(tempfile.mkdtemp(prefix="bench-train-"))
    model_name = f"bench-{name}-{split}-{fold}".replace("+", "-")
    options: dict[str, Any] = {
        "name": model_name,
        "output_dir": str(workdir / "model"),
        "strategy": strategy["name"],
        "strategy_params": strategy["params"],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "record": False,
        "threads": args.threads,
        "precision": args.precision,
        "patience": 0,
        **extra,
    }
    if encoder is not None:
        options["encoder"] = encoder
    config = TrainConfig(**options)
    started = time.perf_counter()
    try:
        result = train(config, train_data=train_rows, dev_data=dev_rows, test_data=test_rows)
        if getattr(args, "keep_models", None) is not None:  # e.g. a source for bench_compress.py
            kept = args.keep_models / model_name
            try:
                shutil.rmtree(kept, ignore_errors=True)
                shutil.move(str(workdir / "model"), str(kept))
            except OSError as error:  # the measured result still counts
                print(f"   (could not keep the model in {kept}: {error})", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    test = result.test_metrics or {}
    return {
        "strategy": name,
        "split": split,
        "fold": fold,
        "accuracy": test.get("accuracy"),
        "macro_f1": test.get("macro_f1"),
        "test_docs": test.get("num_docs"),
        "test_docs_per_second": test.get("docs_per_second"),
        "best_epoch": result.best_epoch,
        "dev_accuracy": (result.best_metrics or {}).get("accuracy"),
        "epoch_seconds": [h["train_seconds"] for h in result.history],
        # Per-epoch curves: did the model still under-fit (train loss) when dev picked its epoch?
        "train_loss_by_epoch": [h["train_loss"] for h in result.history],
        "dev_accuracy_by_epoch": [h["dev"].get("accuracy") for h in result.history],
        "dev_macro_f1_by_epoch": [h["dev"].get("macro_f1") for h in result.history],
        "train_docs_per_second": [h["train_docs_per_second"] for h in result.history],
        "train_docs": len(train_rows) if dev_rows is not None else None,
        "wall_seconds": time.perf_counter() - started,
        "settings": settings(args),
        "config": config.to_dict(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What makes two records comparable (a piece is redone when these differ)."""
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "max_train_docs": args.max_train_docs,
        "folds": args.folds,
        "precision": args.precision,
    }


def record_settings(record: dict[str, Any]) -> dict[str, Any]:
    """A record's settings; records written before ``--precision`` existed trained at ``auto``."""
    return {"precision": "auto", **record["settings"]}


def load_results(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def table(records: list[dict[str, Any]]) -> None:
    """One row per (settings, strategy, split): mean and spread over the folds done."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        key = (json.dumps(record_settings(r), sort_keys=True), r["strategy"], r["split"])
        groups.setdefault(key, []).append(r)
    rows = []
    verdicts: list[str] = []
    for (setting, name, split), members in sorted(groups.items()):
        acc = np.array([100 * m["accuracy"] for m in members])
        f1 = np.array([100 * m["macro_f1"] for m in members])
        epoch_s = np.mean([s for m in members for s in m["epoch_seconds"]])
        spread = lambda a: f" ± {a.std(ddof=1):.2f}" if len(a) > 1 else ""  # noqa: E731
        s = json.loads(setting)
        delta = paired_delta(members, groups.get((setting, "truncate-head", split), []))
        if delta is not None and split == "cv":
            mean, won, n, p_value = delta
            met = "met" if mean >= 2 and n == s["folds"] else "not met"
            test = f" (paired t-test p = {p_value:.3f})" if p_value is not None else ""
            verdicts.append(
                f"{name} ({s['epochs']} ep): {mean:+.2f} points vs truncate-head over {n} paired "
                f"folds{test}, ahead on {won}; target +2.00 {met}"
            )
        rows.append(
            {
                "strategy": name,
                "split": split,
                "folds": len(members) if split == "cv" else "-",
                "accuracy": f"{acc.mean():.2f}{spread(acc)}",
                "macro-F1": f"{f1.mean():.2f}{spread(f1)}",
                "Park 2022": f"{PUBLISHED[name]:.2f}" if split == "longformer" and name in PUBLISHED else "",
                "vs head": "" if delta is None else f"{delta[0]:+.2f} ({delta[2]})",
                "s/epoch": f"{epoch_s:.0f}",
                "test docs/s": f"{np.mean([m['test_docs_per_second'] for m in members]):.1f}",
                "settings": f"ep={s['epochs']} bs={s['batch_size']} lr={s['learning_rate']:g}"
                + (f" n={s['max_train_docs']}" if s["max_train_docs"] else "")
                + (f" {s['precision']}" if s["precision"] != "auto" else "")
                + (f" seed={s['seed']}" if s["seed"] != DEFAULT_SEED else ""),
            }
        )
    columns = ["strategy", "split", "folds", "accuracy", "macro-F1", "vs head", "Park 2022", "s/epoch"]
    print_table(rows, [*columns, "test docs/s", "settings"])
    if verdicts:
        print("\nCross-validation, accuracy paired by fold (same settings):")
        for line in verdicts:
            print("  " + line)


def paired_delta(
    members: list[dict[str, Any]], baseline: list[dict[str, Any]]
) -> tuple[float, int, int, float | None] | None:
    """Against truncate-head on the same folds: mean accuracy difference (points), folds won,
    pairs, and the two-sided p-value of a paired t-test (None with fewer than 2 pairs or no spread).

    Pairing by fold removes the fold-to-fold spread (some folds are harder for every strategy),
    which is larger than the differences between strategies on 645 articles.
    """
    if not members or members[0]["strategy"] == "truncate-head":
        return None
    base = {b["fold"]: b["accuracy"] for b in baseline}
    diffs = [100 * (m["accuracy"] - base[m["fold"]]) for m in members if m["fold"] in base]
    if not diffs:
        return None
    p_value = None
    if len(diffs) > 1 and np.std(diffs) > 0:
        from scipy.stats import ttest_1samp

        p_value = float(ttest_1samp(diffs, 0.0).pvalue)
    return float(np.mean(diffs)), sum(d > 0 for d in diffs), len(diffs), p_value


def save_results(path: Path, records: list[dict[str, Any]]) -> None:
    """Write atomically, so a run killed mid-write (or a second run reading) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(records, indent=1))
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--strategies", default="all", help=f"'all' or a comma list of {', '.join(STRATEGIES)}"
    )
    parser.add_argument("--split", choices=("cv", "longformer", "both"), default="both")
    parser.add_argument("--folds", type=int, default=5, help="Cross-validation folds (default 5).")
    parser.add_argument("--fold-ids", help="Run only these folds (1-based, comma list), e.g. 1,2.")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--max-train-docs", type=int, help="Train on a stratified subset of this size.")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default).")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="auto", help="Training precision (see train --help)."
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file the records go to.")
    parser.add_argument(
        "--keep-models", type=Path, help="Move each trained model into this folder (default: deleted)."
    )
    parser.add_argument("--force", action="store_true", help="Redo pieces already in the results.")
    parser.add_argument("--table", action="store_true", help="Only print the table of the results so far.")
    args = parser.parse_args()
    records = load_results(args.results)
    if not args.table:
        names = list(STRATEGIES) if args.strategies == "all" else args.strategies.split(",")
        unknown = [n for n in names if n not in STRATEGIES]
        if unknown:
            raise SystemExit(f"Unknown strategies {unknown}; choose from {list(STRATEGIES)}.")
        fold_ids = [int(f) for f in args.fold_ids.split(",")] if args.fold_ids else None
        for split, fold in pieces(args.split, args.folds, fold_ids):
            for name in names:
                done = [
                    r
                    for r in records
                    if (r["strategy"], r["split"], r["fold"], record_settings(r))
                    == (name, split, fold, settings(args))
                ]
                if done and not args.force:
                    print(f"skip {name} {split} fold {fold}: already in {args.results}")
                    continue
                print(
                    f"== {name} on {split}" + (f" fold {fold}/{args.folds}" if split == "cv" else ""),
                    flush=True,
                )
                record = run_piece(name, split, fold, args)
                print(
                    f"   accuracy {100 * record['accuracy']:.2f}  macro-F1 {100 * record['macro_f1']:.2f}  "
                    f"epochs {[round(s) for s in record['epoch_seconds']]} s",
                    flush=True,
                )
                records = [r for r in load_results(args.results) if r not in done] + [record]
                save_results(args.results, records)
    if records:
        table(records)


if __name__ == "__main__":
    main()
