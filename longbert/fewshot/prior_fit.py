"""Fitting the zero-shot prior's correction (:mod:`longbert.fewshot.prior`) on a few labels.

The labelled documents are embedded once by the frozen encoder (one inference pass,
:func:`longbert.active.score_documents`: the document vector zero-shot compares with the label
descriptions). W and b then minimise, over the whole (small) set at once::

    mean cross-entropy(cos(doc, labels) / T + W · z + b, y) + lam · (|W|² + |b|²)

with z the embedding standardised by the labelled vectors' mean and spread (spread 1 where a
dimension does not vary, e.g. with one example per label), by L-BFGS in float64 on the CPU: convex,
full batch, so the result is the same on every run. This is ``PriorLearner`` of
``bench/active_frozen.py``, which in the active-learning benchmark did far better per label than a
head trained from nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

import torch

from longbert.classifier import DocumentClassifier
from longbert.document import Document

ProgressFn = Callable[[dict[str, Any]], None]
#: The method's name in metadata, FewShotConfig and the benchmark.
METHOD = "zero-shot-prior"
#: The L2 penalty of ``bench/active_frozen.py``'s PriorLearner.
DEFAULT_LAM = 0.01
#: Below this spread a dimension counts as constant (scaled by 1, not blown up).
MIN_SCALE = 1e-6
MULTI_LABEL_REFUSAL = (
    "The zero-shot-prior few-shot method is single-label only (it corrects a softmax over the "
    "labels). For multi-label data use the SetFit method (--few-shot-method setfit) or fine-tune "
    "(--mode fine-tune)."
)


def single_labels(labels: Sequence[str | Sequence[str]]) -> list[str]:
    """One label name per example; a multi-label example is refused (:data:`MULTI_LABEL_REFUSAL`)."""
    out = []
    for index, value in enumerate(labels):
        values = [value] if isinstance(value, str) else list(value)
        names = list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))
        if not names:
            raise ValueError(f"example {index + 1} has no label")
        if len(names) > 1:
            raise ValueError(f"example {index + 1} has {len(names)} labels. {MULTI_LABEL_REFUSAL}")
        out.append(names[0])
    return out


@torch.no_grad()
def document_embeddings(
    model: DocumentClassifier,
    documents: Sequence[str | Document],
    batch_size: int = 8,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """``[N, H]`` float64 unit-length document embeddings under the model's strategy (frozen
    encoder, inference mode, ``batch_size`` windows per pass); ValueError naming unreadable ones."""
    from longbert.active import score_documents

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress({"event": "embed", "done": done, "total": total})

    scores = score_documents(model, list(documents), batch_size=batch_size, progress=report)
    if scores.errors:
        bad = "; ".join(f"example {row + 1}: {why}" for row, why in sorted(scores.errors.items()))
        raise ValueError("some examples cannot be read: " + bad)
    return torch.from_numpy(scores.embeddings).double()


def fit_correction(
    embeddings: torch.Tensor,
    targets: torch.Tensor,
    label_embeddings: torch.Tensor,
    temperature: float,
    lam: float = DEFAULT_LAM,
    max_iterations: int = 300,
) -> dict[str, Any]:
    """W ``[L, H]``, b ``[L]``, mean, scale ``[H]`` (float64) and the final objective, from
    ``[N, H]`` embeddings and ``[N]`` label indices; see the module docstring."""
    x = embeddings.double().cpu()
    y = targets.long().cpu()
    mean = x.mean(dim=0)
    scale = x.std(dim=0, unbiased=False)
    scale = torch.where(scale > MIN_SCALE, scale, torch.ones_like(scale))
    z = (x - mean) / scale
    prior = x @ label_embeddings.double().cpu().T / temperature
    weight = torch.zeros(label_embeddings.shape[0], x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(label_embeddings.shape[0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iterations,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        logits = prior + z @ weight.T + bias
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss = loss + lam * (weight.pow(2).sum() + bias.pow(2).sum())
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(objective)
        final = float(objective().detach())
    return {"weight": weight.detach(), "bias": bias.detach(), "mean": mean, "scale": scale, "loss": final}


def fit_prior(
    model: Any,
    documents: Sequence[str | Document],
    labels: Sequence[str | Sequence[str]],
    *,
    lam: float = DEFAULT_LAM,
    seed: int = 0,
    batch_size: int = 8,
    progress: ProgressFn | None = None,
) -> Any:
    """Fit the W and b of ``model`` (a :class:`~longbert.fewshot.prior.ZeroShotPriorClassifier`:
    typed loosely, as that module imports this one) on labelled documents (labels among
    ``model.labels``; a label without examples keeps its zero-shot prior and a b near 0) and
    record how in ``model.metadata["few_shot"]``. Returns ``model``, in eval mode. Nothing here
    is random: ``seed`` is only recorded (so runs read like the others), and torch's global
    random state is left as it was."""
    started = perf_counter()
    if isinstance(documents, str | bytes | Document):
        raise TypeError("fit takes a list of documents")
    documents, names = list(documents), single_labels(labels)
    if len(documents) != len(names):
        raise ValueError(f"{len(documents)} documents but {len(names)} labels")
    if not documents:
        raise ValueError("fitting needs at least one labelled document")
    if not lam >= 0:
        raise ValueError(f"lam must be 0 or more, got {lam!r}")
    unknown = sorted(set(names) - set(model.labels))
    if unknown:
        raise ValueError(
            f"examples carry labels the model does not have: {', '.join(unknown)} "
            f"(its labels are {', '.join(model.labels)})"
        )
    model.eval()
    embeddings = document_embeddings(model, documents, batch_size, progress)
    targets = torch.tensor([model.labels.index(n) for n in names])
    fitted = fit_correction(embeddings, targets, model.label_embeddings, model.temperature, lam)
    with torch.no_grad():
        model.correction.weight.copy_(fitted["weight"])
        model.correction.bias.copy_(fitted["bias"])
        model.feature_mean.copy_(fitted["mean"])
        model.feature_scale.copy_(fitted["scale"])
    model.metadata.update(
        training="few_shot",
        few_shot={
            "method": METHOD,
            "lam": lam,
            "seed": seed,
            "examples": len(documents),
            "examples_per_label": {label: names.count(label) for label in model.labels},
            "descriptions_used": any(d != label for label, d in model.descriptions.items()),
            "temperature": model.temperature,
            "encoder": model.encoder_source,
            "objective": round(fitted["loss"], 6),
            "seconds": round(perf_counter() - started, 2),
        },
    )
    if progress is not None:
        progress({"event": "end", "seconds": perf_counter() - started})
    return model
