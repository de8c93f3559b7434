"""``early-exit`` (FastBERT): a small classifier after each layer; confident rows stop early.

After every encoder layer but the last, an exit classifier (a [CLS] head shaped like the
model's own, initialised from it) reads the row's [CLS] state. At inference a row (a document,
or in chunk mode each window) leaves at the first layer whose prediction has a normalised
entropy (entropy / log(labels); binary entropy averaged over labels for multi-label) below the
threshold; the rest go on, so the batch shrinks layer by layer: the rows still running stay
in one batch (index-selected hidden states and masks), and a layer costs in proportion to
the rows it still has. The threshold is stored with
the model (``exits/config.json``) and can be changed per call (``predict(...,
exit_threshold=...)``). Threshold 0 runs the unchanged full forward path: exactly the source
model. The sparse (long) mode always runs the full model.

The threshold is a normalised entropy: 0.2 asks a two-label exit for about 97% confidence.
A model whose own final predictions are rarely that sure exits rarely at such thresholds;
the speed/accuracy curve (``bench/bench_compress.py``) shows where its exits start to leave,
and ``python -m longbert.compress`` chooses the threshold on calibration data (labelled or
not) for an accuracy budget (:mod:`longbert.compression.exit_calibration`).

Training is self-distillation (FastBERT): on unlabelled text, each exit learns the final
head's soft prediction for the same row (KL divergence; soft binary cross-entropy for
multi-label). The backbone and the final head are frozen, so the [CLS] states of every layer
are computed once and the exits train on them in seconds.

Chunk mode with a threshold above 0: a document's probabilities are the mean of its windows'
(each from the exit it took, or the final head for windows that ran every layer), as the
windows may leave at different layers; a document none of whose windows left early gets the
model's own prediction (the head on its mean-pooled windows), exactly. That mean of window
predictions stands for the document's prediction only under mean pooling (or attention pooling
still at its untrained, uniform start): a chunk model that pools windows by trained attention,
a document layer or max runs the full path whatever the threshold, and ``compress`` refuses to
add exits to one (its windows' own predictions mean nothing alone: one such model scored 64%,
the majority class, through window exits, against 81% read whole).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from longbert.document import Document
from longbert.modeling.long_bert import _Masks  # the encoder's per-pass masks, reused layer by layer
from longbert.modeling.modules import ClsHead, _load_config_and_state, _load_state, _save_module

if TYPE_CHECKING:
    from longbert.inputs import ModelInputs

#: A :class:`~longbert.classifier.Classifier`: never imported here, since the
#: classifier's loader and forward path import this module (no import cycle).
Classifier = Any

#: Folder of a checkpoint holding the exits.
EXITS_DIR = "exits"
DEFAULT_THRESHOLD = 0.2


class ExitHeads(nn.Module):
    """One [CLS] classifier after each layer but the last (which the model's head reads)."""

    def __init__(
        self, hidden_size: int, num_labels: int, num_layers: int, threshold: float = DEFAULT_THRESHOLD
    ):
        super().__init__()
        self.hidden_size, self.num_labels, self.num_layers = hidden_size, num_labels, num_layers
        self.threshold = float(threshold)
        self.heads = nn.ModuleList(ClsHead(hidden_size, num_labels, 0.0) for _ in range(num_layers - 1))

    def save(self, folder: Path) -> None:
        config = {
            "hidden_size": self.hidden_size,
            "num_labels": self.num_labels,
            "num_layers": self.num_layers,
            "threshold": self.threshold,
        }
        _save_module(self, folder, config)

    @classmethod
    def load(cls, folder: Path) -> ExitHeads:
        from longbert.errors import CheckpointError

        config, state = _load_config_and_state(folder)
        try:
            module = cls(
                int(config["hidden_size"]),
                int(config["num_labels"]),
                int(config["num_layers"]),
                float(config["threshold"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(
                f"Checkpoint part '{folder}' has an unusable config.json: {error}"
            ) from error
        _load_state(module, state, folder)
        return module.eval()


def attach(classifier: Classifier, folder: Path) -> None:
    """Give a loaded classifier its exits (``folder/exits``); checked against the encoder."""
    from longbert.errors import CheckpointError

    exits = ExitHeads.load(folder / EXITS_DIR)
    config = classifier.encoder.config
    if (exits.hidden_size, exits.num_layers, exits.num_labels) != (
        config.hidden_size,
        config.num_hidden_layers,
        len(classifier.labels),
    ):
        raise CheckpointError(f"Checkpoint '{folder}': its exits do not match its encoder or labels.")
    classifier.early_exit = exits.to(classifier.device)


def uncertainty(logits: Tensor, multi_label: bool) -> Tensor:
    """Normalised entropy in [0, 1] of each row's prediction ``[R, L]`` -> ``[R]``."""
    logits = logits.float()
    if multi_label:
        p = torch.sigmoid(logits).clamp(1e-7, 1 - 1e-7)
        return (-(p * p.log() + (1 - p) * (1 - p).log()) / math.log(2)).mean(dim=-1)
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(dim=-1) / math.log(logits.shape[-1])


def run_with_exits(
    classifier: Classifier,
    inputs: ModelInputs,
    threshold: float,
    *,
    rows_per_pass: int | None = None,
    output_cls_attention: bool = False,
    output_window_logits: bool = False,
    **ignored: Any,
) -> dict[str, Tensor | None] | None:
    """The forward path with exits (no gradients): the fields of a ``ClassifierOutput``
    (``logits``, ``window_weights``, ``window_logits``, ``cls_attention``); None where the
    full path must run instead (threshold 0, sparse mode, full attention maps, given embeddings).

    ``rows_per_pass``: in chunks mode, at most this many windows go through the layers together
    (as in the full path), so a document of hundreds of windows never makes one huge pass.
    A row's ``cls_attention`` is the [CLS] row of the last layer it ran."""
    exits: ExitHeads | None = getattr(classifier, "early_exit", None)
    if (
        exits is None
        or threshold <= 0
        or inputs.mode == "long"
        or inputs.inputs_embeds is not None
        or ignored.get("output_attentions")
        or (inputs.mode == "chunks" and not pools_by_mean(classifier, ignored.get("pooling")))
    ):
        return None
    rows = inputs.num_rows
    step = max(1, rows_per_pass) if rows_per_pass is not None and inputs.mode == "chunks" else rows
    passes = [
        exit_pass(
            classifier,
            exits,
            inputs.rows(start, start + step) if step < rows else inputs,
            threshold,
            output_cls_attention,
        )
        for start in range(0, rows, step)
    ]
    row_logits = torch.cat([p.logits for p in passes]) if len(passes) > 1 else passes[0].logits
    cls_rows = None
    if output_cls_attention:
        cls_rows = (
            torch.cat([p.cls_attention for p in passes]) if len(passes) > 1 else passes[0].cls_attention
        )
    if inputs.mode == "chunks":
        probs = classifier.probabilities(row_logits)
        counts = torch.bincount(inputs.window_doc, minlength=inputs.num_docs).clamp(min=1)
        doc_probs = torch.zeros(inputs.num_docs, probs.shape[1], device=probs.device)
        doc_probs.index_add_(0, inputs.window_doc, probs)
        doc_probs = (doc_probs / counts[:, None]).clamp(1e-7, 1 - 1e-7)
        logits = torch.logit(doc_probs) if classifier.multi_label else doc_probs.log()
        weights = 1.0 / counts[inputs.window_doc].float()
        # Documents whose windows all ran every layer: the model's own pooling and head, exactly.
        finals = torch.cat([p.final_states for p in passes]) if len(passes) > 1 else passes[0].final_states
        left = torch.cat([p.left_early for p in passes]) if len(passes) > 1 else passes[0].left_early
        whole = torch.ones(inputs.num_docs, dtype=torch.bool, device=logits.device)
        whole[inputs.window_doc[left]] = False
        if bool(whole.any()):
            exact = classifier.classify_windows(finals, inputs, pooling=ignored.get("pooling")).logits
            logits = torch.where(whole[:, None], exact.float(), logits)
    else:
        logits, weights = row_logits, torch.ones(rows, device=row_logits.device)
    return {
        "logits": logits,
        "window_weights": weights,
        "window_logits": row_logits if output_window_logits and inputs.mode == "chunks" else None,
        "cls_attention": cls_rows,
    }


@dataclass
class ExitPass:
    """One batched pass with exits over ``R`` rows of ``T`` tokens: ``logits`` ``[R, L]``
    float32 (each row's exit, or the final head's), ``cls_attention`` ``[R, T]`` float32 (the
    [CLS] row of the row's last layer; 0 on padding) when asked."""

    logits: Tensor
    cls_attention: Tensor | None
    #: ``[R, H]`` float32: the last layer's [CLS] state of rows that ran every layer (0 elsewhere).
    final_states: Tensor
    #: ``[R]`` bool: the rows that left at an exit.
    left_early: Tensor


def pools_by_mean(classifier: Classifier, pooling: str | None = None) -> bool:
    """Whether ``classifier`` pools chunk windows by their plain mean (``pooling``: a call's
    override): ``mean``, or ``attention`` whose scorer is still zero (uniform weights)."""
    module = getattr(classifier, "pooling", None)
    method = pooling or getattr(module, "method", "mean")
    if method == "mean":
        return True
    return method == "attention" and module is not None and not bool(module.scorer.weight.any())


def exit_pass(
    classifier: Classifier, exits: ExitHeads, inputs: ModelInputs, threshold: float, need_cls: bool
) -> ExitPass:
    """Run the rows of ``inputs`` layer by layer, all still-running rows in one batch.

    After each layer the rows whose exit is confident leave: the hidden states and masks of
    the rest are index-selected, and key columns that are padding for every row still running
    are cut off (exact: padding keys get no attention weight), so each layer costs in
    proportion to the rows (and tokens) it still has. Logits are float32 whatever the compute
    dtype (under autocast the heads give bf16/fp16)."""
    encoder = classifier.encoder
    ids = inputs.input_ids
    rows, width = ids.shape
    device = ids.device
    head_dtype = classifier.head.classifier.weight.dtype
    row_logits = torch.zeros(rows, len(classifier.labels), device=device)
    final_states = torch.zeros(rows, classifier.encoder.config.hidden_size, device=device)
    left_early = torch.zeros(rows, dtype=torch.bool, device=device)
    cls_rows = torch.zeros(rows, width, device=device) if need_cls else None
    active = torch.arange(rows, device=device)  # which input row each batch row is
    valid = inputs.attention_mask.bool()
    masks = _Masks(valid, padded=not bool(valid.all()))
    hidden = encoder.embeddings(ids, torch.zeros_like(ids))
    layers = encoder.encoder.layer
    for index, layer in enumerate(layers):
        last = index == len(layers) - 1
        # The last layer computes the [CLS] position alone, as the full path does.
        hidden, cls_row, _ = layer(hidden, masks, need_cls, False, last)
        cls_states = hidden[:, 0].to(head_dtype)
        if last:
            row_logits[active] = classifier.head(cls_states).float()
            final_states[active] = cls_states.float()
            if cls_rows is not None and cls_row is not None:
                cls_rows[active, : cls_row.shape[1]] = cls_row.float()
            break
        logits = exits.heads[index](cls_states).float()
        leave = uncertainty(logits, classifier.multi_label) < threshold
        if not bool(leave.any()):  # the one host sync per layer: the batch's next size
            continue
        row_logits[active[leave]] = logits[leave]
        left_early[active[leave]] = True
        if cls_rows is not None and cls_row is not None:  # kept for the rows leaving here
            cls_rows[active[leave], : cls_row.shape[1]] = cls_row[leave].float()
        stay = (~leave).nonzero().squeeze(1)
        if stay.numel() == 0:
            break
        active, hidden, valid = active[stay], hidden.index_select(0, stay), valid.index_select(0, stay)
        used = int(valid.any(dim=0).nonzero().max()) + 1  # keys past it are padding for every row
        if used < hidden.shape[1]:
            hidden, valid = hidden[:, :used].contiguous(), valid[:, :used]
        masks = _Masks(valid, padded=not bool(valid.all()))
    return ExitPass(row_logits, cls_rows, final_states, left_early)


@torch.inference_mode()
def layer_states(classifier: Classifier, inputs: ModelInputs) -> tuple[list[Tensor], Tensor]:
    """Every layer's [CLS] states ``[R, H]`` (float32) and the final head's logits per row ``[R, L]``."""
    encoder = classifier.encoder
    ids, key_valid = inputs.input_ids, inputs.attention_mask.bool()
    masks = _Masks(key_valid, padded=not bool(key_valid.all()))
    hidden = encoder.embeddings(ids, torch.zeros_like(ids))
    states = []
    for index, layer in enumerate(encoder.encoder.layer):
        hidden, _, _ = layer(hidden, masks, False, False, index == len(encoder.encoder.layer) - 1)
        states.append(hidden[:, 0].float())
    teacher = classifier.head(states[-1].to(classifier.head.classifier.weight.dtype)).float()
    return states[:-1], teacher


def train_exits(
    classifier: Classifier,
    texts: Sequence[str | Document],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    epochs: int = 30,
    learning_rate: float = 1e-3,
    batch_size: int = 8,
    seed: int = 0,
    start_from_head: bool = True,
) -> ExitHeads:
    """Exits trained by self-distillation from ``classifier``'s final head on ``texts`` (labels
    unused): each exit's prediction on a row's [CLS] state at its layer learns the final head's.
    Exits start as copies of the final head (``start_from_head``; else BERT's random init)."""
    if not texts:
        raise ValueError("early-exit training needs texts (the training texts, or unlabelled ones).")
    classifier.eval()
    device = classifier.device
    layers: list[list[Tensor]] = []
    teachers: list[Tensor] = []
    for start in range(0, len(texts), batch_size):
        selections = [s for s in classifier.prepare(list(texts[start : start + batch_size])) if s.used_tokens]
        if not selections:
            continue
        inputs = classifier.collate(selections).to(device)
        if inputs.mode == "long":
            raise ValueError(
                "early exit needs a window strategy (truncate, key_sentences, chunk), not sparse."
            )
        states, teacher = layer_states(classifier, inputs)
        layers.append(states)
        teachers.append(teacher)
    # Cloned outside inference mode: inference tensors cannot be saved for backward.
    features = [torch.cat([batch[i] for batch in layers]).clone() for i in range(len(layers[0]))]
    target = classifier.probabilities(torch.cat(teachers)).clone()
    config = classifier.encoder.config
    exits = ExitHeads(config.hidden_size, len(classifier.labels), config.num_hidden_layers, threshold).to(
        device
    )
    torch.manual_seed(seed)
    initial = {k: v.float() for k, v in classifier.head.state_dict().items()} if start_from_head else None
    for head, feature in zip(exits.heads, features, strict=True):
        if initial is not None:
            head.load_state_dict(initial)
        start = {k: v.detach().clone() for k, v in head.state_dict().items()}
        optimizer = torch.optim.Adam(head.parameters(), lr=learning_rate)
        # The starting point is also the fallback: the state with the
        # lowest distillation loss over all epochs is kept, so training never makes it worse.
        best_loss, best_state = _distill_loss(head, feature, target, classifier.multi_label).item(), None
        for _ in range(epochs):
            for batch in torch.randperm(len(feature), device=device).split(32):
                loss = _distill_loss(head, feature[batch], target[batch], classifier.multi_label)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                loss_now = _distill_loss(head, feature, target, classifier.multi_label).item()
            if loss_now < best_loss:
                best_loss, best_state = (
                    loss_now,
                    {k: v.detach().clone() for k, v in head.state_dict().items()},
                )
        head.load_state_dict(best_state if best_state is not None else start)
    return exits.eval()


def _distill_loss(head: nn.Module, feature: Tensor, target: Tensor, multi_label: bool) -> Tensor:
    """KL(final head || exit) for single-label, soft binary cross-entropy for multi-label."""
    logits = head(feature)
    if multi_label:
        return nn.functional.binary_cross_entropy_with_logits(logits, target)
    return nn.functional.kl_div(torch.log_softmax(logits, dim=-1), target, reduction="batchmean")
