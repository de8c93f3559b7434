"""The pre-trained encoder folder and its manifest.

The folder is an ordinary transformers BERT checkpoint, so everything that takes an encoder
(``longbert.train --encoder``, ``LongBertClassifier.from_encoder``, ``ZeroShotClassifier``)
takes it as it takes the packaged default::

    config.json                     BertConfig (max_position_embeddings = the trained table)
    model.safetensors               BertModel weights (pooler kept when the source had one)
    tokenizer.json, vocab.txt ...   the source encoder's tokenizer
    mlm_head.safetensors            the trained MLM head (cls.predictions.*): continue pre-training
    global_projections.safetensors  long mode: the trained *_global projections, which BertModel
                                    does not know; LongBertModel.from_bert reads them back
    longbert_encoder.json           the manifest (:class:`EncoderManifest`), written last

Every file is written under a temporary name and renamed, and the manifest last, so a folder
with a manifest is complete.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file

from longbert.encoder_source import load_encoder_config
from longbert.modeling.long_bert_io import GLOBAL_PROJECTIONS, GLOBAL_PROJECTIONS_FILE
from longbert.pretraining.errors import PretrainError
from longbert.pretraining.model import HEAD_FILE, LongBertForMaskedLM

if TYPE_CHECKING:
    from longbert.pretraining.config import PretrainConfig
    from longbert.pretraining.corpus import Corpus, PackedCorpus
    from longbert.pretraining.state import PretrainState

ENCODER_MANIFEST = "longbert_encoder.json"
MANIFEST_FORMAT = 1


@dataclass
class EncoderManifest:
    """What a pre-trained encoder folder is and how it was made (``kind`` ``"encoder"``; one
    typed manifest per checkpoint kind is planned, this one is ready to be folded into it).

    ``corpus``: documents, tokens, sha256 (of the sorted document hashes), held-out documents,
    sources. ``objective``: masking options, mode, max_tokens, attention window, globals.
    ``training``: steps, head warm-up steps, batch, learning rates, seconds, tokens seen.
    ``heldout``: MLM loss / perplexity / accuracy ``before``, ``after_head_warmup`` (encoder
    still the source's) and ``after``.
    """

    source_encoder: str
    corpus: dict[str, Any]
    objective: dict[str, Any]
    training: dict[str, Any]
    final_mlm_loss: float | None
    heldout: dict[str, Any] = field(default_factory=dict)
    kind: str = "encoder"
    format: int = MANIFEST_FORMAT
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, folder: str | Path) -> EncoderManifest:
        path = Path(folder) / ENCODER_MANIFEST
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or data.get("kind") != "encoder":
                raise ValueError("it is not a pre-trained encoder manifest (kind != 'encoder')")
            if int(data.get("format", 0)) > MANIFEST_FORMAT:
                raise ValueError(f"format {data['format']} is newer than this LongBERT's {MANIFEST_FORMAT}")
            return cls(**data)
        except (OSError, ValueError, TypeError) as error:
            raise PretrainError(f"'{path}' is unreadable: {error}") from error


def _atomic_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    partial = path.with_name(path.name + ".partial")
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()},
        str(partial),
        metadata={"format": "pt"},
    )
    partial.replace(path)


def _atomic_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def save_encoder(
    model: LongBertForMaskedLM,
    tokenizer: Any,
    encoder_name: str,
    folder: Path,
    manifest: EncoderManifest,
    global_projections: bool = False,
) -> Path:
    """Write the encoder folder described in the module docstring; returns ``folder``.

    ``global_projections``: long mode trained them, save them. After dense training they are
    left out on purpose: they are the source's untrained copies, and ``from_bert`` copies the
    *trained* local projections instead.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ENCODER_MANIFEST).unlink(missing_ok=True)
    encoder = model.encoder
    state = encoder.state_dict()
    is_global = lambda key: key.rsplit(".", 2)[-2] in GLOBAL_PROJECTIONS  # noqa: E731
    bert = {k: v for k, v in state.items() if not is_global(k)}
    pooler = getattr(encoder, "bert_pooler_state", None)
    if pooler:
        bert.update({f"pooler.{k}": v for k, v in pooler.items()})
    _atomic_tensors(folder / "model.safetensors", bert)
    (folder / GLOBAL_PROJECTIONS_FILE).unlink(missing_ok=True)
    if global_projections:
        _atomic_tensors(folder / GLOBAL_PROJECTIONS_FILE, {k: v for k, v in state.items() if is_global(k)})
    _atomic_tensors(folder / HEAD_FILE, model.head.head_state())
    config = copy.deepcopy(load_encoder_config(encoder_name))
    config.max_position_embeddings = int(encoder.embeddings.position_embeddings.num_embeddings)
    config.architectures = ["BertModel"]
    _atomic_text(folder / "config.json", config.to_json_string())
    tokenizer.save_pretrained(str(folder))
    _atomic_text(folder / ENCODER_MANIFEST, json.dumps(manifest.to_dict(), indent=2, default=str))
    return folder


def run_manifest(
    config: PretrainConfig,
    corpus: Corpus,
    data: PackedCorpus,
    state: PretrainState,
    *,
    total_steps: int,
    head_steps: int,
    has_head: bool,
    world_size: int,
    dtype: torch.dtype | None,
    attention_window: int,
    stopped_by_time: bool,
) -> EncoderManifest:
    """The manifest of a finished run."""
    spec = config.masking_spec()
    return EncoderManifest(
        source_encoder=config.encoder,
        corpus={
            "documents": data.documents,
            "tokens": data.tokens,
            "sha256": corpus.sha256,
            "heldout_documents": data.heldout_documents,
            "training_sequences": len(data.train),
            "duplicates_dropped": corpus.duplicates,
            "skipped": len(corpus.skipped),
            "sources": corpus.sources,
        },
        objective={
            "objective": "mlm",
            "masking": spec.unit,
            "mask_rate": spec.rate,
            "mask_share": spec.mask_share,
            "random_share": spec.random_share,
            **({"span_p": spec.span_p, "max_span": spec.max_span} if spec.unit == "span" else {}),
            "dynamic_masking": True,
            "next_sentence_prediction": False,
            "mode": "long" if config.long else "dense",
            "strategy": config.strategy,
            "max_tokens": config.content_tokens,
            "attention_window": attention_window,
            "global_sentences": config.global_sentences if config.long else False,
            "global_masked_share": config.global_masked_share if config.long else 0.0,
        },
        training={
            "steps": state.global_step,
            "total_steps": total_steps,
            "head_warmup_steps": head_steps,
            "checkpoint_mlm_head": has_head,
            "batch_size": config.micro_batch,
            "gradient_accumulation": config.gradient_accumulation,
            "world_size": world_size,
            "learning_rate": config.learning_rate,
            "head_learning_rate": config.head_learning_rate,
            "epochs_started": state.epoch + 1,
            "tokens_seen": state.tokens_seen,
            "train_seconds": round(state.train_seconds, 1),
            "stopped_by_time_budget": stopped_by_time,
            "seed": config.seed,
            "precision": str(dtype).removeprefix("torch.") if dtype else "fp32",
            "run_id": state.run_id,
        },
        final_mlm_loss=state.last_loss,
        heldout=state.heldout,
    )
