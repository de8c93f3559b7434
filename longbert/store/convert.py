"""Between the core's result objects and table rows (no database access here).

Everything expensive -- JSON clean-up and compressing attention arrays -- happens here, *before*
a write transaction opens, so that transactions stay short while other sessions wait.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import numpy as np

from longbert.document import Document
from longbert.errors import StoreError
from longbert.results import AttentionSummary, FullAttention, Prediction, SegmentScore
from longbert.store.arrays import CODEC, pack_arrays, unpack_arrays
from longbert.store.schema import AttentionMapRow, DocumentRow, PredictionRow

_SUMMARY_FIELDS = ("token_scores", "word_spans", "word_scores", "sentence_spans", "sentence_scores")
#: zlib levels: summaries are small and read often (6: smaller); full maps are ~38 MB per
#: window for the default encoder, where level 1 is several times faster at a small size cost.
SUMMARY_LEVEL = 6
FULL_LEVEL = 1


def jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (numpy scalars/arrays, tuples and paths converted).

    Raises:
        StoreError: a value JSON cannot hold (an arbitrary object).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # NaN/inf are not JSON; PostgreSQL rejects them. Keep them readable as strings.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return jsonable(value.item(), where)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), where)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, where) for v in value]
    raise StoreError(f"{where} holds a {type(value).__name__}, which cannot be stored as JSON.")


@dataclass
class PackedMap:
    """An attention map ready to insert: ``kind`` summary/full, meta, compressed payload."""

    kind: str
    window_index: int | None
    meta: dict[str, Any]
    payload: bytes
    raw_bytes: int

    def values(self, prediction_id: int) -> dict[str, Any]:
        """Column values of its ``attention_maps`` row."""
        return {
            "prediction_id": prediction_id,
            "kind": self.kind,
            "window_index": self.window_index,
            "codec": CODEC,
            "meta": self.meta,
            "payload": self.payload,
            "raw_bytes": self.raw_bytes,
        }


def pack_summary(summary: AttentionSummary) -> PackedMap:
    """Compress a [CLS] summary (its five arrays, dtypes kept)."""
    arrays = {name: np.asarray(getattr(summary, name)) for name in _SUMMARY_FIELDS}
    meta, payload = pack_arrays(arrays, level=SUMMARY_LEVEL)
    raw = sum(a.nbytes for a in arrays.values())
    return PackedMap("summary", None, {"arrays": meta}, payload, raw)


def pack_full(full: FullAttention) -> PackedMap:
    """Compress one window's full map (``weights`` ``[L, H, T, T]`` and ``token_positions``)."""
    arrays = {"weights": np.asarray(full.weights), "token_positions": np.asarray(full.token_positions)}
    meta, payload = pack_arrays(arrays, level=FULL_LEVEL)
    raw = sum(a.nbytes for a in arrays.values())
    return PackedMap(
        "full", int(full.window_index), {"arrays": meta, "tokens": list(full.tokens)}, payload, raw
    )


def unpack_summary(row: AttentionMapRow) -> AttentionSummary:
    arrays = unpack_arrays(row.meta["arrays"], row.payload, row.codec)
    return AttentionSummary(**{name: arrays[name] for name in _SUMMARY_FIELDS})


def unpack_full(row: AttentionMapRow) -> FullAttention:
    arrays = unpack_arrays(row.meta["arrays"], row.payload, row.codec)
    return FullAttention(
        window_index=int(row.window_index or 0),
        weights=arrays["weights"],
        token_positions=arrays["token_positions"],
        tokens=[str(t) for t in row.meta.get("tokens", [])],
    )


@dataclass
class PreparedPrediction:
    """A prediction's row values and compressed maps, computed outside any transaction."""

    values: dict[str, Any]
    maps: list[PackedMap]


def prepare_prediction(prediction: Prediction, store_full_attention: bool) -> PreparedPrediction:
    """Validate a Prediction and turn it into row values plus packed attention maps.

    Raises:
        StoreError: probabilities that are not finite numbers, or values JSON cannot hold.
    """
    probabilities: dict[str, float] = {}
    for label, value in prediction.probabilities.items():
        number = float(value)
        if not math.isfinite(number):
            raise StoreError(
                f"Prediction for '{prediction.document_name}' has a non-finite probability "
                f"for '{label}' ({value}); it was not stored."
            )
        probabilities[str(label)] = number
    values = {
        "document_name": prediction.document_name,
        "strategy": prediction.strategy,
        "strategy_params": jsonable(prediction.strategy_params, "strategy_params"),
        "label": str(prediction.label),
        "labels": [str(label) for label in prediction.labels],
        "probabilities": probabilities,
        "total_tokens": int(prediction.total_tokens),
        "used_tokens": int(prediction.used_tokens),
        "spans": [[int(start), int(end)] for start, end in prediction.spans],
        "segment_scores": [_segment_json(s) for s in prediction.segment_scores],
        "latency_ms": float(prediction.latency_ms),
        "zero_shot": bool(prediction.zero_shot),
        "extra": jsonable(prediction.extra, "extra"),
    }
    maps = []
    if prediction.attention is not None:
        maps.append(pack_summary(prediction.attention))
    if store_full_attention and prediction.full_attention is not None:
        maps.append(pack_full(prediction.full_attention))
    return PreparedPrediction(values, maps)


def _segment_json(segment: SegmentScore) -> dict[str, Any]:
    return {
        "kind": segment.kind,
        "span": [int(segment.span[0]), int(segment.span[1])],
        "score": float(segment.score),
        "selected": bool(segment.selected),
        "weight": None if segment.weight is None else float(segment.weight),
        **({} if segment.window is None else {"window": int(segment.window)}),
    }


def to_prediction(
    row: PredictionRow,
    model_name: str,
    document: DocumentRow,
    summary: AttentionMapRow | None,
    full: AttentionMapRow | None,
) -> Prediction:
    """Rebuild the core's Prediction from its rows (attention arrays bit-exact)."""
    return Prediction(
        document_name=row.document_name,
        document_sha256=document.sha256,
        label=row.label,
        probabilities={str(k): float(v) for k, v in row.probabilities.items()},
        labels=[str(label) for label in row.labels],
        model_name=model_name,
        strategy=row.strategy,
        strategy_params=dict(row.strategy_params),
        total_tokens=row.total_tokens,
        used_tokens=row.used_tokens,
        spans=[(int(s), int(e)) for s, e in row.spans],
        segment_scores=[
            SegmentScore(
                kind=s["kind"],
                span=(int(s["span"][0]), int(s["span"][1])),
                score=float(s["score"]),
                selected=bool(s["selected"]),
                weight=s["weight"],
                window=s.get("window"),  # rows stored before it was kept have none
            )
            for s in row.segment_scores
        ],
        attention=unpack_summary(summary) if summary is not None else None,
        latency_ms=row.latency_ms,
        full_attention=unpack_full(full) if full is not None else None,
        zero_shot=row.zero_shot,
        extra=dict(row.extra),
    )


def to_document(row: DocumentRow) -> Document:
    """The core Document of a row (its stored hash kept, not recomputed)."""
    return Document(text=row.text, name=row.name, source=row.source, sha256=row.sha256)
