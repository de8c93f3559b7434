"""``python -m longbert.predict`` resumed: the progress line's rate and ETA count only the inputs
this run classifies. The inputs done before are skipped quickly (hashing them is fast) and
usually come first; neither their bytes nor the time the reader spent on them may make the ETA
at the start of a resume a fraction of the real one (or the rate lower than it is)."""

from __future__ import annotations

import io
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers.fake_clock import FakeClock
from helpers.predict_fixtures import make_corpus
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk import ModelSpec, PredictOptions, run_predict
from longbert.bulk.items import SourceItem
from longbert.bulk.local import skip_done
from longbert.bulk.progress import Progress
from longbert.bulk.rows import DoneInputs, item_key, name_key
from longbert.bulk.runner import work_fraction
from longbert.bulk.sources import InputOptions, ReadCounter, iter_sources

#: Seconds the fake clock moves per input skipped (read and hashed) and per input classified.
SKIP_SECONDS, CLASSIFY_SECONDS = 0.01, 1.0
#: Inputs the reader runs ahead of the model (the runner's prefetch).
READ_AHEAD = 8


def _done(items: list[SourceItem]) -> DoneInputs:
    return DoneInputs.of_rows(
        np.asarray([item_key(i) for i in items], dtype=np.int64),
        np.asarray([name_key(i.name) for i in items], dtype=np.int64),
    )


def _resume(corpus: Path, done: list[SourceItem], clock: FakeClock) -> Iterator[tuple[Progress, int]]:
    """A resumed run's reading, skipping and classifying on ``clock``, wired as the runner wires
    them (the real reader, skip and fraction); yields the progress after each input classified
    and how many are left."""
    total = corpus.stat().st_size
    counter = ReadCounter()
    written = [0]
    progress = Progress(True, lambda: work_fraction(written[0], counter, total), io.StringIO(), 0, clock)
    counter.on_work = progress.start_work

    def timed_reading() -> Iterator[SourceItem]:
        for item in iter_sources([corpus], InputOptions(), counter):
            clock.advance(SKIP_SECONDS)  # reading and hashing: all a done input costs
            yield item

    todo = skip_done(timed_reading(), _done(done), [0], counter)
    ahead: deque[SourceItem] = deque()
    left = sum(1 for _ in iter_sources([corpus], InputOptions(), ReadCounter())) - len(done)
    for item in todo:
        ahead.append(item)
        if len(ahead) <= READ_AHEAD:
            continue
        current = ahead.popleft()
        clock.advance(CLASSIFY_SECONDS)
        written[0] = current.position
        left -= 1
        progress.update(1, 0, 100)
        yield progress, left
    while ahead:
        written[0] = ahead.popleft().position
        clock.advance(CLASSIFY_SECONDS)
        left -= 1
        progress.update(1, 0, 100)
        yield progress, left


def _shown(progress: Progress) -> tuple[float, float]:
    """(docs/s, ETA seconds) as the progress line shows them."""
    line = progress.line()
    rate = re.search(r"([\d.,]+) docs/s", line)
    eta = re.search(r"ETA (?:(\d+)m)?(\d+)s", line)
    assert rate and eta, line
    return float(rate.group(1)), 60 * int(eta.group(1) or 0) + int(eta.group(2))


def test_a_resumes_eta_counts_only_the_inputs_it_classifies(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus.jsonl", 200)
    items = list(iter_sources([corpus], InputOptions(), ReadCounter()))
    clock = FakeClock()
    steps = _resume(corpus, items[:150], clock)  # the first 150 labelled before: 50 to do
    for _ in range(10):
        progress, left = next(steps)
    assert left == 40
    rate, eta = _shown(progress)
    assert rate == pytest.approx(1 / CLASSIFY_SECONDS)  # the skipping's 1.5 s left out
    assert eta == pytest.approx(left * CLASSIFY_SECONDS, rel=0.25)  # was about 3 s (40 to go)
    for progress, left in steps:
        if left == 25:
            assert _shown(progress)[1] == pytest.approx(25 * CLASSIFY_SECONDS, rel=0.25)
    assert left == 0 and _shown(progress)[1] == 0
    # The work's clock: from reading the first input to do, so the other 49's reading counts.
    assert progress.totals.work_seconds == pytest.approx(50 * CLASSIFY_SECONDS + 49 * SKIP_SECONDS)
    progress.totals.skipped = 150
    assert progress.summary().startswith("50 documents in 50s (1.0 docs/s, 99 tokens/s)")
    assert progress.summary().endswith(", 150 already done (skipped) in 2s.")


def test_inputs_done_here_and_there_still_count_as_work_to_come(tmp_path: Path) -> None:
    """Not a head of done inputs but every other one (a re-run after many texts changed): the
    unread bytes are taken to hold as many done inputs as those read after the first one to do."""
    corpus = make_corpus(tmp_path / "corpus.jsonl", 200)
    items = list(iter_sources([corpus], InputOptions(), ReadCounter()))
    steps = _resume(corpus, items[::2], FakeClock())
    for _ in range(10):
        progress, left = next(steps)
    expected = left * CLASSIFY_SECONDS + left * SKIP_SECONDS  # the done ones still to read too
    assert _shown(progress)[1] == pytest.approx(expected, rel=0.25)


def test_a_fresh_run_times_from_its_start(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus.jsonl", 40)
    steps = _resume(corpus, [], FakeClock())
    for _ in range(10):
        progress, left = next(steps)
    rate, eta = _shown(progress)
    # The reader's first input (and the inputs it read ahead) cost their reading time.
    assert rate == pytest.approx(10 / (10 * CLASSIFY_SECONDS + (READ_AHEAD + 1) * SKIP_SECONDS), rel=0.01)
    assert eta == pytest.approx(left * CLASSIFY_SECONDS, rel=0.25)


def test_a_resumed_command_says_how_long_skipping_took(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    corpus = make_corpus(env / "corpus.jsonl", 40)
    out = env / "out.jsonl"
    spec = ModelSpec(str(checkpoint), device="cpu")
    run_predict(PredictOptions(spec, [str(corpus)], out, store=False, quiet=True, attention="none"))
    make_corpus(env / "corpus.jsonl", 72)  # the same 40 rows first, then 32 new ones
    summary = run_predict(PredictOptions(spec, [str(corpus)], out, store=False, quiet=True, attention="none"))
    assert (summary.documents, summary.skipped) == (32, 40)
    assert re.search(r"^32 documents in \d+s .*, 40 already done \(skipped\) in \d+s\.$", summary.text)
