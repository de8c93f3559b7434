"""Model choices, zero-shot label parsing and strategy parameter forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbert.errors import StrategyConfigError
from longbert.ui.models import (
    DEFAULT_ZERO_SHOT_LABELS,
    ZERO_SHOT_KEY,
    model_choices,
    parse_labels,
    scan_checkpoints,
)
from longbert.ui.params import build_strategy, param_specs, params_from_form, strategy_names


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
    assert choices[0].metrics == {"macro_f1": 0.8} and "chunk" in choices[0].title
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
