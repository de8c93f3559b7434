"""Creating a LongBERT encoder from a BERT checkpoint, saving it and loading it back.

A LongBERT folder holds ``config.json`` (:class:`LongBertConfig` plus ``model_type``) and
``model.safetensors``; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any, Self

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from longbert.encoder_source import encoder_checkpoint, load_encoder_config, resolve_encoder
from longbert.errors import (
    CheckpointError,
    EncoderNotFoundError,
    UnreadableWeightsError,
    UnsupportedEncoderError,
)
from longbert.modeling.long_bert_config import MODEL_TYPE, LongBertConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: transformers' pickled weights: read only through torch's weights_only loader.
PICKLED_WEIGHTS = "pytorch_model.bin"
#: Global projections and where their warm-start copy comes from.
GLOBAL_PROJECTIONS = {"query_global": "query", "key_global": "key", "value_global": "value"}
#: The source BERT's pooler (dense + tanh), which LongBertModel does not use itself but a new [CLS]
#: head starts from; kept beside the weights so an encoder checkpoint (e.g. after further
#: pre-training) hands it on as the original BERT folder would.
POOLER_FILE = "bert_pooler.safetensors"


def _refused_pickle(error: BaseException | None) -> bool:
    """Whether ``error`` (or one it came from) is torch refusing or failing to unpickle weights."""
    while error is not None:
        if isinstance(error, pickle.UnpicklingError | EOFError) or "weights_only" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _read_bert_state(source: str, name: str | None) -> tuple[dict[str, Tensor], list[str]]:
    """The checkpoint's ``BertModel`` state dict (float32) and the keys it did not provide.

    Weights in ``model.safetensors`` cannot run code. A ``pytorch_model.bin`` is a pickle:
    transformers reads it with torch's ``weights_only`` loader, which refuses anything but
    tensors; a refused or corrupt one is an :class:`UnreadableWeightsError` naming the file
    (torch's advice to turn the safety off is not passed on).
    """
    from transformers import BertModel  # heavy import, only when warm-starting

    try:
        bert, info = BertModel.from_pretrained(source, output_loading_info=True, dtype=torch.float32)
    except Exception as error:  # UnpicklingError, RuntimeError (a broken zip), OSError...
        pickled = Path(source) / PICKLED_WEIGHTS
        if _refused_pickle(error) or (pickled.is_file() and isinstance(error, RuntimeError)):
            where = f"'{pickled}'" if pickled.is_file() else f"of encoder '{name}'"
            raise UnreadableWeightsError(
                f"The weights file {where} cannot be read safely: it is corrupt, or a pickle that "
                "holds more than tensors, and LongBERT never runs code from a file. Save the "
                "encoder with save_pretrained() (it writes model.safetensors) and use that folder."
            ) from None
        if not isinstance(error, OSError | ValueError):
            raise
        raise EncoderNotFoundError(
            f"Could not read the weights of encoder '{name}' ({type(error).__name__}: {error}). "
            "The folder needs model.safetensors (or pytorch_model.bin) saved by transformers."
        ) from error
    return bert.state_dict(), sorted(info["missing_keys"])


class LongBertIOMixin:
    """``from_bert`` / ``save_pretrained`` / ``from_pretrained`` for :class:`LongBertModel`."""

    config: LongBertConfig

    @classmethod
    def from_bert(
        cls, name_or_path: str | os.PathLike[str] | None = None, max_positions: int = 512
    ) -> Self:
        """Warm-start from a BERT checkpoint (packaged default when ``None``).

        Every BERT weight is copied 1:1; ``*_global`` projections start as copies of the local
        ones; the position table is tiled up to ``max_positions``. The checkpoint's pooler, if any, is
        kept in ``model.bert_pooler_state`` (``dense.weight``/``dense.bias``). An encoder
        checkpoint (see :func:`~longbert.encoder_source.encoder_checkpoint`) loads as LongBERT
        saved it, trained global projections and positions included.
        Raises :class:`EncoderNotFoundError` / :class:`UnsupportedEncoderError`.
        """
        name = None if name_or_path is None else str(name_or_path)
        if (saved := encoder_checkpoint(name)) is not None:
            encoder: Any = cls.from_pretrained(saved)
            encoder.extend_positions(max_positions)
            return encoder  # type: ignore[no-any-return]
        config = LongBertConfig.from_hf(load_encoder_config(name))
        bert_state, missing = _read_bert_state(resolve_encoder(name), name)
        model: Any = cls(config)  # type: ignore[call-arg]  # a LongBertModel
        state = {k: v for k, v in bert_state.items() if not k.startswith("pooler.")}
        unloaded = model.load_state_dict(state, strict=False)
        lacking = [k for k in unloaded.missing_keys if k.rsplit(".", 2)[-2] not in GLOBAL_PROJECTIONS]
        lacking += [k for k in missing if not k.startswith("pooler.")]
        if lacking or unloaded.unexpected_keys:
            raise UnsupportedEncoderError(
                f"Encoder '{name}' does not have BERT's weight layout (missing: "
                f"{lacking[:5]}, unexpected: {unloaded.unexpected_keys[:5]})."
            )
        with torch.no_grad():
            for layer in model.encoder.layer:
                attention = layer.attention.self
                for target, source in GLOBAL_PROJECTIONS.items():
                    getattr(attention, target).load_state_dict(
                        getattr(attention, source).state_dict()
                    )
        has_pooler = "pooler.dense.weight" not in missing and "pooler.dense.weight" in bert_state
        model.bert_pooler_state = (
            {
                "dense.weight": bert_state["pooler.dense.weight"].clone(),
                "dense.bias": bert_state["pooler.dense.bias"].clone(),
            }
            if has_pooler
            else None
        )
        model.extend_positions(max_positions)
        return model

    def save_pretrained(self, folder: str | os.PathLike[str]) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created if needed)."""
        assert isinstance(self, nn.Module)
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        config = {"model_type": MODEL_TYPE, **self.config.to_dict()}
        (path / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        # Write then rename, so an interrupted save never leaves a truncated weights file.
        partial = path / (WEIGHTS_FILE + ".partial")
        save_file(state, str(partial), metadata={"format": "pt"})
        partial.replace(path / WEIGHTS_FILE)
        pooler = getattr(self, "bert_pooler_state", None)
        if pooler:
            save_file({k: v.detach().contiguous().cpu() for k, v in pooler.items()},
                      str(path / POOLER_FILE), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> Self:
        """Load a folder written by :meth:`save_pretrained` (on the CPU).

        Raises :class:`CheckpointError` if it is missing, incomplete or corrupt.
        """
        path = Path(folder)
        if not path.is_dir():
            raise CheckpointError(f"LongBERT checkpoint folder '{path}' does not exist.")
        config_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
        for needed in (config_path, weights_path):
            if not needed.is_file():
                raise CheckpointError(
                    f"LongBERT checkpoint '{path}' is incomplete: {needed.name} is missing."
                )
        try:
            data: Any = json.loads(config_path.read_text())
            if not isinstance(data, dict):
                raise ValueError("config.json does not hold an object")
            if data.get("model_type", MODEL_TYPE) != MODEL_TYPE:
                raise ValueError(f"model_type is {data.get('model_type')!r}, not {MODEL_TYPE!r}")
            config = LongBertConfig.from_dict(data)
        except (ValueError, TypeError) as error:
            raise CheckpointError(
                f"LongBERT checkpoint '{path}' has an unusable config.json: {error}"
            ) from error
        try:
            state = load_file(str(weights_path))
        except Exception as error:  # safetensors raises its own error type on corrupt files
            raise CheckpointError(
                f"LongBERT checkpoint '{path}' has a corrupt {WEIGHTS_FILE}: {error}"
            ) from error
        model = cls(config)  # type: ignore[call-arg]
        assert isinstance(model, nn.Module)
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise CheckpointError(
                f"LongBERT checkpoint '{path}': the weights do not match config.json ({error})."
            ) from error
        if (path / POOLER_FILE).is_file():
            try:
                model.bert_pooler_state = load_file(str(path / POOLER_FILE))
            except Exception as error:  # safetensors raises its own error type on corrupt files
                raise CheckpointError(
                    f"LongBERT checkpoint '{path}' has a corrupt {POOLER_FILE}: {error}"
                ) from error
        return model
