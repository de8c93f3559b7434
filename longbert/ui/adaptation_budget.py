"""Sizing an app adaptation run to the minutes the analyst gives.

A run's learning-rate schedule -- and the MLM head's warm-up, 10% of it when the encoder brings
no head -- follows its planned step count. A time limit alone cuts the run wherever it is, which
can be inside the head's warm-up: the encoder is then saved untouched. So before a time-limited
run starts, the job measures what a step costs on this machine and, when the passes asked for
would take longer than the minutes, plans only the steps that fit (``max_steps``): the schedule,
warm-up included, then ends in time, and the limit stays as a backstop.

Why measured, not a fixed documented rate: steps cost ~100x more on a laptop CPU than on a GPU,
and ~10x more for a BERT-base than for the packaged MiniLM; any fixed rate would overrun some
machines or waste most of the minutes on others.

How: the corpus is read and packed exactly as the run will (the library's own functions), then a
throw-away copy of the model trains ``PROBE_STEPS`` steps on the run's own first batches, with the
run's device, precision, threads and gradient checkpointing (masking, forward, backward, AdamW).
The first step (allocations, kernel choice) is timed apart: the run pays its extra cost once,
and it is charged once. Whole-model steps set the rate: the
head warm-up's steps cost less (no backward through the encoder), so the plan errs on the short
side; ``SAFETY`` of the minutes is planned, and the held-out scoring after the warm-up (which the
limit counts) is charged at ``HELDOUT_SHARE`` of the training rate. The run itself reads the
corpus again.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np
import torch

from longbert.devices import autocast, precision_dtype
from longbert.encoder_source import load_tokenizer
from longbert.pretraining import PretrainConfig, PretrainError
from longbert.pretraining.masking import MaskVocabulary
from longbert.pretraining.model import build_model
from longbert.pretraining.packing import PackedSequence, make_batch, plan_epoch
from longbert.pretraining.sequences import pack_corpus
from longbert.pretraining.steps import planned_steps, read_run_corpus
from longbert.training.distributed import process_device, use_threads

#: Timed optimiser steps of the probe (after one untimed step).
PROBE_STEPS = 3
#: The probe stops timing once its timed steps took this long (at least one is timed).
PROBE_SECONDS = 20.0
#: Share of the minutes the planned steps may take (room for a slower moment of the machine).
SAFETY = 0.85
#: What scoring a held-out token costs, as a share of training on it (forward only: about a third).
HELDOUT_SHARE = 0.5
#: Fewest steps worth running: one warming the MLM head up, one training the encoder.
MIN_STEPS = 2


@dataclass(frozen=True)
class BudgetPlan:
    """The steps a time-limited run plans: those the passes ask for, or fewer that fit."""

    steps_asked: int
    steps: int
    tokens_per_second: float
    seconds_per_step: float
    minutes: float

    @property
    def shortened(self) -> bool:
        return self.steps < self.steps_asked

    def describe(self) -> str:
        """One sentence for the page: what was measured and planned."""
        speed = f"{self.tokens_per_second:,.0f} tokens/s measured on this machine"
        if not self.shortened:
            return (
                f"The {self.steps_asked:,} steps asked for fit in {self.minutes:g} minutes ({speed}, "
                f"about {self.seconds_per_step * self.steps_asked / 60:.1f} minutes)."
            )
        return (
            f"Planned {self.steps:,} of the {self.steps_asked:,} steps the passes ask for, so the run "
            f"ends within {self.minutes:g} minutes ({speed}; "
            f"{100 * self.steps / self.steps_asked:.0f}% of the passes)."
        )


def needs_budget_plan(config: PretrainConfig) -> bool:
    """A new run with a time limit and no step count of its own (a resumed run keeps its plan)."""
    return config.max_minutes > 0 and not config.max_steps and not config.resume


def plan_to_budget(config: PretrainConfig, should_stop: Callable[[], bool] = lambda: False) -> BudgetPlan:
    """Measure this machine and plan the steps that fit ``config.max_minutes`` (module docstring).

    Raises PretrainError (or the corpus' own error) naming what is wrong: a corpus the run could
    not read, or minutes too few for :data:`MIN_STEPS`.
    """
    tokenizer = load_tokenizer(config.encoder)
    corpus = read_run_corpus(config)
    data = pack_corpus(config, corpus.documents, tokenizer)
    lengths = np.asarray([len(s) for s in data.train])
    batches = plan_epoch(lengths, config.micro_batch, config.seed, 0, bucket=config.long)
    per_epoch = len(batches)
    steps_asked = planned_steps(config, per_epoch)  # no --max-steps here (needs_budget_plan)
    timing = measure_steps(config, data.train, batches, tokenizer, should_stop)
    rate = timing.tokens_per_second
    tokens_per_step = float(lengths.sum()) / per_epoch * config.gradient_accumulation
    seconds_per_step = tokens_per_step / rate
    # Scoring is forward-only, about a third of a training step's work: half is charged.
    heldout_seconds = HELDOUT_SHARE * sum(len(s) for s in data.heldout) / rate
    first_step_extra = max(0.0, timing.first_step_seconds - seconds_per_step)
    usable = SAFETY * 60.0 * config.max_minutes - heldout_seconds - first_step_extra
    fits = int(max(0.0, usable) // seconds_per_step)
    plan = BudgetPlan(steps_asked, min(steps_asked, fits), rate, seconds_per_step, config.max_minutes)
    if plan.shortened and plan.steps < MIN_STEPS:
        needed = (MIN_STEPS * seconds_per_step + heldout_seconds + first_step_extra) / SAFETY / 60
        raise PretrainError(
            f"{config.max_minutes:g} minutes allow {fits} training step(s) on this machine "
            f"({rate:,.0f} tokens/s measured; a step reads about {tokens_per_step:,.0f} tokens): "
            f"adapting needs at least {MIN_STEPS} (the new MLM head warms up, then the encoder "
            f"learns). Give at least {math.ceil(needed * 10) / 10:g} minutes, or 0 for no limit."
        )
    return plan


def fitted_config(config: PretrainConfig, plan: BudgetPlan) -> PretrainConfig:
    """``config`` planning ``plan.steps`` when the passes would not fit (else unchanged)."""
    return dataclasses.replace(config, max_steps=plan.steps) if plan.shortened else config


@dataclass(frozen=True)
class StepTiming:
    """What the probe measured: the rate of whole-model steps after the first, and the first's time."""

    tokens_per_second: float
    first_step_seconds: float


def measure_steps(
    config: PretrainConfig,
    sequences: list[PackedSequence],
    batches: list[np.ndarray],
    tokenizer: Any,
    should_stop: Callable[[], bool] = lambda: False,
) -> StepTiming:
    """Time whole-model training steps on the run's own batches and hardware."""
    device = process_device(config.device)
    threads = torch.get_num_threads()
    use_threads(config.threads)
    try:
        return _probe(config, sequences, batches, tokenizer, device, should_stop)
    finally:  # the probe's model is gone by now: its memory goes back before the run loads its own
        torch.set_num_threads(threads)
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _probe(
    config: PretrainConfig,
    sequences: list[PackedSequence],
    batches: list[np.ndarray],
    tokenizer: Any,
    device: torch.device,
    should_stop: Callable[[], bool],
) -> StepTiming:
    dtype = precision_dtype(device, config.precision)
    model, _ = build_model(config.encoder, config.content_tokens + 2 if config.long else 0)
    if config.gradient_checkpointing == "on" or (config.gradient_checkpointing == "auto" and config.long):
        model.encoder.gradient_checkpointing_enable()
    model.to(device).train()
    vocab = MaskVocabulary.from_tokenizer(tokenizer, model.encoder.config.vocab_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)  # the cost of a step, no learning
    spec, pad_id, window = config.masking_spec(), int(tokenizer.pad_token_id), config.attention_window or None
    tokens, seconds, first = 0, 0.0, 0.0
    for step in range(PROBE_STEPS + 1):
        started, step_tokens = perf_counter(), 0
        for j in range(config.gradient_accumulation):
            indices = batches[(step * config.gradient_accumulation + j) % len(batches)]
            batch = make_batch(
                sequences,
                indices,
                vocab,
                spec,
                config.seed,
                0,
                pad_id,
                config.long,
                config.global_masked_share,
            ).to(device)
            with autocast(device, dtype):
                out = model(batch, sparse=config.long, attention_window=window)
            out.loss.backward()
            step_tokens += batch.num_tokens
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step == 0:  # the first step pays for allocations and kernel choice: timed apart
            first = perf_counter() - started
            continue
        tokens, seconds = tokens + step_tokens, seconds + perf_counter() - started
        if seconds >= PROBE_SECONDS or should_stop():
            break
    return StepTiming(tokens / max(seconds, 1e-9), first)
