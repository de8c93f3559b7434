"""Model choices, zero-shot label parsing and strategy parameter forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbert.errors import StrategyConfigError
from longbert.ui.models import (
    DEFAULT_ZERO_SHOT_LABELS,
    ZERO_SHOT_CHOICE,
    ZERO_SHOT_KEY,
    ModelChoice,
    checkpoint_row,
    metrics_title,
    model_choices,
    numeric_metrics,
    parse_labels,
    scan_checkpoints,
)
from longbert.ui.params import (
    STRATEGY_TITLES,
    build_strategy,
    param_specs,
    params_from_form,
    strategy_names,
    strategy_summary,
)


def test_parse_labels_accepts_lines_descriptions_and_commas() -> None:
    assert parse_labels("sport: matches and teams\npolitics\n\n") == {
        "sport": "matches and teams", "politics": "politics"}
    assert parse_labels("a, b, c") == {"a": "a", "b": "b", "c": "c"}
    assert list(parse_labels(DEFAULT_ZERO_SHOT_LABELS)) == [
        "sport", "politics", "business", "technology"]
    for bad, reason in (("only", "at least two"), ("a\na", "twice"), (": desc\nb", "no label")):
        with pytest.raises(ValueError, match=reason):
            parse_labels(bad)


def test_scan_checkpoints_lists_good_reports_broken_and_always_offers_zero_shot(
    tmp_path: Path,
) -> None:
    good = tmp_path / "news"
    good.mkdir()
    (good / "longbert.json").write_text(json.dumps({
        "name": "news", "labels": ["x", "y"], "strategy": {"name": "chunk", "params": {}},
        "saved_at": "2026-01-01T00:00:00+00:00", "metadata": {"metrics": {"macro_f1": 0.8}},
    }))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "longbert.json").write_text("{not json")
    (tmp_path / "not-a-model").mkdir()
    choices, problems = scan_checkpoints(tmp_path)
    assert [c.labels for c in choices] == [("x", "y")]
    assert choices[0].metrics == {"macro_f1": 0.8} and choices[0].title == "news"
    assert choices[0].summary == "2 labels (x, y) · strategy chunk"
    assert len(problems) == 1 and problems[0].startswith("broken")
    assert [c.key for c in model_choices(tmp_path)][-1] == ZERO_SHOT_KEY
    assert [c.key for c in model_choices(tmp_path / "missing")] == [ZERO_SHOT_KEY]


def test_param_specs_cover_every_strategy_and_round_trip() -> None:
    assert strategy_names() == ["truncate", "key_sentences", "chunk", "sparse"]
    kinds = {(n, s.name): s.kind for n in strategy_names() for s in param_specs(n)}
    assert kinds[("truncate", "mode")] == "choice"
    assert kinds[("chunk", "max_chunks")] == "optional_int"
    assert kinds[("sparse", "global_sentences")] == "bool"
    assert params_from_form("chunk", {"max_chunks": 0, "window": 256.0})["max_chunks"] is None
    config = build_strategy("chunk", {"window": 256, "stride": 128, "max_chunks": 4})
    assert config.params["max_chunks"] == 4 and config.params["window"] == 256
    with pytest.raises(StrategyConfigError, match="stride"):
        build_strategy("chunk", {"window": 100, "stride": 300})


def test_titles_summaries_and_fields_come_from_the_strategies() -> None:
    from longbert.strategies import STRATEGIES, SparseStrategy

    assert {name: cls.title for name, cls in STRATEGIES.items()} == STRATEGY_TITLES
    assert strategy_summary("sparse") == f"Sparse attention: {SparseStrategy.summary()}"
    assert "4,096" in strategy_summary("sparse") and "510" in strategy_summary("chunk")
    window = {s.name: s for s in param_specs("chunk")}["window"]
    assert (window.minimum, window.maximum, window.default) == (1, 510, 510) and window.help
    assert {s.name: s.maximum for s in param_specs("chunk")}["stride"] is None  # bounded by window


def test_model_settings_are_separate_fields_and_go_in_the_spec() -> None:
    from longbert.strategies import parse_strategy
    from longbert.ui.params import build_spec, model_setting_specs

    assert [s.name for s in model_setting_specs("chunk")] == ["pooling"]
    assert [s.name for s in model_setting_specs("sparse")] == ["attention_window"]
    assert model_setting_specs("truncate") == []
    assert build_spec("chunk", {"window": 256, "stride": 128, "pooling": ""}) == {
        "name": "chunk", "params": {"window": 256, "stride": 128, "max_chunks": None, "head_tail": False}}
    spec = build_spec("sparse", {"max_tokens": 1024, "attention_window": 64})
    assert spec["model"] == {"attention_window": 64}
    assert parse_strategy(spec)[1] == {"attention_window": 64}
    with pytest.raises(StrategyConfigError, match="attention_window"):
        build_spec("sparse", {"max_tokens": 1024, "attention_window": 4096})
    with pytest.raises(StrategyConfigError, match="not ones it uses"):
        parse_strategy({"name": "truncate", "model": {"pooling": "max"}})


def test_picker_titles_are_short_and_details_go_to_captions() -> None:
    # The sidebar select box shows about 26 characters; longer titles were cut off.
    assert len(ZERO_SHOT_CHOICE.title) <= 26 and ZERO_SHOT_CHOICE.summary
    assert all(len(t) <= 20 for t in STRATEGY_TITLES.values())
    assert set(STRATEGY_TITLES) == set(strategy_names())
    assert strategy_summary("truncate").startswith("Truncate: the head")


def test_checkpoint_rows_merge_metrics_and_give_the_dev_set_size() -> None:
    from types import SimpleNamespace

    record = SimpleNamespace(metrics={"accuracy": 0.5, "loss": 0.7, "dev": {"macro_f1": 0.25}})

    choice = ModelChoice(
        key="/m/news", title="news", zero_shot=False, path="/m/news", labels=("a", "b"),
        strategy={"name": "chunk"},
        metadata={"metrics": {"accuracy": 0.75, "num_docs": 9}, "training": {"dev_docs": 12}},
    )
    row = checkpoint_row(choice, {"news": record})
    assert row["accuracy"] == 0.75 and row["dev.macro_f1"] == 0.25 and "loss" not in row
    assert row["dev_docs"] == 12 and row["name"] == "news" and row["strategy"] == "chunk"
    assert metrics_title([row]) == "Dev-set metrics (12 dev documents)"
    other = {**row, "name": "old", "dev_docs": None}
    assert metrics_title([row, other]) == "Dev-set metrics (dev documents: news 12, old ?)"
    assert metrics_title([other]) == "Dev-set metrics"
    bare = ModelChoice(key="k", title="k", zero_shot=False, metadata={"metrics": {"num_docs": 3}})
    assert bare.dev_docs == 3 and ZERO_SHOT_CHOICE.dev_docs is None
    assert numeric_metrics({"a": True, "b": 1, "c": {"d": 2.5, "e": "x"}}) == {"b": 1.0, "c.d": 2.5}
