"""How result tables name their columns: one rule for the app's exports (:mod:`longbert.ui.tables`)
and ``python -m longbert.predict`` (:mod:`longbert.bulk.rows`, :mod:`longbert.bulk.outputs`).

Each label's probability is a ``p_<label>`` column. A source row's own column (a table upload's
id, title...) keeps its name unless that name is taken by a result column or could be a
probability column: then it is ``source_<name>``, so no value overwrites another.
"""

from __future__ import annotations

from collections.abc import Container

#: Prefix of the per-label probability columns (``p_sport``...).
PROBABILITY_PREFIX = "p_"
#: Prefix of a source column renamed to stay clear of the result columns.
SOURCE_PREFIX = "source_"


def probability_column(label: str) -> str:
    """The column holding ``label``'s probability."""
    return f"{PROBABILITY_PREFIX}{label}"


def source_column(name: str, taken: Container[str]) -> str:
    """The name a source row's column ``name`` gets beside the result columns ``taken``."""
    return f"{SOURCE_PREFIX}{name}" if name in taken or name.startswith(PROBABILITY_PREFIX) else name
