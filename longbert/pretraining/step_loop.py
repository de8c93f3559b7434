"""The training of a pre-training run: optimiser steps until the planned total, and held-out scoring.

Built by :func:`longbert.pretraining.loop.pretrain` once the run's parts are ready
(:func:`~longbert.pretraining.steps.build_parts`), as fine-tuning's epoch loop is built by
:func:`longbert.training.loop.train`. Before each optimiser step it checks for a stop and for the
time budget (:mod:`~longbert.pretraining.budget`), plans the epoch's micro-batches (an epoch that is
over reshuffles into the next), ends the MLM head's warm-up when it has had its steps or its share
of the budget, and freezes or unfreezes the encoder to match; then it runs the step over
``gradient_accumulation`` micro-batches, reports it, and saves the resumable state every
``save_every_minutes``. It advances the run's :class:`~longbert.pretraining.state.PretrainState`
and returns how the training ended; the caller saves the encoder (or the state) and closes the
run's record.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from longbert.devices import autocast
from longbert.pretraining.budget import RunClock
from longbert.pretraining.config import PretrainConfig
from longbert.pretraining.packing import make_batch, plan_epoch
from longbert.pretraining.recording import PretrainReporter
from longbert.pretraining.state import PretrainState, save_state
from longbert.pretraining.steps import RunParts, end_head_warmup, evaluate, optimizer_step
from longbert.runs.reporter import StopSignal
from longbert.runs.state import OldContents
from longbert.training.distributed import DistContext

#: Steps averaged for the loss shown and reported as the final MLM loss.
RECENT = 20


class StepLoop:
    """The optimiser steps and held-out scoring of one run, advancing ``state`` and reporting
    through ``reporter`` (rank 0 prints, sends progress events and records)."""

    def __init__(
        self,
        config: PretrainConfig,
        ctx: DistContext,
        parts: RunParts,
        state: PretrainState,
        reporter: PretrainReporter,
    ) -> None:
        self.config, self.ctx, self.parts, self.state = config, ctx, parts, state
        self.reporter = reporter

    def emit(self, event: dict[str, Any]) -> None:
        self.reporter.emit(**event)

    def say(self, message: str) -> None:
        self.reporter.say(message)

    def score(self, moment: str) -> None:
        """Score the held-out sequences once per ``moment`` (rank 0; kept in the state)."""
        config, parts, state = self.config, self.parts, self.state
        if self.ctx.is_main and moment not in state.heldout and parts.data.heldout:
            report = evaluate(
                parts.model,
                parts.data.heldout,
                parts.vocab,
                config.masking_spec(),
                seed=config.seed,
                batch_size=config.eval_batch_size or config.micro_batch,
                pad_id=parts.pad_id,
                device=self.ctx.device,
                dtype=parts.dtype,
                long=config.long,
                attention_window=config.attention_window or None,
                global_masked_share=config.global_masked_share,
            )
            assert report is not None
            state.heldout[moment] = report
            self.say(
                f"held-out MLM {moment.replace('_', ' ')}: loss {report['loss']:.3f}, perplexity "
                f"{report['perplexity']:,.1f}, accuracy {100 * report['accuracy']:.1f}%"
            )
            self.emit({"event": "eval", "moment": moment, **report})
        self.ctx.barrier()

    def train(self, stop: StopSignal, folder: Path, old: OldContents) -> tuple[str, bool]:
        """Optimiser steps until ``parts.total``; ``("done"|"interrupted", stopped by the time budget)``.
        ``old``: what an earlier run left in ``folder``, removed before the first state is saved."""
        config, ctx, parts, state = self.config, self.ctx, self.parts, self.state
        lengths = np.asarray([len(s) for s in parts.data.train])
        clock = RunClock(state, config.max_minutes, config.save_every_minutes)
        outcome = ("done", False)
        bar = tqdm(
            total=parts.total,
            initial=state.global_step,
            unit="step",
            dynamic_ncols=True,
            desc=f"pre-training {config.name}",
            disable=not ctx.is_main or config.quiet,
        )
        with bar:
            while state.global_step < parts.total:
                if ctx.any(stop()):
                    outcome = ("interrupted", False)
                    break
                if clock.budget and ctx.any(clock.over_budget()):
                    self.say(
                        f"Time budget of {config.max_minutes:g} minutes reached at step {state.global_step}."
                    )
                    outcome = ("done", True)
                    break
                batches = plan_epoch(
                    lengths,
                    config.micro_batch,
                    config.seed,
                    state.epoch,
                    ctx.rank,
                    ctx.world_size,
                    bucket=config.long,
                )
                if state.batches_done >= len(batches):  # the epoch is over: the next one reshuffles
                    state.epoch, state.batches_done = state.epoch + 1, 0
                    self.reporter.epoch(state)
                    continue
                head_phase = 0 < state.global_step < parts.head_steps
                if head_phase and clock.budget and ctx.any(clock.head_share_spent()):
                    self._end_head_warmup()
                frozen = state.global_step < parts.head_steps
                if state.global_step == parts.head_steps > 0:  # the head is warm, the encoder untouched
                    self.score("after_head_warmup")
                if parts.model.encoder_frozen != frozen:
                    parts.model.freeze_encoder(frozen)
                group = batches[state.batches_done : state.batches_done + config.gradient_accumulation]
                lr = max(parts.scheduler.get_last_lr())  # the head's in its warm-up, else the model's
                loss, tokens = self._step(group)
                state.batches_done += len(group)
                state.tokens_seen += tokens
                clock.session_tokens += tokens
                state.recent_losses = [*state.recent_losses, loss][-RECENT:]
                state.last_loss = sum(state.recent_losses) / len(state.recent_losses)
                rate = clock.tokens_per_second()
                phase = "head" if frozen else "model"
                bar.update(1)
                bar.set_postfix(loss=f"{state.last_loss:.3f}", tok_s=f"{rate:,.0f}", phase=phase)
                logged = state.global_step % config.log_every == 0 or state.global_step == parts.total
                self.emit(
                    {
                        "event": "step" if logged else "progress",
                        "step": state.global_step,
                        "total_steps": parts.total,
                        "loss": state.last_loss,
                        "lr": lr,
                        "tokens_per_second": rate,
                        "phase": phase,
                    }
                )
                if clock.interval and state.global_step < parts.total and ctx.any(clock.save_due()):
                    clock.start_save()
                    if ctx.is_main:
                        old.before_state()
                        save_state(folder, parts.model, parts.optimizer, parts.scheduler, parts.scaler, state)
                    ctx.barrier()
                    clock.end_save()
                    self.emit({"event": "checkpoint", "step": state.global_step})
        clock.close()
        return outcome

    def _end_head_warmup(self) -> None:
        """The head warm-up had its share of the time budget: the whole model trains from now."""
        parts, state = self.parts, self.state
        planned = parts.head_steps
        end_head_warmup(parts.optimizer, parts.scheduler, parts.plan, state.global_step)
        state.head_steps = state.global_step
        self.say(
            f"MLM head warm-up ended at step {state.global_step:,} of the planned {planned:,}: it had its "
            f"share of the --max-minutes budget; the whole model trains from here."
        )

    def _step(self, group: list[np.ndarray]) -> tuple[float, int]:
        """One optimiser step over ``group``'s micro-batches: (mean loss over ranks, tokens read)."""
        config, ctx, parts, state = self.config, self.ctx, self.parts, self.state
        spec = config.masking_spec()
        loss_value, tokens = 0.0, 0
        for j, indices in enumerate(group):
            batch = make_batch(
                parts.data.train,
                indices,
                parts.vocab,
                spec,
                config.seed,
                state.epoch,
                parts.pad_id,
                config.long,
                config.global_masked_share,
            ).to(ctx.device)
            last = j + 1 == len(group)
            sync = parts.wrapped.no_sync() if ctx.enabled and not last else contextlib.nullcontext()  # type: ignore[operator]
            with sync:
                with autocast(ctx.device, parts.dtype):
                    out = parts.wrapped(
                        batch, sparse=config.long, attention_window=config.attention_window or None
                    )
                parts.scaler.scale(out.loss / len(group)).backward()
            loss_value += float(out.loss.detach()) / len(group)
            tokens += batch.num_tokens
        optimizer_step(parts.model, parts.optimizer, parts.scheduler, parts.scaler, config.max_grad_norm)
        state.global_step += 1
        return ctx.mean(loss_value), tokens * ctx.world_size
