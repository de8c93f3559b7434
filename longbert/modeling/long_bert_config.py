"""The LongBERT encoder's configuration: a plain, JSON-able dataclass."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from transformers import PretrainedConfig
from transformers.activations import ACT2FN

from longbert.errors import UnsupportedEncoderError

#: ``model_type`` written into ``config.json`` so a LongBERT folder is recognisable.
MODEL_TYPE = "longbert"
#: Fields copied as they are from a ``transformers.BertConfig``.
BERT_FIELDS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
    "type_vocab_size", "layer_norm_eps",
)


@dataclass
class LongBertConfig:
    """Sizes and options of :class:`~longbert.modeling.long_bert.LongBertModel`.

    The first fields mirror ``transformers.BertConfig``. ``original_max_position_embeddings``
    is the size of the checkpoint's learned position table (what :meth:`extend_positions`
    tiles); ``attention_window`` is the one-side window of sparse mode (a call may override it).
    """

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    original_max_position_embeddings: int = 512
    attention_window: int = 256

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})."
            )
        for name in ("vocab_size", "num_hidden_layers", "intermediate_size", "attention_window",
                     "max_position_embeddings", "original_max_position_embeddings"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (JSON-able)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LongBertConfig:
        """Inverse of :meth:`to_dict`; keys that are not fields (e.g. ``model_type``) are ignored.

        Raises ``ValueError`` naming the missing fields.
        """
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        missing = sorted(required - data.keys())
        if missing:
            raise ValueError(f"LongBertConfig is missing {', '.join(missing)}.")
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_hf(cls, config: PretrainedConfig) -> LongBertConfig:
        """From a ``transformers`` BERT config (absolute positions only; the default window)."""
        position_type = getattr(config, "position_embedding_type", "absolute") or "absolute"
        if position_type != "absolute":
            raise UnsupportedEncoderError(
                f"The encoder uses '{position_type}' position embeddings; LongBERT can only "
                "extend absolute (learned) positions."
            )
        if not isinstance(config.hidden_act, str) or config.hidden_act not in ACT2FN:
            raise UnsupportedEncoderError(
                f"The encoder's activation {config.hidden_act!r} is not one transformers names."
            )
        return cls(
            **{name: getattr(config, name) for name in BERT_FIELDS},
            pad_token_id=config.pad_token_id if config.pad_token_id is not None else 0,
            original_max_position_embeddings=config.max_position_embeddings,
        )
