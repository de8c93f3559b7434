"""Label corpora in bulk: the library behind ``python -m longbert.predict``.

For your own pipelines::

    from longbert import load_classifier
    from longbert.bulk import predict_many, iter_sources

    classifier = load_classifier("models/news")
    for result in predict_many(classifier, ["a long text ...", Document(text, name="r.pdf")]):
        print(result.item.name, result.row["label"], result.row["error"])

    # every file under a folder, tables row by row with their other columns kept:
    for result in predict_many(classifier, iter_sources(["corpus/"])):
        ...

:func:`predict_many` takes any iterable (texts, :class:`~longbert.Document`, :class:`SourceItem`)
and yields one :class:`BulkResult` per input, in order, with bounded memory (inputs are
classified :data:`~longbert.bulk.local.CHUNK_DOCUMENTS` at a time). Given a Ray Dataset (a
``text`` column, optional ``name``/``id`` and other columns) and a :class:`ModelSpec`, it
returns a Ray Dataset of output rows computed by a pool of actors that each load the model once
(see :func:`longbert.bulk.ray_engine.predict_dataset`).

:func:`run_predict` is the whole resumable job (output file, store batch, progress).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from longbert.bulk.local import BulkResult, classify_items
from longbert.bulk.model import ModelSpec
from longbert.bulk.options import PredictOptions
from longbert.bulk.outputs import OutputError
from longbert.bulk.rows import COLUMNS, output_row
from longbert.bulk.runner import RunSummary, run_predict
from longbert.bulk.sources import InputOptions, SourceItem, iter_sources
from longbert.exit_threshold import no_exits_message, warn_if_no_exits

if TYPE_CHECKING:
    from longbert.classifier import DocumentClassifier


def predict_many(
    model: DocumentClassifier | ModelSpec,
    documents: Iterable[Any] | Any,
    *,
    strategy: Any = None,
    batch_size: int = 8,
    attention: str = "summary",
    **ray_options: Any,
) -> Iterator[BulkResult] | Any:
    """Classify many documents; one result per input, in input order, memory bounded.

    Args:
        model: a loaded classifier, or a :class:`ModelSpec` (loaded here, or once per Ray actor;
            its ``exit_threshold`` applies to an early-exit model).
        documents: texts, Documents or :class:`SourceItem` values (e.g. :func:`iter_sources`),
            any iterable or generator; or a ``ray.data.Dataset`` with a ``text`` column.
        strategy: override the model's strategy (name, ``{"name", "params"}`` or a Strategy).
        batch_size: windows per forward pass.
        attention: ``summary`` (each Prediction carries its attention summary) or ``none``.
        ray_options: for a Ray Dataset: ``workers``, ``gpus_per_worker``, ``docs_per_call``.

    Returns an iterator of :class:`BulkResult` (``item``, ``result``: the Prediction or
    PredictionError, ``row``: the output row), or, for a Ray Dataset, a Dataset of output rows
    (one ``row`` JSON column per input, and the original columns).
    """
    if type(documents).__module__.startswith("ray.data"):
        from longbert.bulk.ray_engine import predict_dataset

        spec = model if isinstance(model, ModelSpec) else None
        if spec is None:
            raise TypeError("With a Ray Dataset, pass a ModelSpec: each actor loads the model itself.")
        if strategy is not None:
            raise TypeError(
                "With a Ray Dataset, give the strategy in the ModelSpec (strategy, strategy_params)."
            )
        if spec.exit_threshold is not None and not spec.has_early_exits():  # said before any actor loads
            name = str(spec.model or "zero-shot")
            warnings.warn(no_exits_message(name, spec.exit_threshold), UserWarning, stacklevel=2)
        return predict_dataset(documents, spec, batch_size=batch_size, attention=attention, **ray_options)
    classifier = model.load() if isinstance(model, ModelSpec) else model
    exit_threshold = model.exit_threshold if isinstance(model, ModelSpec) else None
    warn_if_no_exits(classifier, exit_threshold, stacklevel=2)
    settings: dict[str, Any] = {}
    if strategy is not None:
        from longbert.strategies import parse_strategy

        # A spec's model settings (chunk's pooling...) apply, as in classifier.predict.
        strategy, settings = parse_strategy(strategy)
    elif isinstance(model, ModelSpec):
        strategy, settings = model.strategy_for(classifier.strategy)
    return classify_items(
        classifier,
        documents,
        strategy=strategy,
        model_settings=settings,
        batch_size=batch_size,
        attention=attention,
        exit_threshold=exit_threshold,
    )


__all__ = [
    "COLUMNS",
    "BulkResult",
    "InputOptions",
    "ModelSpec",
    "OutputError",
    "PredictOptions",
    "RunSummary",
    "SourceItem",
    "iter_sources",
    "output_row",
    "predict_many",
    "run_predict",
]
