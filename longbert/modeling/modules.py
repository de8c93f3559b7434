"""Small composable modules on top of the encoder: chunk pooling and the [CLS] head.

Each saves its own ``config.json`` next to its ``model.safetensors`` (the sentence-transformers
habit), so a checkpoint is a folder of self-describing parts and nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from longbert.errors import CheckpointError
from longbert.modeling.window_context import WindowContext
from longbert.settings import DEFAULT_POOLING, POOLING_METHODS


def _save_module(module: nn.Module, folder: Path, config: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))


def _load_config_and_state(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        raise CheckpointError(
            f"Checkpoint part '{folder}' is incomplete: it needs config.json and model.safetensors."
        )
    try:
        config = json.loads(config_path.read_text())
        state = load_file(str(weights_path))
    except Exception as error:  # corrupt JSON or safetensors: one clear message
        raise CheckpointError(f"Checkpoint part '{folder}' is corrupt: {error}") from error
    if not isinstance(config, dict):
        raise CheckpointError(
            f"Checkpoint part '{folder}' is corrupt: config.json holds {type(config).__name__}, "
            "not an object."
        )
    return config, state


def _positive_int(config: dict[str, Any], key: str, folder: Path) -> int:
    value = config.get(key)
    # bool is an int subclass; true is no size.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise CheckpointError(
            f"Checkpoint part '{folder}' is corrupt: config.json needs '{key}' as a positive "
            f"integer, got {value!r}."
        )
    return value


def _probability(config: dict[str, Any], key: str, folder: Path) -> float:
    value = config.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise CheckpointError(
            f"Checkpoint part '{folder}' is corrupt: config.json needs '{key}' as a number in "
            f"[0, 1), got {value!r}."
        )
    return float(value)


def _load_state(module: nn.Module, state: dict[str, torch.Tensor], folder: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(
            f"Checkpoint part '{folder}' does not match its config.json: {error}"
        ) from error


def check_pooling(method: Any) -> str:
    """``method`` if it is one of :data:`POOLING_METHODS`, else ValueError naming them."""
    if method not in POOLING_METHODS:
        raise ValueError(f"Unknown pooling {method!r}; choose one of {', '.join(POOLING_METHODS)}.")
    return str(method)


class ChunkPooling(nn.Module):
    """Combine the [CLS] vectors of a document's windows into one document vector.

    ``method`` (saved in ``config.json``, as sentence-transformers' ``Pooling`` does) is how:
    ``mean`` and ``max`` have no parameters. ``attention`` scores each window with a learned
    vector and takes the softmax-weighted mean; the scorer starts at zero, so an untrained
    attention pooling *is* mean pooling (a checkpoint trained with another method can be run
    with attention pooling without random behaviour). ``transformer`` first passes the windows
    through a document-level layer (:class:`~longbert.modeling.window_context.WindowContext`:
    the windows attend to each other and know where they sit), then pools by attention; that
    layer is the identity until trained, so it too starts as mean pooling. A call may override
    the method.
    """

    def __init__(self, hidden_size: int, method: str = DEFAULT_POOLING) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.method = check_pooling(method)
        self.scorer = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.scorer.weight)
        nn.init.zeros_(self.scorer.bias)
        self.context: WindowContext | None = None
        if self.method == "transformer":
            self.add_context()

    def add_context(self) -> WindowContext:
        """The document-level layer, created (as the identity) on first need, where the scorer is."""
        if self.context is None:
            self.context = WindowContext(self.hidden_size).to(self.scorer.weight.device)
        return self.context

    def set_method(self, method: str) -> None:
        """Pool by ``method`` from now on (``transformer`` adds the untrained document layer)."""
        self.method = check_pooling(method)
        if self.method == "transformer":
            self.add_context()

    def forward(
        self,
        window_vectors: torch.Tensor,
        window_doc: torch.Tensor,
        num_docs: int,
        method: str | None = None,
        window_start: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool windows per document.

        Args:
            window_vectors: ``[W, H]`` one vector per window.
            window_doc: ``[W]`` index of the document each window belongs to (0..num_docs-1).
            num_docs: ``B``.
            method: one of :data:`POOLING_METHODS`; None: this module's own :attr:`method`.
            window_start: ``[W]`` share of its document before each window (``transformer``
                pooling places the windows by it; None: spread evenly in the given order).

        Returns:
            ``([B, H] document vectors, [W] window weights)``. Weights sum to 1 per document;
            for ``max`` they are each window's share of the winning dimensions.
        """
        method = self.method if method is None else check_pooling(method)
        if method == "transformer":
            window_vectors = self.add_context()(window_vectors, window_start, window_doc, num_docs)
        pooled, weights = [], torch.empty(window_vectors.shape[0], device=window_vectors.device)
        # A per-document loop: B documents of one forward pass (few), and it keeps the code obvious.
        for doc in range(num_docs):
            index = torch.nonzero(window_doc == doc, as_tuple=True)[0]
            vectors = window_vectors[index]
            if method == "mean":
                w = torch.full((len(index),), 1.0 / len(index), device=vectors.device)
                pooled.append(vectors.mean(dim=0))
            elif method == "max":
                values, winners = vectors.max(dim=0)
                w = torch.bincount(winners, minlength=len(index)).float() / vectors.shape[1]
                pooled.append(values)
            else:
                w = torch.softmax(self.scorer(vectors).squeeze(-1).float(), dim=0)
                pooled.append((w.to(vectors.dtype).unsqueeze(-1) * vectors).sum(dim=0))
            weights[index] = w.to(weights.dtype)
        return torch.stack(pooled), weights

    def save(self, folder: Path) -> None:
        _save_module(self, folder, {"hidden_size": self.hidden_size, "method": self.method})

    @classmethod
    def load(cls, folder: Path) -> ChunkPooling:
        """Load ``folder``; a ``config.json`` without ``method`` (format 1) pools by the mean."""
        config, state = _load_config_and_state(folder)
        method = config.get("method", DEFAULT_POOLING)
        if method not in POOLING_METHODS:
            raise CheckpointError(
                f"Checkpoint part '{folder}' is corrupt: config.json has method {method!r}, not one "
                f"of {', '.join(POOLING_METHODS)}."
            )
        module = cls(_positive_int(config, "hidden_size", folder), method)
        if any(key.startswith("context.") for key in state):
            module.add_context()  # trained with transformer pooling, saved with it
        _load_state(module, state, folder)
        return module


class ClsHead(nn.Module):
    """BERT's classification head: pooler (dense + tanh) → dropout → linear.

    Sizes come from the encoder's config, never hard-coded. The pooler is initialised from the
    checkpoint's own pooler when it has one (as BertForSequenceClassification does).
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.hidden_size, self.num_labels, self.dropout_p = hidden_size, num_labels, dropout
        self.pooler = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, cls_vectors: torch.Tensor) -> torch.Tensor:
        """``[B, H]`` [CLS] (or pooled) vectors → ``[B, num_labels]`` logits."""
        return self.classifier(self.dropout(torch.tanh(self.pooler(cls_vectors))))

    def init_pooler(self, state: dict[str, torch.Tensor] | None) -> None:
        """Copy a BERT pooler's ``dense.weight``/``dense.bias`` if the checkpoint had one."""
        if state and "dense.weight" in state and state["dense.weight"].shape == self.pooler.weight.shape:
            with torch.no_grad():
                self.pooler.weight.copy_(state["dense.weight"])
                self.pooler.bias.copy_(state["dense.bias"])

    def save(self, folder: Path) -> None:
        config = {"hidden_size": self.hidden_size, "num_labels": self.num_labels, "dropout": self.dropout_p}
        _save_module(self, folder, config)

    @classmethod
    def load(cls, folder: Path) -> ClsHead:
        config, state = _load_config_and_state(folder)
        module = cls(
            _positive_int(config, "hidden_size", folder),
            _positive_int(config, "num_labels", folder),
            _probability(config, "dropout", folder),
        )
        _load_state(module, state, folder)
        return module
