"""A bag-of-words reference for bench_train: TF-IDF + logistic regression on the same pieces.

    python bench/bench_baseline.py             # 5-fold CV on official_train and the Longformer split
    python bench/bench_baseline.py --views "key sentences,head+tail"   # what those strategies read

Why: it shows how much of hyperpartisan's signal lies past the first 512 tokens, with a model
that reads every word at no cost. Each piece is scored on the whole text and on the first 510
WordPiece tokens of the default encoder (what truncate-head sees) -- or on any strategy's view,
cut by the strategy itself -- with the same folds, dev sets and test sets as ``bench_train.py``.
The regularisation strength is picked by 3-fold CV inside the training part (never on the test
part). Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from bench_train import load_results, piece_data, pieces, save_results
from common import PROJECT_ROOT, print_table
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_baseline.json"

#: View name -> the strategy that reads it (None: the whole text). The names of the first two are
#: those of the committed records; every view is cut by the strategy itself, so a change to a
#: strategy reaches the baseline too.
VIEWS: dict[str, dict[str, Any] | None] = {
    "whole text": None,
    "first 510 tokens": {"name": "truncate", "params": {"mode": "head"}},
    "head+tail": {"name": "truncate", "params": {"mode": "head+tail"}},
    "key sentences": {"name": "key_sentences", "params": {}},
}
DEFAULT_VIEWS = ("whole text", "first 510 tokens")


def strategy_view(texts: list[str], spec: dict[str, Any] | None, tokenizer: Any) -> list[str]:
    """Each text as the strategy's model would read it: its character spans, in order.

    Spans that are not adjacent (head+tail, key sentences) are joined with a blank line.
    """
    if spec is None:
        return texts
    from longbert.document import Document
    from longbert.strategies import get_strategy
    from longbert.tokenization import tokenize_document

    strategy = get_strategy(spec)
    out = []
    for i, text in enumerate(texts):
        encoded = strategy.select(tokenize_document(Document(text, name=f"row {i}"), tokenizer))
        out.append("\n\n".join(text[a:b] for a, b in encoded.spans))
    return out


def fit_and_score(
    train: list[dict], test: list[dict], view: str, tokenizer: Any, seed: int
) -> dict[str, Any]:
    x_train = strategy_view([r["text"] for r in train], VIEWS[view], tokenizer)
    x_test = strategy_view([r["text"] for r in test], VIEWS[view], tokenizer)
    y_train, y_test = [r["label"] for r in train], [r["label"] for r in test]
    model = GridSearchCV(
        make_pipeline(
            TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2)),
            LogisticRegression(max_iter=5000),
        ),
        {"logisticregression__C": [1.0, 10.0, 100.0]},
        cv=StratifiedKFold(3, shuffle=True, random_state=seed),
    ).fit(x_train, y_train)
    predicted = model.predict(x_test)
    return {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "macro_f1": float(f1_score(y_test, predicted, average="macro")),
        "C": model.best_params_["logisticregression__C"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=("cv", "longformer", "both"), default="both")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--views",
        default=",".join(DEFAULT_VIEWS),
        help=f"Comma list of what the model reads: {', '.join(VIEWS)} (default: the first two).",
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    views = args.views.split(",")
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise SystemExit(f"Unknown views {unknown}; choose from {list(VIEWS)}.")
    from longbert.encoder_source import load_tokenizer

    tokenizer = load_tokenizer(None)
    records = []
    for split, fold in pieces(args.split, args.folds, None):
        train_rows, dev_rows, test_rows = piece_data(split, fold, args.folds)
        # bench_train picks epochs on dev; here the dev rows simply join the training part.
        train_rows = train_rows + (dev_rows or [])
        for view in views:
            scores = fit_and_score(train_rows, test_rows, view, tokenizer, seed=fold)
            records.append({"split": split, "fold": fold, "view": view, **scores})
            print(f"{split} fold {fold} {view}: accuracy {100 * scores['accuracy']:.2f} (C={scores['C']:g})")
    # Records of views not run this time are kept, so views measured at different times add up.
    ran = {(r["split"], r["view"]) for r in records}
    kept = [r for r in load_results(args.results) if (r["split"], r["view"]) not in ran]
    records = kept + records
    save_results(args.results, records)
    rows = []
    for split in sorted({r["split"] for r in records}):
        for view in [v for v in VIEWS if any(r["view"] == v for r in records)]:
            chosen = [r for r in records if (r["split"], r["view"]) == (split, view)]
            acc = np.array([100 * r["accuracy"] for r in chosen])
            f1 = np.array([100 * r["macro_f1"] for r in chosen])
            spread = f" ± {acc.std(ddof=1):.2f}" if len(acc) > 1 else ""
            rows.append(
                {
                    "model": "TF-IDF + logistic regression",
                    "view": view,
                    "split": split,
                    "folds": len(chosen) if split == "cv" else "-",
                    "accuracy": f"{acc.mean():.2f}{spread}",
                    "macro-F1": f"{f1.mean():.2f}",
                }
            )
    print()
    print_table(rows, ["model", "view", "split", "folds", "accuracy", "macro-F1"])


if __name__ == "__main__":
    main()
