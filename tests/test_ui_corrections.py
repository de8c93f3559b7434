"""Batch label's corrections without a browser: edited cells saved once, cleared cells taken
back, predicted labels confirmed, and the labels a batch may be corrected to."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.results import PredictionError
from longbert.store import Store
from longbert.ui.batch_jobs import BatchSettings
from longbert.ui.corrections import batch_labels, confirm_labels, save_corrections, unconfirmed
from longbert.ui.tables import NO_CORRECTION, batch_rows


@pytest.fixture
def labelled(tmp_path: Path) -> tuple[Store, int]:
    """A batch of three items: two predictions ("true") and an unreadable file."""
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    batch_id = store.create_batch("b", items=["a.txt", "b.txt", "bad.pdf"])
    for position, name in enumerate(["a.txt", "b.txt"]):
        document = make_document(position, name=name, source="batch")
        store.save_prediction(make_prediction(document), document, batch_id=batch_id,
                              item_index=position)
    store.record_error(PredictionError("bad.pdf", "encrypted"), batch_id=batch_id, item_index=2)
    return store, batch_id


def corrected(store: Store) -> dict[str, str | None]:
    return {r.document_name: r.corrected_label for r in store.history().rows}


def test_edited_cells_are_saved_once_and_cleared_cells_taken_back(labelled: tuple[Store, int]) -> None:
    store, batch_id = labelled
    rows = batch_rows(store, batch_id)
    edits = {0: {"correction": "false"}, 2: {"correction": "false"}}  # an error row: no prediction
    outcome = save_corrections(store, rows, edits)
    assert (outcome.saved, outcome.removed) == (1, [])
    assert outcome.rows[0]["correction"] == "false" and outcome.rows[2]["correction"] is None
    assert corrected(store) == {"a.txt": "false", "b.txt": None}
    # A rerun with the same edits over the stored rows saves nothing twice.
    again = save_corrections(store, batch_rows(store, batch_id), edits)
    assert (again.saved, again.removed) == (0, [])
    assert len(store.list_corrections(outcome.rows[0]["prediction_id"])) == 1
    # Clearing the cell (or choosing "—") takes the correction back.
    cleared = save_corrections(store, batch_rows(store, batch_id), {0: {"correction": NO_CORRECTION}})
    assert (cleared.saved, cleared.removed) == (0, ["a.txt"])
    assert corrected(store) == {"a.txt": None, "b.txt": None}


def test_confirm_records_the_predicted_labels_of_unconfirmed_rows(labelled: tuple[Store, int]) -> None:
    store, batch_id = labelled
    save_corrections(store, batch_rows(store, batch_id), {1: {"correction": "false"}})
    rows = batch_rows(store, batch_id)
    assert [r["document"] for r in unconfirmed(rows)] == ["a.txt"]  # not b (corrected), not bad
    assert confirm_labels(store, rows).confirmed == 1
    assert corrected(store) == {"a.txt": "true", "b.txt": "false"}
    assert unconfirmed(batch_rows(store, batch_id)) == []
    assert confirm_labels(store, batch_rows(store, batch_id)).confirmed == 0


def test_batch_labels_come_from_the_settings_then_the_checkpoint_then_the_store(
    labelled: tuple[Store, int], tmp_path: Path
) -> None:
    store, _ = labelled
    zero_shot = BatchSettings(model="zero-shot", model_name="z", labels={"x": "x", "y": "y"})
    assert batch_labels(store, zero_shot.to_config()) == ["x", "y"]
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "longbert.json").write_text('{"name": "news", "labels": ["politics", "sport"], '
                                           '"encoder": "e", "strategy": {"name": "truncate"}}')
    assert batch_labels(store, BatchSettings(model=str(folder), model_name="news").to_config()) == [
        "politics", "sport"]
    gone = BatchSettings(model=str(tmp_path / "deleted"), model_name="hyperpartisan-v1")
    assert batch_labels(store, gone.to_config()) == ["true", "false"]  # registered in the store
    unknown = BatchSettings(model=str(tmp_path / "deleted"), model_name="never-seen")
    assert batch_labels(store, unknown.to_config()) == []
    # Configs written before keep loading (an old, never applied "batch_size" is ignored).
    old = {**zero_shot.to_config(), "batch_size": 8}
    assert BatchSettings.from_config(old) == zero_shot
