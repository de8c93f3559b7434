"""The one place where explanations touch the classifier: document → inputs, inputs → probabilities.

Explanations perturb what the model reads and run it again many times, so they need a little more
than ``predict``: the strategy's cut of a document (:func:`read`), window vectors reused across
perturbed copies (:func:`variant_probabilities`), and a differentiable forward pass from word
embeddings to one label's probability (:class:`LabelForward`, for Captum). Every call into
classifier internals (``prepare``, ``collate``, ``run_encoder``, ``classify_windows``, ``forward``,
the embedding table) is in this module. Single passes go through the classifier's one forward
path (``DocumentClassifier.forward``); only the reuse of unchanged window vectors across perturbed
copies runs its two halves (``run_encoder``, then ``classify_windows``) apart.

Nothing here hooks or changes the classifier: it is one object shared by every session and
background job, which may be predicting with it at the same time.

Model settings (pooling, sparse attention window) are the model's own unless a strategy spec
carries overrides (:func:`resolve`); they are passed as ``settings`` to every call here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from longbert.devices import autocast
from longbert.document import Document, as_document
from longbert.inference import LONG_GROUP_TOKENS
from longbert.inputs import ModelInputs, prepare
from longbert.results import Prediction
from longbert.strategies import Selection, Strategy, parse_strategy

if TYPE_CHECKING:
    from longbert.classifier import DocumentClassifier

#: Content tokens per forward pass when many perturbed windows are run (32 full BERT windows).
TOKENS_PER_PASS = LONG_GROUP_TOKENS

#: A call's model settings overrides: ``{"pooling": ..., "attention_window": ...}`` (either may be absent).
Settings = Mapping[str, Any]


def resolve(
    classifier: DocumentClassifier, strategy: Strategy | dict[str, Any] | str | None
) -> tuple[Strategy, dict[str, Any]]:
    """The strategy to explain under (the classifier's own unless one is given), position table
    grown for it, and the model settings the spec overrides (pooling, attention window)."""
    chosen, settings = parse_strategy(strategy) if strategy is not None else (classifier.strategy, {})
    classifier.fit_positions(chosen)
    return chosen, settings


def resolve_strategy(
    classifier: DocumentClassifier, strategy: Strategy | dict[str, Any] | str | None
) -> Strategy:
    """:func:`resolve` without the settings."""
    return resolve(classifier, strategy)[0]


def read(classifier: DocumentClassifier, item: str | Document, strategy: Strategy) -> Selection:
    """What the model reads of ``item`` under ``strategy`` (as ``predict`` prepares it)."""
    return prepare(as_document(item), classifier.tokenizer, strategy)


def _options(settings: Settings | None) -> dict[str, Any]:
    """``forward``/``run_encoder`` keyword overrides from ``settings``."""
    settings = settings or {}
    return {k: settings.get(k) for k in ("pooling", "attention_window")}


def labels(classifier: DocumentClassifier) -> list[str]:
    return list(classifier.labels)


def _single_rows(encoded: Selection, windows: Sequence[np.ndarray]) -> list[Selection]:
    """Each window as its own one-row Selection (long mode keeps its global positions)."""
    mode = "long" if encoded.mode == "long" else "window"
    return [
        Selection(doc=encoded.doc, mode=mode, windows=[w], global_positions=encoded.global_positions)
        for w in windows
    ]


def _template(classifier: DocumentClassifier, encoded: Selection) -> ModelInputs:
    return classifier.collate([encoded])


def _precision(classifier: DocumentClassifier) -> Any:
    """The mixed precision ``infer`` runs ``classifier`` in (none over weights prepared for
    inference: an int8 model's layers take float32 activations)."""
    return autocast(classifier.device, classifier.autocast_dtype())


@torch.inference_mode()
def _window_vectors(
    classifier: DocumentClassifier,
    rows: list[Selection],
    tokens_per_pass: int,
    settings: Settings | None = None,
) -> torch.Tensor:
    """``[R, H]`` vectors of one-window rows, run in length-sorted passes of a token budget."""
    device = classifier.device
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].windows[0]))
    out: list[torch.Tensor | None] = [None] * len(rows)
    start = 0
    while start < len(order):
        stop, budget = start, 0
        while stop < len(order) and (
            stop == start or budget + len(rows[order[stop]].windows[0]) + 2 <= tokens_per_pass
        ):
            budget += len(rows[order[stop]].windows[0]) + 2
            stop += 1
        part = [rows[i] for i in order[start:stop]]
        batch = classifier.collate(part).to(device)
        with _precision(classifier):
            vectors = classifier.run_encoder(
                batch, attention_window=_options(settings)["attention_window"]
            ).vectors
        for i, vector in zip(order[start:stop], vectors.float(), strict=True):
            out[i] = vector
        start = stop
    return torch.stack([v for v in out if v is not None])


@torch.inference_mode()
def _classify(
    classifier: DocumentClassifier,
    template: ModelInputs,
    vectors: torch.Tensor,
    window_doc: torch.Tensor,
    num_docs: int,
    settings: Settings | None = None,
) -> torch.Tensor:
    """``[B, L]`` probabilities from window vectors (pooled per document in chunks mode)."""
    batch = dataclasses.replace(
        template,
        window_doc=window_doc.to(vectors.device),
        num_docs=num_docs,
        window_start=_repeated_starts(template, num_docs, vectors.device),
    )
    with _precision(classifier):
        out = classifier.classify_windows(
            vectors.to(_head_dtype(classifier)), batch, pooling=_options(settings)["pooling"]
        )
    return classifier.probabilities(out.logits)


def _repeated_starts(template: ModelInputs, copies: int, device: torch.device) -> torch.Tensor | None:
    """The base document's window starts for ``copies`` documents that share its windows."""
    if template.window_start is None:
        return None
    return template.window_start.to(device).repeat(copies)


def _head_dtype(classifier: DocumentClassifier) -> torch.dtype:
    return next(classifier.parameters()).dtype


#: Bytes of window vectors one pooling pass holds (``[docs, W, H]`` float32, every perturbed copy
#: a full set of its document's window vectors): memory stays bounded at any length. Stacking
#: every copy at once took 10 GiB for exact occlusion of a 150k-token chunked document.
POOL_BYTES = 64 * 2**20


def docs_per_pool_within(n_windows: int, hidden: int, docs_per_pool: int, pool_bytes: int) -> int:
    """Documents (base or perturbed copies) pooled per pass: at most ``docs_per_pool``, and no
    more than fit in ``pool_bytes`` of float32 window vectors (at least one)."""
    per_doc = max(n_windows * hidden * 4, 1)
    return max(1, min(docs_per_pool, pool_bytes // per_doc))


def variant_probabilities(
    classifier: DocumentClassifier,
    base: Selection,
    variants: Sequence[Selection],
    strategy: Strategy,
    *,
    tokens_per_pass: int = TOKENS_PER_PASS,
    docs_per_pool: int = 256,
    pool_bytes: int | None = None,
    settings: Settings | None = None,
) -> np.ndarray:
    """``[1 + V, L]`` probabilities of ``base`` then of each perturbed copy of it.

    Variants keep ``base``'s windows (same count, same order); only windows that differ from the
    base are run again: removing a sentence from a chunked document re-runs the one or two
    windows that hold it, and reuses every other window's vector. The copies are then pooled in
    passes of at most ``docs_per_pool`` documents and ``pool_bytes`` (default :data:`POOL_BYTES`)
    of window vectors, each pass built from the base's vectors and only its own copies' changed
    rows. ``strategy`` is the one ``base`` was read under (kept for callers; the selections
    carry what is needed).
    """
    del strategy
    classifier.eval()
    base_vectors = _window_vectors(classifier, _single_rows(base, base.windows), tokens_per_pass, settings)
    changed_doc: list[int] = []  # document (1 + variant) of each window run again, ascending
    changed_window: list[int] = []
    rows: list[Selection] = []
    for v, variant in enumerate(variants):
        if len(variant.windows) != len(base.windows):
            raise ValueError("a variant must keep its base's windows (remove tokens, not windows)")
        for w, (a, b) in enumerate(zip(base.windows, variant.windows, strict=True)):
            if a is b:  # shared with the base (remove_positions keeps untouched windows)
                continue
            if len(a) != len(b) or not np.array_equal(a, b):
                changed_doc.append(v + 1)
                changed_window.append(w)
                rows.extend(_single_rows(variant, [b]))
    new_vectors = _window_vectors(classifier, rows, tokens_per_pass, settings) if rows else None
    template = _template(classifier, base)
    n_windows, hidden = base_vectors.shape
    step = docs_per_pool_within(n_windows, hidden, docs_per_pool, pool_bytes or POOL_BYTES)
    doc_of = np.asarray(changed_doc, dtype=np.int64)
    window_of = torch.as_tensor(changed_window, dtype=torch.long)
    probs = []
    for start in range(0, len(variants) + 1, step):
        stop = min(start + step, len(variants) + 1)
        part = base_vectors.unsqueeze(0).repeat(stop - start, 1, 1)  # [docs, W, H]
        first, last = np.searchsorted(doc_of, [start, stop])
        if last > first:
            docs = torch.as_tensor(doc_of[first:last] - start)
            part[docs, window_of[first:last]] = new_vectors[first:last]  # type: ignore[index]
        window_doc = torch.arange(stop - start).repeat_interleave(n_windows)
        probs.append(
            _classify(classifier, template, part.reshape(-1, hidden), window_doc, stop - start, settings)
        )
    return torch.cat(probs).float().cpu().numpy()


class LabelForward(nn.Module):
    """Token ids of one window → the explained label's probability, differentiable (for Captum).

    Rows of ``input_ids`` are windows of one document (any order, any repetition: Captum stacks
    interpolation steps); ``window_index`` says which window each row is. In chunks mode the
    document probability is computed with every *other* window at its unperturbed vector, so a
    row's attributions are that window's share of the document's prediction.
    """

    def __init__(
        self,
        classifier: DocumentClassifier,
        base: Selection,
        strategy: Strategy,
        label_index: int,
        *,
        settings: Settings | None = None,
    ) -> None:
        super().__init__()
        del strategy  # ``base`` was read under it; the selection carries what is needed
        self.classifier = classifier
        self.label_index = label_index
        self.options = _options(settings)
        self.template = _template(classifier, base).to(classifier.device)
        self.mode = base.mode
        self.base_vectors = (
            _window_vectors(classifier, _single_rows(base, base.windows), TOKENS_PER_PASS, settings)
            if base.mode == "chunks"
            else None
        )

    @property
    def embedding_layer(self) -> nn.Module:
        """The model's word-embedding table (read only: never hook it, see :meth:`embed`)."""
        return self.classifier.encoder.embeddings.word_embeddings

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``[R, T, H]`` word embeddings of ``input_ids``, detached: what the gradient methods
        attribute to, fed back through ``forward(..., inputs_embeds=)``.

        Looked up once rather than hooked: the classifier is one object shared by every session
        and background job, and a hook on its embedding layer would replace the embeddings of
        any other prediction running at the same time (wrong shapes, or silently wrong scores).
        """
        with torch.no_grad():
            return self.embedding_layer(input_ids).detach()

    def inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask, global_attention_mask, window_index)`` of every window."""
        t = self.template
        rows = t.input_ids.shape[0]
        global_mask = (
            t.global_attention_mask if t.global_attention_mask is not None else torch.zeros_like(t.input_ids)
        )
        return t.input_ids, t.attention_mask, global_mask, torch.arange(rows, device=t.input_ids.device)

    def baseline(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[PAD] in place of every content token; [CLS], [SEP] and padding kept."""
        tokenizer = self.classifier.tokenizer
        special = (input_ids == tokenizer.cls_token_id) | (input_ids == tokenizer.sep_token_id)
        keep = special | (attention_mask == 0)
        return torch.where(keep, input_ids, torch.full_like(input_ids, tokenizer.pad_token_id))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        global_attention_mask: torch.Tensor,
        window_index: torch.Tensor,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``[R]`` probabilities of the label; ``inputs_embeds`` ``[R, T, H]``, when given, stand in
        for the word embeddings of ``input_ids`` (what the gradient methods differentiate)."""
        rows = input_ids.shape[0]
        batch = dataclasses.replace(
            self.template,
            input_ids=input_ids,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            global_attention_mask=global_attention_mask if self.mode == "long" else None,
            window_doc=torch.arange(rows, device=input_ids.device),
            num_docs=rows,
            window_start=None,  # one row per document here: nothing is pooled
        )
        if self.base_vectors is None:  # one row per document: the classifier's one forward path
            logits = self.classifier(batch, **self.options).logits
            return self.classifier.probabilities(logits)[:, self.label_index]
        # chunks: the row's window among the others, unchanged (their vectors reused)
        window = self.options["attention_window"]
        vectors = self.classifier.run_encoder(batch, attention_window=window).vectors
        n_windows = self.base_vectors.shape[0]
        docs = self.base_vectors.to(vectors.dtype).unsqueeze(0).repeat(rows, 1, 1)
        docs[torch.arange(rows, device=vectors.device), window_index] = vectors
        vectors = docs.reshape(rows * n_windows, -1)
        batch = dataclasses.replace(
            batch,
            window_doc=torch.arange(rows, device=vectors.device).repeat_interleave(n_windows),
            window_start=_repeated_starts(self.template, rows, vectors.device),
        )
        logits = self.classifier.classify_windows(vectors, batch, pooling=self.options["pooling"]).logits
        return self.classifier.probabilities(logits)[:, self.label_index]


def active_exit_threshold(
    classifier: DocumentClassifier,
    strategy: Strategy,
    settings: Settings | None = None,
    exit_threshold: float | None = None,
) -> float | None:
    """The exit threshold under which ``predict`` lets confident rows of this strategy leave an
    early-exit model before its last layer (``exit_threshold``: the call's; None: the model's
    stored one), or None when ``predict`` runs the full model (no exits, threshold 0, sparse
    mode, chunks pooled other than by their mean: the cases ``run_with_exits`` hands back).

    Occlusion and the gradient methods run the full depth (window vectors reused, embeddings
    differentiated), so they explain the model ``predict`` ran only when this is None.
    """
    exits = getattr(classifier, "early_exit", None)
    if exits is None:
        return None
    threshold = float(exits.threshold if exit_threshold is None else exit_threshold)
    if threshold <= 0 or strategy.mode == "long":
        return None
    from longbert.compression.early_exit import pools_by_mean

    if strategy.mode == "chunks" and not pools_by_mean(classifier, _options(settings)["pooling"]):
        return None
    return threshold


def attention_prediction(
    classifier: DocumentClassifier,
    item: str | Document,
    strategy: Strategy,
    settings: Settings | None = None,
    exit_threshold: float | None = None,
) -> Prediction:
    """``predict`` with the attention summary (the third explanation method reads it), at
    ``exit_threshold`` on an early-exit model (None: its stored threshold, as ``predict``)."""
    exits = {} if exit_threshold is None else {"exit_threshold": exit_threshold}
    (result,) = classifier.predict(
        [item], strategy=strategy, attention="summary", **_options(settings), **exits
    )
    if not isinstance(result, Prediction):
        raise ValueError(result.message)
    return result
