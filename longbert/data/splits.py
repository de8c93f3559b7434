"""Stratified train/dev splits, cross-validation folds, and train/dev compatibility checks."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np

from longbert.data.dataset import SHOWN, Fold, LabeledDataset
from longbert.errors import DatasetError


def _strata(dataset: LabeledDataset) -> list[str]:
    """A stratum per example: its label, or for multi-label its rarest label (``""`` if none)."""
    if not dataset.multi_label:
        return [example.label for example in dataset.examples]
    counts = dataset.label_counts()
    return [
        min(example.labels, key=lambda label: (counts[label], label)) if example.labels else ""
        for example in dataset.examples
    ]


def split_train_dev(
    dataset: LabeledDataset, dev_fraction: float = 0.1, seed: int = 0
) -> tuple[LabeledDataset, LabeledDataset]:
    """A stratified, seeded train/dev split; each side keeps the original order.

    Every label with at least two examples gets at least one in dev and one in train; a label
    with a single example stays in train. Multi-label data is stratified on each example's
    rarest label; a label that is never an example's rarest could still land wholly in dev, so
    afterwards every label left without a train example gets one of its dev examples back
    (training must see every label the dev set scores).
    """
    if not 0.0 < dev_fraction < 1.0:
        raise DatasetError(f"dev_fraction must be between 0 and 1, got {dev_fraction}.")
    strata = _strata(dataset)
    by_stratum: dict[str, list[int]] = {}
    for index, stratum in enumerate(strata):
        by_stratum.setdefault(stratum, []).append(index)
    rng = np.random.default_rng(seed)
    dev: list[int] = []
    for stratum in sorted(by_stratum):
        members = by_stratum[stratum]
        count = len(members)
        n_dev = 0 if count < 2 else min(max(1, math.floor(count * dev_fraction + 0.5)), count - 1)
        chosen = rng.permutation(count)[:n_dev]
        dev.extend(members[i] for i in chosen)
    if dataset.multi_label:
        dev = _keep_every_label_in_train(dataset, dev, rng)
    if not dev:
        raise DatasetError(f"{dataset.name}: too few examples ({len(dataset)}) to hold out a dev set.")
    dev_set = set(dev)
    train_idx = [i for i in range(len(dataset)) if i not in dev_set]
    return (
        dataset.subset(train_idx, f"{dataset.name} (train)"),
        dataset.subset(sorted(dev_set), f"{dataset.name} (dev)"),
    )


def _keep_every_label_in_train(
    dataset: LabeledDataset, dev: list[int], rng: np.random.Generator
) -> list[int]:
    """``dev`` minus, for each label it holds every example of, one such example (seeded)."""
    in_dev = set(dev)
    train_counts = Counter(
        label for i, example in enumerate(dataset.examples) if i not in in_dev for label in example.labels
    )
    for label in sorted({label for i in dev for label in dataset.examples[i].labels}):
        if train_counts[label]:
            continue
        holders = sorted(i for i in in_dev if label in dataset.examples[i].labels)
        back = holders[int(rng.integers(len(holders)))]
        in_dev.discard(back)
        train_counts.update(dataset.examples[back].labels)
    return [i for i in dev if i in in_dev]


def stratified_folds(dataset: LabeledDataset, k: int = 5, seed: int = 0) -> list[Fold]:
    """``k`` stratified, shuffled, seeded cross-validation folds (scikit-learn's StratifiedKFold)."""
    from sklearn.model_selection import StratifiedKFold

    if k < 2:
        raise DatasetError(f"Cross-validation needs k ≥ 2 folds, got {k}.")
    if len(dataset) < k:
        raise DatasetError(f"{dataset.name}: {len(dataset)} examples cannot make {k} folds.")
    strata = _strata(dataset)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = []
    with warnings.catch_warnings():
        # Labels rarer than k are still spread as well as possible; sklearn warns, we report.
        warnings.simplefilter("ignore", UserWarning)
        try:
            splits = list(splitter.split(np.zeros(len(strata)), strata))
        except ValueError as exc:
            raise DatasetError(f"{dataset.name}: cannot make {k} stratified folds ({exc}).") from exc
    for number, (train_idx, dev_idx) in enumerate(splits, start=1):
        folds.append(
            Fold(
                dataset.subset(sorted(train_idx), f"{dataset.name} (fold {number}/{k} train)"),
                dataset.subset(sorted(dev_idx), f"{dataset.name} (fold {number}/{k} dev)"),
            )
        )
    return folds


def check_compatible(train: LabeledDataset, other: LabeledDataset) -> list[str]:
    """Raise if ``other`` (dev or test) cannot be evaluated by a model trained on ``train``.

    Raises :class:`DatasetError` for labels ``train`` never has and for mixing single- and
    multi-label data. Returns warnings: documents in both sets (leakage), train labels absent
    from ``other``.
    """
    if train.multi_label != other.multi_label:
        kinds = {True: "multi-label", False: "single-label"}
        raise DatasetError(
            f"{other.name} is {kinds[other.multi_label]} but {train.name} is {kinds[train.multi_label]}."
        )
    train_counts = Counter(label for example in train.examples for label in example.labels)
    other_counts = Counter(label for example in other.examples for label in example.labels)
    unseen = sorted(set(other_counts) - set(train_counts))
    if unseen:
        shown = ", ".join(f"'{label}' ({other_counts[label]})" for label in unseen[:SHOWN])
        raise DatasetError(
            f"{other.name} has labels that {train.name} never has: {shown}. A model cannot "
            "predict labels it was not trained on; add examples of them to training."
        )
    notes = []
    shared = {e.document.sha256 for e in train.examples} & {e.document.sha256 for e in other.examples}
    if shared:
        notes.append(
            f"{len(shared):,} documents of {other.name} are also in {train.name}; scores on them "
            "overstate accuracy."
        )
    absent = sorted(set(train_counts) - set(other_counts))
    if absent:
        notes.append(f"{other.name} has no examples of: {', '.join(absent[:SHOWN])}.")
    return notes
