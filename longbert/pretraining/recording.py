"""A pre-training run's record in the database, through the run object every long job shares
(:class:`~longbert.runs.RunReporter`): the training-run table fine-tuning uses, with
``config["kind"] == "pretrain"`` telling the two apart. A resumed run continues its record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longbert.checkpoints import Manifest
from longbert.pretraining.budget import HEAD_WARMUP_BUDGET_SHARE
from longbert.pretraining.config import PretrainConfig
from longbert.pretraining.state import PretrainState
from longbert.pretraining.steps import RunParts
from longbert.runs import ProgressFn, RunReporter, RunState, metrics_json

RUN_KIND = "pretrain"


class PretrainReporter(RunReporter):
    """The terminal, progress events and record of a pre-training run (only rank 0 reports).

    :meth:`open_run` opens (or reopens) the record, :meth:`epoch` logs a pass over the corpus,
    :meth:`finish_run` closes it with the held-out figures, and with the encoder folder when
    the run saved one.
    """

    def __init__(self, config: PretrainConfig, progress: ProgressFn | None, main: bool) -> None:
        super().__init__(config.name, progress=progress, quiet=config.quiet, record=config.record, main=main)
        self.config = config
        self.state: PretrainState | None = None

    def open_run(self, state: PretrainState) -> None:
        """Start the record or reopen a resumed run's; sets ``state.run_id``."""
        self.state = state
        run = RunState(run_id=state.run_id, config={"kind": RUN_KIND, **self.config.to_dict()})
        self.open(run)
        state.run_id = run.run_id

    def announce(self, parts: RunParts, state: PretrainState, device: str, world_size: int) -> None:
        """The ``start`` event and the line saying what the run will do."""
        config, data = self.config, parts.data
        self.emit(
            event="start",
            total_steps=parts.total,
            start_step=state.global_step,
            head_warmup_steps=parts.head_steps,
            documents=data.documents,
            tokens=data.tokens,
            training_tokens=data.training_tokens,
            sequences=len(data.train),
            device=device,
            world_size=world_size,
            run_id=state.run_id,
        )
        budget = (
            f", or {100 * HEAD_WARMUP_BUDGET_SHARE:g}% of the time budget if that comes first"
            if config.max_minutes and parts.head_steps
            else ""
        )
        self.say(
            f"Pre-training '{config.name}' from {config.encoder} on {device} x{world_size}: "
            f"{data.documents:,} documents ({data.tokens:,} tokens, {data.heldout_tokens:,} of them in "
            f"{data.heldout_documents} held-out document(s)), {len(data.train):,} sequences of up to "
            f"{config.content_tokens + 2} tokens ({'sparse' if config.long else 'dense'}); "
            f"{parts.total:,} steps, the first {parts.head_steps:,}{budget} training the MLM head alone"
            f"{'' if parts.has_head else ' (the checkpoint has none)'}."
        )

    def epoch(self, state: PretrainState) -> None:
        """One finished pass over the corpus (``epoch`` numbers from 1)."""
        self.log_epoch(
            state.epoch,
            {
                "step": state.global_step,
                "train_loss": state.last_loss,
                "tokens_seen": state.tokens_seen,
                "train_seconds": state.train_seconds,
            },
        )

    def finish_run(self, status: str, folder: Path | None = None, manifest: Manifest | None = None) -> None:
        """Close the record with ``status``; ``folder`` and ``manifest`` when the encoder was saved."""
        if self.state is None:
            return
        metrics: dict[str, Any] = {
            "heldout": self.state.heldout,
            "final_mlm_loss": self.state.last_loss,
            "steps": self.state.global_step,
        }
        if manifest is not None:
            metrics["manifest"] = manifest.to_json()
        self.best_metrics = metrics_json(metrics)
        self.model_folder = folder if manifest is not None else None
        self.finish(status)
