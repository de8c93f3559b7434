"""Do head+tail and the long view, read together, beat each alone? (issue 19's third lever)

The models that ``bench_train.py --split cv --keep-models DIR`` trained and kept, one per
strategy and fold, each predict their own held-out fold; the ensemble's probability for a label is
the mean of its members' (equal weights: nothing is tuned on the test fold, and the dev slices
the members chose their epochs on differ by strategy only in the model, not the documents). Per
fold: each member's accuracy and the ensemble's, paired differences against every member, and
how often the members disagree. One record per fold is appended to
``bench/results/bench_ensemble.json``.

    python bench/bench_train.py --strategies head+tail --split cv --keep-models /tmp/cv-models
    python bench/bench_ensemble.py --members head+tail,chunk-attention-all --models /tmp/cv-models
    python bench/bench_pretrain.py --variants tapt --strategies chunk --keep-models /tmp/cv-models-tapt
    python bench/bench_ensemble.py --members head+tail,chunk@tapt --variant-models tapt=/tmp/cv-models-tapt
    python bench/bench_ensemble.py --table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_train import STRATEGIES, piece_data, save_results
from common import PROJECT_ROOT, print_table

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_ensemble.json"


def model_folder(args: argparse.Namespace, member: str, fold: int) -> Path:
    """Where ``--keep-models`` put a member's model for a CV fold: ``STRATEGY`` is in ``--models``
    (bench_train.py's), ``STRATEGY@VARIANT`` in the folder ``--variant-models VARIANT=DIR`` names
    (e.g. bench_pretrain.py's, fine-tuned from a further pre-trained encoder)."""
    strategy, _, variant = member.partition("@")
    models = args.variant_models[variant] if variant else args.models
    return models / f"bench-{strategy}-cv-{fold}".replace("+", "-")


def member_probabilities(folder: Path, texts: list[str], labels: list[str]) -> np.ndarray:
    """``[N, L]`` probabilities of the model in ``folder`` on ``texts``, columns in ``labels``' order."""
    from longbert import load_classifier

    classifier = load_classifier(folder)
    if sorted(classifier.labels) != sorted(labels):
        raise SystemExit(f"{folder} has labels {classifier.labels}, the fold has {labels}.")
    results = classifier.predict(texts, attention="none")
    return np.array([[r.probabilities[label] for label in labels] for r in results], dtype=np.float64)


def run_fold(members: list[str], fold: int, args: argparse.Namespace) -> dict[str, Any]:
    from longbert.training.metrics import classification_report

    _, _, test_rows = piece_data("cv", fold, args.folds)
    labels = sorted({r["label"] for r in test_rows})
    texts = [r["text"] for r in test_rows]
    targets = np.array([labels.index(r["label"]) for r in test_rows])
    started = time.perf_counter()
    probabilities = {}
    for name in members:
        folder = model_folder(args, name, fold)
        if not folder.exists():
            raise SystemExit(f"No kept model {folder}: run bench_train.py / bench_pretrain.py --keep-models.")
        probabilities[name] = member_probabilities(folder, texts, labels)
    ensemble = np.mean([probabilities[n] for n in members], axis=0)
    scores = {
        name: classification_report(targets, p.argmax(axis=1), labels)
        for name, p in {**probabilities, "ensemble": ensemble}.items()
    }
    decided = [p.argmax(axis=1) for p in probabilities.values()]
    disagree = float(np.mean([len({int(d[i]) for d in decided}) > 1 for i in range(len(texts))]))
    return {
        "members": members,
        "fold": fold,
        "accuracy": {n: s["accuracy"] for n, s in scores.items()},
        "macro_f1": {n: s["macro_f1"] for n, s in scores.items()},
        "test_docs": len(texts),
        "members_disagree": disagree,
        "seconds": time.perf_counter() - started,
        "models": {n: str(model_folder(args, n, fold)) for n in members},
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def table(records: list[dict[str, Any]]) -> None:
    """Per member set: each model's and the ensemble's mean accuracy, and the paired differences."""
    from scipy.stats import ttest_1samp

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(" + ".join(r["members"]), []).append(r)
    for key, group in groups.items():
        group = sorted(group, key=lambda r: r["fold"])
        names = [*group[0]["members"], "ensemble"]
        rows = []
        for name in names:
            acc = np.array([100 * r["accuracy"][name] for r in group])
            f1 = np.array([100 * r["macro_f1"][name] for r in group])
            row = {
                "model": name,
                "folds": " ".join(f"{a:.2f}" for a in acc),
                "accuracy": f"{acc.mean():.2f}" + (f" ± {acc.std(ddof=1):.2f}" if len(acc) > 1 else ""),
                "macro-F1": f"{f1.mean():.2f}",
            }
            if name != "ensemble":
                diffs = np.array([100 * (r["accuracy"]["ensemble"] - r["accuracy"][name]) for r in group])
                p = ttest_1samp(diffs, 0.0).pvalue if len(diffs) > 1 and diffs.std() > 0 else None
                row["ensemble vs it"] = f"{diffs.mean():+.2f} (up {int((diffs > 0).sum())}/{len(diffs)}" + (
                    f", p {p:.3f})" if p is not None else ")"
                )
            rows.append(row)
        print(
            f"\n{key} ({len(group)} folds; members disagree on "
            f"{100 * np.mean([r['members_disagree'] for r in group]):.1f}% of documents)"
        )
        print_table(rows, ["model", "folds", "accuracy", "macro-F1", "ensemble vs it"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--members",
        default="head+tail,chunk-attention-all",
        help=f"comma list of two or more of {', '.join(STRATEGIES)}; STRATEGY@VARIANT takes that "
        "strategy's models from the folder --variant-models names for VARIANT",
    )
    parser.add_argument(
        "--variant-models",
        action="append",
        default=[],
        metavar="VARIANT=DIR",
        help="Where bench_pretrain.py --keep-models put a variant's models, e.g. tapt=/tmp/cv-models-tapt.",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=Path("/tmp/cv-models"),
        help="The folder bench_train.py --keep-models filled.",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-ids", help="Only these folds (1-based, comma list).")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--force", action="store_true", help="Redo folds already in the results.")
    parser.add_argument("--table", action="store_true", help="Only print the table of the results so far.")
    args = parser.parse_args()
    records = json.loads(args.results.read_text()) if args.results.exists() else []
    pairs = [v.partition("=") for v in args.variant_models]
    if any(not variant or not folder for variant, _, folder in pairs):
        raise SystemExit("--variant-models takes VARIANT=DIR, e.g. tapt=/tmp/cv-models-tapt.")
    args.variant_models = {variant: Path(folder) for variant, _, folder in pairs}
    if not args.table:
        members = args.members.split(",")
        unknown = [m for m in members if m.partition("@")[0] not in STRATEGIES]
        unplaced = [m for m in members if m.partition("@")[2] not in ("", *args.variant_models)]
        if unplaced:
            raise SystemExit(f"{unplaced}: name each variant's folder with --variant-models VARIANT=DIR.")
        if len(members) < 2 or unknown or len(set(members)) < len(members):
            raise SystemExit(f"--members needs two or more different names of {list(STRATEGIES)}.")
        fold_ids = [int(f) for f in args.fold_ids.split(",")] if args.fold_ids else range(1, args.folds + 1)
        for fold in fold_ids:
            done = [r for r in records if r["members"] == members and r["fold"] == fold]
            if done and not args.force:
                print(f"skip fold {fold}: already in {args.results}")
                continue
            record = run_fold(members, fold, args)
            print(
                f"fold {fold}: " + "  ".join(f"{n} {100 * a:.2f}" for n, a in record["accuracy"].items()),
                flush=True,
            )
            records = [r for r in records if r not in done] + [record]
            save_results(args.results, records)
    table(records)


if __name__ == "__main__":
    main()
