"""Human-readable strings for budgets, durations and progress."""

from __future__ import annotations

from longbert.ui.formatting import (
    format_bytes,
    format_duration,
    progress_text,
    snippet,
    token_budget_fraction,
    token_budget_text,
)


def test_token_budget_text() -> None:
    assert token_budget_text(510, 3214) == "510 of 3,214 tokens used"
    assert token_budget_text(120, 120) == "all 120 tokens used"
    assert token_budget_fraction(510, 1020) == 0.5
    assert token_budget_fraction(1, 0) == 0.0


def test_format_duration() -> None:
    assert format_duration(None) == "—"
    assert format_duration(42.4) == "42 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3720) == "1 h 02 min"


def test_progress_text_and_bytes_and_snippet() -> None:
    assert progress_text(3, 10, 70, errors=1) == "3 of 10 documents · 1 error · about 1 min 10 s left"
    assert progress_text(10, 10, None) == "10 of 10 documents"
    assert format_bytes(512) == "512 B"
    assert format_bytes(200_000_000) == "200.0 MB"
    assert snippet("a  b\n c", 10) == "a b c"
    assert snippet("x" * 30, 10) == "x" * 9 + "…"
