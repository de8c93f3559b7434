"""``distill`` (DistilBERT / TinyBERT): a student with half the layers, trained to mimic the source.

The student is the source with every other encoder layer (ending with the last: layers 2, 4, 6
of 6), its embeddings, pooling and head copied, as DistilBERT initialises from the teacher. It
then trains on the teacher's soft predictions (KL at temperature :data:`TEMPERATURE`, scaled by
T^2) plus a hidden-state loss (mean squared error), over the given texts (training texts plus
any unlabelled ones; no labels are read). The hidden-state loss is the distance of the final
[CLS] vector to the teacher's by default (``hidden="cls"``; the teacher's outputs are computed
once and reused every epoch), or TinyBERT's layer-wise one (``hidden="layers"``: the embeddings'
output and each student layer against the teacher layer it was copied from, at every real
token; the teacher runs every batch). Measured on hyperpartisan fold 1 (3 epochs on the 514
training texts, bench_compress.py), the layer-wise loss lost 6.20 points where the [CLS] one
lost 4.65 (two articles of 129 apart) and took longer (2,308 s beside a training run, 376 s for
the [CLS] loss). Not measured, but likely: pulling every token of every layer competes with the
prediction loss when both train at once (TinyBERT trains them in two stages). TinyBERT's
attention loss is left out: the fused attention kernels return no attention scores. The result
is an ordinary classifier checkpoint with a smaller encoder: it loads and runs like any other,
nothing to apply at load.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Sequence

import torch
from torch import nn

from longbert.classifier import LongBertClassifier
from longbert.compression import HIDDEN_TARGETS
from longbert.devices import autocast, precision_dtype
from longbert.document import Document
from longbert.inputs import ModelInputs
from longbert.modeling.long_bert import LongBertModel
from longbert.strategies.base import Selection

TEMPERATURE = 2.0
HIDDEN_WEIGHT = 1.0


def alternate_layers(num_layers: int) -> list[int]:
    """Every other layer, ending with the last: 6 -> [1, 3, 5], 2 -> [1], 1 -> [0]."""
    return list(range(num_layers - 1, -1, -2))[::-1]


def student_layers(teacher: LongBertClassifier, keep: Sequence[int] | None) -> list[int]:
    """The teacher layers a student keeps: ``keep``, else :func:`alternate_layers`."""
    return list(keep) if keep is not None else alternate_layers(teacher.encoder.config.num_hidden_layers)


def make_student(teacher: LongBertClassifier, keep: Sequence[int] | None = None) -> LongBertClassifier:
    """The teacher with only layers ``keep`` (default :func:`alternate_layers`), float32, on its device."""
    layers = student_layers(teacher, keep)
    config = dataclasses.replace(teacher.encoder.config, num_hidden_layers=len(layers))
    encoder = LongBertModel(config)
    state = {}
    for key, value in teacher.encoder.state_dict().items():
        match = re.match(r"encoder\.layer\.(\d+)\.(.*)", key)
        if match is None:
            state[key] = value.float()
        elif int(match.group(1)) in layers:
            state[f"encoder.layer.{layers.index(int(match.group(1)))}.{match.group(2)}"] = value.float()
    encoder.load_state_dict(state)
    student = LongBertClassifier(
        encoder,
        teacher.tokenizer,
        teacher.labels,
        teacher.strategy.config(),
        multi_label=teacher.multi_label,
        encoder_source=teacher.encoder_source,
        name=teacher.name,
        metadata=dict(teacher.metadata),
        head=copy.deepcopy(teacher.head).float(),
        pooling=copy.deepcopy(teacher.pooling).float(),
    )
    return student.to(teacher.device)


def distill(
    teacher: LongBertClassifier,
    texts: Sequence[str | Document],
    *,
    epochs: int = 3,
    learning_rate: float = 5e-5,
    batch_size: int = 8,
    seed: int = 0,
    keep: Sequence[int] | None = None,
    hidden: str = "cls",
) -> LongBertClassifier:
    """A student of ``teacher`` (float32 weights) trained on its soft labels and hidden states
    (``hidden``: one of :data:`HIDDEN_TARGETS`)."""
    if hidden not in HIDDEN_TARGETS:
        raise ValueError(f"hidden must be one of {', '.join(HIDDEN_TARGETS)}; got {hidden!r}.")
    if not texts:
        raise ValueError("distillation needs texts (the training texts, or unlabelled ones).")
    torch.manual_seed(seed)
    teacher.eval()
    layers = student_layers(teacher, keep)
    student = make_student(teacher, layers)
    selections = [s for s in teacher.prepare(list(texts)) if s.used_tokens]
    targets = teacher_targets(teacher, selections, batch_size) if hidden == "cls" else None
    optimizer = torch.optim.AdamW(student.parameters(), lr=learning_rate)
    student.train()
    for _ in range(epochs):
        order = torch.randperm(len(selections)).tolist()
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            inputs = student.collate([selections[i] for i in batch]).to(student.device)
            if targets is not None:
                t_vectors = torch.cat([targets[i][0] for i in batch]).to(student.device)
                t_logits = torch.cat([targets[i][1] for i in batch]).to(student.device)
                s_vectors = student.run_encoder(inputs).vectors
                hidden_loss = nn.functional.mse_loss(s_vectors, t_vectors)
            else:
                t_logits, t_states = teacher_states(teacher, inputs, layers)
                encoding = student.run_encoder(inputs, output_hidden_states=True)
                s_vectors = encoding.vectors
                hidden_loss = layer_loss(encoding.hidden_states or (), t_states, inputs.attention_mask)
            s_logits = student.classify_windows(s_vectors, inputs).logits
            loss = soft_label_loss(s_logits, t_logits, teacher.multi_label) + HIDDEN_WEIGHT * hidden_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return student.eval()


def teacher_states(
    teacher: LongBertClassifier, inputs: ModelInputs, layers: Sequence[int]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The teacher's document logits ``[B, C]`` and, for a student built from ``layers``, the
    states it is matched to: the embeddings' output, then teacher layer ``layers[i]``'s output
    for student layer ``i`` (each ``[W, T, H]``, float32). Inference precision, no gradients."""
    with torch.no_grad(), autocast(teacher.device, precision_dtype(teacher.device, None)):
        encoding = teacher.run_encoder(inputs, output_hidden_states=True)
        logits = teacher.classify_windows(encoding.vectors.float(), inputs).logits.float()
    states = encoding.hidden_states or ()
    return logits, [states[0].float()] + [states[layer + 1].float() for layer in layers]


def layer_loss(
    student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor], attention_mask: torch.Tensor
) -> torch.Tensor:
    """Mean over matched layers of the squared error per real token and hidden unit (padding,
    ``attention_mask`` 0, does not count)."""
    if len(student) != len(teacher):
        raise ValueError(f"{len(student)} student states against {len(teacher)} teacher states.")
    mask = attention_mask.unsqueeze(-1).to(student[0].dtype)
    count = mask.sum() * student[0].shape[-1]
    total = sum((((s - t) ** 2) * mask).sum() / count for s, t in zip(student, teacher, strict=True))
    return total / len(student)


def teacher_targets(
    teacher: LongBertClassifier, selections: Sequence[Selection], batch_size: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per selection: the teacher's window vectors ``[w, H]`` and document logits ``[1, C]``
    (float32, on the CPU).

    Computed once, in the teacher's inference precision (bf16 where the device computes it
    natively), and reused every epoch: the teacher's pass is the same each time, and on a CPU
    it was a third of an epoch's cost.
    """
    dtype = precision_dtype(teacher.device, None)
    targets: list[tuple[torch.Tensor, torch.Tensor]] = []
    with torch.no_grad(), autocast(teacher.device, dtype):
        for start in range(0, len(selections), batch_size):
            inputs = teacher.collate(list(selections[start : start + batch_size])).to(teacher.device)
            vectors = teacher.run_encoder(inputs).vectors.float()
            logits = teacher.classify_windows(vectors, inputs).logits.float().cpu()
            counts = torch.bincount(inputs.window_doc, minlength=inputs.num_docs).tolist()
            for i, doc_vectors in enumerate(torch.split(vectors.cpu(), counts)):
                targets.append((doc_vectors, logits[i : i + 1]))
    return targets


def soft_label_loss(student: torch.Tensor, teacher: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """KL(teacher || student) at :data:`TEMPERATURE` (x T^2); soft BCE for multi-label."""
    if multi_label:
        return nn.functional.binary_cross_entropy_with_logits(student, torch.sigmoid(teacher))
    t = TEMPERATURE
    return (
        nn.functional.kl_div(
            torch.log_softmax(student / t, dim=-1), torch.softmax(teacher / t, dim=-1), reduction="batchmean"
        )
        * t
        * t
    )
