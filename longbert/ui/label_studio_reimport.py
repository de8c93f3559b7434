"""Importing a Label Studio export again (:func:`~longbert.ui.label_studio_import.import_label_studio`
on a file some of whose tasks were imported before): only what is new is added.

Importing a file again adds exactly the annotations not imported before. An annotation edited in
Label Studio since (a new ``updated_at``) with a new answer replaces the correction it became,
while that correction is still in force: a label a person set in LongBERT since is never
overruled (the edit is listed in :attr:`~longbert.ui.label_studio_import.Imported.not_applied`);
saved again unchanged, nothing happens. Each correction knows the annotation it came from (its
note: ``Label Studio task 7, annotation 12, updated <when>``; see
:mod:`longbert.ui.label_studio_tasks` for how annotations are known), and the prediction keeps the
list of annotations ever imported onto it (``extra["label_studio_annotations"]``), so a
correction a person took back in the app is not brought back, and a new annotation is added
whatever the app added meanwhile. A task an older LongBERT imported (no such list) is left as it
is (:attr:`~longbert.ui.label_studio_import.Imported.legacy`). A new annotation whose labels the
earlier prediction's model lacks (labels this import added to the set) is stored on a new
record-only prediction, which has them.

:class:`Reimport` is that part of the importer's work; it runs inside the task's transaction
like the rest (see :mod:`longbert.ui.label_studio_import`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from longbert.document import Document
from longbert.errors import LongBertError
from longbert.store import CorrectionChangedError, Store
from longbert.store.records import CorrectionRecord
from longbert.ui.label_studio_tasks import (
    NOTE,
    Annotation,
    Chosen,
    already_imported,
    annotation_id,
    noted_annotation,
)

#: The prediction ``extra`` key listing the annotations ever imported onto it (their identities).
ANNOTATIONS_KEY = "label_studio_annotations"


class Totals(Protocol):
    """What a task counts in :class:`~longbert.ui.label_studio_import.Imported`."""

    tasks: int
    corrections: int
    already_imported: int
    legacy: int
    not_applied: list[str]


class Reimport:
    """The work on a task imported before, a part of the importer (which provides the store,
    the task's totals and the writing of a checked task)."""

    store: Store
    out: Totals
    multi_label: bool

    def _write(
        self,
        task_id: Any,
        document: Document,
        predictions: Chosen,
        people: Sequence[Annotation],
        corrected: int | None = None,
    ) -> str | None:
        raise NotImplementedError  # pragma: no cover - the importer's

    def _model_name(self, prediction: Mapping[str, Any] | None) -> str:
        raise NotImplementedError  # pragma: no cover - the importer's

    def _model_check(self, name: str) -> str:
        raise NotImplementedError  # pragma: no cover - the importer's

    def _again(
        self, task_id: Any, document: Document, people: Sequence[Annotation], done: list[dict[str, Any]]
    ) -> str | None:
        """A task imported before: store the annotations never imported (neither listed in its
        predictions' ``extra`` nor named by a correction's note -- an older LongBERT's import cut
        short before it listed them), on its latest prediction, or on a new one when that one's
        model lacks their labels. A task an older version imported (nothing listed) is left as
        it is."""
        if not any(ANNOTATIONS_KEY in earlier["extra"] for earlier in done):
            self.out.already_imported += 1
            self.out.legacy += 1
            return None
        seen = {str(i) for earlier in done for i in earlier["extra"].get(ANNOTATIONS_KEY) or []}
        seen |= {i for earlier in done for note in earlier["notes"] if (i := noted_annotation(note))}
        imported = self._imported_corrections(done)
        missing: list[Annotation] = []
        edits: list[tuple[Annotation, CorrectionRecord]] = []
        versions = {annotation_id(i) for i in seen}
        for identity, choice in people:
            base, earlier = annotation_id(identity), imported.get(annotation_id(identity))
            answer = ", ".join(choice) or "no label"
            where = f"task {task_id}, annotation {base}: edited in Label Studio ({answer})"
            if already_imported(identity, seen):
                if identity not in seen and earlier is not None and not self._same(earlier, choice):
                    self._not_applied(
                        done,
                        identity,
                        f"{where} after an older LongBERT imported it without its version; correct "
                        "it in LongBERT if the edit should count",
                    )
            elif earlier is None and base in versions:  # imported before, its correction taken back
                self._not_applied(
                    done, identity, f"{where}, but its label was taken back in LongBERT since it was imported"
                )
            elif earlier is None:
                missing.append((identity, choice))
            elif self._same(earlier, choice):  # saved again in Label Studio, the answer unchanged
                continue
            else:
                edits.append(((identity, choice), earlier))
        applied = [self._edit(task_id, identity, choice, earlier) for (identity, choice), earlier in edits]
        if not missing:
            if any(applied):
                self.out.tasks += 1
            else:
                self.out.already_imported += 1
            return None
        latest = done[-1]
        if {label for _, choice in missing for label in choice} <= set(latest["labels"]):
            return self._write(task_id, document, [], missing, latest["id"])
        refused = self._model_check(self._model_name(None))
        return refused or self._write(task_id, document, [], missing)

    def _not_applied(self, done: list[dict[str, Any]], identity: str, reason: str) -> None:
        """Report an edit left out, once: its version is recorded as imported."""
        self.out.not_applied.append(reason)
        self.store.extend_prediction_extra(done[-1]["id"], ANNOTATIONS_KEY, [identity])

    def _imported_corrections(self, done: list[dict[str, Any]]) -> dict[str, CorrectionRecord]:
        """Annotation id → the correction the last imported version of it became."""
        found: dict[str, CorrectionRecord] = {}
        for earlier in done:
            if not any(noted_annotation(note) for note in earlier["notes"]):
                continue
            for correction in self.store.list_corrections(earlier["id"]):
                identity = noted_annotation(correction.note or "")
                if identity is not None:
                    found[annotation_id(identity)] = correction  # oldest first: the last wins
        return found

    def _same(self, correction: CorrectionRecord, choice: Sequence[str]) -> bool:
        if self.multi_label:
            return sorted(correction.labels) == sorted(choice)
        return bool(choice) and correction.label == choice[0]

    def _edit(self, task_id: Any, identity: str, choice: list[str], earlier: CorrectionRecord) -> bool:
        """An annotation edited in Label Studio since it was imported: its new answer replaces
        the old one's correction while that is still in force; a label a person set in LongBERT
        since is never overruled (the edit is reported instead). Whether it was applied."""
        where = f"task {task_id}, annotation {annotation_id(identity)}"
        try:
            self.store.add_correction(
                earlier.prediction_id,
                choice if self.multi_label else choice[0],
                note=NOTE.format(task=task_id, annotation=identity),
                in_force=earlier.id,
            )
            applied = True
            self.out.corrections += 1
        except CorrectionChangedError:
            applied = False
            after = self.store.list_corrections(earlier.prediction_id)
            other = noted_annotation(after[-1].note or "") if after else None
            since = f"Label Studio annotation {annotation_id(other)}" if other else "a label set in LongBERT"
            self.out.not_applied.append(
                f"{where}: edited in Label Studio ({', '.join(choice) or 'no label'}), but {since} "
                "is in force there since it was imported, and was kept"
            )
        except LongBertError as error:
            applied = False
            self.out.not_applied.append(f"{where}: {error}")
        # Recorded as imported either way: a person's later label stands, and is not re-reported.
        self.store.extend_prediction_extra(earlier.prediction_id, ANNOTATIONS_KEY, [identity])
        return applied
