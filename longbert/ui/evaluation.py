"""Does a model earn its place? Scores on labelled documents, and the yardsticks a trained model
must beat on the same dev set: always answering the most common training label (the majority
baseline) and zero-shot with the same label names.

Plain Python over the library (tested without a browser); the Train and Models pages show it.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from longbert.data import LabeledDataset
from longbert.results import Prediction
from longbert.training.metrics import classification_report

#: How much better (accuracy or macro-F1, absolute) a model must be to count as better.
MARGIN = 0.01


@dataclass(frozen=True)
class Scores:
    """Accuracy, macro-F1 and the confusion matrix (rows: true label, columns: predicted)."""

    name: str
    accuracy: float
    macro_f1: float
    labels: list[str]
    confusion: list[list[int]]
    documents: int
    #: Documents the model could not classify: counted as wrong by :func:`score` (the dev-set
    #: verdict), left out of the figures by :func:`evaluate_upload` (as the command line does).
    failed: int = 0
    #: Repeated texts of an upload counted once (:func:`evaluate_upload`).
    duplicates_dropped: int = 0


def score(name: str, gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> Scores:
    """Single-label scores of ``predicted`` against ``gold``. A None prediction (a document the
    model could not read) counts as wrong, in a "(failed)" column of the confusion matrix."""
    failed = "(failed)"
    answers = [failed if p is None else str(p) for p in predicted]
    space = list(dict.fromkeys([*labels, *gold, *answers]))
    if len(space) < 2:
        space.append(failed)
    index = {label: i for i, label in enumerate(space)}
    report = classification_report(np.asarray([index[g] for g in gold], dtype=np.int64),
                                   np.asarray([index[a] for a in answers], dtype=np.int64), space)
    return Scores(name, float(report["accuracy"]), float(report["macro_f1"]), space,
                  report["confusion_matrix"], len(gold), sum(p is None for p in predicted))


def majority_scores(train_labels: Sequence[str], gold: Sequence[str], labels: Sequence[str]) -> Scores:
    """The scores of always answering the most common training label."""
    common = Counter(train_labels).most_common(1)[0][0] if train_labels else labels[0]
    return score(f"always '{common}' (majority baseline)", gold, [common] * len(gold), labels)


def predicted_labels(results: Sequence[Any]) -> list[str | None]:
    """The label of each result, None for an error."""
    return [r.label if isinstance(r, Prediction) else None for r in results]


@dataclass(frozen=True)
class Verdict:
    """A trained model against its yardsticks on one dev set, in words and numbers."""

    model: Scores
    yardsticks: list[Scores] = field(default_factory=list)

    @property
    def beaten_by(self) -> list[Scores]:
        """Yardsticks the model is not clearly better than (on accuracy and macro-F1)."""
        return [y for y in self.yardsticks
                if self.model.accuracy < y.accuracy + MARGIN and self.model.macro_f1 < y.macro_f1 + MARGIN]

    @property
    def better(self) -> bool:
        return not self.beaten_by

    @property
    def message(self) -> str:
        m = self.model
        own = f"accuracy {m.accuracy:.0%}, macro-F1 {m.macro_f1:.0%} on {m.documents} dev documents"
        if not self.yardsticks:
            return f"The model scored {own}."
        if self.better:
            others = "; ".join(f"{y.name}: {y.accuracy:.0%} / {y.macro_f1:.0%}" for y in self.yardsticks)
            return f"The model scored {own}: better than {others}."
        worst = "; ".join(f"{y.name} scores {y.accuracy:.0%} accuracy, {y.macro_f1:.0%} macro-F1"
                          for y in self.beaten_by)
        return (f"The model is no better than a simpler choice: it scored {own}, while {worst}. "
                "Keep the current default model; label more documents (a few dozen per label) "
                "or train for more epochs before using it.")

    def rows(self) -> list[dict[str, Any]]:
        """One table line per scorer (accuracy and macro-F1 in 0..1)."""
        return [{"model": s.name, "accuracy": s.accuracy, "macro_f1": s.macro_f1,
                 "dev documents": s.documents} for s in [self.model, *self.yardsticks]]


def dev_set(config: Any) -> tuple[list[str], LabeledDataset]:
    """The training labels and the dev set a run used (the same split: same data and seed)."""
    from longbert.training.datasets import prepare_data

    splits = prepare_data(config)
    return [ex.label for ex in splits.train.examples], splits.dev


def judge(
    config: Any,
    classify_with: Callable[[str, Sequence[Any]], list[Any]],
    model_key: str,
    zero_shot: bool = True,
) -> Verdict:
    """Score the trained model in ``model_key`` on its run's dev set against the majority
    baseline and (``zero_shot``) zero-shot with the label names as descriptions.

    ``classify_with(key, documents)`` classifies with a checkpoint folder or ``"zero-shot"``
    (labels: the dev set's label space). Multi-label runs are not judged (ValueError).
    """
    if getattr(config, "multi_label", False):
        raise ValueError("Multi-label models are compared on their dev report only.")
    train_labels, dev = dev_set(config)
    gold = [ex.label for ex in dev.examples]
    documents = [ex.document for ex in dev.examples]
    labels = list(dev.labels)
    model = score("the trained model", gold, predicted_labels(classify_with(model_key, documents)), labels)
    yardsticks = [majority_scores(train_labels, gold, labels)]
    if zero_shot:
        zero = predicted_labels(classify_with("zero-shot", documents))
        yardsticks.append(score("zero-shot with the label names", gold, zero, labels))
    return Verdict(model, yardsticks)


def evaluate_upload(
    name: str, data: bytes, text_column: str, label_column: str, classifier: Any
) -> Scores:
    """Scores of a loaded ``classifier`` on an uploaded labelled file (CSV/TSV/JSON Lines, maybe
    .gz), computed by :func:`longbert.evaluate.evaluate` -- the command line's scoring -- so the
    Models page and ``python -m longbert.evaluate`` give one file the same figures: duplicate
    texts counted once, documents the model cannot read left out (and counted in ``failed``),
    labels the model does not know refused (DatasetError), multi-label models scored as such.
    DatasetError also names missing columns and a file without labelled documents."""
    from longbert.evaluate import evaluate

    suffix = "".join(Path(name).suffixes[-2:]) or ".jsonl"
    with tempfile.TemporaryDirectory(prefix="longbert-eval-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        report = evaluate(classifier, path, text_column=text_column, label_column=label_column)
    confusion = report["confusion_matrix"]
    return Scores(
        name=str(getattr(classifier, "name", name)),
        accuracy=float(report["accuracy"]),
        macro_f1=float(report["macro_f1"]),
        labels=list(report["labels"]),
        confusion=confusion if isinstance(confusion, list) else [],  # multi-label: per label
        documents=int(report["num_docs"]),
        failed=len(report["errors"]),
        duplicates_dropped=int(report["duplicates_dropped"]),
    )
