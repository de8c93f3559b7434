"""``--engine ray`` resumed: the rates and the summary count only the inputs this run classifies,
as the local engine's do (tests/test_predict_resume_eta.py). The inputs done before come back from
the workers marked as skipped; the time until the actors begin classifying the first input to do
(their start-up, the reading and hashing of the done inputs) is the run's head, not its work.
Before, the driver never said when the work began: a resume's docs/s and tokens/s were taken over
the whole run, the skipping included, and the summary did not say how long the skipping took.

On a local Ray instance (``ray.init(num_cpus=2)``), through the real engine; the progress runs
on a fake clock (tests/helpers/fake_clock.py) that moves only when the test says. Skipped when
Ray is not installed."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from helpers.fake_clock import FakeClock
from helpers.predict_fixtures import make_checkpoint, make_corpus

from longbert.bulk import ModelSpec, PredictOptions, run_predict
from longbert.bulk.items import SourceItem
from longbert.bulk.progress import Progress
from longbert.bulk.rows import DoneInputs, item_key, name_key
from longbert.bulk.sources import InputOptions, ReadCounter, iter_sources

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")

#: Seconds the fake clock moves before the first row comes back (the actors start, the done
#: inputs are read and come back), and per input classified.
HEAD_SECONDS, CLASSIFY_SECONDS = 30.0, 1.0
#: Real seconds an actor may take to classify the first block to do (tiny model, shared CPU).
SLACK = 8.0


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    return tmp_path


def _done(items: list[SourceItem]) -> DoneInputs:
    return DoneInputs.of_rows(
        np.asarray([item_key(i) for i in items], dtype=np.int64),
        np.asarray([name_key(i.name) for i in items], dtype=np.int64),
    )


def _through_the_engine(root: Path, rows: int, done_rows: int) -> tuple[Progress, list[int]]:
    """The Ray engine's results for a corpus of ``rows`` whose first ``done_rows`` were labelled
    before, fed to a progress as the runner feeds it (``counter.on_work``, a row at a time),
    on a fake clock: ``HEAD_SECONDS`` before the first row, ``CLASSIFY_SECONDS`` per row."""
    from longbert.bulk.ray_engine import RayEngine

    corpus = make_corpus(root / "corpus.jsonl", rows)
    items = list(iter_sources([corpus], InputOptions(), ReadCounter()))
    spec = ModelSpec(model=str(make_checkpoint(root)))
    options = PredictOptions(
        spec, [str(corpus)], root / "out.jsonl", engine="ray", workers=1, batch_size=4,
        store=False, quiet=True, attention="none",
    )
    engine = RayEngine(options)
    clock = FakeClock()
    progress = Progress(True, lambda: None, io.StringIO(), 0, clock)
    counter = ReadCounter()
    counter.on_work = progress.start_work
    skipped = [0]
    clock.advance(HEAD_SECONDS)
    for _ in engine.results(_done(items[:done_rows]), counter, skipped):
        clock.advance(CLASSIFY_SECONDS)
        progress.update(1, 0, 100)
    progress.totals.skipped = skipped[0]
    return progress, skipped


def _rate(progress: Progress) -> float:
    found = re.search(r"([\d.,]+) docs/s", progress.line())
    assert found, progress.line()
    return float(found.group(1))


def test_a_ray_resume_times_only_the_inputs_it_classifies(sandbox: Path, local_ray: None) -> None:
    progress, skipped = _through_the_engine(sandbox, 96, 64)  # 64 done first, 32 to do
    assert skipped == [64] and progress.totals.documents == 32
    # The actors' classifying of the first block to do takes real seconds, before the fake
    # clock's per-row ones: the work is 32 fake seconds and those few real ones.
    t = progress.totals
    assert 32 <= t.work_seconds < 32 + SLACK  # was 62: the head counted as work
    assert HEAD_SECONDS - SLACK < t.head_seconds <= HEAD_SECONDS  # was 0: not known
    assert _rate(progress) == pytest.approx(1 / CLASSIFY_SECONDS, rel=0.25)  # was 0.5
    assert re.fullmatch(
        r"32 documents in 3\ds \(\d\.\d docs/s, \d+ tokens/s\): 32 labelled, 0 errors, "
        r"64 already done \(skipped\) in [23]\ds\.",
        progress.summary(),
    ), progress.summary()  # was "32 documents in 1m02s (0.5 docs/s, 52 tokens/s) ... (skipped)."


def test_a_fresh_ray_run_times_from_its_first_classifying(sandbox: Path, local_ray: None) -> None:
    """No done inputs: the work is timed from the actors' first classifying, its first block
    included; the actors' start-up (here the fake clock's head) is not work, as the local
    engine's model load, done before its progress starts, is not."""
    progress, skipped = _through_the_engine(sandbox, 32, 0)
    assert skipped == [0] and progress.totals.documents == 32
    assert 32 <= progress.totals.work_seconds < 32 + SLACK
    assert re.fullmatch(r"32 documents in 3\ds \(.*\): 32 labelled, 0 errors\.", progress.summary())


def test_a_resumed_ray_command_says_how_long_skipping_took(sandbox: Path, local_ray: None) -> None:
    corpus = make_corpus(sandbox / "corpus.jsonl", 40)
    out = sandbox / "out.jsonl"
    spec = ModelSpec(model=str(make_checkpoint(sandbox)))
    common = {"engine": "ray", "workers": 1, "batch_size": 4, "store": False, "quiet": True,
              "attention": "none"}
    run_predict(PredictOptions(spec, [str(corpus)], out, **common))
    make_corpus(sandbox / "corpus.jsonl", 72)  # the same 40 rows first, then 32 new ones
    summary = run_predict(PredictOptions(spec, [str(corpus)], out, **common))
    assert (summary.documents, summary.skipped) == (32, 40)
    duration = r"(?:\d+h)?(?:\d+m)?\d+[sm]"
    assert re.search(
        rf"^32 documents in {duration} .*, 40 already done \(skipped\) in {duration}\.$", summary.text
    ), summary.text
