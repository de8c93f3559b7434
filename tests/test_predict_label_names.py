"""``--labels`` with a name given twice is refused: the names were merged silently (the second
description replaced the first), so a run classified into fewer labels than the user listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbert.bulk.model import parse_labels
from longbert.errors import LongBertError
from longbert.predict import main


@pytest.mark.parametrize(
    "values",
    [
        ["sport=matches, teams", "economy=markets", "sport=football"],
        ["sport", " sport =games"],
    ],
)
def test_a_label_given_twice_is_refused(values: list[str]) -> None:
    with pytest.raises(LongBertError, match="label 'sport' is given twice"):
        parse_labels(values)


@pytest.mark.parametrize(
    "data", ['["sport", "economy", "sport"]', '{"sport": "a", "economy": "b", "sport": "c"}']
)
def test_a_label_given_twice_in_a_json_file_is_refused(tmp_path: Path, data: str) -> None:
    path = tmp_path / "labels.json"
    path.write_text(data)
    with pytest.raises(LongBertError, match="label 'sport' is given twice"):
        parse_labels([str(path)])


def test_distinct_labels_are_kept_in_order(tmp_path: Path) -> None:
    assert parse_labels(["sport=matches, teams", "economy"]) == {
        "sport": "matches, teams",
        "economy": "economy",
    }
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"sport": "matches", "economy": "markets"}))
    assert parse_labels([str(path)]) == {"sport": "matches", "economy": "markets"}


def test_the_command_refuses_it_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "labels.csv"
    args = ["--labels", "sport=a", "economy=b", "sport=c", "--input", str(tmp_path), "--output", str(out)]
    assert main(args) == 2
    assert "label 'sport' is given twice" in capsys.readouterr().err
    assert not out.exists()
