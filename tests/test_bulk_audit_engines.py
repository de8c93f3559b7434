"""The engines of ``python -m longbert.predict``: the Ray actor's names and ids (called without a
cluster), and the progress bar, which counts what is written, not what was read ahead or skipped."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers.predict_fixtures import make_corpus
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk import ModelSpec, PredictOptions, run_predict
from longbert.bulk.local import skip_done
from longbert.bulk.progress import Progress
from longbert.bulk.rows import DoneInputs, item_key, name_key
from longbert.bulk.runner import work_fraction
from longbert.bulk.sources import InputOptions, ReadCounter, iter_sources


def _column(values: list) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def test_the_ray_actor_keeps_an_id_0_and_names_rows_by_their_place_in_the_dataset(checkpoint: Path) -> None:  # noqa: F811
    import torch

    from longbert.bulk.ray_engine import ROW_INDEX, Predictor

    actor = Predictor(
        ModelSpec(str(checkpoint), device="cpu"), 8, "none", False, threads=torch.get_num_threads()
    )
    texts = ["Markets fell as rates rose.", "The club won the final.", "Bond yields climbed."]

    def call(ids: list, rows: list[int]) -> list[dict]:
        batch = {
            "text": _column([texts[r % 3] for r in rows]),
            "id": np.asarray(ids) if all(isinstance(i, int) for i in ids) else _column(ids),
            ROW_INDEX: np.asarray(rows, dtype=np.int64),
        }
        return [json.loads(row) for row in actor(batch)["row"]]

    first = call([0, 1], [0, 1])  # one actor call ...
    second = call(["", 7], [2, 3])  # ... and the next: the numbering goes on
    assert [r["id"] for r in first] == ["0", "1"]  # 0 is an id, not "no id"
    assert [r["name"] for r in first + second] == [f"document {n}" for n in (1, 2, 3, 4)]
    assert [r["id"] for r in second] == ["document 3", "7"]  # an empty id: the name, as locally
    assert all(r["error"] is None for r in first + second)


def test_skipped_inputs_count_neither_as_done_nor_as_work(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus.jsonl", 20)
    counter = ReadCounter()
    items = list(iter_sources([corpus], InputOptions(), ReadCounter()))
    done_items = items[:10]  # the first half was labelled before
    done = DoneInputs.of_rows(
        np.asarray([item_key(i) for i in done_items], dtype=np.int64),
        np.asarray([name_key(i.name) for i in done_items], dtype=np.int64),
    )
    skipped = [0]
    todo = list(skip_done(iter_sources([corpus], InputOptions(), counter), done, skipped, counter))
    total = corpus.stat().st_size
    assert skipped == [10] and len(todo) == 10
    assert counter.bytes_skipped == items[9].position  # the bytes of the first ten rows
    assert todo[-1].position == total - counter.bytes_skipped  # the last row ends at the end
    # Nothing written yet is 0%, not the half that was skipped; half the work written is ~50%.
    assert work_fraction(0, counter, total) == 0
    assert work_fraction(todo[4].position, counter, total) == pytest.approx(0.5, abs=0.15)
    assert work_fraction(todo[-1].position, counter, total) == 1.0
    # While the reader has not reached the end, the estimate never says 100%.
    reading = ReadCounter()
    reading.bytes_done, reading.bytes_skipped = total // 2, total // 4
    assert work_fraction(total, reading, total) == 0.99


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _EveryWrite(Progress):
    """Redraws the line at every write (no 0.25 s wait), so each chunk of rows shows its own."""

    def __init__(self, enabled: bool, fraction: Callable[[], float | None], stream: io.StringIO) -> None:
        super().__init__(enabled, fraction, stream, interval=0)


def test_the_progress_bar_follows_the_rows_written_on_a_resume(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import longbert.bulk.runner as runner

    corpus = make_corpus(env / "corpus.jsonl", 64)
    out = env / "out.jsonl"
    spec = ModelSpec(str(checkpoint), device="cpu")
    run_predict(PredictOptions(spec, [str(corpus)], out, store=False, quiet=True, attention="none"))
    make_corpus(env / "corpus.jsonl", 192)  # the same 64 rows first, then 128 new ones
    monkeypatch.setattr(runner, "Progress", _EveryWrite)
    terminal = _Terminal()
    summary = run_predict(PredictOptions(spec, [str(corpus)], out, store=False, attention="none"), terminal)
    assert (summary.documents, summary.skipped) == (128, 64)
    lines = [re.search(r"\] +(\d+)% (\d+) docs", line) for line in terminal.getvalue().split("\r")[1:]]
    shown = [(int(m.group(1)), int(m.group(2))) for m in lines if m]
    assert shown and shown[-1] == (100, 128)
    for percent, docs in shown:
        assert abs(percent - 100 * docs / 128) <= 12, shown  # by the rows written, skipped ones left out
        assert percent < 100 or docs == 128, shown
