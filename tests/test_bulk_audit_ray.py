"""``--engine ray`` and :func:`~longbert.bulk.ray_engine.predict_dataset` on a local Ray instance
(``ray.init(num_cpus=2)``, as test_predict_ray.py): rows without names are numbered over the whole
Dataset, and the CLI's output comes in input order, as the local engine writes it. Skipped when
Ray is not installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.predict_fixtures import make_checkpoint, make_corpus, read_jsonl

from longbert.bulk import ModelSpec, PredictOptions, predict_many, run_predict
from longbert.document import Document

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")


def test_rows_without_names_are_numbered_over_the_dataset_and_come_back_in_order(
    tmp_path: Path, local_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    checkpoint = make_checkpoint(tmp_path)
    spec = ModelSpec(model=str(checkpoint))
    texts = [f"Markets fell as rates rose, report {i}." for i in range(6)]
    data = ray.data.from_items([{"text": t, "id": i} for i, t in enumerate(texts)], override_num_blocks=3)
    rows = [
        json.loads(row)
        for row in predict_many(spec, data, attention="none", docs_per_call=2).take_all()
        for row in [row["row"]]
    ]
    by_name = {r["name"]: r for r in rows}
    assert sorted(by_name) == sorted(f"document {n}" for n in range(1, 7))  # not 1, 2, 1, 2, ...
    for n, text in enumerate(texts, start=1):
        row = by_name[f"document {n}"]
        assert row["sha256"] == Document(text=text, name="x").sha256  # the name is its own row's
        assert row["id"] == str(n - 1)  # id 0 kept


def test_the_ray_engine_writes_rows_in_input_order(
    tmp_path: Path, local_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    spec = ModelSpec(model=str(make_checkpoint(tmp_path)))
    # A long table first, then short files: without preserve_order these finish first.
    folder = tmp_path / "inputs"
    folder.mkdir()
    make_corpus(folder / "a-table.jsonl", 24)
    for n in range(6):
        (folder / f"b{n}.txt").write_text(f"Fans celebrated the match, report {n}.")
    common = {"store": False, "quiet": True, "batch_size": 2}
    run_predict(PredictOptions(spec, [str(folder)], tmp_path / "local.jsonl", **common))
    run_predict(
        PredictOptions(spec, [str(folder)], tmp_path / "ray.jsonl", engine="ray", workers=2, **common)
    )
    local = [r["name"] for r in read_jsonl(tmp_path / "local.jsonl")]
    assert [r["name"] for r in read_jsonl(tmp_path / "ray.jsonl")] == local
