"""The training loop: ``train(config)`` for the CLI, the web app and the benchmark.

One epoch: bucketed batches (:mod:`~longbert.training.batches`) -> forward under autocast ->
loss / accumulation -> (unscale, clip, AdamW step, scheduler step) every ``gradient_accumulation``
batches. After each epoch the dev set is scored, metrics are printed, written to
``metrics.json``, sent to ``progress`` and recorded in the database; a better dev metric saves
the best checkpoint; every epoch saves ``.last/`` for ``--resume``, and so does every
``save_every_minutes`` inside an epoch (so a killed run loses at most that much). Stopping
(Ctrl-C, SIGTERM, ``should_stop()``) happens at an optimiser-step boundary: the state is saved
and a resumed run continues with the next batch of the same epoch. A resumed run takes its
options from the interrupted one (see :mod:`~longbert.training.resume`) and continues its
database record.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from longbert.classifier import LongBertClassifier
from longbert.training import state as ckpt
from longbert.training.batches import EncodedSet, encode_set, plan_epoch
from longbert.training.config import TrainConfig, TrainConfigError
from longbert.training.datasets import DataSource, DataSplits, prepare_data, targets
from longbert.training.distributed import DistContext, setup
from longbert.training.epochs import EpochLoop
from longbert.training.losses import class_weights, make_loss
from longbert.training.optim import linear_schedule, make_optimizer
from longbert.training.resume import default_given, resumed_config
from longbert.training.runtime import StopSignal, TrainResult, precision_dtype, summary

ProgressFn = Callable[[dict[str, Any]], None]
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
    ctx = setup(config.device)
    threads = torch.get_num_threads()
    chosen = frozenset(given) if given is not None else default_given(config)
    try:
        trainer = _Trainer(config, ctx, progress, should_stop, chosen)
        return trainer.run(train_data, dev_data, test_data)
    finally:
        torch.set_num_threads(threads)  # --threads is this run's, not the process's
        ctx.close()


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
        self.progress, self.should_stop = progress, should_stop
        self.main = ctx.is_main
        self.store: Any = None

    # -- reporting --------------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        if self.main and self.progress is not None:
            self.progress(event)

    def say(self, message: str) -> None:
        if self.main and not self.config.quiet:
            tqdm.write(message)

    # -- setup ------------------------------------------------------------------------------

    def _resume_state(self, folder: Path) -> ckpt.LastState | None:
        config = self.config
        if config.resume:
            last = ckpt.load_last(folder)
            saved = TrainConfig.from_dict(last.state.config, source=f"{folder}/.last")
            self.config = resumed_config(saved, config, self.given, folder)
            changed = [
                f"--{k.replace('_', '-')} {getattr(saved, k)!r} -> {getattr(self.config, k)!r}"
                for k in sorted(self.given)
                if k != "resume" and getattr(saved, k) != getattr(self.config, k)
            ]
            state = last.state
            self.say(
                f"Resuming '{self.config.name}' after {state.epoch} epoch(s) and {state.batches_done} "
                "batch(es) of the next, with the interrupted run's options"
                + (f" (changed: {', '.join(changed)})." if changed else ".")
            )
            return last
        exists = (folder / ckpt.MANIFEST).exists() or ckpt.last_folder(folder) is not None
        if exists and not config.overwrite:
            raise TrainConfigError(
                f"'{folder}' already holds a model or an interrupted run. Pass --resume to continue "
                "it, --overwrite to replace it, or choose another --name."
            )
        return None

    def _classifier(self, labels: list[str], last: ckpt.LastState | None) -> LongBertClassifier:
        config = self.config
        if last is not None:
            classifier = LongBertClassifier.from_pretrained(last.model_folder, device=self.ctx.device)
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
            multi_label=config.multi_label,
            dropout=config.dropout,
            name=config.name,
            device=self.ctx.device,
        )

    def _encode(self, classifier: LongBertClassifier, splits: DataSplits) -> dict[str, EncodedSet]:
        sets = {"train": splits.train, "dev": splits.dev}
        if splits.test is not None:
            sets["test"] = splits.test
        total = sum(len(s) for s in sets.values())
        bar = tqdm(
            total=total, desc="preparing", unit="doc", disable=not self.main or self.config.quiet, leave=False
        )
        out = {}
        with bar:
            for role, dataset in sets.items():
                out[role] = encode_set(
                    dataset.documents(),
                    targets(dataset, splits.labels),
                    classifier.tokenizer,
                    classifier.strategy,
                    bar.update,
                )
        return out

    def _record_start(self, state: ckpt.TrainerState, folder: Path) -> None:
        """Open the database record of the run, or mark a resumed run's record running again
        (a killed run's record still says ``running``; a stopped one ``interrupted``)."""
        from longbert.store import RecordNotFoundError, get_store

        config = self.config
        self.store = get_store()
        if state.run_id is not None:
            best = next((h["dev"] for h in state.history if h["epoch"] == state.best_epoch), None)
            try:
                before = self.store.get_training_run(state.run_id).status
                self.store.finish_training_run(
                    state.run_id, "running", summary(best), str(folder) if state.best_epoch else None
                )
                if before == "running":
                    self.say(f"Run #{state.run_id} was still marked running: its process was killed.")
                return
            except RecordNotFoundError:
                self.say(f"Run #{state.run_id} is not in this database: recording a new run.")
        state.run_id = self.store.start_training_run(config.name, config.to_dict())

    # -- the run ----------------------------------------------------------------------------

    def run(
        self, train_data: DataSource | None, dev_data: DataSource | None, test_data: DataSource | None
    ) -> TrainResult:
        started = perf_counter()
        folder = self.config.output_path
        last = self._resume_state(folder)
        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        splits = prepare_data(config, train_data, dev_data, test_data)
        for note in splits.notes:
            self.say(note)
        if config.overwrite and self.main and last is None:
            # Only now, with the data checked: a typo in --train must not cost the old model.
            ckpt.clear(folder)
        classifier = self._classifier(splits.labels, last)
        device = self.ctx.device
        dtype = precision_dtype(config.precision, device)
        mode = classifier.strategy.mode
        checkpointing = config.gradient_checkpointing
        if checkpointing == "on" or (checkpointing == "auto" and mode == "long"):
            classifier.encoder.gradient_checkpointing_enable()
        classifier.to(device).train()
        data = self._encode(classifier, splits)
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
        optimizer = make_optimizer(classifier, config.learning_rate, config.weight_decay)
        lengths = data["train"].lengths()
        batches_per_epoch = len(
            plan_epoch(lengths, config.batch_size, config.seed, 0, self.ctx.rank, self.ctx.world_size)
        )
        steps_per_epoch = math.ceil(batches_per_epoch / config.gradient_accumulation)
        total_steps = steps_per_epoch * config.epochs
        scheduler = linear_schedule(optimizer, round(config.warmup_ratio * total_steps), total_steps)
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
        state = ckpt.TrainerState(config=config.to_dict())
        if last is not None:
            optimizer.load_state_dict(last.optimizer)
            scheduler.load_state_dict(last.scheduler)
            if last.scaler:
                scaler.load_state_dict(last.scaler)
            ckpt.set_rng_state(last.rng_tensors, last.rng_plain)
            state = last.state
            state.config = config.to_dict()
        if self.main and config.record:
            self._record_start(state, folder)
        self.emit(
            {
                "event": "start",
                "epochs": config.epochs,
                "start_epoch": state.epoch,
                "steps_per_epoch": steps_per_epoch,
                "total_steps": total_steps,
                "train_docs": len(data["train"]),
                "dev_docs": len(data["dev"]),
                "labels": splits.labels,
                "strategy": classifier.strategy.config(),
                "device": str(device),
                "world_size": self.ctx.world_size,
                "run_id": state.run_id,
            }
        )
        self.say(
            f"Training '{config.name}' on {device} x{self.ctx.world_size}: "
            f"{len(data['train'])} train / {len(data['dev'])} dev documents, strategy "
            f"{classifier.strategy.config()}, {config.epochs} epochs of {steps_per_epoch} steps."
        )
        run = EpochLoop(
            self,
            classifier,
            model,
            optimizer,
            scheduler,
            scaler,
            loss_fn,
            dtype,
            data,
            state,
            folder,
            splits,
            total_steps,
        )
        try:
            with StopSignal(self.should_stop, self.say) as stop:
                result = run.epochs(stop)
        except BaseException as error:
            if self.store is not None and state.run_id is not None:
                status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
                self.store.finish_training_run(
                    state.run_id, status, summary(run.best_report), str(folder) if state.best_epoch else None
                )
            raise
        result.seconds = perf_counter() - started
        result.notes = splits.notes
        self.emit(
            {
                "event": "end",
                "status": result.status,
                "best_epoch": result.best_epoch,
                "best_metrics": summary(result.best_metrics),
                "test": summary(result.test_metrics),
                "output_dir": str(folder),
                "seconds": result.seconds,
            }
        )
        return result


__all__ = ["TrainResult", "seed_everything", "train"]
