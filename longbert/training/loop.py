"""The training loop: ``train(config)`` for the CLI, the web app and the benchmark.

One epoch: bucketed groups of documents (:mod:`~longbert.training.prepared`) -> the classifier's
forward path under autocast -> loss / accumulation -> (unscale, clip, AdamW step, scheduler step)
every ``gradient_accumulation`` groups. After each epoch the dev set is scored, metrics are
printed, written to ``metrics.json``, sent to ``progress`` and recorded in the database; a better
dev metric saves the best checkpoint; every epoch saves ``.last/`` for ``--resume``, and so does
every ``save_every_minutes`` inside an epoch (so a killed run loses at most that much). Stopping
(Ctrl-C, SIGTERM, ``should_stop()``) happens at an optimiser-step boundary: the state is saved
and a resumed run continues with the next group of the same epoch. A resumed run takes its
options from the interrupted one (see :mod:`~longbert.training.resume`) and continues its
database record. The run's state is a :class:`~longbert.runs.RunState`; everything it reports
goes through one :class:`~longbert.runs.RunReporter`, which alone finishes its record.
"""

from __future__ import annotations

import dataclasses
import math
import random
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from time import perf_counter

import numpy as np
import torch
from tqdm.auto import tqdm

from longbert import load_classifier
from longbert.checkpoints import is_checkpoint
from longbert.classifier import LongBertClassifier
from longbert.cli_common import check_output
from longbert.compression.registry import overwrite_notice
from longbert.devices import precision_dtype
from longbert.encoder_source import load_tokenizer
from longbert.runs import (
    LastState,
    OldContents,
    ProgressFn,
    RunReporter,
    RunState,
    StopSignal,
    last_folder,
    load_last,
    metrics_json,
)
from longbert.runs import state as run_state
from longbert.strategies import get_strategy
from longbert.training import outputs
from longbert.training.config import TrainConfig, TrainConfigError
from longbert.training.datasets import DataSource, DataSplits, prepare_data, targets
from longbert.training.distributed import DistContext, job_context, use_threads
from longbert.training.epochs import EpochLoop, TrainingParts, TrainResult
from longbert.training.few_shot_run import read_descriptions, resolve_mode, run_few_shot
from longbert.training.losses import class_weights, make_loss
from longbert.training.optim import linear_schedule, make_optimizer
from longbert.training.prepared import PreparedSet, plan_epoch, prepare_set
from longbert.training.resume import (
    absolute_paths,
    check_same_data,
    data_fingerprint,
    default_given,
    resumed_config,
)

StopFn = Callable[[], bool]


def train(
    config: TrainConfig,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    *,
    train_data: DataSource | None = None,
    dev_data: DataSource | None = None,
    test_data: DataSource | None = None,
    given: Collection[str] | None = None,
) -> TrainResult:
    """Fine-tune a classifier as ``config`` says; see the module docstring.

    Args:
        progress: called (on rank 0) with event dicts: ``{"event": "start"|"step"|"progress"|
            "checkpoint"|"epoch"|"end", ...}`` -- one ``step`` or ``progress`` per optimiser
            step, both with ``epoch``, ``step``, ``total_steps``; ``step`` (every ``log_every``
            steps and at each epoch's end) adds ``loss`` and ``lr``; ``checkpoint`` says the
            resumable state was saved inside an epoch; epochs carry ``train_loss``, ``dev`` (a
            metrics report), ``train_seconds``, ``best``.
        should_stop: polled at every optimiser step; True stops cleanly (state saved).
        train_data, dev_data, test_data: in-memory data (a LabeledDataset or rows with the
            configured text/label keys) instead of the config's paths.
        given: with ``config.resume``, the options set on purpose (the CLI passes those of its
            command line and ``--config`` file); the others come from the interrupted run, and
            given ones that differ from it are refused unless they may change on resume
            (:data:`~longbert.training.config.CHANGEABLE_ON_RESUME`). Default: the options
            whose values differ from TrainConfig's defaults.
    """
    config.validate()
    chosen = frozenset(given) if given is not None else default_given(config)
    with job_context(config.device) as ctx:
        trainer = _Trainer(config, ctx, progress, should_stop, chosen)
        return trainer.run(train_data, dev_data, test_data)


def check_start(config: TrainConfig) -> None:
    """What a new run can check before it reads its data: the encoder (its tokenizer loads), the
    strategy and its parameters, and ``--label-descriptions`` where the run may train few-shot.
    Each is used again later; checked first so a typo fails in seconds, not after the data."""
    get_strategy(config.strategy_spec())
    load_tokenizer(config.encoder)
    if config.mode != "fine-tune":
        read_descriptions(config.label_descriptions, [])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Trainer:
    def __init__(
        self,
        config: TrainConfig,
        ctx: DistContext,
        progress: ProgressFn | None,
        should_stop: StopFn | None,
        given: frozenset[str],
    ) -> None:
        self.config, self.ctx, self.given = config, ctx, given
        self.should_stop = should_stop
        self.folder: Path = config.output_path  # made absolute once checked (run)
        # Quiet and record are options a resume may take from the saved run: set again then.
        self.reporter = RunReporter(
            config.name, progress=progress, quiet=config.quiet, record=config.record, main=ctx.is_main
        )

    # -- setup ------------------------------------------------------------------------------

    def _resume_state(self, folder: Path) -> LastState | None:
        config = self.config
        if config.resume:
            last = load_last(folder)
            saved = TrainConfig.from_dict(last.state.config, source=f"{folder}/.last")
            self.config = resumed_config(saved, config, self.given, folder)
            self.reporter.quiet, self.reporter.record = self.config.quiet, self.config.record
            changed = [
                f"--{k.replace('_', '-')} {getattr(saved, k)!r} -> {getattr(self.config, k)!r}"
                for k in sorted(self.given)
                if k != "resume" and getattr(saved, k) != getattr(self.config, k)
            ]
            state = last.state
            self.reporter.say(
                f"Resuming '{self.config.name}' after {state.epoch} epoch(s) and {state.batches_done} "
                "group(s) of the next, with the interrupted run's options"
                + (f" (changed: {', '.join(changed)})." if changed else ".")
            )
            return last
        exists = is_checkpoint(folder) or last_folder(folder) is not None
        if not exists:  # someone's own folder (or the models folder) is never written into
            outputs.refuse_foreign_folder(folder, overwrite=config.overwrite)
        if exists and not config.overwrite:
            raise TrainConfigError(
                f"'{folder}' already holds a model or an interrupted run. Pass --resume to continue "
                "it, --overwrite to replace it, or choose another --name."
            )
        if exists and (notice := overwrite_notice(folder)) is not None:
            warnings.warn(notice, UserWarning, stacklevel=2)  # shown even with --quiet
        return None

    def _classifier(self, labels: list[str], last: LastState | None) -> LongBertClassifier:
        config = self.config
        if last is not None:
            classifier = load_classifier(last.model_folder, device=self.ctx.device, precision="fp32")
            if classifier.labels != labels:
                raise TrainConfigError(
                    f"The interrupted run's model has labels {classifier.labels}, the data now has "
                    f"{labels}: the data changed since; start a new run."
                )
            return classifier
        return LongBertClassifier.from_encoder(
            config.encoder,
            labels=labels,
            strategy=config.strategy_spec(),
            pooling=config.pooling,
            attention_window=config.attention_window or None,
            multi_label=config.multi_label,
            dropout=config.dropout,
            name=config.name,
            device=self.ctx.device,
        )

    def _prepare_sets(self, classifier: LongBertClassifier, splits: DataSplits) -> dict[str, PreparedSet]:
        sets = {"train": splits.train, "dev": splits.dev}
        if splits.test is not None:
            sets["test"] = splits.test
        total = sum(len(s) for s in sets.values())
        bar = tqdm(
            total=total,
            desc="preparing",
            unit="doc",
            disable=not self.ctx.is_main or self.config.quiet,
            leave=False,
        )
        out = {}
        with bar:
            for role, dataset in sets.items():
                out[role] = prepare_set(
                    dataset.documents(),
                    targets(dataset, splits.labels),
                    classifier.tokenizer,
                    classifier.strategy,
                    bar.update,
                )
        return out

    # -- the run ----------------------------------------------------------------------------

    def run(
        self, train_data: DataSource | None, dev_data: DataSource | None, test_data: DataSource | None
    ) -> TrainResult:
        started = perf_counter()
        # Checked before the data and the model: the folder is first written after an epoch.
        self.folder = folder = check_output(self.config.output_path, "--output-dir", folder=True)
        last = self._resume_state(folder)
        # Saved with the run, its record and its model: absolute, so they name the same files
        # from the app's working folder or a later resume's.
        self.config = config = absolute_paths(self.config, folder)
        reporter = self.reporter
        if last is None:  # a resumed run's options and start were checked when it began
            check_start(config)
        use_threads(config.threads)
        seed_everything(config.seed)
        splits = prepare_data(config, train_data, dev_data, test_data)
        fingerprint = data_fingerprint(splits.train, splits.dev)
        if last is not None and (note := check_same_data(last.state.data, fingerprint, folder)):
            splits.notes.append(note)
        for note in splits.notes:
            reporter.say(note)
        # An --overwrite run's old model (or an interrupted run's, until it saves a model) stays
        # until this run saves its own: a typo, a crash or Ctrl-C before then costs nothing.
        first_model = last is None or last.state.best_epoch is None
        old = OldContents(folder, state=last is None, files=(outputs.METRICS_FILE,) if first_model else ())
        resumed = ("fine-tune", "resuming fine-tuning")
        mode, why = resumed if last is not None else resolve_mode(config, splits)
        # The record and checkpoint name the mode used: auto is resolved before either is written.
        self.config = config = dataclasses.replace(config, mode=mode)
        reporter.say(f"'{config.name}': {why}.")
        if mode == "few-shot":
            result = run_few_shot(config, splits, self.ctx, reporter, self.should_stop, old, folder)
            return self._ended(result, started, splits)
        classifier = self._classifier(splits.labels, last)
        device = self.ctx.device
        dtype = precision_dtype(device, config.precision, training=True)
        mode = classifier.strategy.mode
        if uses_gradient_checkpointing(config, mode):
            classifier.encoder.gradient_checkpointing_enable()
        classifier.to(device).train()
        data = self._prepare_sets(classifier, splits)
        train_targets = data["train"].targets
        weights = class_weights(config.class_weights, splits.labels, train_targets, config.multi_label)
        loss_fn = make_loss(
            config.loss,
            multi_label=config.multi_label,
            label_smoothing=config.label_smoothing,
            focal_gamma=config.focal_gamma,
            weights=weights,
        )
        model = self.ctx.wrap(classifier)
        optimizer = make_optimizer(
            classifier,
            config.learning_rate,
            config.weight_decay,
            head_learning_rate=config.head_learning_rate,
        )
        lengths = data["train"].lengths()
        groups_per_epoch = len(
            plan_epoch(lengths, config.batch_size, config.seed, 0, self.ctx.rank, self.ctx.world_size)
        )
        steps_per_epoch = math.ceil(groups_per_epoch / config.gradient_accumulation)
        total_steps = steps_per_epoch * config.epochs
        scheduler = linear_schedule(optimizer, round(config.warmup_ratio * total_steps), total_steps)
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
        state = RunState(config=config.to_dict(), data=fingerprint)
        if last is not None:
            optimizer.load_state_dict(last.optimizer)
            scheduler.load_state_dict(last.scheduler)
            if last.scaler:
                scaler.load_state_dict(last.scaler)
            run_state.set_rng_state(last.rng_tensors, last.rng_plain)
            state = last.state
            state.config = config.to_dict()
            state.data = state.data or fingerprint  # an older state: checked from now on
        reporter.open(state, folder if state.best_epoch else None)
        reporter.emit(
            "start",
            epochs=config.epochs,
            start_epoch=state.epoch,
            steps_per_epoch=steps_per_epoch,
            total_steps=total_steps,
            train_docs=len(data["train"]),
            dev_docs=len(data["dev"]),
            labels=splits.labels,
            strategy=classifier.strategy.config(),
            device=str(device),
            world_size=self.ctx.world_size,
            run_id=state.run_id,
        )
        reporter.say(
            f"Training '{config.name}' on {device} x{self.ctx.world_size}: "
            f"{len(data['train'])} train / {len(data['dev'])} dev documents, strategy "
            f"{classifier.strategy.config()}, {config.epochs} epochs of {steps_per_epoch} steps."
        )
        parts = TrainingParts(
            config=config,
            ctx=self.ctx,
            classifier=classifier,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            loss_fn=loss_fn,
            dtype=dtype,
            data=data,
            splits=splits,
            total_steps=total_steps,
            folder=folder,
            old_contents=old,
        )
        loop = EpochLoop(parts, state, reporter)
        with reporter.finishing(), StopSignal(self.should_stop, reporter.say) as stop:
            result = loop.epochs(stop)
        reporter.finish(result.status)
        return self._ended(result, started, splits)

    def _ended(self, result: TrainResult, started: float, splits: DataSplits) -> TrainResult:
        result.seconds = perf_counter() - started
        result.notes = splits.notes
        folder = self.folder
        self.reporter.emit(
            "end",
            status=result.status,
            best_epoch=result.best_epoch,
            best_metrics=metrics_json(result.best_metrics),
            test=metrics_json(result.test_metrics),
            output_dir=str(folder),
            seconds=result.seconds,
        )
        return result


__all__ = ["TrainResult", "seed_everything", "train"]


#: Chunk training with more windows per document than this turns ``auto`` checkpointing on.
CHECKPOINT_ABOVE_WINDOWS = 8


def uses_gradient_checkpointing(config: TrainConfig, mode: str) -> bool:
    """``--gradient-checkpointing``: ``on``/``off`` as given; ``auto`` is on for the sparse
    strategy (long mode) and for chunk when a training step may hold more than
    :data:`CHECKPOINT_ABOVE_WINDOWS` windows per document (``max_train_windows`` 0 = all, or
    above it). A document's windows are pooled together, so all of a batch's windows keep their
    activations until backward: with every window of 8 hyperpartisan articles (up to 27 windows
    each) that passed 23 GB and was killed for memory; recomputing them keeps ~5 MB a window.
    """
    if config.gradient_checkpointing != "auto":
        return config.gradient_checkpointing == "on"
    if mode == "long":
        return True
    windows = config.max_train_windows
    return mode == "chunks" and (windows == 0 or windows > CHECKPOINT_ABOVE_WINDOWS)
