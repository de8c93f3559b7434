"""The epoch loop of a run: train an epoch, score dev, keep the best, save state, report.

Built by :func:`longbert.training.loop.train` once the data, model, optimiser and schedule are
ready (:class:`TrainingParts`); it advances the run's :class:`~longbert.runs.RunState` and tells
the run's :class:`~longbert.runs.RunReporter` what happened. It returns how the run ended; the
caller finishes the run's record.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import torch
from tqdm.auto import tqdm

from longbert import load_classifier
from longbert.classifier import LongBertClassifier
from longbert.devices import autocast
from longbert.runs import (
    LAST,
    OldContents,
    RunReporter,
    RunState,
    StopSignal,
    metrics_json,
    remove_last,
    save_last,
)
from longbert.training import outputs
from longbert.training.config import TrainConfig
from longbert.training.datasets import DataSplits
from longbert.training.distributed import DistContext
from longbert.training.losses import LossFn, check_finite_loss
from longbert.training.metrics import format_report
from longbert.training.prepared import PreparedSet, group_items, plan_epoch
from longbert.training.scoring import evaluate_set


@dataclass
class TrainResult:
    """How a run ended. ``status``: ``done`` (all epochs, or stopped early on the dev metric) or
    ``interrupted`` (stopped by a signal or ``should_stop``; resume with ``resume=True``)."""

    status: str
    output_dir: Path
    best_epoch: int | None
    best_metrics: dict[str, Any] | None
    history: list[dict[str, Any]]
    test_metrics: dict[str, Any] | None = None
    stopped_early: bool = False
    run_id: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class TrainingParts:
    """Everything one run trains with, built once by :func:`~longbert.training.loop.train`.

    ``model`` is the classifier, or the DistributedDataParallel wrapper around it; ``dtype``
    the mixed-precision dtype (None: float32); ``data`` the prepared ``train``/``dev``/``test``
    sets; ``folder`` the checkpoint folder; ``old_contents`` what an earlier model or run left
    there, removed as this run saves its own.
    """

    config: TrainConfig
    ctx: DistContext
    classifier: LongBertClassifier
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loss_fn: LossFn
    dtype: torch.dtype | None
    data: dict[str, PreparedSet]
    splits: DataSplits
    total_steps: int
    folder: Path
    old_contents: OldContents


class EpochLoop:
    """The epoch loop over one run's parts, advancing its state and reporting through its reporter."""

    def __init__(self, parts: TrainingParts, state: RunState, reporter: RunReporter) -> None:
        self.parts, self.state, self.reporter = parts, state, reporter
        self.config, self.ctx, self.folder = parts.config, parts.ctx, parts.folder
        self.classifier, self.data = parts.classifier, parts.data
        self.best_report: dict[str, Any] | None = None
        if state.best_epoch is not None:
            self.best_report = next((h["dev"] for h in state.history if h["epoch"] == state.best_epoch), None)

    def save_last(self) -> None:
        if self.ctx.is_main:
            p = self.parts
            p.old_contents.before_state()
            save_last(self.folder, self.classifier, p.optimizer, p.scheduler, p.scaler, self.state)
        self.ctx.barrier()

    def epochs(self, stop: StopSignal) -> TrainResult:
        config, state = self.config, self.state
        stopped_early = False
        for epoch in range(state.epoch, config.epochs):
            if not self.train_epoch(epoch, stop):
                self.save_last()
                self.reporter.say(
                    f"Interrupted: state saved in {self.folder / LAST}; continue with --resume."
                )
                return self.result("interrupted")
            if self.end_epoch(epoch):
                stopped_early = epoch + 1 < config.epochs
                if stopped_early:
                    self.reporter.say(
                        f"Early stopping: no better dev {config.early_stopping_metric} for "
                        f"{config.patience} epochs."
                    )
                    break
        test_report = self.test()
        if self.ctx.is_main:
            self.write_metrics(test_report, "done")
            remove_last(self.folder)
        self.ctx.barrier()
        result = self.result("done", test_report)
        result.stopped_early = stopped_early
        return result

    def result(self, status: str, test: dict[str, Any] | None = None) -> TrainResult:
        state = self.state
        return TrainResult(
            status, self.folder, state.best_epoch, self.best_report, state.history, test, run_id=state.run_id
        )

    # -- one epoch --------------------------------------------------------------------------

    def train_epoch(self, epoch: int, stop: StopSignal) -> bool:
        """Train ``epoch`` from group ``state.batches_done``; False if stopped before its end.

        Every optimiser step emits one event: ``step`` (with ``loss`` and the ``lr`` the step
        used) every ``log_every`` steps and at the epoch's last step, else ``progress`` (the
        counters only, for progress bars). A mid-epoch save of the resumable state (every
        ``save_every_minutes``) emits ``checkpoint``. The epoch's statistics cover every group
        of it, also those trained before a resume (their sums are in the saved state); time
        spent saving is left out.
        """
        config, state, ctx, parts = self.config, self.state, self.ctx, self.parts
        groups = plan_epoch(
            self.data["train"].lengths(), config.batch_size, config.seed, epoch, ctx.rank, ctx.world_size
        )
        accum = config.gradient_accumulation
        interval = 60.0 * config.save_every_minutes
        started = last_save = perf_counter()
        saving = 0.0
        recent: deque[float] = deque(maxlen=20)
        bar = tqdm(
            total=len(groups),
            initial=state.batches_done,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            unit="batch",
            disable=not ctx.is_main or config.quiet,
            dynamic_ncols=True,
        )

        def keep_partial() -> None:
            state.partial_seconds += perf_counter() - started - saving
            state.partial_loss_sum, state.partial_batches, state.partial_docs = loss_sum, count, docs

        loss_sum, count, docs = state.partial_loss_sum, state.partial_batches, state.partial_docs
        finite = True  # every loss of the step in progress
        lr = parts.scheduler.get_last_lr()[0]
        parts.model.train()
        if ctx.any(stop()):
            return False
        with bar:
            for i in range(state.batches_done, len(groups)):
                step_start = i - i % accum
                step_size = min(accum, len(groups) - step_start)
                step_now = i + 1 == step_start + step_size
                items, target = group_items(
                    self.data["train"], groups[i], config.seed, epoch, config.max_train_windows
                )
                model_inputs = self.classifier.collate(items).to(ctx.device)
                sync = contextlib.nullcontext() if step_now or not ctx.enabled else parts.model.no_sync()
                with sync:
                    with autocast(ctx.device, parts.dtype):
                        logits = parts.model(model_inputs).logits
                    loss = parts.loss_fn(logits, target.to(ctx.device)) / step_size
                    parts.scaler.scale(loss).backward()
                value = float(loss.detach()) * step_size
                finite = finite and math.isfinite(value)
                recent.append(value)
                loss_sum, count, docs = loss_sum + value, count + 1, docs + len(items)
                bar.update(1)
                if not step_now:
                    continue
                if ctx.any(not finite):  # before the step: the weights stay as they were
                    bad = value if not math.isfinite(value) else float("nan")
                    check_finite_loss(bad, f"epoch {epoch + 1}, group {i + 1} of {len(groups)}", self.kept())
                lr = parts.scheduler.get_last_lr()[0]  # the rate this step uses
                self.optimizer_step()
                state.batches_done = i + 1
                shown = sum(recent) / len(recent)
                bar.set_postfix(loss=f"{shown:.4f}", lr=f"{lr:.2e}")
                counters = {"epoch": epoch + 1, "step": state.global_step, "total_steps": parts.total_steps}
                last = i + 1 == len(groups)
                if last or state.global_step % config.log_every == 0:
                    self.reporter.emit("step", **counters, loss=shown, lr=lr)
                else:
                    self.reporter.emit("progress", **counters)
                if last:
                    break
                if ctx.any(stop()):
                    keep_partial()
                    return False
                if interval > 0 and ctx.any(perf_counter() - last_save >= interval):
                    saved_at = perf_counter()
                    keep_partial()
                    started, saving = saved_at, 0.0
                    self.save_last()
                    last_save = perf_counter()
                    saving = last_save - saved_at
                    self.reporter.emit("checkpoint", **counters, batches_done=state.batches_done)
        seconds = state.partial_seconds + perf_counter() - started - saving
        state.train_seconds += seconds
        state.partial_loss_sum, state.partial_batches, state.partial_docs = 0.0, 0, 0
        state.partial_seconds = 0.0
        self.epoch_stats = {
            "train_loss": ctx.mean(loss_sum / count if count else 0.0),
            "train_seconds": seconds,
            "train_docs_per_second": ctx.world_size * docs / max(seconds, 1e-9),
            "lr": lr,
        }
        return True

    def kept(self) -> str:
        """What the run saved before now (said when it stops on a non-finite loss)."""
        state = self.state
        if state.best_epoch is None:
            return "This run saved no model."
        return (
            f"Its best model so far (epoch {state.best_epoch}) and the resumable state of epoch "
            f"{state.epoch}'s end stay in '{self.folder}'."
        )

    def optimizer_step(self) -> None:
        parts = self.parts
        if self.config.max_grad_norm > 0:
            parts.scaler.unscale_(parts.optimizer)
            torch.nn.utils.clip_grad_norm_(self.classifier.parameters(), self.config.max_grad_norm)
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        parts.scheduler.step()
        parts.optimizer.zero_grad(set_to_none=True)
        self.state.global_step += 1

    def end_epoch(self, epoch: int) -> bool:
        """Score dev, keep the best, save state, record; True when early stopping says stop."""
        config, state = self.config, self.state
        report = evaluate_set(
            self.classifier,
            self.data["dev"],
            batch_size=config.eval_batch_size,
            ctx=self.ctx,
            loss_fn=self.parts.loss_fn,
        )
        value = report[config.early_stopping_metric]
        sign = -1.0 if config.early_stopping_metric == "loss" else 1.0
        better = state.best_value is None or sign * value > sign * state.best_value
        record = {"epoch": epoch + 1, **self.epoch_stats, "dev": report, "best": better}
        state.history.append(record)
        state.epoch, state.batches_done = epoch + 1, 0
        if better:
            state.best_value, state.best_epoch, state.bad_epochs = value, epoch + 1, 0
            self.best_report = report
            if self.ctx.is_main:
                self.save_best()
        else:
            state.bad_epochs += 1
        self.reporter.say(
            format_report(
                report,
                title=(
                    f"epoch {epoch + 1}: train loss {record['train_loss']:.4f}, "
                    f"{record['train_seconds']:.1f} s "
                    f"({record['train_docs_per_second']:.2f} docs/s); dev{' (best)' if better else ''}:"
                ),
            )
        )
        if self.ctx.is_main:
            self.write_metrics(None, "running")
        self.reporter.log_epoch(epoch + 1, record)
        self.save_last()
        self.reporter.emit("epoch", **record)
        return config.patience > 0 and state.bad_epochs >= config.patience

    def save_best(self) -> None:
        config, state = self.config, self.state
        self.parts.old_contents.before_model()
        outputs.save_best(
            self.folder,
            self.classifier,
            metrics=metrics_json(self.best_report),
            training={
                "config": config.to_dict(),
                "best_epoch": state.best_epoch,
                "train_docs": len(self.data["train"]),
                "dev_docs": len(self.data["dev"]),
            },
        )
        classifier = self.classifier
        self.reporter.model_saved(
            self.folder,
            self.best_report,
            encoder=classifier.encoder_source,
            labels=classifier.labels,
            strategy=classifier.strategy.config(),
            multi_label=classifier.multi_label,
        )

    def write_metrics(self, test: dict[str, Any] | None, status: str) -> None:
        state = self.state
        outputs.write_metrics(
            self.folder,
            {
                "name": self.config.name,
                "status": status,
                "labels": self.parts.splits.labels,
                "strategy": self.classifier.strategy.config(),
                "best_epoch": state.best_epoch,
                "best": self.best_report,
                "history": state.history,
                "test": test,
                "train_seconds": state.train_seconds,
                "notes": self.parts.splits.notes,
            },
        )

    def test(self) -> dict[str, Any] | None:
        """Score the test set with the *best* checkpoint (rank 0), if there is a test set,
        loaded as ``evaluate`` and ``predict`` load it (weights cast for inference): the score
        recorded is the one ``evaluate`` gives on the same file."""
        if "test" not in self.data or not self.ctx.is_main or self.state.best_epoch is None:
            return None
        best = load_classifier(self.folder, device=self.ctx.device, precision="auto")
        report = evaluate_set(
            best, self.data["test"], batch_size=self.config.eval_batch_size, loss_fn=self.parts.loss_fn
        )
        title = f"test (best checkpoint, epoch {self.state.best_epoch}):"
        self.reporter.say(format_report(report, title=title))
        return report
