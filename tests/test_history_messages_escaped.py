"""History's error messages show user data as typed (session 34): the page put an error's text
into st.error unescaped, so a label, a note or a model name with ``*``, ``_``, `` ` ``, ``$`` or
``#`` in it rendered as Markdown (italics, code, maths, a heading) instead of what the person
wrote. Every message now goes through :func:`longbert.ui.formatting.md`, as the other pages'."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import Store, get_store
from longbert.ui.conflicts import conflict_key
from longbert.ui.formatting import md
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("*sport*", "pol_it_ics")
#: A note Markdown would style every part of.
NOTE = "see *bold* and _it_ `code` $x^2$ # tag"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    yield fresh_app(tmp_path, monkeypatch)


def _prediction(store: Store, index: int = 0, model: str = "desk_v1*") -> int:
    document = make_document(index, name="my_*file*.txt")
    prediction = make_prediction(document, model=model, label=LABELS[0], labels=LABELS)
    return store.save_prediction(prediction, document)


def _errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def _shows_literally(message: str, *texts: str) -> bool:
    """``message`` holds each of ``texts`` escaped (so it shows as typed), never raw."""
    return all(md(text) in message and text not in message for text in texts)


def test_a_refused_correction_shows_the_label_and_note_in_force_as_typed(app: AppTest) -> None:
    app.run()
    store = get_store()
    pid = _prediction(store)
    app.switch_page("app_pages/history.py").run()
    app.selectbox(key="history:open").set_value(pid).run()
    assert_ok(app)
    store.add_correction(pid, LABELS[1], note=NOTE)  # someone else, after the page was drawn
    app.button(key=f"FormSubmitter:history:correct:{pid}-Save correction").click().run()
    assert_ok(app)
    [message] = _errors(app)
    assert "nothing was saved" in message
    assert _shows_literally(message, LABELS[1], NOTE), message


def test_a_refused_removal_shows_the_label_in_force_as_typed(app: AppTest) -> None:
    app.run()
    store = get_store()
    pid = _prediction(store)
    store.add_correction(pid, LABELS[1])
    app.switch_page("app_pages/history.py").run()
    app.selectbox(key="history:open").set_value(pid).run()
    assert_ok(app)
    store.add_correction(pid, LABELS[0], note=NOTE)  # labelled again elsewhere
    app.button(key=f"history:uncorrect:{pid}").click().run()
    assert_ok(app)
    [message] = _errors(app)
    assert _shows_literally(message, LABELS[0], NOTE), message
    assert [c.label for c in store.list_corrections(pid)] == [LABELS[1], LABELS[0]]  # none removed


def test_a_refused_settle_shows_the_note_as_typed(app: AppTest) -> None:
    app.run()
    store = get_store()
    first, second = _prediction(store, model="desk_v1*"), _prediction(store, model="desk_v2_")
    store.add_correction(first, LABELS[0])
    store.add_correction(second, LABELS[1])
    app.switch_page("app_pages/history.py").run()
    [conflict] = store.correction_conflicts()
    store.add_correction(second, LABELS[1], note=NOTE)  # after the page was drawn
    app.button(key=f"history:settle-button:{conflict_key(conflict)}").click().run()
    assert_ok(app)
    [message] = _errors(app)
    assert _shows_literally(message, NOTE), message


def test_a_batch_that_cannot_resume_names_its_model_as_typed(app: AppTest, tmp_path: Path) -> None:
    from longbert.ui.batch_jobs import BatchSettings, stage_batch
    from longbert.ui.jobs import JobManager

    app.run()
    store = get_store()
    gone = str(tmp_path / "models" / "gone_*model*")
    settings = BatchSettings(model=gone, model_name="gone_*model*")
    staged = JobManager().submit(
        lambda ctx: stage_batch(ctx, store, "old", iter([("a.txt", b"Some words here.")]), settings),
        title="s", kind="stage")
    batch_id = staged.wait(60).result
    store.mark_batch_status(batch_id, "interrupted")
    app.switch_page("app_pages/history.py").run()
    app.button(key=f"history:resume:{batch_id}").click().run()
    assert_ok(app)
    [message] = _errors(app)
    assert message.startswith(f"Cannot resume batch #{batch_id}: No checkpoint")
    assert _shows_literally(message, "gone_*model*"), message
