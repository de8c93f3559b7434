"""``pretrain(config)``: continue MLM pre-training of a BERT checkpoint on unlabelled documents.

Flow: read the corpus -> tokenise, hold out a seeded slice (:mod:`~longbert.pretraining.sequences`)
and pack (dense: full 512-token sequences; long: one document per sequence) -> build the encoder
and tied MLM head -> score the held-out slice -> head warm-up (encoder frozen; with a time budget
at most a share of it) -> whole-model training with dynamic masking -> score again -> save the
encoder folder and its manifest (``encoder_steps``: 0 if the encoder never trained), record the run.

Stopping (Ctrl-C, SIGTERM, ``should_stop``) happens at an optimiser step: the state is saved in
``<output>/.last/`` and ``resume=True`` continues exactly (the same masks, order, dropout and
optimiser state: a resumed run ends with the weights an uninterrupted one would have). The state
is also saved every ``save_every_minutes``, so ``kill -9`` loses at most that much.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from longbert.devices import autocast
from longbert.document import Document
from longbert.encoder_source import load_tokenizer
from longbert.pretraining.budget import RunClock
from longbert.pretraining.config import PretrainConfig, resumed_config
from longbert.pretraining.corpus import STORE_ORDER_FIRST_CLASSIFIED
from longbert.pretraining.output import check_output_folder, encoder_steps_of, run_manifest, save_encoder
from longbert.pretraining.packing import make_batch, plan_epoch
from longbert.pretraining.recording import PretrainReporter
from longbert.pretraining.state import LoadedState, PretrainState, check_same_corpus, load_state, save_state
from longbert.pretraining.steps import (
    RunParts,
    build_parts,
    end_head_warmup,
    evaluate,
    optimizer_step,
    read_run_corpus,
)
from longbert.runs.reporter import StopSignal
from longbert.runs.state import OldContents, remove_last
from longbert.training.distributed import DistContext, job_context, use_threads

ProgressFn = Callable[[dict[str, Any]], None]
#: Steps averaged for the loss shown and reported as the final MLM loss.
RECENT = 20


@dataclass
class PretrainResult:
    """How a run ended: ``done`` (encoder saved in ``output_dir``) or ``interrupted`` (state in
    ``output_dir/.last``; resume with ``resume=True``). ``heldout``: reports by moment
    (``before``, ``after_head_warmup``, ``after``), each with loss, perplexity and accuracy.
    ``encoder_steps``: steps that trained the encoder (after the head warm-up); 0 when a time
    budget ended a run before its encoder was ever unfrozen -- its weights are the source's, so
    the run must not count as an adaptation (``encoder_trained`` False, and a note says so)."""

    status: str
    output_dir: Path
    steps: int
    total_steps: int
    final_loss: float | None
    heldout: dict[str, Any]
    seconds: float
    tokens_seen: int
    run_id: int | None = None
    stopped_by_time: bool = False
    notes: list[str] = field(default_factory=list)
    encoder_steps: int | None = None  # None: not known (a result made elsewhere)

    @property
    def encoder_trained(self) -> bool:
        return self.encoder_steps is None or self.encoder_steps > 0


def pretrain(
    config: PretrainConfig,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    documents: Iterable[Document | str] | None = None,
    given: Collection[str] | None = None,
) -> PretrainResult:
    """Run pre-training as ``config`` says (see the module docstring).

    Args:
        progress: called on rank 0 with events ``{"event": "start"|"step"|"progress"|"eval"|
            "checkpoint"|"end", ...}``; one ``step`` (every ``log_every`` steps) or ``progress``
            per optimiser step, with ``step``, ``total_steps``, ``loss``, ``lr``,
            ``tokens_per_second`` and ``phase`` (``head`` or ``model``).
        should_stop: polled at every optimiser step; True stops cleanly (state saved).
        documents: in-memory documents added to the corpus.
        given: with ``config.resume``, the options set on purpose; the others come from the
            interrupted run (default: those differing from PretrainConfig's defaults).
    """
    config.validate()
    if given is None:
        defaults = PretrainConfig().to_dict()
        given = {k for k, v in config.to_dict().items() if defaults[k] != v}
    with job_context(config.device) as ctx:
        return _Run(config, ctx, progress, should_stop, frozenset(given)).run(documents)


class _Run:
    def __init__(
        self,
        config: PretrainConfig,
        ctx: DistContext,
        progress: ProgressFn | None,
        should_stop: Callable[[], bool] | None,
        given: frozenset[str],
    ) -> None:
        self.config, self.ctx, self.given = config, ctx, given
        self.should_stop = should_stop
        self.reporter = PretrainReporter(config, progress, main=ctx.is_main)

    def emit(self, event: dict[str, Any]) -> None:
        self.reporter.emit(**event)

    def say(self, message: str) -> None:
        self.reporter.say(message)

    # -- setup ------------------------------------------------------------------------------

    def _resume(self, folder: Path) -> LoadedState | None:
        if self.config.resume:
            loaded = load_state(folder)
            saved = PretrainConfig.from_dict(loaded.state.config, source=f"{folder}/.last")
            self.config = resumed_config(saved, self.config, self.given, folder)
            self.say(f"Resuming '{self.config.name}' at step {loaded.state.global_step}.")
            return loaded
        check_output_folder(
            folder,
            overwrite=self.config.overwrite,
            how_to_replace=(
                "Pass --resume to continue it, --overwrite to replace it, or choose another --name."
            ),
            another_name="choose another --name",
        )
        return None

    # -- the run ----------------------------------------------------------------------------

    def run(self, documents: Iterable[Document | str] | None) -> PretrainResult:
        started = perf_counter()
        folder = self.config.output_path
        loaded = self._resume(folder)
        config, ctx = self.config, self.ctx
        # First: a typo in --encoder fails before the corpus is read.
        tokenizer = load_tokenizer(config.encoder)
        use_threads(config.threads)
        torch.manual_seed(config.seed)
        # A resumed run reads the store in the order it started with (older runs: newest first).
        order = loaded.state.store_order if loaded is not None else STORE_ORDER_FIRST_CLASSIFIED
        corpus = read_run_corpus(config, documents, order)
        if loaded is not None:
            check_same_corpus(
                loaded.state,
                corpus.sha256,
                corpus.order_sha256,
                folder,
                config.from_store,
                bool(config.corpus),
            )
        # An --overwrite run's old encoder (and an earlier run's state) stays until this run saves
        # its own: a typo, a crash or Ctrl-C before then costs nothing saved.
        old = OldContents(folder, state=loaded is None)
        for note in corpus.notes():
            self.say(note)
        parts, state = build_parts(config, ctx, corpus, tokenizer, loaded)
        for note in parts.data.notes():
            self.say(note)
        self.reporter.config, self.reporter.name = self.config, self.config.name  # a resumed run's options
        self.reporter.open_run(state)
        self.reporter.announce(parts, state, str(ctx.device), ctx.world_size)
        try:
            self._score(parts, state, "before")
            with StopSignal(self.should_stop, self.say) as stop:
                status, by_time = self._train(parts, state, stop, folder, old)
            if status == "done":
                self._score(parts, state, "after")
                if ctx.is_main:
                    manifest = run_manifest(
                        config, corpus, parts, state, world_size=ctx.world_size, stopped_by_time=by_time
                    )
                    old.before_model()
                    # Dense training never reads the global projections: refresh the untrained copies.
                    refresh = () if config.long else parts.copied_globals
                    window = config.attention_window if config.long else 0
                    save_encoder(parts.model, tokenizer, folder, manifest, refresh, window)
                    remove_last(folder)
                    self.reporter.finish_run("done", folder, manifest)
            else:
                if ctx.is_main:
                    old.before_state()
                    save_state(folder, parts.model, parts.optimizer, parts.scheduler, parts.scaler, state)
                    self.reporter.finish_run("interrupted")
                self.say(
                    f"Interrupted at step {state.global_step}: state saved in {folder / '.last'}; "
                    "continue with --resume."
                )
            ctx.barrier()
        except BaseException as error:
            self.reporter.finish_run("interrupted" if isinstance(error, KeyboardInterrupt) else "failed")
            raise
        encoder_steps = encoder_steps_of(state.global_step, parts.head_steps)
        notes = corpus.notes() + parts.data.notes()
        if status == "done" and not encoder_steps:
            notes.append(
                f"The encoder was NOT trained: the run ended at step {state.global_step:,}, within the "
                f"MLM head's warm-up ({parts.head_steps:,} steps), so the saved encoder's weights are "
                "the source's. Give more time (--max-minutes) or fewer --head-warmup-steps."
            )
            self.say(notes[-1])
        result = PretrainResult(
            status,
            folder,
            state.global_step,
            parts.total,
            state.last_loss,
            state.heldout,
            perf_counter() - started,
            state.tokens_seen,
            state.run_id,
            by_time,
            notes,
            encoder_steps,
        )
        self.emit(
            {
                "event": "end",
                "status": status,
                "output_dir": str(folder),
                "heldout": state.heldout,
                "final_loss": state.last_loss,
                "steps": state.global_step,
                "encoder_steps": encoder_steps,
                "seconds": result.seconds,
            }
        )
        if status == "done":
            self.say(f"Encoder saved in {folder} after {state.global_step:,} steps: pass --encoder {folder}.")
        return result

    def _score(self, parts: RunParts, state: PretrainState, moment: str) -> None:
        """Score the held-out sequences once per ``moment`` (rank 0; kept in the state)."""
        config = self.config
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

    def _train(
        self, parts: RunParts, state: PretrainState, stop: StopSignal, folder: Path, old: OldContents
    ) -> tuple[str, bool]:
        """Optimiser steps until ``parts.total``; ``("done"|"interrupted", stopped by the time budget)``.
        ``old``: what an earlier run left in ``folder``, removed before the first state is saved."""
        config, ctx = self.config, self.ctx
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
                    self._end_head_warmup(parts, state)
                frozen = state.global_step < parts.head_steps
                if state.global_step == parts.head_steps > 0:  # the head is warm, the encoder untouched
                    self._score(parts, state, "after_head_warmup")
                if parts.model.encoder_frozen != frozen:
                    parts.model.freeze_encoder(frozen)
                group = batches[state.batches_done : state.batches_done + config.gradient_accumulation]
                lr = max(parts.scheduler.get_last_lr())  # the head's in its warm-up, else the model's
                loss, tokens = self._step(parts, state, group)
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

    def _end_head_warmup(self, parts: RunParts, state: PretrainState) -> None:
        """The head warm-up had its share of the time budget: the whole model trains from now."""
        planned = parts.head_steps
        end_head_warmup(parts.optimizer, parts.scheduler, parts.plan, state.global_step)
        state.head_steps = state.global_step
        self.say(
            f"MLM head warm-up ended at step {state.global_step:,} of the planned {planned:,}: it had its "
            f"share of the --max-minutes budget; the whole model trains from here."
        )

    def _step(self, parts: RunParts, state: PretrainState, group: list[np.ndarray]) -> tuple[float, int]:
        """One optimiser step over ``group``'s micro-batches: (mean loss over ranks, tokens read)."""
        config, ctx = self.config, self.ctx
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
