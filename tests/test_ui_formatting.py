"""Human-readable strings for budgets, durations and progress."""

from __future__ import annotations

from longbert.ui.formatting import (
    classified_message,
    files_to_documents,
    format_bytes,
    format_duration,
    input_signature,
    md,
    plain,
    plural,
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


def test_plurals_and_file_document_counts() -> None:
    assert plural(1, "document") == "1 document" and plural(0, "document") == "0 documents"
    assert plural(1200, "batch", "batches") == "1,200 batches"
    assert files_to_documents(19, 23) == "19 files → 23 documents"
    assert files_to_documents(3, 3) == "3 documents" == files_to_documents(None, 3)
    assert files_to_documents(1, 1) == "1 document"


def test_classified_message_says_when_loading_the_model_counted() -> None:
    assert classified_message("a.txt", 2.6) == "Classified 'a\\.txt' in 2.6 s, and saved it to History."
    slow = classified_message("page", 16.4, 13.8)
    assert "16.4 s, including 13.8 s loading the model (first use)" in slow


def test_user_text_is_escaped_for_markdown_and_plotly() -> None:
    assert md("*bold* [x](http://e) :red[y]") == (
        "\\*bold\\* \\[x\\]\\(http\\://e\\) \\:red\\[y\\]")
    assert md("two\nlines") == "two lines"
    assert plain('<i>evil</i> & "q"') == '&lt;i&gt;evil&lt;/i&gt; &amp; "q"'


def test_input_signature_changes_with_the_input() -> None:
    base = input_signature("Paste text", "hello")
    assert base == input_signature("Paste text", "hello")
    assert base != input_signature("Paste text", "hello!")
    assert input_signature("Upload a file", None, "a.txt", b"x") != input_signature(
        "Upload a file", None, "a.txt", b"y")
