"""The data set types and the checks every data set passes: duplicates, label space, classes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from longbert.document import Document
from longbert.errors import DatasetError

#: Rows or files named in one message before "and N more".
SHOWN = 10


@dataclass(frozen=True)
class Example:
    """One labelled document. Single-label examples have exactly one label."""

    document: Document
    labels: tuple[str, ...]
    id: str | None = None

    @property
    def text(self) -> str:
        return self.document.text

    @property
    def label(self) -> str:
        """The label of a single-label example."""
        if len(self.labels) != 1:
            raise DatasetError(f"'{self.document.name}' has {len(self.labels)} labels, not one.")
        return self.labels[0]


@dataclass
class DatasetReport:
    """What loading found: counts, and problems that were handled rather than raised."""

    source: str
    rows_read: int = 0
    duplicates_dropped: int = 0
    conflicting_duplicates: int = 0
    rows_skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the UI."""
        parts = [f"{self.rows_read:,} rows read from {self.source}"]
        if self.duplicates_dropped:
            parts.append(f"{self.duplicates_dropped:,} duplicates dropped")
        if self.conflicting_duplicates:
            parts.append(f"{self.conflicting_duplicates:,} of them with conflicting labels")
        if self.rows_skipped:
            parts.append(f"{self.rows_skipped:,} bad rows skipped")
        return "; ".join(parts) + "."


@dataclass
class LabeledDataset:
    """Labelled examples with their label space (sorted) and how labels combine.

    ``labels`` is the label space: for a loaded data set, every label it contains; for a split
    or fold, its parent's labels (so train and dev index labels the same way).
    """

    examples: list[Example]
    labels: list[str]
    multi_label: bool
    report: DatasetReport
    name: str = "dataset"

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]

    def texts(self) -> list[str]:
        return [example.text for example in self.examples]

    def documents(self) -> list[Document]:
        return [example.document for example in self.examples]

    def label_counts(self) -> dict[str, int]:
        """Examples per label (a multi-label example counts once for each of its labels)."""
        counts = Counter(label for example in self.examples for label in example.labels)
        return {label: counts.get(label, 0) for label in self.labels}

    def label_ids(self) -> np.ndarray:
        """Single-label targets: ``[num_examples]`` int64 indices into ``labels``."""
        if self.multi_label:
            raise DatasetError("label_ids() is for single-label data; use label_matrix().")
        index = {label: i for i, label in enumerate(self.labels)}
        return np.array([index[example.label] for example in self.examples], dtype=np.int64)

    def label_matrix(self) -> np.ndarray:
        """Multi-hot targets: ``[num_examples, num_labels]`` float32 (1 where a label applies)."""
        index = {label: i for i, label in enumerate(self.labels)}
        matrix = np.zeros((len(self.examples), len(self.labels)), dtype=np.float32)
        for row, example in enumerate(self.examples):
            for label in example.labels:
                matrix[row, index[label]] = 1.0
        return matrix

    def subset(self, indices: Iterable[int], name: str | None = None) -> LabeledDataset:
        """The examples at ``indices`` (in that order), keeping this data set's label space."""
        examples = [self.examples[int(i)] for i in indices]
        report = DatasetReport(source=self.report.source, rows_read=len(examples))
        return LabeledDataset(examples, list(self.labels), self.multi_label, report, name or self.name)


class Fold(NamedTuple):
    """One cross-validation fold."""

    train: LabeledDataset
    dev: LabeledDataset


def build_dataset(
    examples: Iterable[Example],
    *,
    multi_label: bool | None = None,
    name: str = "dataset",
    report: DatasetReport | None = None,
    drop_duplicates: bool = True,
    min_classes: int = 2,
) -> LabeledDataset:
    """Check examples and make a data set: duplicates dropped, label space sorted.

    Training data needs ``min_classes`` = 2 distinct labels at least (the default); a dev or
    test set may hold a single class, so evaluation loads can pass ``min_classes=1``.
    """
    examples = list(examples)
    report = report or DatasetReport(source=name, rows_read=len(examples))
    if not examples:
        raise DatasetError(f"{name}: the data set has no examples.")
    if drop_duplicates:
        examples = _drop_duplicates(examples, report)
    if multi_label is None:
        multi_label = any(len(example.labels) != 1 for example in examples)
    elif not multi_label:
        wrong = [e for e in examples if len(e.labels) != 1]
        if wrong:
            raise DatasetError(
                f"{name}: single-label data, but {names_list(e.document.name for e in wrong)} "
                f"{'has' if len(wrong) == 1 else 'have'} no label or several. Use multi-label, or "
                "give each row exactly one label."
            )
    labels = sorted({label for example in examples for label in example.labels})
    if len(labels) < max(min_classes, 1):
        only = f"only the label '{labels[0]}'" if labels else "no labels at all"
        need = "at least two classes" if min_classes >= 2 else "labelled examples"
        raise DatasetError(
            f"{name}: the data set has {only} in {len(examples):,} examples; a classifier "
            f"needs {need}. Check the label column."
        )
    counts = Counter(label for example in examples for label in example.labels)
    rare = sorted(label for label in labels if counts[label] < 2)
    if rare:  # data to train on (min_classes 2), or a set only scored (a dev or test set)
        why = (
            "a model learns little from one, and a dev split carved from this data keeps it in "
            "training, so it is not evaluated"
            if min_classes >= 2
            else "their per-class scores rest on one document"
        )
        report.problems.append(
            f"{len(rare)} label(s) have a single example ({', '.join(rare[:SHOWN])}): {why}."
        )
    return LabeledDataset(examples, labels, multi_label, report, name)


def _drop_duplicates(examples: list[Example], report: DatasetReport) -> list[Example]:
    first: dict[str, Example] = {}
    kept: list[Example] = []
    conflicts: list[str] = []
    for example in examples:
        seen = first.get(example.document.sha256)
        if seen is None:
            first[example.document.sha256] = example
            kept.append(example)
            continue
        report.duplicates_dropped += 1
        if set(seen.labels) != set(example.labels):
            report.conflicting_duplicates += 1
            conflicts.append(
                f"{example.document.name} ({', '.join(example.labels) or 'none'}) repeats "
                f"{seen.document.name} ({', '.join(seen.labels) or 'none'})"
            )
    if report.duplicates_dropped:
        report.problems.append(
            f"{report.duplicates_dropped:,} duplicate texts dropped (the first of each kept)."
        )
    if conflicts:
        report.problems.append(
            f"{len(conflicts):,} duplicates had different labels; the first label was kept: "
            + names_list(conflicts)
        )
    return kept


def names_list(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN:,} more" if len(names) > SHOWN else "")
