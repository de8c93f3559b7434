"""The ``frozen`` learner of bench_active.py's active-learning mode: samplers compared cheaply.

Retraining a few-shot or fine-tuned model and re-scoring the whole pool every round costs an
encoder pass over the pool per round (about 8 minutes for bbc_news on this 2-core CPU), so ten
rounds x three samplers x three seeds is days. The frozen-feature protocol, common in active
learning studies, isolates what the benchmark asks about -- which documents to ask -- by
embedding the pool and the test split once with the zero-shot model (its document embeddings and
its zero-shot probabilities, the round-0 model), then each round fitting a logistic regression on
the labelled documents' embeddings. Rounds then take a second, and every sampler sees the same
features. The product's own retraining (few-shot, which also tunes the encoder) is stronger per
label than this learner; the samplers' ranking is what carries over.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Embeddings are cached here by data set, subset sizes and strategy (an hour of CPU for 20ng).
CACHE = Path("/tmp/longbert-bench-active")


def embedded(
    dataset: str, rows: list[dict], strategy: str, batch_size: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``([N, H] embeddings, [N, L] zero-shot probabilities, labels)`` of ``rows``, cached."""
    from bench_active import DESCRIPTIONS, zero_shot

    from longbert.active import score_documents

    key = hashlib.sha256(json.dumps([dataset, strategy, [r["text"] for r in rows]]).encode()).hexdigest()[:16]
    path = CACHE / f"{dataset}-{key}.npz"
    labels = list(DESCRIPTIONS[dataset])
    if path.exists():
        saved = np.load(path)
        return saved["embeddings"], saved["probabilities"], labels
    started = time.perf_counter()
    model = zero_shot(dataset)
    scores = score_documents(
        model, [r["text"] for r in rows], strategy=json.loads(strategy), batch_size=batch_size
    )
    assert list(scores.labels) == labels
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, embeddings=scores.embeddings, probabilities=scores.probabilities)
    print(f"  embedded {len(rows)} {dataset} documents in {time.perf_counter() - started:.0f} s", flush=True)
    return scores.embeddings, scores.probabilities, labels


class FrozenLearner:
    """Logistic regression on fixed document embeddings; before any label, the zero-shot model."""

    def __init__(self, pool_x: np.ndarray, pool_zero_shot: np.ndarray, labels: list[str]) -> None:
        self.mean = pool_x.mean(axis=0)
        spread = pool_x.std(axis=0)
        self.scale = np.where(spread > 1e-8, spread, 1.0)
        self.pool_x, self.pool_zero_shot, self.labels = self.features(pool_x), pool_zero_shot, labels
        self.model: Any = None
        #: The one label seen so far, when every label given is the same (no regression to fit).
        self.only: int | None = None

    def features(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale

    def fit(self, ids: list[int], targets: list[str]) -> None:
        from sklearn.linear_model import LogisticRegression

        y = np.array([self.labels.index(t) for t in targets])
        self.model = None
        if len(ids) and len(set(y.tolist())) > 1:
            self.model = LogisticRegression(C=1.0, max_iter=2000).fit(self.pool_x[ids], y)
        self.only = int(y[0]) if len(ids) and self.model is None else None

    def probabilities(self, x: np.ndarray | None, zero_shot: np.ndarray) -> np.ndarray:
        """``[N, L]`` for the pool (``x`` None) or other rows (their raw embeddings)."""
        if self.model is None and self.only is None:
            return zero_shot
        out = np.zeros((len(zero_shot), len(self.labels)))
        if self.model is None:
            out[:, self.only] = 1.0
            return out
        features = self.pool_x if x is None else self.features(x)
        out[:, self.model.classes_] = self.model.predict_proba(features)
        return out


class PriorLearner(FrozenLearner):
    """A correction learnt on top of the zero-shot model: softmax(log p_zero-shot(x) + W x + b),
    W and b L2-regularised toward 0 (``lam``), fit by L-BFGS. With no or few labels it *is* the
    zero-shot model, and every label moves it only as far as the evidence goes -- the plain
    learner instead starts from nothing and falls far below zero-shot on its first labels."""

    def __init__(
        self, pool_x: np.ndarray, pool_zero_shot: np.ndarray, labels: list[str], lam: float = 0.01
    ) -> None:
        super().__init__(pool_x, pool_zero_shot, labels)
        self.lam = lam
        self.weights: tuple[np.ndarray, np.ndarray] | None = None

    def fit(self, ids: list[int], targets: list[str]) -> None:
        from scipy.optimize import minimize

        self.weights = None
        if not ids:
            return
        x, prior = self.pool_x[ids], np.log(np.clip(self.pool_zero_shot[ids], 1e-6, 1.0))
        y = np.array([self.labels.index(t) for t in targets])
        n, d, k = len(ids), x.shape[1], len(self.labels)

        def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = flat[: d * k].reshape(d, k), flat[d * k :]
            p = _softmax(prior + x @ w + b)
            value = -np.log(p[np.arange(n), y] + 1e-12).mean() + self.lam * ((w**2).sum() + (b**2).sum())
            g = p.copy()
            g[np.arange(n), y] -= 1.0
            g /= n
            grad = np.concatenate([(x.T @ g + 2 * self.lam * w).ravel(), g.sum(0) + 2 * self.lam * b])
            return float(value), grad

        found = minimize(loss, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 300})
        self.weights = (found.x[: d * k].reshape(d, k), found.x[d * k :])

    def probabilities(self, x: np.ndarray | None, zero_shot: np.ndarray) -> np.ndarray:
        if self.weights is None:
            return zero_shot
        features = self.pool_x if x is None else self.features(x)
        return _softmax(np.log(np.clip(zero_shot, 1e-6, 1.0)) + features @ self.weights[0] + self.weights[1])


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def run_frozen_curve(
    dataset: str,
    sampler: str,
    seed: int,
    args: Any,
    pool: list[dict],
    test: list[dict],
    key: dict[str, Any],
    done: list[dict[str, Any]],
    record_round: Callable[..., None],
) -> None:
    """One curve (as bench_active's ``run_curve``) with the frozen learner: ``key`` identifies its
    records, ``done`` the rounds already recorded (a finished curve is skipped, an unfinished one
    resumes), ``record_round`` appends one (bench_active's own, which knows the results file:
    importing bench_active here would load a second copy with the default file)."""
    from sklearn.metrics import accuracy_score, f1_score

    from longbert.active import rank

    if done and len(done[-1]["labelled_ids"]) >= args.max_labels:
        print(f"  {dataset} {sampler} seed {seed}: done")
        return
    pool_x, pool_zs, labels = embedded(dataset, pool, args.strategy, args.batch_size)
    test_x, test_zs, _ = embedded(dataset, test, args.strategy, args.batch_size)
    learner = (PriorLearner if args.learner == "frozen-prior" else FrozenLearner)(pool_x, pool_zs, labels)
    truth = [r["label"] for r in test]
    rng = np.random.default_rng(seed)

    def score(labelled: list[int]) -> dict[str, float]:
        learner.fit(labelled, [pool[i]["label"] for i in labelled])
        predicted = [labels[i] for i in learner.probabilities(test_x, test_zs).argmax(axis=1)]
        return {
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", labels=sorted(set(truth)))),
        }

    labelled = [] if args.start == "zero-shot" else rng.permutation(len(pool))[:10].tolist()
    round_index = 0
    if done:
        labelled, round_index = list(done[-1]["labelled_ids"]), done[-1]["round"]
    else:
        started = time.perf_counter()
        record_round(key, 0, labelled, score(labelled), time.perf_counter() - started, 0.0, 0.0)
    while len(labelled) < args.max_labels:
        round_index += 1
        started = time.perf_counter()
        learner.fit(labelled, [pool[i]["label"] for i in labelled])
        picks = rank(
            learner.probabilities(None, pool_zs),
            sampler=sampler,
            embeddings=pool_x,
            k=min(args.query, args.max_labels - len(labelled)),
            already_labelled=labelled,
            seed=seed * 1000 + round_index,
            labels=labels,
        )
        query_seconds = time.perf_counter() - started
        labelled += picks.tolist()
        metrics = score(labelled)
        seconds = time.perf_counter() - started
        record_round(key, round_index, labelled, metrics, seconds - query_seconds, query_seconds, seconds)
