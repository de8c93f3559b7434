"""The Review page's background work: score the queue with a model, and retrain-then-rescore.

* :func:`score_work` -- one pass of a model over the queue's documents (probabilities and
  embeddings, :func:`longbert.active.score_documents`): what the diversity samplers need.
* :func:`retrain_work` -- train a model on the reviewed labels (the people's labels under the
  queue's label set, by any model of its kind -- single- or multi-label -- each text once with
  its latest label, conflicting texts left out: what the queue counts as reviewed,
  :meth:`Store.export_label_set_training_set`), from the current model or the encoder, in
  ``auto`` mode (few-shot with few labels
  per class, :mod:`longbert.training.few_shot_run`; its ``auto`` method corrects the zero-shot
  model of the label set's descriptions on single-label queues that start from a sentence
  encoder: seconds, and it starts from what zero-shot already got right; SetFit from a
  fine-tuned model); then score the queue with the new model.

Both return :class:`QueueScores`; the page hands them to :meth:`ReviewQueue.apply_scores` once
the job is done (the job never touches the queue: it lives in the page's session).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from longbert.errors import DatasetError
from longbert.settings import models_dir
from longbert.store import RecordNotFoundError, Store
from longbert.training.config import TrainConfig
from longbert.training.modes import FRONT_END_MODE
from longbert.ui.jobs import JobContext
from longbert.ui.review import ReviewError, ReviewQueue
from longbert.ui.training import training_work

#: Where a retrain starts: the queue's current model (its encoder, as fine-tuned so far), or
#: the plain encoder that model started from.
BASES = ("model", "encoder")
#: The fewest reviewed documents a retrain takes (the Train page's minimum too).
MIN_LABELS = 4


@dataclass
class QueueScores:
    """A model's view of queue items: prediction id → probabilities (in ``labels`` order) and
    document embeddings; ``model`` names a new model (a re-score), None for the queue's own."""

    labels: list[str]
    probabilities: dict[int, list[float]]
    embeddings: dict[int, list[float]]
    model: str | None = None
    notes: list[str] = field(default_factory=list)

    def apply(self, queue: ReviewQueue, store: Store | None = None) -> None:
        queue.apply_scores(self.labels, self.probabilities, self.embeddings, model=self.model, store=store)


def score_queue(
    classifier: Any,
    store: Store,
    prediction_ids: Sequence[int],
    *,
    model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> QueueScores:
    """Probabilities and embeddings of the documents of ``prediction_ids`` under ``classifier``."""
    from longbert.active import score_documents

    texts = store.document_texts(prediction_ids)
    ids = [p for p in prediction_ids if p in texts]
    scores = score_documents(classifier, [texts[p] for p in ids], progress=progress)
    notes = [f"#{ids[row]}: {why}" for row, why in scores.errors.items()]
    return QueueScores(
        list(scores.labels),
        {p: scores.probabilities[i].tolist() for i, p in enumerate(ids)},
        {p: scores.embeddings[i].tolist() for i, p in enumerate(ids)},
        model,
        notes,
    )


def score_work(
    load: Callable[[], Any], store: Store, prediction_ids: Sequence[int]
) -> Callable[[JobContext], QueueScores]:
    """A job scoring the queue with the model ``load()`` returns (the queue's own model)."""

    def work(ctx: JobContext) -> QueueScores:
        ctx.progress(0, len(prediction_ids), "Loading the model…")
        classifier = load()
        ctx.set_message("Scoring the queue…")
        return score_queue(classifier, store, prediction_ids, progress=ctx.progress)

    return work


def base_encoder(store: Store, queue: ReviewQueue, base: str) -> str | None:
    """The encoder a retrain starts from: the current model's checkpoint folder (``model``; a
    re-scored queue's new model first), whose encoder training takes with a new head
    (:mod:`longbert.encoder_export`), or the encoder it started from (``encoder``). A
    zero-shot-prior model's folder too: its ``encoder/`` holds the frozen encoder it read with,
    so the start is those weights even where the encoder it names was retrained since. A
    zero-shot start has only its encoder. None: the packaged default."""
    if base not in BASES:
        raise ReviewError(f"A retrain starts from one of {', '.join(BASES)}, not '{base}'.")
    name = queue.rescored.model if queue.rescored is not None else queue.model
    try:
        record = store.get_model(name)
    except RecordNotFoundError:
        return None
    if base == "model" and record.folder and Path(record.folder).is_dir():
        return record.folder
    if base == "encoder" and queue.rescored is not None:  # the encoder of the queue's first model
        try:
            first = store.get_model(queue.model)
        except RecordNotFoundError:
            return None
        return first.encoder
    return record.encoder


def _refuse_a_compressed_start(encoder: str) -> None:
    """Say now, on the page, that a compressed model is no start (the job would fail later)."""
    from longbert.checkpoints import read_manifest
    from longbert.encoder_export import refuse_compressed
    from longbert.encoder_source import checkpoint_folder

    if (folder := checkpoint_folder(encoder)) is not None:
        refuse_compressed(folder, read_manifest(folder))


def retrain_config(
    store: Store,
    queue: ReviewQueue,
    folder: Path,
    *,
    base: str = "model",
    mode: str = FRONT_END_MODE,
    few_shot_method: str = "auto",
    few_shot_max_steps: int = 0,
    strategy: dict[str, Any] | None = None,
    epochs: int = 3,
) -> tuple[TrainConfig, list[str]]:
    """The run a retrain makes, and notes for the page (conflicting texts left out): the
    people's labels under the queue's label set written to ``folder`` -- the texts the queue
    counts as reviewed, however it learnt them (its answers, or labels set elsewhere on the
    same texts under its label set, by another model too), and the label set's other labelled
    texts --, the label set's descriptions (zero-shot) next to them for few-shot, the model
    saved as ``models/review-<source>-<time>``. ``few_shot_method``: TrainConfig's (``auto``:
    the corrected zero-shot model for single-label queues, SetFit from a trained [CLS]
    classifier)."""
    path = folder / "reviewed.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The label set's scope, the queue's rule for a reviewed text: the queue's model's
        # corrections alone would miss the texts it counts from other models' predictions.
        count = store.export_label_set_training_set(
            path, queue.labels, multi_label=queue.multi_label, conflicts="leave_out"
        )
    if count < MIN_LABELS:
        raise DatasetError(
            f"Only {count} reviewed document(s) without a conflict under the labels "
            f"{', '.join(queue.labels)}: answer at least {MIN_LABELS} (a few of each label) "
            "before retraining."
        )
    values: dict[str, Any] = {
        "train": str(path),
        "multi_label": queue.multi_label,  # the queue's labels are lists for a multi-label model
        "mode": mode,
        "few_shot_method": few_shot_method,
        "few_shot_max_steps": few_shot_max_steps,
        "epochs": epochs,
        "quiet": True,
        "log_every": 1,
    }
    encoder = base_encoder(store, queue, base)
    if encoder:
        _refuse_a_compressed_start(encoder)
        values["encoder"] = encoder
    if strategy:
        values["strategy"] = strategy["name"]
        values["strategy_params"] = dict(strategy.get("params") or {})
    if queue.label_set:
        try:
            described = store.get_label_set(queue.label_set).descriptions
        except RecordNotFoundError:
            described = {}
        described = {k: v for k, v in described.items() if k in queue.labels and v and v != k}
        if described:
            (folder / "descriptions.json").write_text(json.dumps(described))
            values["label_descriptions"] = str(folder / "descriptions.json")
    # A new model each time: the last one may be where this one starts from.
    values["name"] = _unused_name(f"review-{queue.key.replace(':', '-')}-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    try:
        config = TrainConfig.from_dict(values, source="the Review page").validate()
    except BaseException:
        with contextlib.suppress(OSError):  # the name's reservation, still empty
            (models_dir() / values["name"]).rmdir()
        raise
    return config, [str(warning.message) for warning in caught if "conflict" in str(warning.message)]


def _unused_name(name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... when a model folder of that name exists (two
    retrains within a second): training never replaces a model. The name is reserved by making
    its (empty) folder, atomically, so two retrains at once cannot both pick it; training
    writes into an empty folder as into none."""
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    taken, number = name, 1
    while True:
        try:
            (root / taken).mkdir()
        except FileExistsError:
            number += 1
            taken = f"{name}-{number}"
            continue
        return taken


def retrain_work(
    store: Store,
    queue: ReviewQueue,
    config: TrainConfig,
    folder: Path,
    pending: Sequence[int],
    notes: Sequence[str] = (),
) -> Callable[[JobContext], Any]:
    """A job: train ``config`` (live chart and stop as on the Train page), then score the queue's
    ``pending`` documents (and the reviewed ones, as k-center's anchors) with the new model.
    Returns ``{"result": TrainResult, "scores": QueueScores | None}``."""
    wanted = list(dict.fromkeys([*pending, *queue.reviewed]))

    def train_then_score(
        config: TrainConfig, progress: Any = None, should_stop: Any = None
    ) -> dict[str, Any]:
        from longbert import load_classifier
        from longbert.training import train

        result = train(config, progress=progress, should_stop=should_stop)
        if result.status != "done":
            return {"result": result, "scores": None}
        classifier = load_classifier(result.output_dir, precision="auto")
        scores = score_queue(classifier, store, wanted, model=config.name)
        scores.notes = [*notes, *scores.notes]
        return {"result": result, "scores": scores}

    return training_work(config, train_then_score, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True))


def new_work_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="longbert-review-"))


def queue_model(
    store: Store, queue: ReviewQueue, batch_config: dict[str, Any] | None = None
) -> tuple[str, dict[str, str] | None]:
    """What loads the queue's own model (``load_model`` arguments): a batch's model as it ran,
    else the model's checkpoint folder, else zero-shot with the label set's descriptions."""
    if batch_config is not None:
        from longbert.ui.batch_jobs import BatchSettings

        settings = BatchSettings.from_config(batch_config)
        labels = settings.labels
        if isinstance(labels, list):  # older batches kept the label names only
            labels = {label: label for label in labels}
        return settings.model, labels
    try:
        record = store.get_model(queue.model)
    except RecordNotFoundError:
        record = None
    if record is not None and record.folder and Path(record.folder).is_dir():
        return record.folder, None
    if record is not None and not record.zero_shot:
        raise ReviewError(f"Model {queue.model}'s checkpoint is gone: its queue cannot be scored.")
    descriptions = {label: label for label in queue.labels}
    if queue.label_set:
        with contextlib.suppress(RecordNotFoundError):  # a deleted label set: the names only
            descriptions.update(store.get_label_set(queue.label_set).descriptions)
    return "zero-shot", {label: descriptions[label] for label in queue.labels}
