"""Errors LongBERT raises on purpose. Each message says what went wrong and what to do."""

from __future__ import annotations


class LongBertError(Exception):
    """Base class: anything LongBERT raises deliberately. The UI shows ``str(error)`` as is."""


class EmptyDocumentError(LongBertError, ValueError):
    """A document has no text (empty or whitespace only)."""


class UnreadableFileError(LongBertError, ValueError):
    """A file could not be turned into text (binary, undecodable, encrypted, corrupt, too big)."""


class EncoderNotFoundError(LongBertError, OSError):
    """An encoder name is neither the packaged default, a local folder, nor a reachable hub model."""


class UnsupportedEncoderError(LongBertError, ValueError):
    """The checkpoint loads but is not a BERT-architecture encoder LongBERT can warm-start from."""


class CheckpointError(LongBertError, OSError):
    """A LongBERT checkpoint folder is missing, incomplete or corrupt."""


class StrategyConfigError(LongBertError, ValueError):
    """A strategy name or one of its parameters is invalid."""


class TrainConfigError(LongBertError, ValueError):
    """A training option is invalid (the message names the option and the accepted values)."""


class DatasetError(LongBertError, ValueError):
    """Training or evaluation data is unusable (missing columns, one class, unseen labels...)."""


class StoreError(LongBertError):
    """The database cannot be used (not a LongBERT database, corrupt, newer schema...)."""


class UnreadableWeightsError(CheckpointError):
    """A weights or optimiser file cannot be read safely: corrupt, or a pickle holding more than
    tensors. The message names the file; LongBERT never loads such a file with code execution."""
