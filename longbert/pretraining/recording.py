"""A pre-training run's record in the database: the training-run table fine-tuning uses, with
``config["kind"] == "pretrain"`` telling the two apart. A resumed run continues its record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from longbert.checkpoints import Manifest
from longbert.pretraining.config import PretrainConfig
from longbert.pretraining.state import PretrainState
from longbert.runs.reporter import metrics_json

RUN_KIND = "pretrain"


class RunRecord:
    """Opens (or reopens) the run's record on creation; :meth:`epoch` and :meth:`finish` update it."""

    def __init__(
        self, config: PretrainConfig, state: PretrainState, folder: Path, say: Callable[[str], None]
    ) -> None:
        from longbert.store import RecordNotFoundError, get_store

        self.store, self.state, self.folder = get_store(), state, folder
        if state.run_id is not None:
            try:
                before = self.store.get_training_run(state.run_id).status
                self.store.finish_training_run(state.run_id, "running")
                if before == "running":
                    say(f"Run #{state.run_id} was still marked running: its process was killed.")
                return
            except RecordNotFoundError:
                say(f"Run #{state.run_id} is not in this database: recording a new run.")
        state.run_id = self.store.start_training_run(config.name, {"kind": RUN_KIND, **config.to_dict()})

    def epoch(self, state: PretrainState) -> None:
        """One finished pass over the corpus (``epoch`` numbers from 1)."""
        self.store.log_epoch(
            state.run_id,
            state.epoch,
            metrics_json(
                {
                    "step": state.global_step,
                    "train_loss": state.last_loss,
                    "tokens_seen": state.tokens_seen,
                    "train_seconds": state.train_seconds,
                }
            ),
        )

    def finish(self, status: str, manifest: Manifest | None = None) -> None:
        if self.state.run_id is None:
            return
        metrics: dict[str, Any] = {
            "heldout": self.state.heldout,
            "final_mlm_loss": self.state.last_loss,
            "steps": self.state.global_step,
        }
        if manifest is not None:
            metrics["manifest"] = manifest.to_json()
        folder = str(self.folder) if manifest is not None else None
        self.store.finish_training_run(self.state.run_id, status, metrics_json(metrics), folder)
