"""The Ray engine: read → ``map_batches`` over a pool of model actors → rows back to the driver.

Ray Data runs the pipeline, streaming with back-pressure (nothing here schedules work):

1. ``from_items`` of the input files' paths (the driver only lists them);
2. ``map_batches(read_files)``: tasks read files where they run (the paths must be reachable
   there: one machine, or a shared file system on a cluster), tables row by row, and mark the
   documents a previous run finished (their keys are shipped once with ``ray.put``);
3. ``map_batches(Predictor, compute=ActorPoolStrategy(size=workers), num_gpus=...)``: each actor
   loads the classifier once, in its constructor, and turns batches of documents into output
   rows (and, for the store, the pickled Prediction and Document);
4. the driver iterates the results and is the one writer of the output and the store.

The results come back in input order (``preserve_order`` in the run's ``DataContext``
execution options), as with the local engine, so the output's rows are in the same order.

``compute=ActorPoolStrategy(...)`` is Ray 2.60's argument for an actor pool (``concurrency=``
is deprecated there; older releases used ``compute="actors"``). Ray is an optional extra:
``pip install -r requirements-ray.txt``.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from longbert.bulk.local import BulkResult, chunked, classify_items
from longbert.bulk.model import ModelSpec, strategy_config
from longbert.bulk.rows import DoneInputs
from longbert.bulk.sources import InputOptions, ReadCounter, SourceItem, read_file, walk_inputs
from longbert.errors import LongBertError

if TYPE_CHECKING:
    from longbert.bulk.options import PredictOptions

INSTALL_HINT = (
    "--engine ray needs Ray Data, an optional extra: pip install -r requirements-ray.txt "
    "(or pip install 'ray[data]==2.60.0'); or use --engine local."
)
#: Documents per row batch that the read tasks emit.
READ_ROWS = 32
#: The column :func:`predict_dataset` adds to a Dataset without ``name``s: each row's position,
#: from 0, so that the names made for them (``document N``) are unique over the whole Dataset.
ROW_INDEX = "_longbert_row"
#: The column a ``timed`` :func:`predict_dataset` adds: when (``time.time()`` on the actor) the
#: classifying of each row began; NaN for a row skipped as done before.
BEGAN = "_longbert_began"


def import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise LongBertError(INSTALL_HINT) from error
    return ray


def read_files(
    batch: dict[str, np.ndarray], text_column: str, id_column: str | None, done: Any
) -> Iterator[dict]:
    """Ray task: files (``name``, ``path`` columns) → document rows, a few at a time."""
    import ray

    finished: DoneInputs = ray.get(done) if isinstance(done, ray.ObjectRef) else done
    options = InputOptions(text_column, id_column)
    from pathlib import Path

    def items() -> Iterator[SourceItem]:
        for shown, path in zip(batch["name"], batch["path"], strict=True):
            if not path:
                yield SourceItem(str(shown), str(shown), error="no such file or folder.")
            else:
                yield from read_file(str(shown), Path(str(path)), options)

    for chunk in chunked(items(), READ_ROWS):
        yield _item_columns(chunk, [item in finished for item in chunk])


def _item_columns(items: list[SourceItem], skip: list[bool]) -> dict[str, np.ndarray]:
    def column(values: list[Any]) -> np.ndarray:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array

    return {
        "name": column([i.name for i in items]),
        "id": column([i.id for i in items]),
        # Strings only ("" for none): Arrow would turn None in an object column into NaN.
        "text": column(
            ["" if s or i.document is None else i.document.text for i, s in zip(items, skip, strict=True)]
        ),
        "error": column([i.error or "" for i in items]),
        "extra": column([json.dumps(i.extra, default=str) if i.extra else "" for i in items]),
        "skip": np.asarray(skip, dtype=bool),
    }


class Predictor:
    """A Ray actor: loads the classifier once, then classifies batches of document rows."""

    def __init__(
        self,
        spec: ModelSpec,
        batch_size: int,
        attention: str,
        payload: bool,
        threads: int,
        precision: str | None = None,
        timed: bool = False,
    ) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        # The driver's LONGBERT_PRECISION: a worker of a cluster started earlier (or elsewhere)
        # does not inherit the driver's environment, and would run in another precision.
        if precision is not None:
            os.environ["LONGBERT_PRECISION"] = precision
        self.classifier = spec.load()
        self.strategy, self.model_settings = spec.strategy_for(self.classifier.strategy)
        self.batch_size = batch_size
        self.attention = attention
        self.payload = payload
        self.exit_threshold = spec.exit_threshold  # checked by the spec, on the driver
        self.timed = timed

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from longbert.document import Document

        began = time.time()  # wall-clock: the driver compares it with its own (see RayEngine)
        n = len(next(iter(batch.values())))
        skip = batch.get("skip", np.zeros(n, dtype=bool))
        items: list[SourceItem] = []
        for i in range(n):
            name = _value(batch, "name", i)
            if name is None:
                # The row's place in the whole Dataset (predict_dataset numbers them); a batch
                # given without it (a direct call) is numbered on its own.
                index = _value(batch, ROW_INDEX, i)
                name = f"document {int(index if index is not None else i) + 1}"
            ident = _value(batch, "id", i)
            if ident is None:  # not "or": an id 0 (or False) is the row's own id
                ident = name
            extra = _extra(batch, i)
            error = _value(batch, "error", i)
            text = _value(batch, "text", i)
            document = None
            if not skip[i] and error is None:
                try:
                    document = Document(text=str(text or ""), name=str(name), source="batch")
                except (ValueError, TypeError) as problem:
                    error = str(problem)
            items.append(SourceItem(str(name), str(ident), document, error, extra))
        # The local engine's code path: the same strategy, model settings and rows.
        todo = [item for item, skipped in zip(items, skip, strict=True) if not skipped]
        results = classify_items(
            self.classifier,
            todo,
            strategy=self.strategy,
            model_settings=self.model_settings,
            batch_size=self.batch_size,
            attention=self.attention,
            chunk_size=max(1, len(todo)),
            exit_threshold=self.exit_threshold,
        )
        rows, payloads = [], []
        for skipped in skip:
            if skipped:
                rows.append("")
                payloads.append(b"")
                continue
            done = next(results)
            rows.append(json.dumps(done.row, ensure_ascii=False, default=str))
            payloads.append(
                pickle.dumps((done.result, done.item.document))
                if self.payload and done.result is not None
                else b""
            )
        out_rows = np.empty(n, dtype=object)
        out_rows[:] = rows
        out_payloads = np.empty(n, dtype=object)
        out_payloads[:] = payloads
        out = {"row": out_rows, "payload": out_payloads, "skip": np.asarray(skip, dtype=bool)}
        if self.timed:
            out[BEGAN] = np.where(out["skip"], np.nan, began)
        return out


def _value(batch: dict[str, np.ndarray], column: str, i: int) -> Any:
    if column not in batch:
        return None
    value = batch[column][i]
    if (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or (isinstance(value, str) and value == "")
    ):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _extra(batch: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    if "extra" in batch and batch["extra"][i]:
        return json.loads(batch["extra"][i])
    known = {"name", "id", "text", "error", "extra", "skip", ROW_INDEX}
    return {k: _value(batch, k, i) for k in batch if k not in known}


def predict_dataset(
    dataset: Any,
    spec: ModelSpec,
    *,
    batch_size: int = 8,
    attention: str = "summary",
    workers: int = 1,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    docs_per_call: int | None = None,
    payload: bool = False,
    timed: bool = False,
) -> Any:
    """A Ray Dataset of documents (``text``; optional ``name``, ``id``, other columns) → a Dataset
    with a ``row`` column (the output row as JSON) per document, computed by ``workers`` actors.

    A row without a ``name`` is named ``document N`` by its place in the Dataset (N from 1), as
    :func:`~longbert.bulk.predict_many` names texts: for a Dataset without a ``name`` column the
    rows are counted (``dataset.count()``) and numbered first. With ``payload`` a ``payload``
    column holds the pickled ``(Prediction, Document)`` (what the store needs); with ``timed``
    a :data:`BEGAN` column, when each row's classifying began (what the progress line needs).
    Write it with ``.write_parquet(folder)`` or iterate it; nothing runs until then.
    """
    ray = import_ray()
    columns = dataset.columns() or []
    if "name" not in columns and ROW_INDEX not in columns:
        index = ray.data.range(dataset.count()).rename_columns({"id": ROW_INDEX})
        dataset = dataset.zip(index)
    return dataset.map_batches(
        Predictor,
        fn_constructor_kwargs={
            "spec": spec,
            "batch_size": batch_size,
            "attention": attention,
            "payload": payload,
            "threads": max(1, round(cpus_per_worker)),
            "precision": os.environ.get("LONGBERT_PRECISION"),
            "timed": timed,
        },
        batch_size=docs_per_call or 4 * batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker or None,
    )


class RayEngine:
    """``--engine ray``: the job on a local Ray instance or an existing cluster.

    Progress on a resume counts only the inputs this run classifies, as the local engine's does
    (:mod:`longbert.bulk.progress`): rows of inputs done before come back marked ``skip`` and are
    counted as skipped, never as documents; and the work's clock starts when the actors began
    classifying the first inputs to do, not when the run started -- the reading and hashing of
    the done inputs (and the actors loading the model, as the local engine loads it before its
    clock starts) are not work. The driver hears of that only when the rows come back, in
    blocks that may hold a whole file's rows, so each row carries when its classifying began
    (:data:`BEGAN`, the actor's wall clock: one machine's, or a cluster's synchronised ones) and
    the driver tells the progress how long ago that was (``counter.on_work(ago)``). The driver
    cannot see how far the workers have read, so the progress line has no ETA here.
    """

    def __init__(self, options: PredictOptions) -> None:
        self.ray = import_ray()
        self.options = options
        self.model_name, self.strategy_config, self.multi_label = describe_model(options.spec)
        if not self.ray.is_initialized():
            self.ray.init(
                address=options.ray_address or None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )

    def results(self, done: DoneInputs, counter: ReadCounter, skipped: list[int]) -> Iterator[BulkResult]:
        ray, o = self.ray, self.options
        import logging

        # Our own progress line replaces Ray Data's (its INFO log would repeat every 10 s).
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        # Rows in input order, as the local engine writes them (Ray Data's default is whichever
        # block finishes first).
        context.execution_options.preserve_order = True
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        files = [
            {"name": shown, "path": str(path) if path is not None else ""}
            for shown, path in walk_inputs(o.inputs, o.input_options().skip)
        ]
        if not files:
            return
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        # Leave room for the read tasks: actors that took every CPU would starve them.
        per_actor = max(0.25, min(1.0, (cpus - 0.5) / o.workers)) if not o.gpus_per_worker else 1.0
        files_per_task = max(1, min(64, len(files) // max(1, 4 * o.workers)))
        data = ray.data.from_items(files, override_num_blocks=max(1, min(len(files), 200)))
        data = data.map_batches(
            read_files,
            batch_size=files_per_task,
            fn_kwargs={"text_column": o.text_column, "id_column": o.id_column, "done": ray.put(done)},
            num_cpus=0.25,
        )
        data = predict_dataset(
            data,
            o.spec,
            batch_size=o.batch_size,
            attention=o.attention,
            workers=o.workers,
            gpus_per_worker=o.gpus_per_worker,
            cpus_per_worker=per_actor,
            payload=o.store,
            timed=True,
        )
        for batch in data.iter_batches(batch_size=None, batch_format="numpy"):
            _report_work(batch, counter)
            for row_json, payload, skip in zip(batch["row"], batch["payload"], batch["skip"], strict=True):
                if skip:
                    skipped[0] += 1
                    continue
                row = json.loads(row_json)
                result, document = pickle.loads(payload) if payload else (None, None)
                item = SourceItem(
                    row["name"], row["id"], document, None if row.get("sha256") else row["error"]
                )
                yield BulkResult(item, result, row)


def _report_work(batch: dict[str, np.ndarray], counter: ReadCounter) -> None:
    """Tell the progress (``counter.on_work``) how many seconds ago the classifying of the
    earliest of ``batch``'s inputs to do began (none to do: nothing to tell)."""
    skip = np.asarray(batch["skip"], dtype=bool)
    began = np.asarray(batch[BEGAN], dtype=float)[~skip] if BEGAN in batch else np.empty(0)
    began = began[~np.isnan(began)]
    if len(began) and counter.on_work is not None:
        counter.on_work(max(time.time() - float(began.min()), 0.0))


def describe_model(spec: ModelSpec) -> tuple[str, dict[str, Any], bool]:
    """The model's name, the strategy config a run uses and whether the model is multi-label,
    without loading its weights."""
    if spec.labels is not None:
        from longbert.settings import DEFAULT_ENCODER
        from longbert.zero_shot import ZERO_SHOT_STRATEGY

        name = f"zero-shot:{spec.encoder or DEFAULT_ENCODER}"
        own: Any = ZERO_SHOT_STRATEGY
        multi_label = False
    else:
        from longbert.checkpoints import read_manifest, resolve_checkpoint
        from longbert.errors import CheckpointError

        path = resolve_checkpoint(str(spec.model))
        manifest = read_manifest(path)
        if manifest.kind != "classifier":
            raise CheckpointError(
                f"Checkpoint '{path}' holds an {manifest.kind}, not a classifier: train a classifier "
                f"from it with `python -m longbert.train --encoder {path} ...`."
            )
        name, own, multi_label = manifest.name or path.name, manifest.strategy, bool(manifest.multi_label)
    return name, strategy_config(*spec.strategy_for(own)), multi_label


def ray_available() -> bool:
    try:
        import_ray()
    except LongBertError:
        return False
    return True


__all__ = ["INSTALL_HINT", "Predictor", "RayEngine", "predict_dataset", "ray_available", "read_files"]
