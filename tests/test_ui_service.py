"""Classify-and-log and strategy comparison with the real zero-shot model (loaded once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from longbert.document import Document
from longbert.store import Store
from longbert.ui.models import DEFAULT_ZERO_SHOT_LABELS, parse_labels
from longbert.ui.service import (
    ClassificationFailed,
    classify_and_log,
    compare_strategies,
    comparison_rows,
    load_model,
)

SENTENCES = [
    "The goalkeeper saved a penalty in the second half.",
    "The club won the league title on the last day of the season.",
    "Their striker scored twice and was named player of the match.",
    "The coach praised the defence after the final whistle.",
    "Fans filled the stadium to watch the championship game.",
    "The referee showed two yellow cards before half time.",
]
TEXT = " ".join(SENTENCES[i % len(SENTENCES)] for i in range(60))


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_model("zero-shot", parse_labels(DEFAULT_ZERO_SHOT_LABELS))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 's.sqlite'}")


def test_classify_and_log_keeps_full_attention_only_when_asked(model, store: Store) -> None:  # type: ignore[no-untyped-def]
    document = Document(TEXT, name="match.txt", source="paste")
    prediction, pid = classify_and_log(store, model, document, {"name": "truncate", "params": {}},
                                       keep_full_attention=True)
    assert prediction.label == "sport" and prediction.zero_shot
    stored = store.get_prediction(pid, with_full_attention=True)
    assert stored.prediction.full_attention is not None
    assert stored.prediction.attention is not None
    _, pid2 = classify_and_log(store, model, document, {"name": "sparse", "params": {}},
                               keep_full_attention=True)  # sparse: no dense map to keep
    assert store.get_prediction(pid2, with_full_attention=True).prediction.full_attention is None


def test_load_model_needs_labels_for_zero_shot() -> None:
    with pytest.raises(ClassificationFailed, match="two"):
        load_model("zero-shot", None)


def test_compare_runs_each_strategy_and_logs_them(model, store: Store) -> None:  # type: ignore[no-untyped-def]
    document = Document(TEXT, name="match.txt")
    results = compare_strategies(model, document, store=store)
    assert [c.name for c in results] == ["truncate", "key_sentences", "chunk", "sparse"]
    rows = comparison_rows(results)
    assert all(r["label"] == "sport" and r["error"] is None for r in rows)
    assert rows[2]["used_tokens"] == rows[2]["total_tokens"]  # chunk reads everything
    assert store.count_predictions() == 4
    bad = compare_strategies(model, document, [{"name": "chunk", "params": {"window": 9999}}])
    assert not bad[0].result.ok and "window" in bad[0].result.message  # an error row, no crash
