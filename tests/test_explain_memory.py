"""Integrated gradients on a long sparse input: memory stays bounded by ``internal_batch_size``.

Peak memory is measured with torch's profiler (``profile_memory``): every allocation and free
of a CPU tensor, replayed in order; the highest running total is the peak. Not a clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder, text_of
from torch.profiler import ProfilerActivity, profile

from longbert import LongBertClassifier
from longbert.explain import explain

MIB = 2**20
#: Peak of one IG run with one row per pass on ~1,500 tokens (measured ~8 MiB); all 8 steps in
#: one pass need ~50 MiB.
BOUND_MIB = 24


def peak_mib(run: callable) -> float:  # type: ignore[valid-type]
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    running = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        running += event.self_cpu_memory_usage
        peak = max(peak, running)
    return peak / MIB


@pytest.mark.slow
def test_integrated_gradients_memory_is_bounded_by_internal_batch_size(tmp_path: Path) -> None:
    model = LongBertClassifier.from_encoder(
        save_tiny_encoder(tmp_path / "encoder", hidden=32), labels=["a", "b"], device="cpu"
    )
    text = text_of(120)
    spec = {"name": "sparse", "params": {"max_tokens": 4096, "attention_window": 16}}

    def run(rows: int) -> None:
        result = explain(
            model,
            text,
            method="integrated_gradients",
            strategy=spec,
            n_steps=8,
            internal_batch_size=rows,
            top_sentences=0,
        )
        assert result.details["read_tokens"] > 1000  # a long input, read whole

    bounded = peak_mib(lambda: run(1))
    unbounded = peak_mib(lambda: run(8))
    assert bounded < BOUND_MIB < unbounded
