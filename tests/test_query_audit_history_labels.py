"""History shows what its label filter matches and its chart counts: a multi-label row's label
cell is the labels the model chose (its corrected cell the correction's), joined with ", " as the
batch export's ``final_label`` is, never the top label alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ml_exports_labels import TAGS, save_single, save_tagged

from longbert.store import HistoryFilter, HistoryRow, Store, get_store
from longbert.store.queries import NO_LABEL
from longbert.ui.tables import final_label, history_labels, history_result_row, history_row
from tests.helpers.app_testing import assert_ok, fresh_app


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'labels.sqlite'}")
    yield store
    store.close()


def fill(store: Store) -> dict[str, int]:
    """The review's case: top label 'econ' on every multi-label row, chosen or not."""
    store.register_model("tags", labels=list(TAGS), multi_label=True)
    ids = {
        "sport": save_tagged(store, 1, ["sport"], minutes=1),
        "none": save_tagged(store, 2, [], minutes=2),
        "both": save_tagged(store, 3, ["econ", "sport"], minutes=3),
        "single": save_single(store, 4, "politics", minutes=4),
        "corrected": save_tagged(store, 5, ["sport"], minutes=5),
    }
    store.add_correction(ids["corrected"], ["econ", "politics"])
    return ids


def cells(rows: list[HistoryRow]) -> dict[int, tuple[str, str | None]]:
    return {r.id: (history_row(r)["label"], history_row(r)["corrected"]) for r in rows}


def test_a_multi_label_row_shows_its_chosen_labels(store: Store) -> None:
    ids = fill(store)
    shown = cells(store.history().rows)
    assert shown == {
        ids["sport"]: ("sport", None),
        ids["none"]: ("", None),  # no label applies ("" as final_label has it)
        ids["both"]: ("econ, sport", None),
        ids["single"]: ("politics", None),
        ids["corrected"]: ("sport", "econ, politics"),
    }
    # The same rule as the batch export's final_label.
    for row in store.history().rows:
        label, corrected = history_labels(row)
        assert final_label(history_result_row(row)) == (corrected if corrected is not None else label)


def test_the_label_filter_lists_the_rows_whose_cells_show_the_label(store: Store) -> None:
    ids = fill(store)
    for label in (*TAGS, "weather"):
        for label_of in ("predicted", "corrected", "final"):
            listed = store.history(HistoryFilter(label=label, label_of=label_of)).rows
            for row in store.history().rows:
                chosen, corrected = row.labels, row.corrected_labels
                shows = {"predicted": chosen, "corrected": corrected or [],
                         "final": chosen if corrected is None else corrected}[label_of]  # fmt: skip
                assert (label in shows) == (row.id in {r.id for r in listed}), (label, label_of, row.id)
    # The review's example: 'sport' lists no row whose label cell says 'econ' alone, and
    # 'econ' lists the row whose label cell says 'econ, sport'.
    sport = cells(store.history(HistoryFilter(label="sport")).rows)
    assert sport == {ids["corrected"]: ("sport", "econ, politics"), ids["both"]: ("econ, sport", None),
                     ids["sport"]: ("sport", None)}  # fmt: skip
    assert [r.id for r in store.history(HistoryFilter(label="econ")).rows] == [ids["both"]]


@pytest.mark.parametrize("use_corrections", [False, True])
def test_the_chart_counts_the_labels_the_listed_rows_show(store: Store, use_corrections: bool) -> None:
    """Decided: under any filter, each listed row counts once under each label of its label
    cell (with use_corrections: its corrected cell where it has one), NO_LABEL for none; so the
    other labels of rows matching a label filter are counted too."""
    fill(store)
    for filters in (None, HistoryFilter(label="sport"), HistoryFilter(label="econ", label_of="final")):
        expected: Counter[str] = Counter()
        for row in store.history(filters).rows:
            shown = row.corrected_labels if use_corrections and row.correction_id else row.labels
            expected.update(shown or [NO_LABEL])
        counted = store.label_distribution(filters, use_corrections=use_corrections)
        assert Counter({c.label: c.count for c in counted}) == expected, filters


def test_the_history_page_shows_and_filters_multi_label_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fresh_app(tmp_path, monkeypatch, timeout=120)
    ids = fill(get_store())
    app.switch_page("app_pages/history.py").run()
    assert_ok(app)
    table = app.dataframe[0].value
    assert dict(zip(table["id"], table["label"], strict=True))[ids["both"]] == "econ, sport"
    # The page's label filter looks at the label in force by default: the corrected cell where
    # there is one, else the label cell.
    app.multiselect(key="history:label").set_value(["econ"]).run()
    assert_ok(app)
    table = app.dataframe[0].value
    assert list(zip(table["id"], table["label"], table["corrected"], strict=True)) == [
        (ids["corrected"], "sport", "econ, politics"),
        (ids["both"], "econ, sport", ""),
    ]
    assert app.selectbox(key="history:open").options[2] == f"#{ids['both']} m3.txt → econ, sport"


def test_a_multi_label_prediction_is_corrected_as_a_set_in_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single label chosen in History would replace every label the model chose."""
    app = fresh_app(tmp_path, monkeypatch, timeout=120)
    ids = fill(get_store())
    app.switch_page("app_pages/history.py").run()
    opened = app.selectbox(key="history:open")
    opened.set_value(next(o for o in opened.options if o and o.startswith(f"#{ids['both']} "))).run()
    assert_ok(app)
    labels = app.multiselect(key=f"history:correct:{ids['both']}:label")
    assert labels.value == ["econ", "sport"]  # the set in force, not its top label
    labels.set_value(["sport", "politics"])
    app.button[0].click()  # the form's "Save correction"
    app.run()
    assert_ok(app)
    (correction,) = get_store().list_corrections(ids["both"])
    assert sorted(correction.labels) == ["politics", "sport"]
