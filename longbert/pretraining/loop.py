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

This module sets a run up (resume, corpus, parts) and finishes it (encoder or state saved, the
record closed, :class:`PretrainResult`); the optimiser steps and held-out scoring in between are
:class:`~longbert.pretraining.step_loop.StepLoop`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import torch

from longbert.document import Document
from longbert.encoder_source import load_tokenizer
from longbert.pretraining.config import PretrainConfig, resumed_config
from longbert.pretraining.corpus import STORE_ORDER_FIRST_CLASSIFIED
from longbert.pretraining.output import check_output_folder, encoder_steps_of, run_manifest, save_encoder
from longbert.pretraining.recording import PretrainReporter
from longbert.pretraining.state import LoadedState, check_same_corpus, load_state, save_state
from longbert.pretraining.step_loop import StepLoop
from longbert.pretraining.steps import build_parts, read_run_corpus
from longbert.runs.reporter import StopSignal
from longbert.runs.state import OldContents, remove_last
from longbert.training.distributed import DistContext, job_context, use_threads

ProgressFn = Callable[[dict[str, Any]], None]


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
        steps = StepLoop(config, ctx, parts, state, self.reporter)
        try:
            steps.score("before")
            with StopSignal(self.should_stop, self.say) as stop:
                status, by_time = steps.train(stop, folder, old)
            if status == "done":
                steps.score("after")
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
