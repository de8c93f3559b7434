"""``--engine ray`` on a local Ray instance (``ray.init(num_cpus=2)``), writing to PostgreSQL.

The same predictions as the local engine, one store batch written by the driver alone (the actors
never open the store), and a resume that skips what is done. Skipped when Ray is not installed
(``pip install -r requirements-ray.txt``) or no PostgreSQL server can be started.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.predict_fixtures import make_checkpoint, make_corpus, make_mixed_folder, read_jsonl
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401  (fixtures: a real server)

from longbert.bulk import ModelSpec, PredictOptions, run_predict
from longbert.store import HistoryFilter, Store

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")


def test_ray_engine_matches_local_and_writes_one_postgres_batch(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
    local_ray: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    checkpoint = make_checkpoint(tmp_path)
    corpus = make_mixed_folder(tmp_path)
    table = make_corpus(tmp_path / "more.jsonl", 40)
    spec = ModelSpec(model=str(checkpoint))
    local = run_predict(
        PredictOptions(
            spec,
            [str(corpus), str(table)],
            tmp_path / "local.jsonl",
            id_column="doc_id",
            batch_size=4,
            store=False,
            quiet=True,
        )
    )
    options = PredictOptions(
        spec,
        [str(corpus), str(table)],
        tmp_path / "ray.jsonl",
        id_column="doc_id",
        db_url=pg_url,
        engine="ray",
        workers=2,
        batch_size=4,
        quiet=True,
    )
    first = run_predict(options)
    assert first.rows == local.rows == 13 + 40

    by_name = {r["name"]: r for r in read_jsonl(tmp_path / "local.jsonl")}
    ray_rows = read_jsonl(tmp_path / "ray.jsonl")
    assert sorted(r["name"] for r in ray_rows) == sorted(by_name)
    for row in ray_rows:
        expected = by_name[row["name"]]
        assert (row["label"], row["id"], row["error"] is None) == (
            expected["label"],
            expected["id"],
            expected["error"] is None,
        )
        # The actors run in the driver's precision (LONGBERT_PRECISION, set by this test after
        # this module's Ray started: passed to each actor), so the rows agree, precision too.
        assert {k: v for k, v in row.items() if k != "probabilities"} == {
            k: v for k, v in expected.items() if k != "probabilities"
        }
        assert (row["precision"] is None) == (row["error"] is not None)
        for label, p in (row["probabilities"] or {}).items():
            assert p == pytest.approx(expected["probabilities"][label], abs=1e-4)  # batches differ in padding

    store = Store(pg_url)
    (batch,) = store.list_batches()
    ok = sum(1 for r in ray_rows if r["error"] is None)
    assert (batch.total, batch.done, batch.errors, batch.status) == (
        len(ray_rows),
        ok,
        len(ray_rows) - ok,
        "done",
    )
    assert store.count_predictions(HistoryFilter(batch_id=batch.id)) == ok
    stored = store.get_prediction(store.history(HistoryFilter(batch_id=batch.id), limit=1).rows[0].id)
    assert stored.prediction.attention is not None  # the summary travelled from the actor

    # A re-run finds everything done, in the output and in the store.
    again = run_predict(options)
    assert (again.documents, again.skipped) == (0, len(ray_rows))
    assert len(read_jsonl(tmp_path / "ray.jsonl")) == len(ray_rows)
    assert store.get_batch(batch.id).total == len(ray_rows)
