"""What ``python -m longbert.compress --dev`` measures, and what the new checkpoint records of it.

Accuracy and macro-F1: one :func:`longbert.evaluate.evaluate` pass of each model (the source as
it was, the compressed model as it reads) over the whole dev file. A compressed model that
cannot read dev documents its source read is refused (:func:`refuse_new_failures`): its scores
would be over fewer documents, or none.

Speed: timing each model in its single accuracy pass would time the source first, in a cold
process (thread pools, allocator, kernels warming up), and flatter the compressed model: one
audit run measured a model identical to its source 2.2 times as fast. So after both accuracy
passes, :func:`time_models` runs both models on the same :data:`TIMING_DOCUMENTS` documents spread
over the dev file: one untimed warm-up pass each, then :data:`TIMING_ROUNDS` rounds that
alternate which model goes first, keeping each model's best round. That costs about
``2 * (TIMING_ROUNDS + 1) * TIMING_DOCUMENTS`` documents on top of the two passes over the dev
file: little beside the dev passes of a real dev set, nothing beside distillation.

What the new checkpoint records of it: :mod:`longbert.compression.manifest`.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

from longbert.compression.target import CompressError, CompressNotice

if TYPE_CHECKING:
    from longbert.data import LabeledDataset
    from longbert.document import Document

#: Documents per evaluation batch, as ``python -m longbert.evaluate`` runs by default.
BATCH_SIZE = 8
#: Dev documents the speed is timed on (all of them when the file has fewer).
TIMING_DOCUMENTS = 16
#: Timed rounds per model; each model's best counts.
TIMING_ROUNDS = 3


def read_labelled(
    data: str | os.PathLike[str],
    metadata: Mapping[str, Any],
    multi_label: bool,
    skip_bad_rows: bool,
    option: str,
) -> LabeledDataset:
    """The labelled file ``data`` read as ``python -m longbert.evaluate`` reads it for a model
    with checkpoint ``metadata`` (its text/label columns). With ``skip_bad_rows``, rows that
    cannot be used are skipped and said in a :class:`CompressNotice` naming ``option``."""
    from longbert.data import load_dataset
    from longbert.evaluate import data_options
    from longbert.readers import TableOptions

    options = data_options(dict(metadata))
    table = TableOptions(
        text_column=options["text_column"],
        label_column=options["label_column"],
        label_delimiter=options["label_delimiter"] if multi_label else None,
    )
    dataset = load_dataset(
        data, table=table, multi_label=multi_label, skip_bad_rows=skip_bad_rows, min_classes=1
    )
    for problem in dataset.report.problems:
        warnings.warn(CompressNotice(f"{option} {data}: {problem}"), stacklevel=2)
    return dataset


def measure_source(source: Path, dataset: LabeledDataset, device: str | None) -> dict[str, Any]:
    """The evaluate report of the source checkpoint on ``dataset``, as the app loads it."""
    from longbert import load_classifier
    from longbert.evaluate import evaluate

    model = load_classifier(source, device=device, precision="auto")
    return evaluate(model, dataset, device=device, batch_size=BATCH_SIZE)


def measure_compressed(
    folder: Path, source: Path, dataset: LabeledDataset, before: Mapping[str, Any], device: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The evaluate report of the compressed checkpoint in ``folder`` on ``dataset`` and the
    timed speeds of both models (:func:`time_models`; the source is loaded again: it is not held
    while a method trains). Refused as :func:`refuse_new_failures` says."""
    from longbert import load_classifier
    from longbert.evaluate import evaluate

    compressed = load_classifier(folder, device=device, precision="auto")
    after = evaluate(compressed, dataset, device=device, batch_size=BATCH_SIZE)
    refuse_new_failures(before, after, str(dataset.report.source))
    original = load_classifier(source, device=device, precision="auto")
    return after, time_models(original, compressed, dataset.documents())


def refuse_new_failures(
    before: Mapping[str, Any], after: Mapping[str, Any], dev: str | os.PathLike[str]
) -> None:
    """Raise :class:`CompressError` when the compressed model (``after``) could not read dev
    documents that its source (``before``) read: its scores would leave them out."""
    new = Counter(e["name"] for e in after["errors"]) - Counter(e["name"] for e in before["errors"])
    if not new:
        return
    read_by_source = int(before["num_docs"])
    first = next(e for e in after["errors"] if e["name"] in new)
    raise CompressError(
        f"Nothing was saved: the compressed model could not read {new.total()} of the "
        f"{read_by_source} documents of {dev} that its source read (e.g. {first['name']}: "
        f"{first['message']}). Another --method may suit this model; this failure is a fault in "
        "LongBERT worth reporting."
    )


def time_models(source: Any, compressed: Any, documents: Sequence[Document]) -> dict[str, Any]:
    """Documents per second of two loaded classifiers, measured fairly (see the module doc):
    ``{"before": ..., "after": ..., "documents": n, "rounds": TIMING_ROUNDS, "how": ...}``."""
    count = min(len(documents), TIMING_DOCUMENTS)
    # Spread over the file: dev files are often sorted (by label, by length).
    sample = [documents[i * len(documents) // count] for i in range(count)]
    models = {"before": source, "after": compressed}
    for model in models.values():  # untimed: whatever a model's first pass sets up
        _run(model, sample)
    best = dict.fromkeys(models, 0.0)
    for round_number in range(TIMING_ROUNDS):
        order = list(models) if round_number % 2 == 0 else list(reversed(models))
        for which in order:
            started = perf_counter()
            _run(models[which], sample)
            best[which] = max(best[which], count / max(perf_counter() - started, 1e-9))
    return {
        **best,
        "documents": count,
        "rounds": TIMING_ROUNDS,
        "how": f"best of {TIMING_ROUNDS} rounds on {count} dev documents, the two models taking "
        "turns going first, after an untimed warm-up pass of each",
    }


def _run(classifier: Any, documents: Sequence[Document]) -> None:
    """What an evaluate pass runs: tokenising, the strategy and the model, end to end."""
    classifier.predict(list(documents), strategy=classifier.strategy, batch_size=BATCH_SIZE, attention="none")
