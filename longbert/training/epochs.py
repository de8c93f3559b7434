"""The epoch loop of a run: train an epoch, score dev, keep the best, save state, record.

Built by :func:`longbert.training.loop.train` once the data, model, optimiser and schedule are
ready; see that module for the overall flow.
"""

from __future__ import annotations

import contextlib
from collections import deque
from pathlib import Path
from time import perf_counter
from typing import Any

import torch
from tqdm.auto import tqdm

from longbert.classifier import LongBertClassifier
from longbert.training import state as ckpt
from longbert.training.batches import EncodedSet, batch_items, plan_epoch
from longbert.training.datasets import DataSplits
from longbert.training.metrics import format_report
from longbert.training.runtime import StopSignal, TrainResult, summary
from longbert.training.scoring import evaluate_set


class EpochLoop:
    """One run's moving parts, and the epoch loop over them."""

    def __init__(
        self,
        trainer: Any,  # loop._Trainer: emit(), say(), store
        classifier: LongBertClassifier,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        scaler: torch.amp.GradScaler,
        loss_fn: Any,
        dtype: torch.dtype | None,
        data: dict[str, EncodedSet],
        state: ckpt.TrainerState,
        folder: Path,
        splits: DataSplits,
        total_steps: int,
    ) -> None:
        self.t, self.config, self.ctx = trainer, trainer.config, trainer.ctx
        self.classifier, self.model, self.optimizer = classifier, model, optimizer
        self.scheduler, self.scaler, self.loss_fn, self.dtype = scheduler, scaler, loss_fn, dtype
        self.data, self.state, self.folder, self.splits = data, state, folder, splits
        self.total_steps = total_steps
        self.best_report: dict[str, Any] | None = None
        if state.best_epoch is not None:
            self.best_report = next((h["dev"] for h in state.history if h["epoch"] == state.best_epoch), None)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.ctx.device.type, dtype=self.dtype)

    def save_last(self) -> None:
        if self.ctx.is_main:
            ckpt.save_last(
                self.folder, self.classifier, self.optimizer, self.scheduler, self.scaler, self.state
            )
        self.ctx.barrier()

    def epochs(self, stop: StopSignal) -> TrainResult:
        config, state = self.config, self.state
        stopped_early = False
        for epoch in range(state.epoch, config.epochs):
            if not self.train_epoch(epoch, stop):
                self.save_last()
                if self.t.store is not None:
                    self.t.store.finish_training_run(
                        state.run_id,
                        "interrupted",
                        summary(self.best_report),
                        str(self.folder) if state.best_epoch else None,
                    )
                self.t.say(f"Interrupted: state saved in {self.folder / ckpt.LAST}; continue with --resume.")
                return self.result("interrupted")
            if self.end_epoch(epoch):
                stopped_early = epoch + 1 < config.epochs
                if stopped_early:
                    self.t.say(
                        f"Early stopping: no better dev {config.early_stopping_metric} for "
                        f"{config.patience} epochs."
                    )
                    break
        test_report = self.test()
        if self.ctx.is_main:
            self.write_metrics(test_report, "done")
            ckpt.remove_last(self.folder)
            if self.t.store is not None:
                self.t.store.finish_training_run(
                    state.run_id, "done", summary(self.best_report), str(self.folder)
                )
        self.ctx.barrier()
        result = self.result("done", test_report)
        result.stopped_early = stopped_early
        return result

    def result(self, status: str, test: dict[str, Any] | None = None) -> TrainResult:
        s = self.state
        return TrainResult(
            status, self.folder, s.best_epoch, self.best_report, s.history, test, run_id=s.run_id
        )

    # -- one epoch --------------------------------------------------------------------------

    def train_epoch(self, epoch: int, stop: StopSignal) -> bool:
        """Train ``epoch`` from batch ``state.batches_done``; False if stopped before its end.

        Every optimiser step emits one event: ``step`` (with ``loss`` and the ``lr`` the step
        used) every ``log_every`` steps and at the epoch's last step, else ``progress`` (the
        counters only, for progress bars). A mid-epoch save of the resumable state (every
        ``save_every_minutes``) emits ``checkpoint``. The epoch's statistics cover every batch
        of it, also those trained before a resume (their sums are in the saved state); time
        spent saving is left out.
        """
        config, state, ctx = self.config, self.state, self.ctx
        batches = plan_epoch(
            self.data["train"].lengths(), config.batch_size, config.seed, epoch, ctx.rank, ctx.world_size
        )
        accum = config.gradient_accumulation
        interval = 60.0 * config.save_every_minutes
        started = last_save = perf_counter()
        saving = 0.0
        recent: deque[float] = deque(maxlen=20)
        bar = tqdm(
            total=len(batches),
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
        lr = self.scheduler.get_last_lr()[0]
        self.model.train()
        if ctx.any(stop()):
            return False
        with bar:
            for i in range(state.batches_done, len(batches)):
                group_start = i - i % accum
                group_size = min(accum, len(batches) - group_start)
                step_now = i + 1 == group_start + group_size
                items, target = batch_items(
                    self.data["train"], batches[i], config.seed, epoch, config.max_train_windows
                )
                batch = self.classifier.collate(items).to(ctx.device)
                sync = contextlib.nullcontext() if step_now or not ctx.enabled else self.model.no_sync()
                with sync:
                    with self.autocast():
                        logits = self.model(batch).logits
                    loss = self.loss_fn(logits, target.to(ctx.device)) / group_size
                    self.scaler.scale(loss).backward()
                value = float(loss.detach()) * group_size
                recent.append(value)
                loss_sum, count, docs = loss_sum + value, count + 1, docs + len(items)
                bar.update(1)
                if not step_now:
                    continue
                lr = self.scheduler.get_last_lr()[0]  # the rate this step uses
                self.optimizer_step()
                state.batches_done = i + 1
                shown = sum(recent) / len(recent)
                bar.set_postfix(loss=f"{shown:.4f}", lr=f"{lr:.2e}")
                counters = {"epoch": epoch + 1, "step": state.global_step, "total_steps": self.total_steps}
                last = i + 1 == len(batches)
                if last or state.global_step % config.log_every == 0:
                    self.t.emit({"event": "step", **counters, "loss": shown, "lr": lr})
                else:
                    self.t.emit({"event": "progress", **counters})
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
                    self.t.emit({"event": "checkpoint", **counters, "batches_done": state.batches_done})
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

    def optimizer_step(self) -> None:
        if self.config.max_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.classifier.parameters(), self.config.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.global_step += 1

    def end_epoch(self, epoch: int) -> bool:
        """Score dev, keep the best, save state, record; True when early stopping says stop."""
        config, state = self.config, self.state
        report = evaluate_set(
            self.classifier,
            self.data["dev"],
            batch_size=config.eval_batch_size,
            ctx=self.ctx,
            loss_fn=self.loss_fn,
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
        self.t.say(
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
            if self.t.store is not None:
                self.t.store.log_epoch(state.run_id, epoch + 1, summary(record))
        self.save_last()
        self.t.emit({"event": "epoch", **record})
        return config.patience > 0 and state.bad_epochs >= config.patience

    def save_best(self) -> None:
        config, state = self.config, self.state
        ckpt.save_best(
            self.folder,
            self.classifier,
            metrics=summary(self.best_report),
            training={
                "config": config.to_dict(),
                "best_epoch": state.best_epoch,
                "train_docs": len(self.data["train"]),
                "dev_docs": len(self.data["dev"]),
            },
        )
        if self.t.store is not None:
            c = self.classifier
            self.t.store.register_model(
                config.name,
                folder=str(self.folder),
                encoder=c.encoder_source,
                labels=c.labels,
                strategy=c.strategy.config(),
                metrics=summary(self.best_report),
                multi_label=c.multi_label,
            )

    def write_metrics(self, test: dict[str, Any] | None, status: str) -> None:
        state = self.state
        ckpt.write_metrics(
            self.folder,
            {
                "name": self.config.name,
                "status": status,
                "labels": self.splits.labels,
                "strategy": self.classifier.strategy.config(),
                "best_epoch": state.best_epoch,
                "best": self.best_report,
                "history": state.history,
                "test": test,
                "train_seconds": state.train_seconds,
                "notes": self.splits.notes,
            },
        )

    def test(self) -> dict[str, Any] | None:
        """Score the test set with the *best* checkpoint (rank 0), if there is a test set."""
        if "test" not in self.data or not self.ctx.is_main or self.state.best_epoch is None:
            return None
        best = LongBertClassifier.from_pretrained(self.folder, device=self.ctx.device)
        report = evaluate_set(
            best, self.data["test"], batch_size=self.config.eval_batch_size, loss_fn=self.loss_fn
        )
        self.t.say(format_report(report, title=f"test (best checkpoint, epoch {self.state.best_epoch}):"))
        return report
