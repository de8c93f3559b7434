"""Text below documents and readers: bytes → str, and the checks every text passes.

:mod:`~longbert.text.decoding` turns bytes into text (byte-order marks, UTF-8, UTF-16 without a
BOM, legacy code pages chosen by how plausible the decoded text is, and mostly-UTF-8 files with
a few legacy lines read part by part by :mod:`~longbert.text.mixed`);
:mod:`~longbert.text.limits` holds the one :class:`ReadLimits` object every entry point applies.
Nothing here imports :mod:`longbert.document` or :mod:`longbert.readers`; both import this.
"""

from longbert.text.decoding import Decoded, ReadFailure, clean_text, decode_text, decode_with_notes
from longbert.text.limits import DEFAULT_LIMITS, BlobPolicy, ReadLimits, too_long_reason

__all__ = [
    "DEFAULT_LIMITS",
    "BlobPolicy",
    "Decoded",
    "ReadFailure",
    "ReadLimits",
    "clean_text",
    "decode_text",
    "decode_with_notes",
    "too_long_reason",
]
