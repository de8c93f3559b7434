"""Turning the configured data into checked train/dev/test sets, before any model is built.

Every problem that would make training fail or mislead -- missing columns, empty texts, a
single class in training, dev/test labels that training never saw, unreadable files -- raises
:class:`~longbert.errors.DatasetError` here (via :mod:`longbert.data`), so a run never spends an
hour training to crash on its dev set. A dev or test set may hold a single class (it is scored
with the training set's label space); ``skip_bad_rows`` skips unusable rows of every set and
reports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from longbert.data import LabeledDataset, check_compatible, from_records, load_dataset, split_train_dev
from longbert.errors import DatasetError
from longbert.readers import TableOptions
from longbert.training.config import TrainConfig

#: What ``train()`` accepts in place of a path: a loaded data set or in-memory rows.
DataSource = str | LabeledDataset | Iterable[Mapping[str, Any]]


@dataclass
class DataSplits:
    """The checked sets, the label space (train's), and notes worth showing (duplicates...)."""

    train: LabeledDataset
    dev: LabeledDataset
    test: LabeledDataset | None
    labels: list[str]
    dev_carved: bool
    notes: list[str] = field(default_factory=list)


def _load(source: DataSource, config: TrainConfig, role: str) -> LabeledDataset:
    delimiter = config.label_delimiter if config.multi_label else None
    min_classes = 2 if role == "training" else 1  # a one-class dev/test set is still a score
    table = TableOptions(text_column=config.text_column, label_column=config.label_column,
                         label_delimiter=delimiter)
    if isinstance(source, LabeledDataset):
        if source.multi_label != config.multi_label:
            kind = "multi-label" if source.multi_label else "single-label"
            raise DatasetError(
                f"The {role} data set is {kind} but the run is configured "
                f"{'with' if config.multi_label else 'without'} multi_label."
            )
        return source
    if isinstance(source, str):
        return load_dataset(
            source,
            table=table,
            multi_label=config.multi_label,
            skip_bad_rows=config.skip_bad_rows,
            min_classes=min_classes,
        )
    return from_records(
        source,
        table=table,
        multi_label=config.multi_label,
        name=f"{role} records",
        skip_bad_rows=config.skip_bad_rows,
        min_classes=min_classes,
    )


def prepare_data(
    config: TrainConfig,
    train_data: DataSource | None = None,
    dev_data: DataSource | None = None,
    test_data: DataSource | None = None,
) -> DataSplits:
    """Load, check and split. In-memory sources override the config's paths."""
    train_source = train_data if train_data is not None else config.train
    if train_source is None:
        raise DatasetError("No training data: pass --train FILE (JSONL, CSV or a folder per label).")
    train = _load(train_source, config, "training")
    notes = [f"train: {train.report.summary()}", *train.report.problems]
    dev_source = dev_data if dev_data is not None else config.dev
    if dev_source is None:
        train, dev = split_train_dev(train, config.dev_fraction, seed=config.seed)
        carved = True
    else:
        dev = _load(dev_source, config, "dev")
        notes += [f"dev: {dev.report.summary()}", *dev.report.problems]
        carved = False
    labels = list(train.labels)
    notes += check_compatible(train, dev)
    test = None
    test_source = test_data if test_data is not None else config.test
    if test_source is not None:
        test = _load(test_source, config, "test")
        notes += [f"test: {test.report.summary()}", *test.report.problems, *check_compatible(train, test)]
    return DataSplits(train, dev, test, labels, carved, notes)


def targets(dataset: LabeledDataset, labels: list[str]) -> np.ndarray:
    """Targets indexed by the *model's* labels: ``[N]`` int64, or ``[N, L]`` float32 multi-hot.

    A dev or test set loaded on its own has its own (possibly smaller) label space; indexing by
    the model's labels keeps every set aligned. Unknown labels raise DatasetError.
    """
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({lab for ex in dataset.examples for lab in ex.labels} - set(index))
    if unknown:
        raise DatasetError(
            f"{dataset.name} has labels the model does not know: {', '.join(unknown[:10])}. "
            f"The model's labels are: {', '.join(labels)}."
        )
    if dataset.multi_label:
        matrix = np.zeros((len(dataset), len(labels)), dtype=np.float32)
        for row, example in enumerate(dataset.examples):
            matrix[row, [index[lab] for lab in example.labels]] = 1.0
        return matrix
    return np.asarray([index[ex.label] for ex in dataset.examples], dtype=np.int64)
