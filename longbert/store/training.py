"""Training runs: configuration, per-epoch metrics and outcome (the training command writes them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.convert import jsonable
from longbert.store.engine import Database, get_row
from longbert.store.records import EpochRecord, TrainingRunRecord
from longbert.store.schema import TrainingEpochRow, TrainingRunRow, utcnow

RUN_STATUSES = ("running", "done", "failed", "interrupted")


def _run_record(row: TrainingRunRow, epochs: list[EpochRecord] | None = None) -> TrainingRunRecord:
    return TrainingRunRecord(
        id=row.id,
        name=row.name,
        status=row.status,
        config=dict(row.config),
        best_metrics=dict(row.best_metrics) if row.best_metrics is not None else None,
        model_folder=row.model_folder,
        started_at=row.started_at,
        finished_at=row.finished_at,
        epochs=epochs or [],
    )


def _get_run(session: Session, run_id: int, lock: bool = False) -> TrainingRunRow:
    return get_row(session, TrainingRunRow, run_id, f"There is no training run {run_id}.", lock=lock)


class TrainingMixin:
    """Training-run methods of :class:`~longbert.store.Store`."""

    _db: Database

    def start_training_run(self, name: str, config: dict[str, Any]) -> int:
        """Record that a run started with ``config`` (JSON-able); returns its id."""
        config_json = jsonable(config, "training config")

        def work(session: Session) -> int:
            row = TrainingRunRow(name=name, status="running", config=config_json, started_at=utcnow())
            session.add(row)
            session.flush()
            return row.id

        return self._db.write(work)

    def log_epoch(self, run_id: int, epoch: int, metrics: dict[str, Any]) -> None:
        """Record one epoch's metrics (logging the same epoch again replaces them)."""
        metrics_json = jsonable(metrics, "epoch metrics")

        def work(session: Session) -> None:
            _get_run(session, run_id, lock=True)
            row = session.scalar(
                select(TrainingEpochRow).where(
                    TrainingEpochRow.run_id == run_id, TrainingEpochRow.epoch == epoch
                )
            )
            if row is None:
                session.add(TrainingEpochRow(run_id=run_id, epoch=epoch, metrics=metrics_json))
            else:
                row.metrics = metrics_json
                row.created_at = utcnow()

        self._db.write(work)

    def finish_training_run(
        self,
        run_id: int,
        status: str = "done",
        best_metrics: dict[str, Any] | None = None,
        model_folder: str | None = None,
    ) -> None:
        """Record how a run ended (``done``, ``failed`` or ``interrupted``) and what it produced."""
        if status not in RUN_STATUSES:
            raise StoreError(f"Unknown training status '{status}'; use one of {', '.join(RUN_STATUSES)}.")
        best_json = jsonable(best_metrics, "best metrics") if best_metrics is not None else None

        def work(session: Session) -> None:
            row = _get_run(session, run_id, lock=True)
            row.status = status
            row.best_metrics = best_json
            row.model_folder = None if model_folder is None else str(model_folder)
            row.finished_at = utcnow() if status != "running" else None

        self._db.write(work)

    def list_training_runs(self, limit: int = 100) -> list[TrainingRunRecord]:
        """Runs, newest first, without their epochs (see :meth:`get_training_run`)."""
        statement = (
            select(TrainingRunRow)
            .order_by(TrainingRunRow.started_at.desc(), TrainingRunRow.id.desc())
            .limit(limit)
        )
        return self._db.read(lambda s: [_run_record(r) for r in s.scalars(statement)])

    def get_training_run(self, run_id: int) -> TrainingRunRecord:
        """One run with its epochs in order."""

        def work(session: Session) -> TrainingRunRecord:
            row = _get_run(session, run_id)
            epochs = [
                EpochRecord(epoch=e.epoch, metrics=dict(e.metrics), created_at=e.created_at)
                for e in session.scalars(
                    select(TrainingEpochRow)
                    .where(TrainingEpochRow.run_id == run_id)
                    .order_by(TrainingEpochRow.epoch)
                )
            ]
            return _run_record(row, epochs)

        return self._db.read(work)
