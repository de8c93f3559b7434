"""Few-shot training (SetFit's recipe): pairs, heads, a toy task from 4 labels per class, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows

from longbert import LongBertClassifier, load_classifier
from longbert.active.embeddings import prepare_documents
from longbert.fewshot import FewShotConfig, fit_logistic_head, generate_pairs, train_few_shot
from longbert.fewshot.head import pooler_features, standardiser
from longbert.fewshot.trainer import head_inputs
from longbert.modeling.modules import ClsHead


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-fewshot"), **TRAIN_ENCODER)


@pytest.fixture(autouse=True)
def exact_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")


def test_pairs_follow_setfit() -> None:
    labels = [frozenset([x]) for x in "aaabbc"]
    pairs = generate_pairs(labels, iterations=3, rng=np.random.default_rng(0))
    assert len(pairs) == 2 * 3 * len(labels)
    positives = [p for p in pairs if p.target == 1.0]
    negatives = [p for p in pairs if p.target == 0.0]
    assert len(positives) == len(negatives) == 3 * len(labels)
    assert all(labels[p.first] == labels[p.second] for p in positives)
    assert all(labels[p.first] != labels[p.second] for p in negatives)
    # The lone "c" pairs with itself; every example anchors R positives and R negatives.
    assert all(p.second == 5 for p in positives if p.first == 5)
    assert [sum(p.first == i for p in positives) for i in range(6)] == [3] * 6
    again = generate_pairs(labels, iterations=3, rng=np.random.default_rng(0))
    assert pairs == again


def test_multi_label_pairs_share_a_label_or_none() -> None:
    labels = [frozenset("ab"), frozenset("b"), frozenset("c"), frozenset("ac")]
    pairs = generate_pairs(labels, iterations=5, rng=np.random.default_rng(1))
    for pair in pairs:
        shared = bool(labels[pair.first] & labels[pair.second])
        assert shared == (pair.target == 1.0)
    # "ab" shares with "b" and "ac": its only negative partner is "c".
    assert {p.second for p in pairs if p.first == 0 and p.target == 0.0} == {2}


@pytest.mark.parametrize("num_labels", [2, 3])
def test_logistic_head_is_logistic_regression_on_the_pooler_features(num_labels: int) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30, 8)) * rng.uniform(0.1, 5.0, size=8) + rng.normal(size=8)
    targets = np.arange(30) % num_labels
    head = ClsHead(8, num_labels).eval()
    fit_logistic_head(head, vectors, targets, multi_label=False, c=1.0)
    features = pooler_features(vectors, *standardiser(vectors))
    reference = LogisticRegression(C=1.0, max_iter=2000, random_state=0).fit(features, targets)
    with torch.no_grad():
        ours = torch.softmax(head(torch.from_numpy(vectors).float()), dim=-1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(features), atol=1e-4)


def test_multi_label_logistic_head_and_constant_labels() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(20, 6))
    targets = np.zeros((20, 3), dtype=np.int64)
    targets[:, 0] = np.arange(20) % 2
    vectors[:, 0] += np.where(targets[:, 0] == 1, 1.5, -1.5)  # label 0 shows in dimension 0
    targets[:, 1] = 1  # every example: the regression cannot be fit, the head says "yes"
    head = ClsHead(6, 3).eval()
    fit_logistic_head(head, vectors, targets, multi_label=True)
    with torch.no_grad():
        probs = torch.sigmoid(head(torch.from_numpy(vectors).float())).numpy()
    assert ((probs[:, 0] > 0.5) == targets[:, 0].astype(bool)).all()
    assert (probs[:, 1] > 0.95).all() and (probs[:, 2] < 0.05).all()


def _texts(rows: list[dict]) -> list[str]:
    return [row["text"] for row in rows]


def _labels(rows: list[dict]) -> list[str]:
    return [row["label"] for row in rows]


def test_learns_a_separable_toy_task_from_four_labels_per_class(tiny_encoder: Path, tmp_path: Path) -> None:
    train = make_rows(8, seed=0)  # 4 "econ", 4 "sport"
    test = make_rows(40, seed=1)
    config = FewShotConfig(learning_rate=1e-3)
    model = train_few_shot(_texts(train), _labels(train), encoder=tiny_encoder, seed=0, config=config)
    predictions = model.predict(_texts(test), attention="none")
    accuracy = np.mean([p.label == row["label"] for p, row in zip(predictions, test, strict=True)])
    assert accuracy >= 0.9
    assert model.metadata["training"] == "few_shot"
    info = model.metadata["few_shot"]
    assert info["examples_per_label"] == {"econ": 4, "sport": 4}
    assert info["pairs"] == 2 * 20 * 8
    assert info["contrastive_loss_last"] < info["contrastive_loss_first"]
    # An ordinary checkpoint: load_classifier reads it and predicts the same.
    model.save_pretrained(tmp_path / "few")
    loaded = load_classifier(tmp_path / "few", device="cpu")
    assert loaded.metadata["training"] == "few_shot"
    again = loaded.predict(_texts(test), attention="none")
    for first, second in zip(predictions, again, strict=True):
        assert first.label == second.label
        assert first.probabilities == pytest.approx(second.probabilities, abs=1e-5)


@pytest.fixture(scope="module")
def spread_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with wider initial weights (std 0.2): documents' [CLS] vectors differ.

    Under BERT's std-0.02 initialisation every [CLS] vector of a tiny random model is nearly the
    same (cosine ~1), which leaves a contrastive loss nothing to pull apart.
    """
    from transformers import BertConfig, BertModel

    from longbert.encoder_source import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny-spread")
    tokenizer = load_tokenizer(None)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(str(folder))
    return folder


def _label_gap(model: LongBertClassifier, rows: list[dict]) -> float:
    """Mean cosine of same-label document vectors minus that of different-label ones."""
    encoded = prepare_documents(model, _texts(rows), model.strategy)
    vectors = head_inputs(model, encoded, model.strategy, 16)  # type: ignore[arg-type]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = np.equal.outer(_labels(rows), _labels(rows))
    off_diagonal = ~np.eye(len(rows), dtype=bool)
    return float(cosine[same & off_diagonal].mean() - cosine[~same].mean())


def test_contrastive_step_pulls_labels_apart(spread_encoder: Path) -> None:
    train = make_rows(8, seed=0)
    before = LongBertClassifier.from_encoder(spread_encoder, ["econ", "sport"], "truncate")
    model = train_few_shot(
        _texts(train), _labels(train), encoder=spread_encoder, config=FewShotConfig(learning_rate=1e-3)
    )
    # Measured: 0.02 before, 0.22 after 20 pair-generation rounds.
    assert _label_gap(model, train) > _label_gap(before, train) + 0.1


STRATEGIES = {
    "key_sentences": {"name": "key_sentences", "params": {"max_tokens": 40}},
    "chunk": {"name": "chunk", "params": {"window": 16, "stride": 8}},
    "sparse": {"name": "sparse", "params": {"max_tokens": 512, "attention_window": 8}},
}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_gives_a_loadable_checkpoint(
    tiny_encoder: Path, tmp_path: Path, strategy: str
) -> None:
    train = make_rows(6, labels=("econ", "sport", "tech"), seed=2)
    config = FewShotConfig(iterations=1, max_train_windows=2, head="cls_head", head_epochs=20)
    model = train_few_shot(
        _texts(train), _labels(train), encoder=tiny_encoder, strategy=STRATEGIES[strategy], config=config
    )
    assert model.strategy.config()["name"] == strategy
    model.save_pretrained(tmp_path / strategy)
    loaded = load_classifier(tmp_path / strategy, device="cpu")
    assert loaded.strategy.config() == model.strategy.config()
    assert loaded.metadata["few_shot"]["config"]["head"] == "cls_head"
    (first,) = model.predict([train[0]["text"]], attention="none")
    (second,) = loaded.predict([train[0]["text"]], attention="none")
    assert first.probabilities == pytest.approx(second.probabilities, abs=1e-5)


def test_descriptions_stand_in_for_a_label_without_examples(tiny_encoder: Path) -> None:
    train = make_rows(4, seed=3)  # econ and sport only
    config = FewShotConfig(iterations=2)
    descriptions = {"tech": "software chip network data cloud code", "econ": "bank rates inflation"}
    model = train_few_shot(
        _texts(train),
        _labels(train),
        encoder=tiny_encoder,
        label_names=["econ", "sport", "tech"],
        descriptions=descriptions,
        config=config,
    )
    assert model.labels == ["econ", "sport", "tech"]
    assert model.metadata["few_shot"]["examples_per_label"] == {"econ": 3, "sport": 2, "tech": 1}
    assert model.metadata["few_shot"]["descriptions_used"]
    with pytest.raises(ValueError, match="no example"):
        train_few_shot(
            _texts(train),
            _labels(train),
            encoder=tiny_encoder,
            label_names=["econ", "sport", "tech"],
            config=config,
        )


def test_multi_label_few_shot(tiny_encoder: Path) -> None:
    train = make_rows(6, seed=4)
    labels = [[row["label"], "news"] if i % 2 else [row["label"]] for i, row in enumerate(train)]
    model = train_few_shot(
        _texts(train), labels, encoder=tiny_encoder, multi_label=True, config=FewShotConfig(iterations=2)
    )
    assert model.multi_label and model.labels == ["econ", "news", "sport"]
    (prediction,) = model.predict([train[0]["text"]], attention="none")
    assert set(prediction.probabilities) == {"econ", "news", "sport"}


def test_bad_inputs(tiny_encoder: Path) -> None:
    with pytest.raises(ValueError, match="2 documents but 1 labels"):
        train_few_shot(["a b", "c d"], ["x"], encoder=tiny_encoder)
    with pytest.raises(ValueError, match="multi_label=True"):
        train_few_shot(["a b", "c d"], [["x", "y"], "x"], encoder=tiny_encoder)
    with pytest.raises(ValueError, match="at least two labels"):
        train_few_shot(["a b", "c d"], ["x", "x"], encoder=tiny_encoder)
    with pytest.raises(ValueError, match="cannot be read"):
        train_few_shot(["a b", "   "], ["x", "y"], encoder=tiny_encoder, config=FewShotConfig(iterations=1))
    with pytest.raises(ValueError, match="head"):
        train_few_shot(["a b", "c d"], ["x", "y"], encoder=tiny_encoder, config=FewShotConfig(head="svm"))


@pytest.mark.slow
def test_default_encoder_learns_the_toy_task() -> None:
    """The packaged sentence encoder, as a user would run it (about 30 s on a free 2-core CPU)."""
    train = make_rows(8, seed=0)
    test = make_rows(40, seed=1)
    model = train_few_shot(_texts(train), _labels(train), iterations=5)
    predictions = model.predict(_texts(test), attention="none")
    assert np.mean([p.label == row["label"] for p, row in zip(predictions, test, strict=True)]) >= 0.95
