"""What each long-input strategy does, in the words of someone labelling documents (the
strategies' own docstrings speak to developers)."""

from __future__ import annotations

STRATEGY_HELP = {
    "truncate": (
        "Reads one window of at most 510 tokens: the start of the document (head), its end "
        "(tail), or both (head+tail). Fast; good when the start says what a document is about. "
        "A document that fits is read whole."
    ),
    "key_sentences": (
        "Picks the sentences most central to the document (each sentence is scored by how much "
        "it resembles the others) until 510 tokens are used, and reads them in document order. "
        "The highlighted view shows each sentence's score and which were read."
    ),
    "chunk": (
        "Reads every token, in overlapping windows of up to 510 tokens; the model combines the "
        "windows (mean, max or attention pooling). Slower on long documents; 'max chunks' reads "
        "only that many windows, spread over the document."
    ),
    "sparse": (
        "Reads the first 4,096 tokens (up to 32,768) as one sequence, each token looking at its "
        "neighbours (the attention window) plus a few global tokens. Optionally the first token "
        "of every sentence is global."
    ),
}


def strategy_help_text(name: str) -> str:
    """Plain help for strategy ``name`` (an unknown name gets a generic line)."""
    return STRATEGY_HELP.get(name, "How the document is read when it is longer than 512 tokens.")
