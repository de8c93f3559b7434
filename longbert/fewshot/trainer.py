"""Few-shot training in the manner of SetFit: a first model from a handful of labels.

Plain fine-tuning of the [CLS] head on 20-40 labels stays near chance. SetFit (Tunstall et al.
2022) instead (1) fine-tunes the sentence encoder contrastively on pairs drawn from the few
labelled examples (:mod:`longbert.fewshot.pairs`; CosineSimilarityLoss: the squared error between
the pair's cosine similarity and 1 for same-label, 0 for different-label pairs; AdamW, lr 2e-5,
16 pairs per step, one epoch, linear warm-up over 10%, as ``setfit.TrainingArguments``' defaults)
and then (2) fits a head on the frozen embeddings (:mod:`longbert.fewshot.head`).

Here the embedding of a document is the vector LongBERT's own head reads -- the [CLS] state of
each window the strategy reads, pooled over a chunked document's windows (the checkpoint's chunk
pooling), the sparse encoder's [CLS] for a long input -- so the result is an ordinary
:class:`~longbert.classifier.LongBertClassifier` that ``save_pretrained`` writes, ``load_classifier``
reads and ``predict`` runs like any fine-tuned one. (SetFit mean-pools token states, as the
default encoder was trained; the checkpoint format has no mean-pooling option for [CLS] models
today, so contrastive training teaches [CLS] instead. See the report of issue 21.)

Label descriptions (the zero-shot ones) can join the training set as one extra labelled example
per label, so a label with a good description and few examples starts from what it means.

``FewShotConfig(method="zero-shot-prior")`` (or ``auto`` on single-label data) hands over to the
other few-shot method, :mod:`longbert.fewshot.prior`: the zero-shot model plus a learnt linear
correction, no encoder training (seconds, not minutes), and it keeps what zero-shot knows.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np
import torch

from longbert.active.embeddings import collate, precision, prepare_documents
from longbert.classifier import LongBertClassifier
from longbert.devices import DeviceLike, autocast
from longbert.document import Document
from longbert.fewshot.head import HEADS, fit_cls_head, fit_logistic_head
from longbert.fewshot.pairs import Pair, generate_pairs
from longbert.fewshot.prior import ZeroShotPriorClassifier, train_zero_shot_prior
from longbert.settings import DEFAULT_ENCODER
from longbert.strategies import Selection, Strategy
from longbert.training.optim import linear_schedule, make_optimizer

ProgressFn = Callable[[dict[str, Any]], None]
#: ``setfit`` (this module), ``zero-shot-prior`` (:mod:`longbert.fewshot.prior`), or ``auto``:
#: zero-shot-prior for single-label data, SetFit for multi-label (the prior is single-label only).
#: The library's few-shot methods (the names manifests and metrics record). The command line
#: and the Train page say ``prior`` for ``zero-shot-prior``:
#: :func:`longbert.training.modes.library_few_shot_method` translates.
FEW_SHOT_METHODS = ("auto", "setfit", "zero-shot-prior")


def resolve_method(method: str, multi_label: bool) -> str:
    """The few-shot method ``method`` means for this data (``auto`` resolved)."""
    if method not in FEW_SHOT_METHODS:
        raise ValueError(f"few-shot method must be one of {', '.join(FEW_SHOT_METHODS)}, got {method!r}")
    if method == "auto":
        return "setfit" if multi_label else "zero-shot-prior"
    return method


@dataclass
class FewShotConfig:
    """Settings of :func:`train_few_shot` (SetFit's defaults where it has one)."""

    #: :data:`FEW_SHOT_METHODS`. SetFit by default here, as scripts written before expect; the
    #: command line, the Train page and the Review queue default to ``auto``.
    method: str = "setfit"
    #: zero-shot-prior: the L2 penalty on the correction (larger: closer to zero-shot).
    prior_lam: float = 0.01
    #: Pair-generation rounds R: 2 * R * n pairs for n examples.
    iterations: int = 20
    #: Pairs per optimiser step.
    batch_size: int = 16
    epochs: int = 1
    #: Stop after this many optimiser steps (setfit's ``max_steps``): bounds the cost when many
    #: examples make 2 * R * n pairs. None: every pair, ``epochs`` times.
    max_steps: int | None = None
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    #: Chunk strategy: at most this many random windows of a document per training step (the
    #: head is fit on all of them).
    max_train_windows: int = 4
    #: ``logistic`` (SetFit's) or ``cls_head``; see :mod:`longbert.fewshot.head`.
    head: str = "logistic"
    #: Inverse regularisation strength of the logistic head.
    head_c: float = 1.0
    head_epochs: int = 200
    head_learning_rate: float = 1e-2
    #: Add each label's description (when given) as one more labelled example.
    use_descriptions: bool = True
    #: Windows per forward pass when the head's vectors are computed.
    eval_batch_size: int = 16

    def validate(self) -> None:
        counts = ("iterations", "batch_size", "epochs", "max_train_windows", "head_epochs", "eval_batch_size")
        for name in counts:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"few-shot option '{name}' must be a positive integer, got {value!r}")
        for name in ("learning_rate", "head_c", "head_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"few-shot option '{name}' must be positive")
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or self.max_steps < 1):
            raise ValueError("few-shot option 'max_steps' must be a positive integer or None")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError("few-shot option 'warmup_ratio' must be in [0, 1)")
        resolve_method(self.method, multi_label=False)  # raises for an unknown method
        if not self.prior_lam >= 0:
            raise ValueError("few-shot option 'prior_lam' must be 0 or more")
        if self.head not in HEADS:
            raise ValueError(f"few-shot head must be one of {', '.join(HEADS)}, got {self.head!r}")


def _label_sets(labels: Sequence[str | Sequence[str]], multi_label: bool) -> list[frozenset[str]]:
    sets = []
    for index, value in enumerate(labels):
        values = [value] if isinstance(value, str) else list(value)
        names = frozenset(str(v).strip() for v in values if str(v).strip())
        if not names:
            raise ValueError(f"example {index + 1} has no label")
        if len(names) > 1 and not multi_label:
            raise ValueError(f"example {index + 1} has {len(names)} labels; pass multi_label=True")
        sets.append(names)
    return sets


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pooled_vectors(
    classifier: LongBertClassifier, encoded: list[Selection], strategy: Strategy
) -> torch.Tensor:
    """``[B, H]``: the document vectors the classifier's head reads (grad when enabled), under
    the model's own settings. ``strategy`` is the one ``encoded`` was read under."""
    del strategy
    batch = collate(classifier, encoded)
    window_vectors = classifier.run_encoder(batch).vectors
    if batch.mode == "chunks":
        pooled, _ = classifier.pooling(
            window_vectors, batch.window_doc, batch.num_docs, window_start=batch.window_start
        )
        return pooled
    return window_vectors


@torch.inference_mode()
def head_inputs(
    classifier: LongBertClassifier, encoded: list[Selection], strategy: Strategy, windows_per_pass: int
) -> np.ndarray:
    """``[N, H]`` float32 document vectors of every example, all windows read, dropout off."""
    classifier.eval()
    out = []
    start = 0
    while start < len(encoded):
        stop, windows = start, 0
        while stop < len(encoded) and (
            stop == start or windows + len(encoded[stop].windows) <= windows_per_pass
        ):
            windows += len(encoded[stop].windows)
            stop += 1
        with autocast(classifier.device, classifier.autocast_dtype()):
            out.append(pooled_vectors(classifier, encoded[start:stop], strategy).float().cpu())
        start = stop
    return torch.cat(out).numpy()


def _sample_windows(encoded: Selection, cap: int, rng: np.random.Generator) -> Selection:
    if encoded.mode != "chunks" or len(encoded.windows) <= cap:
        return encoded
    keep = np.sort(rng.choice(len(encoded.windows), size=cap, replace=False))
    return dataclasses.replace(encoded, windows=[encoded.windows[i] for i in keep])


def contrastive_fit(
    classifier: LongBertClassifier,
    encoded: list[Selection],
    pairs: list[Pair],
    strategy: Strategy,
    config: FewShotConfig,
    rng: np.random.Generator,
    progress: ProgressFn | None = None,
) -> list[float]:
    """Fine-tune the encoder with CosineSimilarityLoss on ``pairs``; returns each step's loss.

    Each step encodes every distinct example of its pairs once (the gradient is the same as
    encoding each pair member separately, up to dropout noise), so bigger batches cost less.
    """
    steps_per_epoch = math.ceil(len(pairs) / config.batch_size)
    total = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    encoder = classifier.encoder
    for parameter in classifier.parameters():
        parameter.requires_grad_(False)
    for parameter in encoder.parameters():
        parameter.requires_grad_(True)
    optimizer = make_optimizer(encoder, config.learning_rate, config.weight_decay)
    scheduler = linear_schedule(optimizer, int(config.warmup_ratio * total), total)
    long_inputs = strategy.mode == "long"
    if long_inputs:  # thousands of tokens per example: recompute activations in backward
        encoder.gradient_checkpointing_enable()
    classifier.train()
    losses: list[float] = []
    try:
        for _ in range(config.epochs):
            order = rng.permutation(len(pairs))
            for start in range(0, len(pairs), config.batch_size):
                if len(losses) >= total:
                    break
                batch = [pairs[i] for i in order[start : start + config.batch_size]]
                members = sorted({p.first for p in batch} | {p.second for p in batch})
                row = {example: r for r, example in enumerate(members)}
                inputs = [_sample_windows(encoded[m], config.max_train_windows, rng) for m in members]
                with precision(classifier.device, training=True):
                    vectors = pooled_vectors(classifier, inputs, strategy).float()
                first = torch.tensor([row[p.first] for p in batch], device=vectors.device)
                second = torch.tensor([row[p.second] for p in batch], device=vectors.device)
                target = torch.tensor([p.target for p in batch], device=vectors.device)
                cosine = torch.nn.functional.cosine_similarity(vectors[first], vectors[second], dim=-1)
                loss = torch.nn.functional.mse_loss(cosine, target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
                if progress is not None:
                    progress({"event": "step", "step": len(losses), "total_steps": total, "loss": losses[-1]})
    finally:
        if long_inputs:
            encoder.gradient_checkpointing_disable()
        for parameter in classifier.parameters():
            parameter.requires_grad_(True)
        classifier.eval()
    return losses


def train_few_shot(
    documents: Sequence[str | Document],
    labels: Sequence[str | Sequence[str]],
    *,
    encoder: str | os.PathLike[str] | None = None,
    strategy: Strategy | dict[str, Any] | str = "truncate",
    label_names: Sequence[str] | None = None,
    descriptions: Mapping[str, str] | None = None,
    multi_label: bool = False,
    seed: int = 0,
    iterations: int | None = None,
    config: FewShotConfig | None = None,
    name: str = "few-shot",
    device: DeviceLike | None = None,
    progress: ProgressFn | None = None,
) -> LongBertClassifier | ZeroShotPriorClassifier:
    """A classifier from a handful of labelled documents (SetFit's two steps; module docstring),
    or, when ``config.method`` resolves to ``zero-shot-prior``, the zero-shot model corrected by
    them (:func:`~longbert.fewshot.prior.train_zero_shot_prior`, ``config.prior_lam``).

    Args:
        documents, labels: the examples; a label is a name (or, multi-label, a list of names).
        encoder: the sentence encoder to start from (default: the packaged one).
        strategy: how documents are read, as for any LongBERT model; it is saved with the model.
        label_names: the model's labels, in order (default: sorted labels of the examples). A
            label without examples needs a description.
        descriptions: ``{label: description}``, e.g. the zero-shot ones; used as extra examples
            when ``config.use_descriptions``.
        iterations: pair-generation rounds (overrides ``config.iterations``).
        seed: pairs, window choices, dropout and the head follow it.

    Returns the trained classifier in eval mode; ``metadata["training"] == "few_shot"`` and
    ``metadata["few_shot"]`` records the settings, example counts and losses.
    """
    started = perf_counter()
    config = dataclasses.replace(config or FewShotConfig())
    if iterations is not None:
        config.iterations = iterations
    config.validate()
    if isinstance(documents, str | bytes | Document):
        raise TypeError("train_few_shot takes a list of documents")
    if resolve_method(config.method, multi_label) == "zero-shot-prior":
        return train_zero_shot_prior(
            documents,
            labels,
            encoder=encoder,
            strategy=strategy,
            label_names=label_names,
            descriptions=descriptions,
            multi_label=multi_label,
            lam=config.prior_lam,
            seed=seed,
            name=name,
            device=device,
            batch_size=config.eval_batch_size,
            progress=progress,
        )
    documents, labels = list(documents), list(labels)
    if len(documents) != len(labels):
        raise ValueError(f"{len(documents)} documents but {len(labels)} labels")
    label_sets = _label_sets(labels, multi_label)
    seen = sorted(set().union(*label_sets)) if label_sets else []
    names = [str(n) for n in label_names] if label_names is not None else seen
    unknown = sorted(set(seen) - set(names))
    if unknown:
        raise ValueError(f"examples carry labels outside label_names: {', '.join(unknown)}")
    descriptions = {str(k): str(v) for k, v in (descriptions or {}).items() if str(v).strip()}
    texts: list[str | Document] = list(documents)
    if config.use_descriptions:
        for label in names:
            if label in descriptions:
                texts.append(Document(descriptions[label], name=f"description of {label}"))
                label_sets.append(frozenset([label]))
    counts = {label: sum(label in s for s in label_sets) for label in names}
    empty = [label for label, count in counts.items() if count == 0]
    if empty:
        raise ValueError(
            f"no example (and no description) for label(s) {', '.join(empty)}: label at least one "
            "document of each, or give descriptions"
        )
    if not multi_label and len(names) < 2:
        raise ValueError("a single-label model needs at least two labels")

    _seed_everything(seed)
    rng = np.random.default_rng(seed)
    # The spec goes to the model whole: model settings in it (chunk's pooling, sparse's window)
    # become the model's own.
    classifier = LongBertClassifier.from_encoder(
        encoder, names, strategy, multi_label=multi_label, name=name, device=device
    )
    strategy = classifier.strategy
    encoded = prepare_documents(classifier, texts, strategy)
    bad = [f"example {i + 1}: {e}" for i, e in enumerate(encoded) if isinstance(e, str)]
    if bad:
        raise ValueError("some examples cannot be read: " + "; ".join(bad))
    ready: list[Selection] = [e for e in encoded if not isinstance(e, str)]

    pairs = generate_pairs(label_sets, config.iterations, rng)
    losses = contrastive_fit(classifier, ready, pairs, strategy, config, rng, progress)
    contrastive_seconds = perf_counter() - started

    vectors = head_inputs(classifier, ready, strategy, config.eval_batch_size)
    index = {label: i for i, label in enumerate(names)}
    if multi_label:
        targets = np.zeros((len(label_sets), len(names)), dtype=np.int64)
        for row, label_set in enumerate(label_sets):
            targets[row, [index[label] for label in label_set]] = 1
    else:
        targets = np.array([index[next(iter(s))] for s in label_sets], dtype=np.int64)
    head_losses: list[float] = []
    if config.head == "logistic":
        fit_logistic_head(
            classifier.head, vectors, targets, multi_label=multi_label, c=config.head_c, seed=seed
        )
    else:
        head_losses = fit_cls_head(
            classifier.head,
            vectors,
            targets,
            multi_label=multi_label,
            epochs=config.head_epochs,
            learning_rate=config.head_learning_rate,
            seed=seed,
        )
    classifier.eval()
    classifier.metadata.update(
        training="few_shot",
        few_shot={
            "method": "setfit",
            "config": dataclasses.asdict(config),
            "seed": seed,
            "encoder": str(encoder) if encoder is not None else DEFAULT_ENCODER,
            "examples": len(documents),
            "examples_per_label": counts,
            "descriptions_used": bool(config.use_descriptions and descriptions),
            "pairs": len(pairs),
            "contrastive_loss_first": losses[0] if losses else None,
            "contrastive_loss_last": losses[-1] if losses else None,
            "head_loss_last": head_losses[-1] if head_losses else None,
            "contrastive_seconds": round(contrastive_seconds, 2),
            "seconds": round(perf_counter() - started, 2),
        },
    )
    if progress is not None:
        progress({"event": "end", "seconds": perf_counter() - started})
    return classifier
