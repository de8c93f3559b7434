"""Labelled data sets for training and evaluation: loading, checking, splitting, writing.

Formats: JSON Lines or CSV/TSV (each possibly ``.gz``) with a text and a label column, or a
folder with one sub-folder per label (files read with :mod:`longbert.readers`). Everything
that would make training fail or mislead -- missing columns, empty texts, a single class,
labels in dev that training never saw, unreadable files -- is a :class:`DatasetError` raised
here, before any model is built. Duplicate texts are dropped (first kept) and reported.
"""

from longbert.data.dataset import DatasetReport, Example, Fold, LabeledDataset, build_dataset
from longbert.data.jsonl import write_jsonl
from longbert.data.loading import DATASET_LIMITS, DATASET_TABLE, from_records, load_dataset
from longbert.data.splits import check_compatible, split_train_dev, stratified_folds

__all__ = [
    "DATASET_LIMITS",
    "DATASET_TABLE",
    "DatasetReport",
    "Example",
    "Fold",
    "LabeledDataset",
    "build_dataset",
    "check_compatible",
    "from_records",
    "load_dataset",
    "split_train_dev",
    "stratified_folds",
    "write_jsonl",
]
