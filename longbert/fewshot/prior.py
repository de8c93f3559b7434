"""The zero-shot model, corrected by a few labels: a few-shot method that keeps what zero-shot knows.

SetFit (:mod:`longbert.fewshot.trainer`) starts a new head from nothing: at 8 labels per class it
scored below zero-shot on bbc_news (94.75 vs 95.5) and costs minutes of encoder training. This
model instead keeps the zero-shot classifier (:class:`~longbert.zero_shot.ZeroShotClassifier`:
cosine between the document's mean window embedding and each label description, divided by the
temperature) and adds a linear correction of the standardised document embedding::

    logits = cos(doc, labels) / T + W · ((doc - mean) / scale) + b

Softmax ignores a per-document constant, so these are the probabilities of
``log_softmax(cos / T) + W·z + b``: the zero-shot log-probabilities as a prior. W and b are fit
by :mod:`longbert.fewshot.prior_fit` with an L2 penalty toward 0, so with no labels the model *is*
zero-shot (W = b = 0 gives the zero-shot logits exactly) and each label moves it only as far as
the evidence goes. The encoder is frozen: fitting costs one inference pass over the labelled
documents and a second or so of L-BFGS.

A checkpoint folder (``save_pretrained``) holds the encoder and tokenizer (``encoder/``) and the
correction (``prior/``: W, b, mean, scale and the label embeddings, safetensors; the descriptions
and temperature in ``prior/config.json``); its manifest is a classifier's with ``architecture``
``zero-shot-prior``, so :func:`longbert.load_classifier`, the app's model pickers and
``python -m longbert.predict`` load it like any trained model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import torch
from torch import nn
from transformers import AutoTokenizer, BertConfig, PreTrainedTokenizerBase

from longbert.checkpoints import Manifest, read_manifest, resolve_checkpoint, write_manifest
from longbert.classifier import ClassifierOutput
from longbert.devices import DeviceLike, resolve_device
from longbert.document import Document
from longbert.encoder_source import check_tokenizer, tokenizer_files_problem
from longbert.errors import CheckpointError, StrategyConfigError
from longbert.fewshot.prior_fit import (
    DEFAULT_LAM,
    METHOD,
    MULTI_LABEL_REFUSAL,
    ProgressFn,
    fit_prior,
    single_labels,
)
from longbert.inputs import ModelInputs
from longbert.modeling.long_bert import LongBertModel
from longbert.settings import DEFAULT_ENCODER
from longbert.strategies import Strategy
from longbert.zero_shot import ZeroShotClassifier

#: The tensors of ``prior/model.safetensors`` (the label embeddings are saved so a loaded model
#: predicts exactly as the saved one, whatever the device the descriptions would be embedded on).
TENSORS = ("correction.weight", "correction.bias", "feature_mean", "feature_scale", "label_embeddings")


class ZeroShotPriorClassifier(ZeroShotClassifier):
    """Zero-shot similarity logits plus a learnt linear correction (see the module docstring).

    Build one with :func:`longbert.fewshot.train_zero_shot_prior` (or construct it and call
    :meth:`fit`); a fresh one (W = b = 0) predicts exactly as :class:`ZeroShotClassifier`.
    Its predictions are not marked zero-shot: it is a trained model.
    """

    zero_shot = False

    def __init__(
        self,
        labels: Sequence[str] | Mapping[str, str],
        encoder: str | os.PathLike[str] | None = None,
        strategy: Strategy | dict[str, Any] | str | None = None,
        temperature: float = 0.05,
        *,
        model: LongBertModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        name: str = METHOD,
    ) -> None:
        super().__init__(labels, encoder, strategy, temperature, model=model, tokenizer=tokenizer)
        hidden = int(self.encoder.config.hidden_size)
        self.correction = nn.Linear(hidden, len(self.labels))
        nn.init.zeros_(self.correction.weight)
        nn.init.zeros_(self.correction.bias)
        self.register_buffer("feature_mean", torch.zeros(hidden))
        self.register_buffer("feature_scale", torch.ones(hidden))
        self.name = name
        self.metadata = {
            "training": "few_shot",
            "descriptions": self.descriptions,
            "temperature": temperature,
            "few_shot": {"method": METHOD},
        }
        self.to(self.label_embeddings.device)  # where the encoder is

    def corrections(self, vectors: torch.Tensor) -> torch.Tensor:
        """``[N, H]`` embeddings → ``[N, L]`` the learnt term ``W · ((v - mean) / scale) + b``,
        in float32 whatever the autocast around it (W = b = 0 then adds exact zeros)."""
        with torch.autocast(vectors.device.type, enabled=False):
            features = (vectors.float() - self.feature_mean) / self.feature_scale
            return self.correction(features)

    def classify_windows(
        self,
        window_vectors: torch.Tensor,
        inputs: ModelInputs,
        *,
        pooling: str | None = None,
        output_window_logits: bool = False,
    ) -> ClassifierOutput:
        """The zero-shot logits of each document (and window) plus the correction."""
        out, docs = self.classify_documents(window_vectors, inputs, output_window_logits)
        out.logits = out.logits + self.corrections(docs)
        if out.window_logits is not None:  # a window alone: its own embedding, corrected alike
            out.window_logits = out.window_logits + self.corrections(window_vectors)
        return out

    def fit(self, documents: Sequence[Any], labels: Sequence[str], **options: Any) -> Self:
        """Fit W and b on labelled documents; see :func:`longbert.fewshot.prior_fit.fit_prior`."""
        fit_prior(self, documents, labels, **options)
        return self

    # -- checkpoint folder -------------------------------------------------------------------

    def save_pretrained(self, folder: str | os.PathLike[str], **metadata: Any) -> Path:
        """Write the checkpoint folder (module docstring); ``metadata`` joins the manifest's."""
        from safetensors.torch import save_file

        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        self.metadata.update(metadata)
        self.encoder.save_pretrained(path / "encoder")
        self.tokenizer.save_pretrained(str(path / "encoder"))
        (path / "prior").mkdir(exist_ok=True)
        state = self._prior_state()
        save_file(
            {k: v.detach().float().cpu().contiguous() for k, v in state.items()},
            str(path / "prior" / "model.safetensors"),
            metadata={"format": "pt"},
        )
        config = {"method": METHOD, "temperature": self.temperature, "descriptions": self.descriptions}
        (path / "prior" / "config.json").write_text(json.dumps(config, indent=2))
        manifest = Manifest(
            kind="classifier",
            architecture="zero-shot-prior",
            name=self.name,
            encoder=self.encoder_source,
            labels=tuple(self.labels),
            multi_label=False,
            strategy=self.strategy.config(),
            metadata=self.metadata,
        )
        write_manifest(path, manifest)  # last: a folder without it is never taken for a model
        return path

    def _prior_state(self) -> dict[str, torch.Tensor]:
        return {
            "correction.weight": self.correction.weight,
            "correction.bias": self.correction.bias,
            "feature_mean": self.feature_mean,
            "feature_scale": self.feature_scale,
            "label_embeddings": self.label_embeddings,
        }

    @classmethod
    def from_pretrained(
        cls,
        folder: str | os.PathLike[str],
        *,
        device: DeviceLike | None = None,
        precision: str | None = "fp32",
    ) -> Self:
        """Load a ``zero-shot-prior`` checkpoint folder (or a name under ``models/``) on ``device``,
        weights held as ``precision`` says (as :meth:`LongBertClassifier.from_pretrained`)."""
        from safetensors.torch import load_file

        target = resolve_device(device)
        path = resolve_checkpoint(folder)
        manifest = read_manifest(path)
        if manifest.kind != "classifier" or manifest.architecture != "zero-shot-prior":
            raise CheckpointError(f"Checkpoint '{path}' is not a zero-shot-prior model.")
        encoder_dir, prior_dir = path / "encoder", path / "prior"
        for needed in (encoder_dir, prior_dir / "model.safetensors", prior_dir / "config.json"):
            if not needed.exists():
                raise CheckpointError(f"Checkpoint '{path}' is incomplete: '{needed.name}' is missing.")
        if problem := tokenizer_files_problem(encoder_dir):
            raise CheckpointError(f"Checkpoint '{path}': folder '{encoder_dir}' is unusable: {problem}.")
        try:
            config = json.loads((prior_dir / "config.json").read_text())
            descriptions = {str(k): str(v) for k, v in dict(config["descriptions"]).items()}
            temperature = float(config["temperature"])
            state = load_file(str(prior_dir / "model.safetensors"))
        except Exception as error:  # a hand-edited or truncated file: name it
            raise CheckpointError(f"Checkpoint '{path}': '{prior_dir}' is unreadable ({error}).") from error
        if list(descriptions) != list(manifest.labels):
            raise CheckpointError(
                f"Checkpoint '{path}' is inconsistent: its labels {list(manifest.labels)} are not "
                f"those of prior/config.json {list(descriptions)}."
            )
        encoder = LongBertModel.from_pretrained(encoder_dir)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), config=BertConfig())
        except Exception as error:
            raise CheckpointError(
                f"Checkpoint '{path}': the tokenizer could not be read ({error})."
            ) from error
        check_tokenizer(
            tokenizer, encoder.config.vocab_size, f"Checkpoint folder '{encoder_dir}'", CheckpointError
        )
        try:
            classifier = cls(
                descriptions,
                manifest.encoder,
                manifest.strategy,
                temperature,
                model=encoder,
                tokenizer=tokenizer,
                name=manifest.name or path.name,
            )
        except (StrategyConfigError, ValueError) as error:
            raise CheckpointError(f"Checkpoint '{path}' is invalid: {error}") from error
        own = classifier._prior_state()
        for key in TENSORS:
            if key not in state or state[key].shape != own[key].shape:
                raise CheckpointError(
                    f"Checkpoint '{path}' is inconsistent: prior tensor '{key}' is missing or not "
                    f"of shape {tuple(own[key].shape)}."
                )
        with torch.no_grad():
            for key in TENSORS:
                own[key].copy_(state[key])
        classifier.metadata = dict(manifest.metadata)
        classifier.eval()
        classifier.to_device(target)
        classifier.hold_weights_in(precision)
        return classifier


def train_zero_shot_prior(
    documents: Sequence[str | Document],
    labels: Sequence[str | Sequence[str]],
    *,
    encoder: str | os.PathLike[str] | None = None,
    strategy: Strategy | dict[str, Any] | str | None = None,
    label_names: Sequence[str] | None = None,
    descriptions: Mapping[str, str] | None = None,
    multi_label: bool = False,
    lam: float = DEFAULT_LAM,
    temperature: float = 0.05,
    seed: int = 0,
    name: str = METHOD,
    device: DeviceLike | None = None,
    batch_size: int = 8,
    progress: ProgressFn | None = None,
) -> ZeroShotPriorClassifier:
    """A zero-shot-prior model from a handful of labelled documents.

    Args:
        documents, labels: the examples (one label name each).
        encoder: the sentence encoder (default: the packaged one); it is not trained.
        strategy: how documents are read (default: zero-shot's 256-token chunks).
        label_names: the model's labels, in order (default: the sorted labels of the examples);
            a label without examples keeps its zero-shot prediction.
        descriptions: ``{label: description}`` the zero-shot part embeds (default: the name).
        multi_label: refused (:data:`MULTI_LABEL_REFUSAL`).
        lam: L2 penalty on W and b (larger: closer to zero-shot).
    """
    if multi_label:
        raise ValueError(MULTI_LABEL_REFUSAL)
    names = single_labels(labels)
    chosen = [str(n) for n in label_names] if label_names is not None else sorted(set(names))
    if len(chosen) < 2:
        raise ValueError("a single-label model needs at least two labels")
    described = {str(k): str(v) for k, v in (descriptions or {}).items() if str(v).strip()}
    model = ZeroShotPriorClassifier(
        {label: described.get(label, label) for label in chosen},
        encoder if encoder is not None else DEFAULT_ENCODER,
        strategy,
        temperature,
        name=name,
    )
    model.to_device(resolve_device(device))
    return fit_prior(model, documents, names, lam=lam, seed=seed, batch_size=batch_size, progress=progress)
