"""``pretrain(config)``: continue MLM pre-training of a BERT checkpoint on unlabelled documents.

Flow: read the corpus -> hold out a seeded slice of documents -> tokenise and pack (dense:
full 512-token sequences; long: one document per sequence) -> build the encoder and tied MLM
head -> score the held-out slice -> head warm-up (encoder frozen) -> whole-model training with
dynamic masking -> score again -> save the encoder folder and its manifest, record the run.

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
from longbert.pretraining.config import PretrainConfig, resumed_config
from longbert.pretraining.corpus import read_corpus
from longbert.pretraining.errors import PretrainError
from longbert.pretraining.output import check_output_folder, run_manifest, save_encoder
from longbert.pretraining.packing import make_batch, plan_epoch
from longbert.pretraining.recording import PretrainReporter
from longbert.pretraining.state import (
    LoadedState,
    PretrainState,
    load_state,
    save_state,
)
from longbert.pretraining.steps import RunParts, build_parts, evaluate, optimizer_step
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
    (``before``, ``after_head_warmup``, ``after``), each with loss, perplexity and accuracy."""

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
        corpus = read_corpus(
            config.corpus,
            from_store=config.from_store,
            batch_id=config.batch,
            text_column=config.text_column,
            skip_bad_files=config.skip_bad_files,
            documents=documents,
        )
        if loaded is not None and loaded.state.corpus_sha256 != corpus.sha256:
            raise PretrainError(
                f"The corpus changed since the interrupted run in '{folder}' (its hash differs): "
                "resume with the same documents, or start a new run with --overwrite."
            )
        # An --overwrite run's old encoder (and an earlier run's state) stays until this run saves
        # its own: a typo, a crash or Ctrl-C before then costs nothing saved.
        old = OldContents(folder, state=loaded is None)
        for note in corpus.notes():
            self.say(note)
        parts, state = build_parts(config, ctx, corpus, tokenizer, loaded)
        self.reporter.config, self.reporter.name = self.config, self.config.name  # a resumed run's options
        self.reporter.open_run(state)
        data = parts.data
        self.emit(
            {
                "event": "start",
                "total_steps": parts.total,
                "start_step": state.global_step,
                "head_warmup_steps": parts.head_steps,
                "documents": data.documents,
                "tokens": data.tokens,
                "sequences": len(data.train),
                "device": str(ctx.device),
                "world_size": ctx.world_size,
                "run_id": state.run_id,
            }
        )
        self.say(
            f"Pre-training '{config.name}' from {config.encoder} on {ctx.device} x{ctx.world_size}: "
            f"{data.documents:,} documents ({data.tokens:,} tokens, {data.heldout_documents} held out), "
            f"{len(data.train):,} sequences of up to {config.content_tokens + 2} tokens "
            f"({'sparse' if config.long else 'dense'}); {parts.total:,} steps, the first "
            f"{parts.head_steps:,} training the MLM head alone"
            f"{'' if parts.has_head else ' (the checkpoint has none)'}."
        )
        try:
            self._score(parts, state, "before")
            with StopSignal(self.should_stop, self.say) as stop:
                status, by_time = self._train(parts, state, stop, folder, old)
            if status == "done":
                self._score(parts, state, "after")
                if ctx.is_main:
                    manifest = run_manifest(
                        config,
                        corpus,
                        parts.data,
                        state,
                        total_steps=parts.total,
                        head_steps=parts.head_steps,
                        has_head=parts.has_head,
                        world_size=ctx.world_size,
                        dtype=parts.dtype,
                        attention_window=config.attention_window
                        or parts.model.encoder.config.attention_window,
                        stopped_by_time=by_time,
                    )
                    old.before_model()
                    save_encoder(parts.model, tokenizer, folder, manifest, config.long)
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
            corpus.notes(),
        )
        self.emit(
            {
                "event": "end",
                "status": status,
                "output_dir": str(folder),
                "heldout": state.heldout,
                "final_loss": state.last_loss,
                "steps": state.global_step,
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
        budget, interval = 60.0 * config.max_minutes, 60.0 * config.save_every_minutes
        session_start = last_save = perf_counter()
        session_tokens, saving = 0, 0.0
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
                elapsed = perf_counter() - session_start - saving
                if budget and ctx.any(state.train_seconds + elapsed >= budget):
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
                session_tokens += tokens
                state.recent_losses = [*state.recent_losses, loss][-RECENT:]
                state.last_loss = sum(state.recent_losses) / len(state.recent_losses)
                rate = session_tokens / max(perf_counter() - session_start - saving, 1e-9)
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
                if (
                    interval > 0
                    and state.global_step < parts.total
                    and ctx.any(perf_counter() - last_save >= interval)
                ):
                    saved_at = perf_counter()
                    state.train_seconds += saved_at - session_start - saving
                    session_start, saving = saved_at, 0.0
                    if ctx.is_main:
                        old.before_state()
                        save_state(folder, parts.model, parts.optimizer, parts.scheduler, parts.scaler, state)
                    ctx.barrier()
                    last_save = perf_counter()
                    saving = last_save - saved_at
                    self.emit({"event": "checkpoint", "step": state.global_step})
        state.train_seconds += perf_counter() - session_start - saving
        return outcome

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
