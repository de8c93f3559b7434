"""The early-exit threshold control on the Classify, Compare and Batch label pages (AppTest).

Shown only for a model with exits, read from its folder: defaults to the stored threshold, says
what it means and what calibration measured near the value chosen; the value chosen runs and is
recorded with each prediction, a change takes an old result off the Classify screen, a bad
value is refused in words (no crash), and a batch resumed from History keeps its threshold.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.exit_threshold import MEANING
from longbert.store import get_store
from longbert.ui.formatting import md
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.exit_fixtures import TEXTS, make_exit_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = " ".join(TEXTS)
STORED = 0.3


@pytest.fixture(scope="module")
def exit_folder(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exit_checkpoint(built, tmp_path_factory.mktemp("app-exit") / "tiny-exit", STORED)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_folder: Path, built: Path) -> Iterator[AppTest]:
    shutil.copytree(exit_folder, tmp_path / "models" / "tiny-exit")
    shutil.copytree(built, tmp_path / "models" / "tiny-news")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    yield fresh_app(tmp_path, monkeypatch, timeout=180)


def _key(tmp_path: Path, name: str) -> str:
    return str((tmp_path / "models" / name).resolve())


def _recorded(prediction_id: int) -> object:
    return get_store().get_prediction(prediction_id).prediction.extra.get("exit_threshold")


def _table(app: AppTest, column: str):  # type: ignore[no-untyped-def]
    """The page's (or sidebar's) table with ``column`` (AppTest does not keep a table's key)."""
    (table,) = [d.value for d in app.dataframe if column in d.value.columns]
    return table


def _controls(app: AppTest, prefix: str) -> list[str]:
    return [n.key for n in app.number_input if n.key == f"{prefix}:exit_threshold"]


def test_only_models_with_exits_show_the_control(app: AppTest, tmp_path: Path) -> None:
    app.run()
    assert_ok(app)
    assert _controls(app, "classify") == []  # zero-shot
    app.selectbox(key="classify:model").set_value(_key(tmp_path, "tiny-news")).run()
    assert_ok(app)
    assert _controls(app, "classify") == []  # a plain checkpoint
    app.selectbox(key="classify:model").set_value(_key(tmp_path, "tiny-exit")).run()
    assert_ok(app)
    control = app.number_input(key="classify:exit_threshold")
    assert control.value == STORED
    assert MEANING in control.help and f"stored threshold is {STORED:g} (calibrated)" in control.help
    captions = [c.value for c in app.caption]
    assert md(f"{STORED:g}: the model's stored threshold.") in captions
    assert any(c.startswith(md(f"Calibration on calibration.jsonl at {STORED:g}: accuracy 89.0%"))
               for c in captions)
    table = _table(app, "layer speed-up")
    assert list(table["threshold"]) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert list(table["mark"])[3] == "stored, chosen"


def test_the_threshold_chosen_runs_is_recorded_and_clears_an_old_result(app: AppTest, tmp_path: Path) -> None:
    app.run()
    app.selectbox(key="classify:model").set_value(_key(tmp_path, "tiny-exit")).run()
    app.text_area(key="classify:text").input(TEXT)
    app.button(key="classify:go").click().run()
    assert_ok(app)
    assert app.success and _recorded(1) == STORED
    assert any(md(f" · early-exit threshold {STORED:g}") in c.value for c in app.caption)

    app.number_input(key="classify:exit_threshold").set_value(0.0).run()
    assert_ok(app)
    assert not app.success and not app.metric  # the result described another threshold
    assert md("0: the full model exactly (every layer, no exits).") in [c.value for c in app.caption]
    # Back to the stored one in one click.
    app.button(key="classify:exit_threshold:reset").click().run()
    assert app.number_input(key="classify:exit_threshold").value == STORED
    app.number_input(key="classify:exit_threshold").set_value(0.0).run()
    app.button(key="classify:go").click().run()
    assert_ok(app)
    assert _recorded(2) == 0.0
    assert any(md(" · early-exit threshold 0 (the full model)") in c.value for c in app.caption)
    # Between calibrated thresholds: both neighbours are shown, nothing interpolated.
    app.number_input(key="classify:exit_threshold").set_value(0.45).run()
    assert any(c.value.startswith(md("Between the calibrated thresholds 0.4 and 0.5")) for c in app.caption)


@pytest.mark.parametrize("bad", [2.0, -0.5])
def test_a_bad_value_is_refused_in_words(app: AppTest, tmp_path: Path, bad: float) -> None:
    app.run()
    app.selectbox(key="classify:model").set_value(_key(tmp_path, "tiny-exit")).run()
    app.text_area(key="classify:text").input(TEXT)
    app.number_input(key="classify:exit_threshold").set_value(bad).run()
    assert_ok(app)
    assert any("The early-exit threshold must be a number from 0 to 1" in e.value for e in app.error)
    assert app.button(key="classify:go").disabled
    assert get_store().count_predictions() == 0


def test_compare_runs_every_strategy_at_the_threshold_remembered(app: AppTest, tmp_path: Path) -> None:
    app.run()
    app.selectbox(key="classify:model").set_value(_key(tmp_path, "tiny-exit")).run()
    app.number_input(key="classify:exit_threshold").set_value(0.0).run()
    app.switch_page("app_pages/compare.py").run()
    assert_ok(app)
    assert app.number_input(key="compare:exit_threshold").value == 0.0  # remembered across pages
    app.text_area(key="compare:text").input(TEXT)
    app.button(key="compare:go").click().run()
    assert_ok(app)
    table = _table(app, "strategy")
    assert set(table["exit_threshold"]) == {"0 (the full model)"}
    assert {_recorded(i) for i in range(1, 5)} == {0.0}


def test_batch_shows_the_control_and_a_resume_keeps_the_batch_threshold(app: AppTest, tmp_path: Path) -> None:
    from longbert.ui.batch_jobs import BatchSettings, stage_batch
    from longbert.ui.jobs import JobManager

    app.switch_page("app_pages/batch.py").run()
    app.selectbox(key="batch:model").set_value(_key(tmp_path, "tiny-exit")).run()
    assert_ok(app)
    assert app.number_input(key="batch:exit_threshold").value == STORED
    # An interrupted batch started at 0 (the model's stored threshold is 0.3).
    store = get_store()
    settings = BatchSettings(model=_key(tmp_path, "tiny-exit"), model_name="tiny-exit", exit_threshold=0.0)
    files = [(f"{i}.txt", text.encode()) for i, text in enumerate(TEXTS)]
    staged = JobManager().submit(lambda ctx: stage_batch(ctx, store, "old", iter(files), settings),
                                 title="s", kind="stage")
    batch_id = staged.wait(60).result
    store.mark_batch_status(batch_id, "interrupted")
    app.switch_page("app_pages/history.py").run()
    app.button(key=f"history:resume:{batch_id}").click().run()
    assert_ok(app)
    app.switch_page("app_pages/batch.py")
    for _ in range(120):
        app.run()
        if app.data_editor:
            break
    assert_ok(app)
    assert store.get_batch(batch_id).status == "done"
    assert {_recorded(i) for i in range(1, 5)} == {0.0}
    assert any(md(" · early-exit threshold 0 (the full model)") in c.value for c in app.caption)


def test_an_unreadable_stored_threshold_leaves_the_models_own(app: AppTest, tmp_path: Path) -> None:
    """A folder whose exits/config.json and manifest hold no usable threshold: the control is
    empty and says the model's own applies (loading the model would tell why); no crash."""
    from tests.helpers.app_testing import fake_checkpoint

    fake_checkpoint(tmp_path / "models", "broken-exit", ["a", "b"],
                    compression={"method": "early-exit", "source_model": "gone"},
                    metadata={"compression": {"threshold": "high"}})
    app.run()
    app.selectbox(key="classify:model").set_value(_key(tmp_path, "broken-exit")).run()
    assert_ok(app)
    assert app.number_input(key="classify:exit_threshold").value is None
    assert any(c.value.startswith(md("The model's own threshold applies: it could not be read here"))
               for c in app.caption)
