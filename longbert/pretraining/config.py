"""One dataclass drives pre-training: :class:`PretrainConfig`, read by the CLI and the Python API.

Every field carries its help text and group, so ``python -m longbert.pretrain --help`` documents
every option under the field's name (as :mod:`longbert.training.config` does for fine-tuning).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbert.config_fields import base_type, check_name, require, require_choices
from longbert.config_fields import flag as _flag
from longbert.pretraining.errors import PretrainError
from longbert.pretraining.masking import MASKING_UNITS, MaskingSpec
from longbert.settings import BERT_CONTENT_TOKENS, BERT_MAX_TOKENS, DEFAULT_ENCODER, PRECISIONS, models_dir
from longbert.strategies.sparse import MAX_SPARSE_TOKENS

#: ``--strategy`` values: ``sparse`` pre-trains long mode; the 512-window strategies (and
#: ``dense``) pre-train BERT's dense attention on packed 512-token sequences.
STRATEGIES = ("dense", "truncate", "key_sentences", "chunk", "sparse")
SWITCHES = ("auto", "on", "off")
#: Options that may differ from the interrupted run's on ``--resume``: where and how fast to run,
#: how to report, and the time budget. Everything else shapes the model, data or schedule.
CHANGEABLE_ON_RESUME = (
    "device",
    "threads",
    "quiet",
    "log_every",
    "save_every_minutes",
    "max_minutes",
    "eval_batch_size",
    "output_dir",
)


def _opt(default: Any, help: str, group: str, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "group": group, "choices": choices})


@dataclass
class PretrainConfig:
    """Everything a pre-training run needs. Defaults suit the default encoder on a CPU."""

    # -- corpus -----------------------------------------------------------------------------
    corpus: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Files or folders of unlabelled text (txt, md, html, pdf, docx, JSONL/CSV rows, "
            "zip, gz); labels are ignored.",
            "group": "corpus",
            "choices": None,
        },
    )
    from_store: bool = _opt(False, "Also use the documents already in the database.", "corpus")
    batch: int | None = _opt(None, "With --from-store: only the documents of this upload batch.", "corpus")
    text_column: str = _opt("text", "Column/key holding the text in JSONL/CSV files.", "corpus")
    skip_bad_files: bool = _opt(
        False,
        "Leave out unreadable files and rows (listed in the run's notes) instead of stopping.",
        "corpus",
    )
    heldout_fraction: float = _opt(
        0.05,
        "Share of the documents held out (seeded) to measure MLM loss and perplexity before "
        "and after (at least one document; 0 = none). When those hold over 3x this share of the "
        "tokens (a long document drawn), this share of the tokens is held out instead.",
        "corpus",
    )
    eval_sequences: int = _opt(64, "At most this many held-out sequences are scored.", "corpus")

    # -- model ------------------------------------------------------------------------------
    name: str = _opt("adapted-encoder", "Run name: the encoder is saved in models/<name>/.", "model")
    output_dir: str | None = _opt(None, "Output folder (default: models/<name>).", "model")
    encoder: str = _opt(
        DEFAULT_ENCODER, "BERT checkpoint to continue: the packaged default, a folder or a hub id.", "model"
    )
    strategy: str = _opt(
        "dense",
        "sparse: long mode (sparse local/global attention on long sequences); dense (or "
        "truncate, key_sentences, chunk): BERT's attention on packed 512-token sequences.",
        "model",
        STRATEGIES,
    )
    max_tokens: int = _opt(
        0,
        f"Content tokens per sequence (0 = {BERT_CONTENT_TOKENS} dense, 4096 sparse; sparse accepts "
        f"{BERT_MAX_TOKENS}-{MAX_SPARSE_TOKENS}, as --strategy-param max_tokens).",
        "model",
    )
    attention_window: int = _opt(0, "Sparse: tokens seen on each side (0 = the encoder's, 256).", "model")
    global_sentences: bool = _opt(
        False,
        "Sparse: each sentence's first token also gets global attention (as the sparse strategy's "
        "global_sentences; use it if you will fine-tune with it).",
        "model",
    )
    global_masked_share: float = _opt(
        0.1,
        "Sparse: this share of the predicted positions also gets global attention (at least one per "
        "sequence), so the global projections of every layer learn.",
        "model",
    )

    # -- objective --------------------------------------------------------------------------
    masking: str = _opt(
        "token",
        "What is masked together: token (BERT), word (whole-word masking) or span "
        "(SpanBERT: geometric spans of whole words; --max-span 3 = n-gram masking).",
        "objective",
        MASKING_UNITS,
    )
    mask_rate: float = _opt(0.15, "Share of tokens selected for prediction.", "objective")
    mask_share: float = _opt(0.8, "Share of selected tokens replaced by [MASK].", "objective")
    random_share: float = _opt(
        0.1, "Share replaced by a random token (the rest stay unchanged).", "objective"
    )
    span_p: float = _opt(0.2, "Span masking: p of the geometric span-length distribution.", "objective")
    max_span: int = _opt(10, "Span masking: longest span, in words.", "objective")

    # -- optimisation -----------------------------------------------------------------------
    epochs: float = _opt(1.0, "Passes over the corpus (ignored when --max-steps is given).", "optimisation")
    max_steps: int = _opt(0, "Optimiser steps in all (0 = from --epochs).", "optimisation")
    max_minutes: float = _opt(
        0.0,
        "Stop training after this many minutes (the encoder is then saved as usual); the schedule "
        "still follows the step count, so set --max-steps to what fits. The MLM head's warm-up "
        "ends after 10%% of this time at the latest, so the encoder trains. 0 = no limit.",
        "optimisation",
    )
    batch_size: int = _opt(0, "Sequences per forward pass (0 = 8 dense, 1 sparse).", "optimisation")
    gradient_accumulation: int = _opt(1, "Forward passes per optimiser step.", "optimisation")
    learning_rate: float = _opt(1e-4, "Peak learning rate of AdamW for the whole model.", "optimisation")
    head_learning_rate: float = _opt(
        1e-3, "Learning rate of the MLM head during its warm-up.", "optimisation"
    )
    head_warmup_steps: int = _opt(
        -1,
        "Steps training the MLM head alone (encoder frozen) before the whole model: -1 = 10%% of the "
        "steps when the checkpoint has no MLM head of its own, else 0.",
        "optimisation",
    )
    weight_decay: float = _opt(0.01, "AdamW weight decay (not on biases and LayerNorm).", "optimisation")
    warmup_ratio: float = _opt(
        0.06,
        "Share of the whole-model steps warming the learning rate up; it then decays linearly to 0.",
        "optimisation",
    )
    max_grad_norm: float = _opt(1.0, "Clip the gradient norm to this (0 = no clipping).", "optimisation")
    seed: int = _opt(42, "Seed of the held-out split, shuffling, masks and dropout.", "optimisation")

    # -- hardware ---------------------------------------------------------------------------
    device: str = _opt("auto", "cpu, cuda, cuda:N or auto.", "hardware")
    precision: str = _opt(
        "auto",
        "auto = bf16 on CUDA where supported (else fp16 with loss scaling) and on CPUs with native "
        "bf16, else fp32.",
        "hardware",
        PRECISIONS,
    )
    gradient_checkpointing: str = _opt(
        "auto", "Recompute activations in backward; auto = on for sparse.", "hardware", SWITCHES
    )
    eval_batch_size: int = _opt(
        0, "Sequences per forward pass when scoring held-out text (0 = batch size).", "hardware"
    )
    threads: int = _opt(0, "CPU threads for torch (0 = torch's default).", "hardware")

    # -- run control ------------------------------------------------------------------------
    resume: bool = _opt(False, "Continue an interrupted or killed run from <output>/.last/.", "run")
    overwrite: bool = _opt(
        False, "Replace an existing encoder of the same name (it stays until the new one is saved).", "run"
    )
    log_every: int = _opt(10, "Report loss every N optimiser steps.", "run")
    save_every_minutes: float = _opt(
        10.0,
        "Save the resumable state every N minutes (and on Ctrl-C/SIGTERM); 0 = only when stopped.",
        "run",
    )
    record: bool = _opt(True, "Record the run in the database.", "run")
    quiet: bool = _opt(False, "No progress bar or messages.", "run")

    # -- derived ----------------------------------------------------------------------------

    @property
    def long(self) -> bool:
        return self.strategy == "sparse"

    @property
    def output_path(self) -> Path:
        return Path(self.output_dir) if self.output_dir else models_dir() / self.name

    @property
    def content_tokens(self) -> int:
        return self.max_tokens or (4096 if self.long else BERT_CONTENT_TOKENS)

    @property
    def micro_batch(self) -> int:
        return self.batch_size or (1 if self.long else 8)

    def masking_spec(self) -> MaskingSpec:
        return MaskingSpec(
            self.masking,
            self.mask_rate,
            self.mask_share,
            self.random_share,  # type: ignore[arg-type]
            self.span_p,
            self.max_span,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> PretrainConfig:
        """Check every option; raise :class:`PretrainError` naming the first bad one."""
        at_least_1 = ("gradient_accumulation", "log_every", "eval_sequences")
        require(self, at_least_1, lambda v: not v < 1, "at least 1", PretrainError)
        counts = ("max_steps", "batch_size", "threads", "max_tokens", "attention_window", "eval_batch_size")
        require(self, counts, lambda v: not v < 0, "0 or more", PretrainError)
        rates = ("epochs", "learning_rate", "head_learning_rate")
        require(self, rates, lambda v: v > 0, "positive", PretrainError)
        shares = ("heldout_fraction", "warmup_ratio", "weight_decay", "global_masked_share")
        require(self, shares, lambda v: 0.0 <= v < 1.0, "in [0, 1)", PretrainError)
        limits = ("max_minutes", "max_grad_norm", "save_every_minutes")
        require(self, limits, lambda v: not v < 0, "0 or more", PretrainError)
        if self.head_warmup_steps < -1:
            raise PretrainError(
                f"--head-warmup-steps must be -1 (auto) or more, got {self.head_warmup_steps}."
            )
        require_choices(self, ("strategy", "masking", "precision", "gradient_checkpointing"), PretrainError)
        # Sparse: from 512, the sparse strategy's own minimum, so the encoder can be fine-tuned at its length.
        low, high = (BERT_MAX_TOKENS, MAX_SPARSE_TOKENS) if self.long else (2, BERT_CONTENT_TOKENS)
        if self.max_tokens and not low <= self.max_tokens <= high:
            raise PretrainError(
                f"--max-tokens must be {low}-{high} with --strategy {self.strategy}, got {self.max_tokens}"
                + (" (longer sequences need --strategy sparse)." if not self.long else ".")
            )
        try:
            self.masking_spec()
        except ValueError as error:
            raise PretrainError(f"Masking options: {error}.") from error
        check_name(self.name, PretrainError)
        if self.resume and self.overwrite:
            raise PretrainError("--resume and --overwrite contradict each other: choose one.")
        from longbert.encoder_source import replaces_its_start, replaces_its_start_error

        if replaces_its_start(self.encoder, self.output_path):  # before --overwrite removes it
            raise PretrainError(replaces_its_start_error(self.encoder, self.output_path))
        if self.batch is not None and not self.from_store:
            raise PretrainError("--batch picks documents from the store: add --from-store.")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> PretrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PretrainError(f"Unknown option(s) in {source}: {', '.join(unknown)}.")
        return cls(**data)


def _base_type(name: str) -> type:
    return base_type(PretrainConfig, name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Positional corpus paths plus one ``--option`` per other field, grouped; unset options stay
    out of the namespace (so ``--resume`` can tell given options from defaults)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(PretrainConfig):
        meta = f.metadata
        group = groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = meta["help"] if default in (None, []) else f"{meta['help']} (default: {default!r})"
        kind = _base_type(f.name)
        if f.name == "corpus":
            group.add_argument(
                "corpus", nargs="*", metavar="PATH", default=argparse.SUPPRESS, help=meta["help"]
            )
        elif kind is bool:
            group.add_argument(
                f"--{_flag(f.name)}",
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(
                f"--{_flag(f.name)}",
                type=kind,
                choices=meta["choices"],
                default=argparse.SUPPRESS,
                metavar=None if meta["choices"] else f.name.upper(),
                help=help_text,
            )


def config_from_args(args: argparse.Namespace) -> tuple[PretrainConfig, frozenset[str]]:
    """The config of a command line and the options it gave explicitly."""
    given = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(PretrainConfig) if hasattr(args, f.name)
    }
    if not given.get("corpus"):
        given.pop("corpus", None)
    return PretrainConfig(**given).validate(), frozenset(given)


def _same_paths(name: str, saved: Any, given: Any) -> bool:
    """Corpus and encoder paths compare as paths (``./docs`` is ``docs``)."""

    def resolved(value: Any) -> Any:
        if isinstance(value, str) and Path(value).expanduser().exists():
            return Path(value).expanduser().resolve()
        return value

    if name == "encoder":
        return bool(resolved(saved) == resolved(given))
    if name == "corpus" and isinstance(saved, list) and isinstance(given, list):
        return [resolved(v) for v in saved] == [resolved(v) for v in given]
    return False


def resumed_config(
    saved: PretrainConfig, config: PretrainConfig, given: frozenset[str], folder: Path
) -> PretrainConfig:
    """The interrupted run's options with the ``given`` ones of ``config``: those must equal the
    saved values except :data:`CHANGEABLE_ON_RESUME` (the rule of :mod:`longbert.training.resume`)."""
    values = saved.to_dict()
    conflicts = []
    for name in sorted(given - {"resume", "overwrite"}):
        old, new = values[name], getattr(config, name)
        if old == new or _same_paths(name, old, new):
            continue
        if name in CHANGEABLE_ON_RESUME:
            values[name] = new
            continue
        conflicts.append(f"  --{_flag(name)}: saved {old!r}, given {new!r}")
    if conflicts:
        raise PretrainError(
            f"--resume continues the interrupted run in '{folder}' with its own options, and these differ "
            "from it:\n"
            + "\n".join(conflicts)
            + "\nLeave them out (or give the saved values), or start a new "
            "run with another --name (or --overwrite). Options that may change on resume: "
            + ", ".join("--" + _flag(n) for n in CHANGEABLE_ON_RESUME)
            + "."
        )
    values.update(device=config.device, resume=True, overwrite=False)
    resumed = PretrainConfig.from_dict(values, source=f"{folder}/.last").validate()
    resumed.output_dir = str(folder)
    return resumed
