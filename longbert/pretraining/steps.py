"""The reusable parts of the pre-training loop: optimiser and two-phase schedule, precision,
one optimiser step, held-out scoring, and :func:`build_parts`, which assembles a run's model,
data and optimiser. :mod:`~longbert.pretraining.step_loop` strings them together
(:mod:`~longbert.pretraining.loop` sets the run up and finishes it).

Two phases share one AdamW (BERT's parameter groups: no decay on biases and LayerNorm, from
:func:`longbert.training.optim.parameter_groups`):

1. **head warm-up** (``head_steps``): the encoder is frozen and the MLM head trains alone at
   ``head_learning_rate`` -- a randomly initialised head would otherwise send large, meaningless
   gradients into the encoder in its first steps (the default encoder ships no head: loss 10.8).
2. **whole model**: every parameter at ``learning_rate``, warmed up linearly over
   ``warmup_ratio`` of the phase's steps, then decayed linearly to 0 at the last step.

A time budget may end the head warm-up before its planned step (:mod:`~longbert.pretraining.budget`):
:func:`end_head_warmup` moves the phase boundary (:class:`PhasePlan`) and the schedule follows it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

from longbert.devices import autocast, precision_dtype
from longbert.document import Document
from longbert.pretraining.config import PretrainConfig
from longbert.pretraining.corpus import STORE_ORDER_FIRST_CLASSIFIED, Corpus, read_corpus
from longbert.pretraining.errors import PretrainError
from longbert.pretraining.masking import MaskingSpec, MaskVocabulary
from longbert.pretraining.model import LongBertForMaskedLM, build_model, copied_global_projections
from longbert.pretraining.packing import PackedSequence, make_batch, plan_epoch
from longbert.pretraining.sequences import SPLIT_DOCUMENTS_OR_TOKENS, PackedCorpus, pack_corpus
from longbert.pretraining.state import LoadedState, PretrainState, restore_rng
from longbert.training.distributed import DistContext
from longbert.training.optim import parameter_groups

#: The "epoch" held-out masks are drawn for: the same masks before and after training.
EVAL_EPOCH = 1_000_000_007


def phase_factor(step: int, head_steps: int, warmup_ratio: float, total_steps: int) -> float:
    """Learning-rate factor of the whole-model phase at optimiser ``step`` (0 during warm-up of
    the head): linear warm-up over ``warmup_ratio`` of the phase, then linear decay to 0."""
    if step < head_steps:
        return 0.0
    s, length = step - head_steps, max(1, total_steps - head_steps)
    warmup = round(warmup_ratio * length)
    if s < warmup:
        return (s + 1) / warmup  # as training.optim.linear_schedule: no step at a rate of 0
    return max(0.0, (length - s) / max(1, length - warmup))


@dataclass
class PhasePlan:
    """Where the phases fall, in optimiser steps: the schedule reads ``head_steps`` at every step,
    so :func:`end_head_warmup` can move it."""

    head_steps: int
    warmup_ratio: float
    total_steps: int


def make_optimizer(
    model: LongBertForMaskedLM,
    learning_rate: float,
    head_learning_rate: float,
    weight_decay: float,
    head_steps: int,
    warmup_ratio: float,
    total_steps: int,
    plan: PhasePlan | None = None,
) -> tuple[torch.optim.AdamW, LambdaLR]:
    """AdamW over four groups (encoder / head x decay / no decay) and the two-phase schedule.

    Call with every parameter trainable. The tied decoder weight is the encoder's embedding
    table: it is counted once, with the encoder. ``plan``: the phases to follow, which the caller
    may move later (default: a fixed plan of ``head_steps``, ``warmup_ratio``, ``total_steps``).
    """
    plan = plan or PhasePlan(head_steps, warmup_ratio, total_steps)
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    groups: list[dict[str, Any]] = []
    lambdas = []
    for group in parameter_groups(model, weight_decay):
        params = list(group["params"])  # type: ignore[call-overload]
        for in_encoder in (True, False):
            chosen = [p for p in params if (id(p) in encoder_ids) == in_encoder]
            if not chosen:
                continue
            rate = learning_rate if in_encoder else head_learning_rate
            groups.append({"params": chosen, "weight_decay": group["weight_decay"], "lr": rate})

            def factor(step: int, in_encoder: bool = in_encoder) -> float:
                whole = phase_factor(step, plan.head_steps, plan.warmup_ratio, plan.total_steps)
                if in_encoder or step >= plan.head_steps:
                    return whole * (1.0 if in_encoder else learning_rate / head_learning_rate)
                return 1.0

            lambdas.append(factor)
    fused = all(p.is_cuda for p in model.parameters())
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, eps=1e-8, fused=fused or None)
    return optimizer, LambdaLR(optimizer, lambdas)


def end_head_warmup(
    optimizer: torch.optim.Optimizer, scheduler: LambdaLR, plan: PhasePlan, step: int
) -> None:
    """End the head warm-up at ``step``, before that step trains: the whole-model phase starts
    there, and the optimiser's rates become what the schedule now says for it."""
    plan.head_steps = step
    factors = [fn(scheduler.last_epoch) for fn in scheduler.lr_lambdas]
    rates = [base * f for base, f in zip(scheduler.base_lrs, factors, strict=True)]
    for group, rate in zip(optimizer.param_groups, rates, strict=True):
        group["lr"] = rate
    scheduler._last_lr = rates  # what get_last_lr() reports (LambdaLR keeps it there)


def resolve_precision(option: str, device: torch.device) -> torch.dtype | None:
    """``auto``: bf16 on CUDA where supported (else fp16) and on CPUs that compute bf16 natively,
    else fp32; ``fp32``/``bf16``/``fp16`` as asked (:func:`longbert.devices.precision_dtype`, as
    predictions read it: pre-training measured bf16 on such CPUs, fine-tuning did not)."""
    return precision_dtype(device, option)


def optimizer_step(
    model: LongBertForMaskedLM,
    optimizer: torch.optim.Optimizer,
    scheduler: LambdaLR,
    scaler: torch.amp.GradScaler,
    max_grad_norm: float,
) -> None:
    """Unscale, clip the trainable parameters' gradient norm, step, schedule, clear gradients."""
    if max_grad_norm > 0:
        scaler.unscale_(optimizer)
        trainable = [p for p in model.parameters() if p.requires_grad]
        torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


@torch.no_grad()
def evaluate(
    model: LongBertForMaskedLM,
    sequences: Sequence[PackedSequence],
    vocab: MaskVocabulary,
    spec: MaskingSpec,
    *,
    seed: int,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    dtype: torch.dtype | None,
    long: bool = False,
    attention_window: int | None = None,
    global_masked_share: float = 0.0,
) -> dict[str, float] | None:
    """MLM loss (mean over predicted tokens), perplexity (``exp`` of it) and top-1 accuracy on
    ``sequences`` with fixed masks; None without sequences. Leaves the model in train mode."""
    if not sequences:
        return None
    model.eval()
    loss_sum, count, correct = 0.0, 0, 0
    try:
        for start in range(0, len(sequences), batch_size):
            indices = np.arange(start, min(start + batch_size, len(sequences)))
            batch = make_batch(
                sequences, indices, vocab, spec, seed, EVAL_EPOCH, pad_id, long, global_masked_share
            ).to(device)
            with autocast(device, dtype):
                out = model(batch, sparse=long, attention_window=attention_window)
            loss_sum += float(out.loss) * out.predictions
            count += out.predictions
            correct += out.correct
    finally:
        model.train()
    loss = loss_sum / max(count, 1)
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 80.0)),
        "accuracy": correct / max(count, 1),
        "predictions": count,
        "sequences": len(sequences),
    }


@dataclass
class RunParts:
    """One run's moving parts (built by :func:`build_parts`)."""

    model: LongBertForMaskedLM
    wrapped: torch.nn.Module  # DDP around ``model`` when several processes train
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    vocab: MaskVocabulary
    data: PackedCorpus
    dtype: torch.dtype | None
    total: int
    plan: PhasePlan
    pad_id: int
    has_head: bool
    #: ``(layer, projection)`` global projections that were untrained copies in the source encoder.
    copied_globals: frozenset[tuple[int, str]] = field(default_factory=frozenset)

    @property
    def head_steps(self) -> int:
        """Steps of the head warm-up (:func:`end_head_warmup` may have ended it early)."""
        return self.plan.head_steps


def read_run_corpus(
    config: PretrainConfig,
    documents: Iterable[Document | str] | None = None,
    store_order: str = STORE_ORDER_FIRST_CLASSIFIED,
) -> Corpus:
    """The corpus ``config`` names (files, the store, in-memory ``documents``): what a run reads,
    and what the Adapt page's time plan measures, read alike."""
    return read_corpus(
        config.corpus,
        from_store=config.from_store,
        batch_id=config.batch,
        text_column=config.text_column,
        skip_bad_files=config.skip_bad_files,
        documents=documents,
        store_order=store_order,
    )


def planned_steps(config: PretrainConfig, per_epoch: int) -> int:
    """Optimiser steps a run plans with ``per_epoch`` micro-batches an epoch: ``--max-steps``, else
    ``--epochs`` passes (gradient accumulation counted)."""
    return config.max_steps or max(1, math.ceil(config.epochs * per_epoch / config.gradient_accumulation))


def build_parts(
    config: PretrainConfig, ctx: DistContext, corpus: Corpus, tokenizer: Any, loaded: LoadedState | None
) -> tuple[RunParts, PretrainState]:
    """Model (warm-started, on the device, DDP-wrapped when distributed), packed data, optimiser,
    schedule and scaler, and the run's counters: fresh, or as ``loaded`` left them (resume)."""
    model, has_head = build_model(config.encoder, config.content_tokens + 2 if config.long else 0)
    vocab = MaskVocabulary.from_tokenizer(tokenizer, model.encoder.config.vocab_size)
    # A resumed run splits as it started (a run older than the split by tokens: by documents).
    split = loaded.state.heldout_split if loaded is not None else SPLIT_DOCUMENTS_OR_TOKENS
    data = pack_corpus(config, corpus.documents, tokenizer, split or SPLIT_DOCUMENTS_OR_TOKENS)
    lengths = np.asarray([len(s) for s in data.train])
    per_epoch = len(plan_epoch(lengths, config.micro_batch, config.seed, 0, ctx.rank, ctx.world_size))
    total = planned_steps(config, per_epoch)
    head_steps = config.head_warmup_steps
    if head_steps < 0:  # auto: a tenth of the run when the checkpoint brings no head
        head_steps = 0 if has_head or total < 2 else max(1, round(0.1 * total))
    head_steps = max(0, min(head_steps, total - 1))
    if loaded is not None and loaded.state.head_steps is not None:
        head_steps = loaded.state.head_steps  # a time budget may have ended the warm-up early
    plan = PhasePlan(head_steps, config.warmup_ratio, total)
    copied_globals = copied_global_projections(model.encoder)  # the source's, before a resumed state
    dtype = resolve_precision(config.precision, ctx.device)
    if config.gradient_checkpointing == "on" or (config.gradient_checkpointing == "auto" and config.long):
        model.encoder.gradient_checkpointing_enable()
    model.to(ctx.device).train()
    wrapped = ctx.wrap(model)  # every parameter trainable now: DDP registers them all
    optimizer, scheduler = make_optimizer(
        model,
        config.learning_rate,
        config.head_learning_rate,
        config.weight_decay,
        head_steps,
        config.warmup_ratio,
        total,
        plan,
    )
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=dtype == torch.float16)
    state = PretrainState(
        config=config.to_dict(),
        corpus_sha256=corpus.sha256,
        corpus_order_sha256=corpus.order_sha256,
        head_steps=head_steps,
    )
    if loaded is not None:
        found = model.load_state_dict(loaded.model, strict=False)
        if set(found.missing_keys) != {"head.decoder.weight"} or found.unexpected_keys:
            raise PretrainError(
                f"The resumable state in '{config.output_path}' does not fit the encoder "
                f"(missing {found.missing_keys[:3]}, unexpected {found.unexpected_keys[:3]})."
            )
        optimizer.load_state_dict(loaded.optimizer)
        scheduler.load_state_dict(loaded.scheduler)
        if loaded.scaler:
            scaler.load_state_dict(loaded.scaler)
        restore_rng(loaded.rng)
        state = loaded.state
        state.config = config.to_dict()
        state.corpus_order_sha256, state.head_steps = corpus.order_sha256, head_steps
    parts = RunParts(
        model,
        wrapped,
        optimizer,
        scheduler,
        scaler,
        vocab,
        data,
        dtype,
        total,
        plan,
        int(tokenizer.pad_token_id),
        has_head,
        copied_globals,
    )
    return parts, state
