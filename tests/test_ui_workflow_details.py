"""Smaller workflow details: a resumed batch counts only its own documents, the token-budget
legend stays off the window tags, strategy help speaks plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from longbert.store import Store
from longbert.ui import charts
from longbert.ui.batch_jobs import classify_batch, resume_work, stage_batch
from longbert.ui.coverage import Coverage
from longbert.ui.help_text import STRATEGY_HELP, strategy_help_text
from longbert.ui.jobs import JobContext, JobManager
from longbert.ui.params import strategy_names
from tests.test_ui_batch import SETTINGS, fake_classify


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'w.sqlite'}")
    monkeypatch.delenv("LONGBERT_SPOOL_DIR", raising=False)
    return Store(f"sqlite:///{tmp_path / 'w.sqlite'}")


def test_a_resumed_batch_counts_only_this_runs_documents(store: Store) -> None:
    files = [("a.txt", b"alpha"), ("b.txt", b"bravo"), ("c.txt", b"FAIL"), ("d.txt", b"delta")]

    def first_part(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, "b", iter(files), SETTINGS)
        calls = []

        def stop_after_one(documents):  # type: ignore[no-untyped-def]
            calls.append(1)
            if len(calls) > 1:
                ctx.cancel()
                ctx.check_stop()
            return fake_classify(documents)

        try:
            classify_batch(ctx, store, batch_id, stop_after_one, chunk=1)
        finally:
            ctx.set_meta(batch_id=batch_id)
        return batch_id

    manager = JobManager()
    stopped = manager.submit(first_part, title="t", kind="batch").wait(30)
    batch_id = stopped.meta["batch_id"] if hasattr(stopped, "meta") else None
    batch_id = batch_id or store.list_batches()[0].id
    assert store.get_batch(batch_id).done == 1
    job = manager.submit(resume_work(store, batch_id, fake_classify), title="r", kind="batch")
    job.wait(30)
    assert job.meta["resumed"] and job.meta["ran"] == 3 and job.meta["run_errors"] == 1
    assert store.get_batch(batch_id).done == 3  # 1 earlier + 2 now (one failed)


def test_the_budget_legend_sits_below_the_window_tags() -> None:
    fig = charts.token_budget_figure(Coverage(2000, [(0, 1000)], windows=[(0, 510), (400, 910)]))
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"


def test_strategy_help_has_no_developer_jargon() -> None:
    assert set(STRATEGY_HELP) == set(strategy_names())
    for name in strategy_names():
        text = strategy_help_text(name)
        assert "SegmentScore" not in text and "``" not in text and ":func:" not in text
