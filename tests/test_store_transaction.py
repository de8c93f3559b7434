"""``Store.transaction()``: the calls a thread makes in the block are one transaction -- all
stored, or (an exception, a kill) none -- while other threads' calls stay their own."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.errors import StoreError
from longbert.store import CorrectionChangedError, Store


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 't.sqlite'}" if request.param == "file" else "sqlite://")


def test_a_block_that_raises_stores_none_of_its_writes(store: Store) -> None:
    document = make_document(1, name="a.txt")
    with pytest.raises(RuntimeError), store.transaction():
        pid = store.save_prediction(make_prediction(document, seed=1), document)
        store.add_correction(pid, "false", note="a person")
        assert [c.label for c in store.list_corrections(pid)] == ["false"]  # reads see the block
        raise RuntimeError("stopped midway")
    assert store.count_predictions() == 0
    with pytest.raises(LookupError):
        store.get_document(document.sha256)


def test_a_call_that_fails_in_a_block_leaves_nothing_of_itself_and_the_block_goes_on(store: Store) -> None:
    document = make_document(1, name="a.txt")
    with store.transaction():
        pid = store.save_prediction(make_prediction(document, seed=1), document)
        first = store.add_correction(pid, "false")
        with pytest.raises(StoreError, match="Unknown label"):
            store.add_correction(pid, "no such label")
        with pytest.raises(CorrectionChangedError):
            store.add_correction(pid, "true", in_force=None)  # out of date: `first` is in force
        store.add_correction(pid, "true", in_force=first)
    assert [c.label for c in store.list_corrections(pid)] == ["false", "true"]


def test_a_nested_block_is_a_savepoint(store: Store) -> None:
    document = make_document(1, name="a.txt")
    with store.transaction():
        pid = store.save_prediction(make_prediction(document, seed=1), document)
        with pytest.raises(ValueError), store.transaction():
            store.add_correction(pid, "false")
            raise ValueError
        with store.transaction():
            store.add_correction(pid, "true")
    assert [c.label for c in store.list_corrections(pid)] == ["true"]


def test_another_threads_writes_are_not_part_of_the_block(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 't.sqlite'}")
    mine, theirs = make_document(1, name="mine.txt"), make_document(2, name="theirs.txt")
    other = threading.Thread(target=lambda: store.save_prediction(make_prediction(theirs, seed=2), theirs))
    with pytest.raises(RuntimeError), store.transaction():
        store.save_prediction(make_prediction(mine, seed=1), mine)
        other.start()  # waits for the write lock the block holds, then writes on its own
        raise RuntimeError
    other.join(30)
    assert not other.is_alive()
    assert [r.document_name for r in store.history().rows] == ["theirs.txt"]
