"""Errors of pre-training (each message says what is wrong and what to do)."""

from __future__ import annotations

from longbert.errors import LongBertError


class PretrainError(LongBertError, ValueError):
    """A pre-training option, state file or encoder cannot be used."""


class CorpusError(PretrainError):
    """The pre-training corpus is unusable: empty, too small, or holding unreadable files."""
