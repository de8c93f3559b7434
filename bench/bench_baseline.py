"""A bag-of-words reference for bench_train: TF-IDF + logistic regression on the same pieces.

    python bench/bench_baseline.py                 # 5-fold CV on official_train and the Longformer split

Why: it shows how much of hyperpartisan's signal lies past the first 512 tokens, with a model
that reads every word at no cost. Each piece is scored twice, on the whole text and on the first
510 WordPiece tokens of the default encoder (what truncate-head sees), with the same folds, dev
sets and test sets as ``bench_train.py``. The regularisation strength is picked by 3-fold CV
inside the training part (never on the test part). Takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from bench_train import piece_data, pieces, save_results
from common import PROJECT_ROOT, print_table
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

RESULTS = PROJECT_ROOT / "bench" / "results" / "bench_baseline.json"
HEAD_TOKENS = 510


def head_text(texts: list[str], tokenizer: Any) -> list[str]:
    """Each text cut after its first 510 WordPiece tokens, as truncate-head cuts it."""
    out = []
    for text in texts:
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoding["offset_mapping"]
        out.append(text if len(offsets) <= HEAD_TOKENS else text[: offsets[HEAD_TOKENS - 1][1]])
    return out


def fit_and_score(
    train: list[dict], test: list[dict], view: str, tokenizer: Any, seed: int
) -> dict[str, Any]:
    x_train, x_test = [r["text"] for r in train], [r["text"] for r in test]
    if view == "first 510 tokens":
        x_train, x_test = head_text(x_train, tokenizer), head_text(x_test, tokenizer)
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
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    from longbert.encoder import load_tokenizer

    tokenizer = load_tokenizer(None)
    records = []
    for split, fold in pieces(args.split, args.folds, None):
        train_rows, dev_rows, test_rows = piece_data(split, fold, args.folds)
        # bench_train picks epochs on dev; here the dev rows simply join the training part.
        train_rows = train_rows + (dev_rows or [])
        for view in ("whole text", "first 510 tokens"):
            scores = fit_and_score(train_rows, test_rows, view, tokenizer, seed=fold)
            records.append({"split": split, "fold": fold, "view": view, **scores})
            print(f"{split} fold {fold} {view}: accuracy {100 * scores['accuracy']:.2f} (C={scores['C']:g})")
    save_results(args.results, records)
    rows = []
    for split in sorted({r["split"] for r in records}):
        for view in ("whole text", "first 510 tokens"):
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
