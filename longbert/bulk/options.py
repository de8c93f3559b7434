"""The options of one predict run (the CLI's options map onto them one to one).

A module of its own so that both the runner and the Ray engine import it without importing each
other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longbert.bulk.model import ModelSpec
from longbert.bulk.outputs import written_files
from longbert.bulk.sources import InputOptions


@dataclass
class PredictOptions:
    """Everything one run needs; the CLI's options map onto these fields one to one."""

    spec: ModelSpec
    inputs: list[str]
    output: Path
    text_column: str = "text"
    id_column: str | None = "id"
    batch_size: int = 8
    attention: str = "summary"
    store: bool = True
    db_url: str | None = None
    engine: str = "local"
    ray_address: str | None = None
    workers: int = 1
    gpus_per_worker: float = 0.0
    quiet: bool = False
    batch_name: str | None = None
    #: Start over at ``output``, replacing what is there (an earlier run's or anyone's file)
    #: instead of resuming it or refusing. Never an input file.
    overwrite: bool = False

    def input_options(self) -> InputOptions:
        """How the inputs are read; every file this run writes is left out of them."""
        output = Path(self.output).expanduser()
        skip = frozenset(path.resolve() for path in written_files(output))
        return InputOptions(self.text_column, self.id_column, skip=skip)

    def fingerprint(self) -> dict[str, Any]:
        """What makes an output's rows comparable: a re-run must match it to append (the
        checkpoint's identity included, not only the name it was given by)."""
        spec = self.spec
        # Only when given: an output begun before the option existed (or without it) resumes
        # as before; one begun at a threshold resumes only at that threshold.
        given = {} if spec.exit_threshold is None else {"exit_threshold": spec.exit_threshold}
        return {
            "model": spec.model,
            **spec.checkpoint_identity(),
            "labels": spec.labels,
            "encoder": spec.encoder,
            "strategy": spec.strategy,
            "strategy_params": spec.strategy_params,
            "text_column": self.text_column,
            "id_column": self.id_column,
            "attention": self.attention,
            "store": self.store,
            **given,
        }
