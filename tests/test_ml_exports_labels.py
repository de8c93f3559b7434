"""Multi-label rows in exports, History's label filter and the label counts: what counts is the
set of labels in force (a person's correction, else the labels the model chose), never the
single top label a multi-label prediction also stores."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from helpers.store_factories import make_document, make_prediction
from sqlalchemy import update

from longbert.results import PredictionError
from longbert.store import HistoryFilter, Store
from longbert.store.queries import NO_LABEL
from longbert.store.schema import PredictionRow
from longbert.ui.tables import batch_rows, final_label, final_labels, to_csv, to_jsonl, to_parquet

TAGS = ("econ", "sport", "politics")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'ml.sqlite'}")


def save_tagged(
    store: Store, index: int, chosen: list[str], batch_id: int | None = None, minutes: int = 0
) -> int:
    """A multi-label prediction of model ``tags`` choosing ``chosen``; its top label is always
    'econ' (the highest sigmoid, chosen or not: what inference stores)."""
    document = make_document(index, name=f"m{index}.txt", source="batch")
    prediction = dataclasses.replace(
        make_prediction(document, model="tags", label="econ", labels=TAGS),
        probabilities={"econ": 0.45, "sport": 0.6 if "sport" in chosen else 0.2, "politics": 0.1},
        labels=list(chosen),
    )
    # Mixed with single-label rows below; distinct times make the newest-first order known.
    prediction_id = store.save_prediction(
        prediction, document, batch_id=batch_id, item_index=index if batch_id else None
    )
    _at(store, prediction_id, minutes)
    return prediction_id


def save_single(store: Store, index: int, label: str, minutes: int = 0) -> int:
    document = make_document(index, name=f"s{index}.txt")
    prediction_id = store.save_prediction(
        make_prediction(document, model="news", label=label, labels=TAGS), document
    )
    _at(store, prediction_id, minutes)
    return prediction_id


def _at(store: Store, prediction_id: int, minutes: int) -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    store._db.write(
        lambda s: s.execute(
            update(PredictionRow).where(PredictionRow.id == prediction_id).values(created_at=when)
        )
    )


@pytest.fixture
def tagged(store: Store) -> dict[str, int]:
    """Multi-label and single-label predictions interleaved in time (oldest first)."""
    store.register_model("tags", labels=list(TAGS), multi_label=True)
    return {
        "both": save_tagged(store, 1, ["econ", "sport"], minutes=1),
        "single_sport": save_single(store, 2, "sport", minutes=2),
        "none": save_tagged(store, 3, [], minutes=3),
        "sport_only": save_tagged(store, 4, ["sport"], minutes=4),
        "single_econ": save_single(store, 5, "econ", minutes=5),
        "both_again": save_tagged(store, 6, ["econ", "sport"], minutes=6),
    }


def ids(store: Store, label: str, label_of: str = "final", **page: int) -> list[int]:
    return [r.id for r in store.history(HistoryFilter(label=label, label_of=label_of), **page).rows]


def test_the_label_filter_finds_multi_label_rows_by_membership(store: Store, tagged: dict[str, int]) -> None:
    t = tagged
    sport = [t["both_again"], t["sport_only"], t["single_sport"], t["both"]]  # newest first
    assert ids(store, "sport") == sport
    assert store.count_predictions(HistoryFilter(label="sport", label_of="final")) == 4
    # 'none' stores 'econ' as its top label, but the model chose no label.
    assert ids(store, "econ") == [t["both_again"], t["single_econ"], t["both"]]
    assert ids(store, "econ", "predicted") == [t["both_again"], t["single_econ"], t["both"]]
    # Pages are cut from the matching rows (single- and multi-label interleaved).
    assert ids(store, "sport", limit=2, offset=1) == sport[1:3]
    page = store.history(HistoryFilter(label="sport", label_of="final"), limit=2, offset=2)
    assert page.total == 4 and [r.id for r in page.rows] == sport[2:]
    assert ids(store, "sport", limit=2, offset=9) == []
    # Several labels: any of them.
    assert store.count_predictions(HistoryFilter(label=["politics", "econ"], label_of="final")) == 3


def test_the_label_filter_looks_at_the_correction_in_force(store: Store, tagged: dict[str, int]) -> None:
    t = tagged
    store.add_correction(t["both"], ["politics"])
    store.add_correction(t["none"], ["sport", "politics"])
    store.add_correction(t["sport_only"], ["sport"])
    store.add_correction(t["sport_only"], [])  # the later correction is in force: no label
    assert ids(store, "sport") == [t["both_again"], t["none"], t["single_sport"]]
    assert ids(store, "politics") == [t["none"], t["both"]]
    assert ids(store, "politics", "corrected") == [t["none"], t["both"]]
    assert ids(store, "sport", "corrected") == [t["none"]]
    assert ids(store, "sport", "predicted") == [
        t["both_again"],
        t["sport_only"],
        t["single_sport"],
        t["both"],
    ]
    # With other filters too.
    only_corrected = HistoryFilter(label="sport", label_of="final", corrected=True)
    assert [r.id for r in store.history(only_corrected).rows] == [t["none"]]


def test_a_filtered_history_export_holds_the_matching_multi_label_rows(
    store: Store, tagged: dict[str, int]
) -> None:
    buffer = io.StringIO()
    assert store.export_predictions(buffer, "jsonl", HistoryFilter(label="sport", label_of="final")) == 4
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    t = tagged
    assert [r["id"] for r in records] == [t["both"], t["single_sport"], t["sport_only"], t["both_again"]]
    by_id = {r["id"]: r for r in records}
    assert by_id[t["both"]]["final_labels"] == ["econ", "sport"]
    assert by_id[t["both"]]["final_label"] == "econ, sport"
    assert by_id[t["single_sport"]]["final_label"] == "sport"


def test_the_history_export_of_a_multi_label_row_without_a_label(
    store: Store, tagged: dict[str, int]
) -> None:
    buffer = io.StringIO()
    store.export_predictions(buffer, "csv", HistoryFilter(prediction_ids=[tagged["none"]]))
    (record,) = csv.DictReader(io.StringIO(buffer.getvalue()))
    assert record["label"] == "econ"  # the top sigmoid, kept as the model's column
    assert record["final_label"] == "" and record["final_labels"] == "[]"


def test_label_counts_count_every_label_in_force(store: Store, tagged: dict[str, int]) -> None:
    def counts(**kwargs: object) -> dict[str, int]:
        return {c.label: c.count for c in store.label_distribution(**kwargs)}  # type: ignore[arg-type]

    assert counts() == {"econ": 3, "sport": 4, NO_LABEL: 1}
    store.add_correction(tagged["both"], ["politics"])
    store.add_correction(tagged["none"], ["sport"])
    assert counts() == {"econ": 3, "sport": 4, NO_LABEL: 1}  # predictions only
    assert counts(use_corrections=True) == {"econ": 2, "sport": 4, "politics": 1}
    filtered = HistoryFilter(label="politics", label_of="final")
    assert counts(filters=filtered, use_corrections=True) == {"politics": 1}


def test_filter_choices_are_single_labels(store: Store, tagged: dict[str, int]) -> None:
    store.add_correction(tagged["both"], ["sport", "politics"])
    store.add_correction(tagged["none"], [])
    store.add_correction(tagged["single_econ"], "politics")
    assert store.filter_options()["label"] == ["econ", "politics", "sport"]


def test_batch_exports_have_the_labels_in_force(store: Store) -> None:
    store.register_model("tags", labels=list(TAGS), multi_label=True)
    batch_id = store.create_batch("b", items=["m1.txt", "m2.txt", "m3.txt", "s4.txt", "bad.pdf"])
    save_tagged(store, 0, [], batch_id=batch_id)
    save_tagged(store, 1, ["econ", "sport"], batch_id=batch_id)
    corrected = save_tagged(store, 2, ["econ", "sport"], batch_id=batch_id)
    store.add_correction(corrected, ["sport"])
    single = make_document(3, name="s4.txt", source="batch")
    store.save_prediction(make_prediction(single, label="false"), single, batch_id=batch_id, item_index=3)
    store.record_error(PredictionError("bad.pdf", "unreadable"), batch_id=batch_id, item_index=4)
    rows = batch_rows(store, batch_id)
    assert [final_label(r) for r in rows] == ["", "econ, sport", "sport", "false", None]
    assert [final_labels(r) for r in rows] == [[], ["econ", "sport"], ["sport"], ["false"], None]

    parsed = list(csv.DictReader(io.StringIO(to_csv(rows).decode("utf-8-sig"))))
    assert [r["final_label"] for r in parsed] == ["", "econ, sport", "sport", "false", ""]
    assert [r["final_labels"] for r in parsed] == ["[]", '["econ", "sport"]', '["sport"]', '["false"]', ""]
    assert [r["label"] for r in parsed][:3] == ["econ"] * 3  # the model's top label stays
    lines = [json.loads(line) for line in to_jsonl(rows).decode("utf-8").splitlines()]
    assert [r["final_labels"] for r in lines] == [[], ["econ", "sport"], ["sport"], ["false"], None]
    assert lines[0]["final_label"] == ""
    frame = pd.read_parquet(io.BytesIO(to_parquet(rows)))
    assert [None if v is None else list(v) for v in frame["final_labels"]] == [
        [],
        ["econ", "sport"],
        ["sport"],
        ["false"],
        None,
    ]
    assert list(frame["final_label"])[:4] == ["", "econ, sport", "sport", "false"]


def test_a_single_label_with_a_comma_stays_one_label(store: Store) -> None:
    batch_id = store.create_batch("b", items=["a.txt"])
    document = make_document(0, name="a.txt", source="batch")
    prediction = make_prediction(
        document, model="arts", label="Arts, Culture", labels=("Arts, Culture", "Sport")
    )
    pid = store.save_prediction(prediction, document, batch_id=batch_id, item_index=0)
    (row,) = batch_rows(store, batch_id)
    assert final_labels(row) == ["Arts, Culture"] and final_label(row) == "Arts, Culture"
    store.add_correction(pid, "Sport")
    (row,) = batch_rows(store, batch_id)
    assert final_labels(row) == ["Sport"]
    assert store.count_predictions(HistoryFilter(label="Arts, Culture", label_of="predicted")) == 1
