"""One dataclass drives training: the CLI, config files and the web app all build a TrainConfig.

Every field carries its help text, so ``python -m longbert.train --help`` documents every option
and a JSON/TOML config file (``--config``) uses the very same names (spaCy's habit: one config,
many front ends). Command-line options override the file's values.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbert.config_fields import allows_none, base_type, check_name, field_named, require, require_choices
from longbert.config_fields import flag as _flag
from longbert.errors import TrainConfigError
from longbert.settings import DEFAULT_ENCODER, DEFAULT_POOLING, POOLING_METHODS, PRECISIONS, models_dir
from longbert.training.config_file import file_options, option_names
from longbert.training.modes import FEW_SHOT_BELOW, FEW_SHOT_METHOD_OPTIONS, MODES

LOSSES = ("cross_entropy", "focal")
#: Options that may differ from the interrupted run's on ``--resume``: how long to go on, how to
#: report, where and how fast to run, and the test set (scored only at the end). Everything
#: else shapes the model or the data and must stay as the run started.
CHANGEABLE_ON_RESUME = (
    "epochs",
    "patience",
    "test",
    "device",
    "threads",
    "eval_batch_size",
    "quiet",
    "log_every",
    "save_every_minutes",
    "output_dir",
)
SWITCHES = ("auto", "on", "off")
METRICS = ("macro_f1", "accuracy", "loss")


def _opt(default: Any, help: str, group: str, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "group": group, "choices": choices})


@dataclass
class TrainConfig:
    """Everything a training run needs. Defaults suit the default encoder on a CPU."""

    # -- data -------------------------------------------------------------------------------
    train: str | None = _opt(
        None,
        "Training data: a .jsonl/.csv file (optionally .gz) or a folder with one sub-folder per label.",
        "data",
    )
    dev: str | None = _opt(
        None, "Dev data (same formats). Default: a stratified split carved from --train.", "data"
    )
    test: str | None = _opt(
        None, "Optional test data, scored once with the best checkpoint at the end.", "data"
    )
    text_column: str = _opt("text", "Column/key holding the text (JSONL, CSV).", "data")
    label_column: str = _opt("label", "Column/key holding the label(s) (JSONL, CSV).", "data")
    multi_label: bool = _opt(
        False, "Documents may have several labels (a JSON list or a delimited string).", "data"
    )
    label_delimiter: str = _opt(",", "Separator of several labels in one string (multi-label only).", "data")
    dev_fraction: float = _opt(
        0.1, "Share of --train carved out as the dev split when --dev is not given.", "data"
    )
    skip_bad_rows: bool = _opt(
        False,
        "Skip rows and files that cannot be used (empty text, no label, broken JSON, a non-text "
        "value, unreadable files) instead of stopping; they are counted and listed with their "
        "reasons in the run's notes. A missing column always stops.",
        "data",
    )

    # -- model ------------------------------------------------------------------------------
    name: str = _opt("my-model", "Model name: the best checkpoint is saved in models/<name>/.", "model")
    output_dir: str | None = _opt(
        None,
        "Checkpoint folder (default: models/<name>, LONGBERT_MODELS_DIR overrides models/): new, "
        "empty, or a model's; a folder of other files is refused, --overwrite or not.",
        "model",
    )
    encoder: str = _opt(
        DEFAULT_ENCODER, "BERT checkpoint to start from: the packaged default, a folder or a hub id.", "model"
    )
    strategy: str = _opt(
        "truncate", "Long-input strategy: truncate, key_sentences, chunk or sparse.", "model"
    )
    strategy_params: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Strategy parameter as KEY=VALUE (repeatable; VALUE is JSON, e.g. mode=head, "
            "max_chunks=8, global_sentences=true).",
            "group": "model",
            "choices": None,
        },
    )
    pooling: str = _opt(
        DEFAULT_POOLING,
        "Chunk strategy: how a document's window vectors are pooled (saved with the model).",
        "model",
        POOLING_METHODS,
    )
    attention_window: int = _opt(
        0,
        "Sparse strategy: tokens each token attends to on each side (saved with the model); "
        "0 = the encoder's own setting.",
        "model",
    )
    mode: str = _opt(
        "fine-tune",
        "fine-tune: train the encoder and [CLS] head on the labels; few-shot: a method made for a "
        "handful of labels (--few-shot-method), far better there; auto: few-shot when the "
        "rarest label has fewer than --few-shot-below training documents. The command line and "
        "the Train page default to auto; TrainConfig in Python to fine-tune, so scripts written "
        "before keep their meaning.",
        "model",
        MODES,
    )
    few_shot_below: int = _opt(
        FEW_SHOT_BELOW,
        "Labels per class under which --mode auto trains few-shot. Default 16: in "
        "bench/results/bench_active.json few-shot is ahead at 8 per class (bbc_news 95.83 vs 84.00 "
        "accuracy for plain fine-tuning) and fine-tuning catches up from 16 (hyperpartisan 66.67 vs "
        "62.53).",
        "model",
    )
    few_shot_method: str = _opt(
        "auto",
        "Few-shot method. prior: the zero-shot model (label descriptions, or names) plus a "
        "correction learnt from the labels, the encoder frozen: seconds, and it keeps what "
        "zero-shot knows; single-label only. setfit: contrastive pairs tune the encoder, then a "
        "logistic head (minutes). auto: prior for single-label data from a sentence encoder; setfit "
        "for multi-label data or when --encoder is a trained [CLS] classifier.",
        "model",
        FEW_SHOT_METHOD_OPTIONS,
    )
    few_shot_prior_lam: float = _opt(
        0.01,
        "Few-shot prior: L2 penalty pulling the correction toward 0 (larger: closer to zero-shot).",
        "model",
    )
    few_shot_iterations: int = _opt(
        20, "Few-shot setfit: rounds of contrastive pairs (2 pairs per document per round).", "model"
    )
    few_shot_max_steps: int = _opt(
        0, "Few-shot setfit: at most this many contrastive steps of 16 pairs (0 = every pair once).", "model"
    )
    label_descriptions: str | None = _opt(
        None,
        "Few-shot: a JSON file of {label: description} (e.g. the zero-shot ones): the prior method's "
        "zero-shot model embeds them (a label without one: its name); setfit adds each as one more "
        "example of its label.",
        "model",
    )
    dropout: float = _opt(0.1, "Dropout before the classification layer.", "model")
    max_train_windows: int = _opt(
        8,
        "Chunk strategy: at most this many windows per document in a training step (a random "
        "subset each epoch; evaluation reads all). 0 = no cap.",
        "model",
    )

    # -- optimisation -----------------------------------------------------------------------
    epochs: int = _opt(3, "Passes over the training data.", "optimisation")
    batch_size: int = _opt(8, "Documents per forward pass.", "optimisation")
    gradient_accumulation: int = _opt(
        1, "Forward passes per optimiser step (effective batch = batch_size x this x GPUs).", "optimisation"
    )
    learning_rate: float = _opt(5e-5, "Peak learning rate of AdamW.", "optimisation")
    head_learning_rate: float = _opt(
        0.0,
        "Peak learning rate of the parts trained from scratch (the [CLS] head and the chunk pooling, "
        "e.g. transformer pooling's document layer); 0 = --learning-rate.",
        "optimisation",
    )
    weight_decay: float = _opt(
        0.01, "AdamW weight decay (never applied to biases and LayerNorm weights).", "optimisation"
    )
    warmup_ratio: float = _opt(
        0.1,
        "Share of optimiser steps spent warming the learning rate up linearly; it then decays linearly to 0.",
        "optimisation",
    )
    max_grad_norm: float = _opt(1.0, "Clip the gradient norm to this (0 = no clipping).", "optimisation")
    loss: str = _opt("cross_entropy", "Loss function.", "optimisation", LOSSES)
    focal_gamma: float = _opt(2.0, "Focusing parameter of the focal loss.", "optimisation")
    label_smoothing: float = _opt(0.0, "Label smoothing (0 = off).", "optimisation")
    class_weights: str = _opt(
        "none", "'none', 'balanced' (inverse class frequency) or explicit 'label=weight,...'.", "optimisation"
    )
    seed: int = _opt(42, "Random seed (data split, shuffling, initialisation, dropout).", "optimisation")

    # -- hardware ---------------------------------------------------------------------------
    device: str = _opt(
        "auto",
        "cpu, cuda, cuda:N or auto (CUDA when available; torchrun sets one GPU per process).",
        "hardware",
    )
    precision: str = _opt(
        "auto",
        "auto = bf16 on CUDA where supported, else fp16 with loss scaling; fp32 on the CPU.",
        "hardware",
        PRECISIONS,
    )
    gradient_checkpointing: str = _opt(
        "auto",
        "Recompute activations in backward to save memory; auto = on for the sparse strategy and for "
        "chunk with max_train_windows 0 or above 8.",
        "hardware",
        SWITCHES,
    )
    eval_batch_size: int = _opt(16, "Windows per forward pass when scoring dev/test data.", "hardware")
    threads: int = _opt(0, "CPU threads for torch (0 = torch's default).", "hardware")

    # -- run control ------------------------------------------------------------------------
    early_stopping_metric: str = _opt(
        "macro_f1", "Dev metric that picks the best checkpoint and drives early stopping.", "run", METRICS
    )
    patience: int = _opt(
        2, "Stop after this many epochs without a better dev metric (0 = never stop early).", "run"
    )
    resume: bool = _opt(
        False,
        "Continue an interrupted or killed run from models/<name>/.last/ with its saved options "
        "and on the same train and dev data (refused if their rows changed): options not given "
        "come from that run; options given must equal its values, except "
        "--" + ", --".join(n.replace("_", "-") for n in CHANGEABLE_ON_RESUME) + ", which may change.",
        "run",
    )
    overwrite: bool = _opt(
        False,
        "Replace an existing checkpoint of the same name (it stays, and loads, until the new run "
        "saves its first model).",
        "run",
    )
    log_every: int = _opt(
        10,
        "Report loss and learning rate every N optimiser steps (and at each epoch's end); progress "
        "callbacks still hear of every step.",
        "run",
    )
    save_every_minutes: float = _opt(
        10.0,
        "Also save the resumable state (.last/) every N minutes inside an epoch, so a killed run "
        "(kill -9, out of memory) resumes from there rather than from the last epoch's end; 0 = "
        "only at epoch ends and on a clean stop.",
        "run",
    )
    record: bool = _opt(True, "Record the run and register the model in the database.", "run")
    quiet: bool = _opt(
        False, "No progress bars or per-epoch reports on the terminal (results are still saved).", "run"
    )

    def __post_init__(self) -> None:
        """Move model settings given the format-1 way, as strategy parameters (chunk's
        ``pooling``, sparse's ``attention_window``: ``--strategy-param pooling=max``, configs
        saved by older runs), to their own options."""
        self.strategy_params = dict(self.strategy_params)  # never the caller's dict
        legacy = {"pooling": "chunk", "attention_window": "sparse"}
        for key, strategy in legacy.items():
            if key not in self.strategy_params or self.strategy != strategy:
                continue
            value = self.strategy_params.pop(key)
            default = _field(key).default
            if getattr(self, key) not in (default, value):
                raise TrainConfigError(
                    f"--{_flag(key)} {getattr(self, key)!r} and --strategy-param {key}={value!r} "
                    f"disagree: give --{_flag(key)} only."
                )
            setattr(self, key, value)

    # -- derived ----------------------------------------------------------------------------

    @property
    def output_path(self) -> Path:
        """The checkpoint folder."""
        return Path(self.output_dir) if self.output_dir else models_dir() / self.name

    def strategy_spec(self) -> dict[str, Any]:
        return {"name": self.strategy, "params": dict(self.strategy_params)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> TrainConfig:
        """Check every option; raise TrainConfigError naming the first bad one. Returns self."""
        positive = ("epochs", "batch_size", "gradient_accumulation", "eval_batch_size", "log_every")
        require(self, positive, lambda v: not v < 1, "at least 1", TrainConfigError)
        require(self, ("few_shot_iterations",), lambda v: not v < 1, "at least 1", TrainConfigError)
        counts = (
            "patience",
            "threads",
            "max_train_windows",
            "attention_window",
            "few_shot_below",
            "few_shot_max_steps",
        )
        require(self, counts, lambda v: not v < 0, "0 or more", TrainConfigError)
        ranges = {
            "learning_rate": (0.0, 1.0, False),
            "head_learning_rate": (0.0, 1.0, True),
            "weight_decay": (0.0, 1.0, True),
            "warmup_ratio": (0.0, 1.0, True),
            "max_grad_norm": (0.0, float("inf"), True),
            "save_every_minutes": (0.0, float("inf"), True),
            "focal_gamma": (0.0, float("inf"), True),
            "few_shot_prior_lam": (0.0, float("inf"), True),
            "label_smoothing": (0.0, 1.0, True),
            "dropout": (0.0, 1.0, True),
            "dev_fraction": (0.0, 1.0, False),
        }
        for name, (low, high, low_ok) in ranges.items():
            value = getattr(self, name)
            if not (low <= value if low_ok else low < value) or not value < high:
                bound = f"{'[' if low_ok else '('}{low}, {high})"
                raise TrainConfigError(f"--{_flag(name)} must be in {bound}, got {value}.")
        choice_options = (
            "loss",
            "precision",
            "gradient_checkpointing",
            "early_stopping_metric",
            "pooling",
            "mode",
            "few_shot_method",
        )
        require_choices(self, choice_options, TrainConfigError)
        check_name(self.name, TrainConfigError)
        # Only a run that can train few-shot uses the method (fine-tune never does).
        if self.few_shot_method == "prior" and self.multi_label and self.mode != "fine-tune":
            raise TrainConfigError(
                "--few-shot-method prior is single-label only: use --few-shot-method setfit (or "
                "auto, which picks it for multi-label data) or --mode fine-tune."
            )
        if self.resume and self.overwrite:
            raise TrainConfigError("--resume and --overwrite contradict each other: choose one.")
        from longbert.encoder_source import replaces_its_start, replaces_its_start_error

        if replaces_its_start(self.encoder, self.output_path):  # before --overwrite removes it
            raise TrainConfigError(replaces_its_start_error(self.encoder, self.output_path))
        if not self.label_delimiter:
            raise TrainConfigError("--label-delimiter must not be empty.")
        return self

    # -- files ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a dict of option names (``-`` or ``_``, not both), rejecting unknown ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = option_names(data, source)
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainConfigError(f"Unknown option(s) in {source}: {', '.join(unknown)}.")
        return cls(**{k: _coerce(k, v, source) for k, v in values.items()})

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a JSON or TOML file (flat, or with a ``[train]`` table) of option names."""
        return cls.from_dict(file_options(Path(path)), source=str(path))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


def _field(name: str) -> dataclasses.Field[Any]:
    return field_named(TrainConfig, name)


def _base_type(name: str) -> type:
    return base_type(TrainConfig, name)


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _base_type(name)
    if value is None:
        if allows_none(TrainConfig, name):
            return None
        # validate() would compare None with numbers: a TypeError naming no option.
        raise TrainConfigError(f"Option '{name}' in {source} must be {kind.__name__}, got null.")
    if kind is dict:
        if not isinstance(value, dict):
            raise TrainConfigError(f"Option '{name}' in {source} must be a table/object.")
        return dict(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise TrainConfigError(f"Option '{name}' in {source} must be true or false, got {value!r}.")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TrainConfigError(
            f"Option '{name}' in {source} must be {kind.__name__}, got {value!r} ({type(value).__name__})."
        )
    return value
