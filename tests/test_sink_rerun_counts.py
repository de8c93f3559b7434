"""A command-line run's store batch counts each input once: an input labelled again (its text
changed, or it was missing before) supersedes its earlier item. The batch's total, done and
error counts follow the latest row, History's batch filter shows the latest prediction, and the
earlier prediction stays in the store (with a person's correction of it), out of the batch."""

from __future__ import annotations

import os
from pathlib import Path

from helpers.store_factories import make_document, make_prediction
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.predict import main
from longbert.results import PredictionError
from longbert.store import HistoryFilter, Store


def _args(model: Path, inputs: list[Path], out: Path) -> list[str]:
    return ["--model", str(model), "--input", *map(str, inputs), "--output", str(out), "--quiet"]


def test_an_input_labelled_again_is_counted_and_shown_once_in_the_batch(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    a, b = env / "a.txt", env / "b.txt"
    a.write_text("Markets fell as rates rose.")
    out = env / "out.csv"
    args = _args(checkpoint, [a, b], out)
    assert main(args) == 0  # b is missing: an error item
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert (batch.total, batch.done, batch.errors) == (2, 1, 1)
    (old_a,) = store.history(HistoryFilter(batch_id=batch.id)).rows
    correction = store.add_correction(old_a.id, "sport", note="read it myself")

    b.write_text("The club won the final.")  # now it is there
    a.write_text("Bond yields climbed as investors sold debt.")  # and a's text changed
    assert main(args) == 0
    batch = store.get_batch(batch.id)
    assert (batch.total, batch.done, batch.errors, batch.pending) == (2, 2, 0, 0)
    assert store.pending_items(batch.id, include_errors=True) == []  # the stale error is gone
    # History's batch filter: each input's latest prediction, once.
    shown = store.history(HistoryFilter(batch_id=batch.id)).rows
    assert sorted(r.document_name for r in shown) == [str(a), str(b)]
    assert old_a.id not in {r.id for r in shown}
    assert store.count_predictions(HistoryFilter(batch_id=batch.id)) == 2
    # The earlier prediction is still a prediction the model made, with the person's correction.
    kept = store.get_prediction(old_a.id)
    assert [c.id for c in kept.corrections] == [correction]
    assert store.count_predictions() == 3
    # The batch's items: the latest per input; the superseded ones on request, in order.
    items = store.batch_items(batch.id)
    assert [(i.name, i.status) for i in items] == [(str(a), "done"), (str(b), "done")]
    every = store.batch_items(batch.id, include_superseded=True)
    assert [i.status for i in every] == ["superseded", "superseded", "done", "done"]
    assert every[0].prediction_id == old_a.id and every[1].error  # a's first row, b's error
    assert store.count_batch_items(batch.id) == 4  # every row the batch was sent

    # Nothing new: nothing sent, nothing counted twice.
    assert main(args) == 0
    assert store.count_batch_items(batch.id) == 4
    batch = store.get_batch(batch.id)
    assert (batch.total, batch.done, batch.errors, batch.status) == (2, 2, 0, "done")


def _open_ended(store: Store) -> int:
    return store.create_batch("cli", total=0, config={"cli": {"output": "o.csv"}}, open_ended=True)


def _check_superseding(store: Store) -> None:
    batch_id = _open_ended(store)
    one, two = make_document(1, name="one.txt"), make_document(2, name="two.txt")
    store.record_error(PredictionError("one.txt", "missing"), batch_id=batch_id)
    first_two = store.save_prediction(make_prediction(two, seed=1), two, batch_id=batch_id)
    store.save_prediction(make_prediction(one, seed=2), one, batch_id=batch_id)  # one, readable now
    changed = make_document(3, name="two.txt")  # two's text changed
    latest_two = store.save_prediction(make_prediction(changed, seed=3), changed, batch_id=batch_id)
    store.record_error(PredictionError("two.txt", "unreadable now"), batch_id=batch_id)  # and failed
    batch = store.get_batch(batch_id)
    assert (batch.total, batch.done, batch.errors) == (2, 1, 1)
    assert store.count_batch_items(batch_id) == 5
    assert [(i.name, i.status) for i in store.batch_items(batch_id)] == [
        ("one.txt", "done"),
        ("two.txt", "error"),
    ]
    assert store.count_predictions(HistoryFilter(batch_id=batch_id)) == 1
    assert store.count_predictions() == 3  # none deleted
    assert store.get_prediction(first_two).prediction.label == "true"
    assert store.get_prediction(latest_two).document.sha256 == changed.sha256


def test_a_result_for_a_name_the_open_ended_batch_holds_supersedes_it(tmp_path: Path) -> None:
    _check_superseding(Store(f"sqlite:///{tmp_path / 's.sqlite'}"))


def test_an_app_batch_of_named_items_supersedes_nothing(tmp_path: Path) -> None:
    """An upload of two files of the same name is two items (filled in order), not one."""
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    batch_id = store.create_batch("upload", items=["same.txt", "same.txt"])
    for seed in (1, 2):
        document = make_document(seed, name="same.txt")
        store.save_prediction(make_prediction(document, seed=seed), document, batch_id=batch_id)
    batch = store.get_batch(batch_id)
    assert (batch.total, batch.done, batch.status) == (2, 2, "done")
    assert [i.status for i in store.batch_items(batch_id)] == ["done", "done"]


def test_the_same_input_given_twice_is_one_input_of_the_batch(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    a = env / "a.txt"
    a.write_text("Markets fell as rates rose.")
    out = env / "out.jsonl"
    assert main(_args(checkpoint, [a, a], out)) == 0
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert (batch.total, batch.done, batch.errors) == (1, 1, 0)
    assert store.count_batch_items(batch.id) == 2
    assert store.count_predictions(HistoryFilter(batch_id=batch.id)) == 1
    assert main(_args(checkpoint, [a, a], out)) == 0  # resumes in step: nothing to do
    assert store.count_batch_items(batch.id) == 2
