"""The masked-language model: the LongBERT encoder plus BERT's prediction head, tied weights.

:class:`MlmHead` is ``BertLMPredictionHead`` (dense -> activation -> LayerNorm -> decoder + bias)
with the decoder's weight *the same tensor* as the encoder's word embeddings, as BERT ties them.
Its parameters keep transformers' names under ``cls.predictions.`` when saved, so a
``BertForMaskedLM`` checkpoint's own head (``cls.predictions.*``) loads into it; a checkpoint
without one (the packaged default: a sentence-embedding model) starts from BERT's initialisation
and is warmed up first (see :mod:`~longbert.pretraining.loop`).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn
from transformers.activations import ACT2FN

from longbert.encoder_source import resolve_encoder
from longbert.modeling.long_bert import LongBertModel
from longbert.modeling.long_bert_config import LongBertConfig
from longbert.modeling.long_bert_io import GLOBAL_PROJECTIONS
from longbert.pretraining.errors import PretrainError
from longbert.pretraining.masking import IGNORE
from longbert.pretraining.packing import MlmBatch

#: Prefix of the MLM head's weights in transformers' BertForMaskedLM / BertForPreTraining.
HEAD_PREFIX = "cls.predictions."
#: Where a pre-trained encoder folder keeps its MLM head (model.safetensors stays a plain BertModel).
HEAD_FILE = "mlm_head.safetensors"
#: Head tensors a checkpoint must hold for its head to be used (the decoder weight is tied).
HEAD_KEYS = (
    "transform.dense.weight",
    "transform.dense.bias",
    "transform.LayerNorm.weight",
    "transform.LayerNorm.bias",
    "bias",
)


class MlmHead(nn.Module):
    """BERT's MLM head over ``[M, H]`` hidden states -> ``[M, V]`` logits; decoder tied."""

    def __init__(self, config: LongBertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.transform = nn.Module()
        self.transform.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.activation = ACT2FN[config.hidden_act]
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight  # tied: one tensor, trained by both uses
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        nn.init.normal_(self.transform.dense.weight, std=0.02)
        nn.init.zeros_(self.transform.dense.bias)

    def forward(self, hidden: Tensor) -> Tensor:
        x = self.transform.LayerNorm(self.activation(self.transform.dense(hidden)))
        return self.decoder(x) + self.bias

    def head_state(self) -> dict[str, Tensor]:
        """The head's own tensors under transformers' names (``cls.predictions.*``), no decoder."""
        return {
            HEAD_PREFIX + k: v.detach().contiguous().cpu()
            for k, v in self.state_dict().items()
            if not k.startswith("decoder.")
        }

    def load_head_state(self, state: dict[str, Tensor], where: str) -> None:
        """Load ``cls.predictions.*`` tensors (see :func:`read_head_state`)."""
        own = {k: v for k, v in self.state_dict().items() if not k.startswith("decoder.")}
        for key, value in own.items():
            given = state[HEAD_PREFIX + key]
            if given.shape != value.shape:
                raise PretrainError(
                    f"{where}: the MLM head's {key} is {tuple(given.shape)}, the encoder needs "
                    f"{tuple(value.shape)}: the head belongs to another model."
                )
        with torch.no_grad():
            for key, value in own.items():
                value.copy_(state[HEAD_PREFIX + key].to(value.dtype))


@dataclass
class MlmOutput:
    """``loss``: mean cross-entropy over the ``predictions`` selected positions (float32);
    ``correct``: how many of them the model's top token got right."""

    loss: Tensor
    predictions: int
    correct: int


class LongBertForMaskedLM(nn.Module):
    """``encoder`` (:class:`LongBertModel`, dense or sparse attention) + tied :class:`MlmHead`.

    Only the selected positions go through the head: a 4,098-token sequence would otherwise
    build a ``4098 x 30522`` logit table to read 15% of it.
    """

    def __init__(self, encoder: LongBertModel) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = MlmHead(encoder.config, encoder.embeddings.word_embeddings)
        self.encoder_frozen = False

    def freeze_encoder(self, frozen: bool) -> None:
        """Head warm-up: the encoder (tied word embeddings included) takes no gradient and runs
        without building a graph; the head's own parameters train."""
        self.encoder_frozen = frozen
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(not frozen)

    def forward(
        self, batch: MlmBatch, sparse: bool = False, attention_window: int | None = None
    ) -> MlmOutput:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.encoder_frozen):
            hidden = self.encoder(
                batch.input_ids,
                attention_mask=batch.attention_mask,
                global_attention_mask=batch.global_attention_mask if sparse else None,
                sparse=sparse,
                attention_window=attention_window,
            ).last_hidden_state
        selected = batch.labels != IGNORE
        targets = batch.labels[selected]
        logits = self.head(hidden[selected]).float()
        if targets.numel() == 0:  # nothing to predict: a zero loss that still reaches the head
            return MlmOutput(logits.sum() * 0.0, 0, 0)
        loss = F.cross_entropy(logits, targets)
        correct = int((logits.detach().argmax(dim=-1) == targets).sum())
        return MlmOutput(loss, int(targets.numel()), correct)


def _weight_files(folder: Path) -> list[Path]:
    """A checkpoint folder's weight files, as transformers saves them."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PretrainError(f"'{index}' is unreadable: {error}") from error
        return [folder / shard for shard in shards]
    return [p for p in (folder / "model.safetensors", folder / "pytorch_model.bin") if p.is_file()][:1]


def _read_prefixed(path: Path, prefix: str) -> dict[str, Tensor]:
    """The tensors of ``path`` (safetensors, or a torch pickle read with weights_only=True)
    whose names start with ``prefix`` (also under a model prefix such as ``bert.``)."""
    try:
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                return {k: handle.get_tensor(k) for k in handle.keys() if k.startswith(prefix)}  # noqa: SIM118
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, SafetensorError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise PretrainError(f"Could not read the weights in '{path}': {error}") from error
    if not isinstance(state, dict):
        raise PretrainError(f"'{path}' does not hold a state dict of tensors.")
    return {k: v for k, v in state.items() if isinstance(k, str) and k.startswith(prefix)}


def read_head_state(source: str) -> dict[str, Tensor] | None:
    """The checkpoint's own MLM head (``cls.predictions.*``, TF-era ``gamma``/``beta`` renamed),
    or None when it has none. Looks in a pre-trained encoder's ``mlm_head.safetensors``, else in
    a local folder's weights (``BertForMaskedLM`` / ``BertForPreTraining`` checkpoints); a hub id
    is looked up in the local cache, where :meth:`LongBertModel.from_bert` has just put it."""
    folder = Path(source)
    if folder.is_dir():
        files = [folder / HEAD_FILE] if (folder / HEAD_FILE).is_file() else _weight_files(folder)
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = [try_to_load_from_cache(source, name) for name in ("model.safetensors", "pytorch_model.bin")]
        files = [Path(c) for c in cached if isinstance(c, str)][:1]
    state: dict[str, Tensor] = {}
    for path in files:
        state.update(_read_prefixed(path, HEAD_PREFIX))
    renamed = {
        k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
        for k, v in state.items()
    }
    if HEAD_PREFIX + "bias" not in renamed and HEAD_PREFIX + "decoder.bias" in renamed:
        renamed[HEAD_PREFIX + "bias"] = renamed[HEAD_PREFIX + "decoder.bias"]
    if not all(HEAD_PREFIX + k in renamed for k in HEAD_KEYS):
        return None
    return {HEAD_PREFIX + k: renamed[HEAD_PREFIX + k].float() for k in HEAD_KEYS}


def build_model(encoder_name: str, max_positions: int) -> tuple[LongBertForMaskedLM, bool]:
    """Warm-start the MLM model from a BERT checkpoint; True when its own MLM head was loaded."""
    encoder = LongBertModel.from_bert(encoder_name, max_positions=max_positions)
    model = LongBertForMaskedLM(encoder)
    source = resolve_encoder(encoder_name)
    state = read_head_state(source)
    if state is not None:
        model.head.load_head_state(state, f"Encoder '{encoder_name}'")
    return model, state is not None


def copied_global_projections(encoder: LongBertModel) -> frozenset[tuple[int, str]]:
    """The ``(layer, projection)`` pairs whose ``*_global`` projection is still a copy of its
    local one, as a warm start from BERT makes them: never trained. A long-mode encoder's trained
    ones differ from their local projections, and a dense run must keep them."""
    copies = set()
    for index, layer in enumerate(encoder.encoder.layer):
        attention = layer.attention.self
        for target, source in GLOBAL_PROJECTIONS.items():
            ours, theirs = getattr(attention, target).state_dict(), getattr(attention, source).state_dict()
            if all(torch.equal(ours[k], theirs[k]) for k in ours):
                copies.add((index, target))
    return frozenset(copies)
