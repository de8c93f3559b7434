"""The review queue: sampler order on constructed predictions, answers saved and undone as
corrections, and retrain-then-rescore re-ranking the queue with a new model."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.store_factories import make_document, make_prediction
from helpers.train_fixtures import TRAIN_ENCODER, make_rows

from longbert.active import margin
from longbert.checkpoints import Compression, read_manifest, write_manifest
from longbert.document import Document
from longbert.errors import UnsupportedEncoderError
from longbert.store import HistoryFilter, Store, get_store
from longbert.ui.jobs import JobManager
from longbert.ui.review import ANSWER_NOTE, ReviewError
from longbert.ui.review_jobs import base_encoder, retrain_config, retrain_work
from longbert.ui.review_source import build_queue

MODEL = "zero-shot:test"
LABELS = ("econ", "sport")
SOURCE = HistoryFilter(model=MODEL)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'review.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    return get_store()


def save(store: Store, document: Document, probabilities: dict[str, float]) -> int:
    label = max(probabilities, key=lambda k: probabilities[k])
    prediction = make_prediction(
        document, model=MODEL, label=label, labels=tuple(probabilities), zero_shot=True
    )
    prediction = dataclasses.replace(prediction, probabilities=probabilities)
    return store.save_prediction(prediction, document, label_set="news")


def three_label_store(store: Store) -> list[int]:
    """Five predictions whose orders differ by sampler (ids in saving order)."""
    rows = [
        {"a": 0.50, "b": 0.49, "c": 0.01},  # margin's first: a near tie
        {"a": 0.40, "b": 0.30, "c": 0.30},  # least confident's first; entropy's first
        {"a": 0.90, "b": 0.05, "c": 0.05},  # sure
        {"a": 0.45, "b": 0.35, "c": 0.20},
        {"a": 0.70, "b": 0.20, "c": 0.10},
    ]
    return [save(store, make_document(i), p) for i, p in enumerate(rows)]


def test_queue_order_follows_the_sampler(store: Store) -> None:
    ids = three_label_store(store)
    queue = build_queue(store, SOURCE)  # margin by default
    assert queue.sampler == "margin" and queue.labels == ["a", "b", "c"]
    assert queue.order == [ids[0], ids[1], ids[3], ids[4], ids[2]]
    assert queue.current is not None and queue.current.prediction_id == ids[0]
    queue.rerank("least_confident")
    assert queue.order == [ids[1], ids[3], ids[0], ids[4], ids[2]]
    queue.rerank("entropy")
    assert queue.order[0] == ids[1] and queue.order[-1] == ids[2]
    queue.rerank("random", seed=3)
    shuffled = list(queue.order)
    assert sorted(shuffled) == sorted(ids)
    queue.rerank("random", seed=3)
    assert queue.order == shuffled  # seeded: the same order again
    with pytest.raises(ReviewError, match="embeddings"):
        queue.rerank("kcenter")
    with pytest.raises(ReviewError, match="Unknown sampler"):
        queue.rerank("newest")


def test_diversity_sampler_spreads_picks_over_clusters(store: Store) -> None:
    # Three near-duplicates are the most uncertain; two other documents sit elsewhere.
    probabilities = [
        {"econ": 0.5, "sport": 0.5},
        {"econ": 0.51, "sport": 0.49},
        {"econ": 0.52, "sport": 0.48},
        {"econ": 0.6, "sport": 0.4},
        {"econ": 0.7, "sport": 0.3},
    ]
    ids = [save(store, make_document(i), p) for i, p in enumerate(probabilities)]
    queue = build_queue(store, SOURCE, sampler="cluster_uncertainty")
    assert queue.sampler == "margin" and queue.needs_embeddings("cluster_uncertainty")
    assert queue.order[:3] == ids[:3]  # margin asks about the three duplicates first
    near, far = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    vectors = {ids[0]: near, ids[1]: near + 0.01, ids[2]: near - 0.01, ids[3]: far, ids[4]: far + 0.02}
    queue.apply_scores(list(LABELS), {}, {p: v.tolist() for p, v in vectors.items()})
    assert queue.rescored is None  # embeddings of the queue's own model: not a re-score
    queue.rerank("cluster_uncertainty")
    # Round one takes each cluster's most uncertain document: one duplicate, then the other cluster.
    assert queue.order[:2] == [ids[0], ids[3]]
    queue.rerank("kcenter")
    assert {queue.order[0] in ids[:3], queue.order[1] in ids[:3]} == {True, False}


def test_answer_accept_and_undo_save_and_remove_the_right_correction(store: Store) -> None:
    ids = three_label_store(store)
    store.add_correction(ids[1], "c", note="from History")  # reviewed before the queue
    queue = build_queue(store, SOURCE)
    assert queue.progress() == (1, 1, 5) and queue.progress_text() == "1 reviewed · 1 changed · 4 to go"
    assert (
        queue.order[0] == ids[1] and queue.current.prediction_id == ids[0]
    )  # reviewed first; cursor on the rest

    answer = queue.answer(store, "b")  # the current document: ids[0], predicted "a"
    assert answer.prediction_id == ids[0] and answer.changed
    (saved,) = store.list_corrections(ids[0])
    assert (saved.id, saved.label, saved.note) == (answer.correction_id, "b", ANSWER_NOTE)
    assert queue.current.prediction_id == ids[3]  # on to the next unreviewed one

    accepted = queue.accept(store)  # ids[3]: the model says "a"
    assert (accepted.label, accepted.changed) == ("a", False)
    assert [c.label for c in store.list_corrections(ids[3])] == ["a"]
    assert queue.progress_text() == "3 reviewed · 2 changed · 2 to go"

    # Re-answering a document reviewed in History, then undoing, brings History's label back.
    queue.go_to(ids[1])
    queue.answer(store, "a")
    assert [c.label for c in store.list_corrections(ids[1])] == ["c", "a"]
    undone = queue.undo(store)
    assert undone is not None and undone.prediction_id == ids[1]
    assert [(c.label, c.note) for c in store.list_corrections(ids[1])] == [("c", "from History")]
    assert queue.reviewed[ids[1]] == "c" and queue.current.prediction_id == ids[1]
    queue.undo(store)
    queue.undo(store)
    assert store.list_corrections(ids[3]) == [] and store.list_corrections(ids[0]) == []
    assert queue.progress() == (1, 1, 5) and queue.undo(store) is None
    with pytest.raises(ReviewError, match="not a label"):
        queue.answer(store, "z")
    queue.move(-10)
    assert queue.position == 0
    queue.move(+10)
    assert queue.position == 4


def test_answer_reports_a_conflict_with_another_prediction_of_the_text(store: Store) -> None:
    document = make_document(42)
    first = save(store, document, {"econ": 0.6, "sport": 0.4})
    second = save(store, document, {"econ": 0.7, "sport": 0.3})
    store.add_correction(first, "sport")
    queue = build_queue(store, SOURCE)
    answer = queue.answer(store, "econ", prediction_id=second)
    assert answer.conflict is not None and "sport" in answer.conflict


def test_retrain_then_rescore_reranks_the_queue_with_the_new_model(store: Store, tmp_path: Path) -> None:
    encoder = save_tiny_encoder(tmp_path / "tiny", **TRAIN_ENCODER)
    rows = make_rows(16, seed=0)
    ids = []
    for i, row in enumerate(rows):
        # Zero-shot start: every stored prediction a coin toss, margin cannot tell them apart.
        ids.append(save(store, Document(row["text"], name=f"doc-{i}.txt"), {"econ": 0.5, "sport": 0.5}))
    queue = build_queue(store, SOURCE)
    stored_order = list(queue.order)
    for prediction_id, row in zip(ids[:8], rows[:8], strict=True):  # 4 per label
        queue.answer(store, row["label"], prediction_id=prediction_id)
    folder = tmp_path / "work"
    folder.mkdir()
    config, notes = retrain_config(store, queue, folder)
    assert config.mode == "auto" and notes == []
    config = dataclasses.replace(config, encoder=str(encoder), few_shot_iterations=2, threads=1)
    job = JobManager().submit(
        retrain_work(store, queue, config, folder, queue.pending), title="t", kind="review"
    )
    snapshot = job.wait(300)
    assert snapshot.status == "done", snapshot.error
    result, scores = snapshot.result["result"], snapshot.result["scores"]
    assert result.history[-1]["mode"] == "few-shot"  # 4 labels per class: auto chose few-shot
    assert result.history[-1]["few_shot_method"] == "zero-shot-prior"  # auto, single-label
    assert not folder.exists()  # the exported corrections are cleaned up
    assert set(scores.probabilities) == set(ids)  # pending ones, and reviewed ones as anchors
    scores.apply(queue, store)
    assert queue.rescored is not None and queue.rescored.model == config.name
    pending = queue.pending
    assert sorted(pending) == sorted(ids[8:])
    new = np.array([[queue.items[p].probabilities[label] for label in queue.labels] for p in pending])
    assert not np.allclose(new, 0.5)  # the new model's view, not the stored coin tosses
    by_margin = np.argsort(-margin(new), kind="stable")
    assert pending == [pending[i] for i in by_margin]  # re-ranked by the new scores
    assert queue.order[:8] == ids[:8] and queue.order != stored_order
    # The next retrain goes on from the new model -- a zero-shot-prior one: its folder, whose
    # encoder/ holds the frozen encoder it read with -- or starts afresh from the encoder
    # (zero-shot start: the packaged default, None).
    assert base_encoder(store, queue, "model") == store.get_model(config.name).folder
    assert read_manifest(Path(base_encoder(store, queue, "model") or "")).architecture == "zero-shot-prior"
    assert base_encoder(store, queue, "encoder") is None
    again = build_queue(store, SOURCE)  # a new session: the last re-score is remembered
    assert again.earlier_rescore is not None and again.earlier_rescore.model == config.name
    assert again.rescored is None


def test_retraining_from_zero_shot_on_few_answers_per_label_is_cautioned(store: Store) -> None:
    ids = three_label_store(store)
    queue = build_queue(store, SOURCE)
    assert queue.answers_per_label() == {"a": 0, "b": 0, "c": 0}
    for prediction_id, label in zip(ids[:4], ["a", "b", "c", "a"], strict=True):
        queue.answer(store, label, prediction_id)
    assert queue.answers_per_label() == {"a": 2, "b": 1, "c": 1}
    caution = queue.retrain_warning("setfit")
    assert caution is not None and "fewest answers for one label is 1" in caution and "worse" in caution
    # The corrected zero-shot model (auto's choice here) starts from the zero-shot labels.
    assert queue.retrain_warning() is None and queue.retrain_warning("prior") is None
    trained = dataclasses.replace(queue, model="news-v2")  # a trained model's queue: no caution
    assert trained.retrain_warning("setfit") is None


def run_retrain(store: Store, queue: Any, config: Any, folder: Path) -> Any:
    job = JobManager().submit(
        retrain_work(store, queue, config, folder, queue.pending), title="t", kind="review"
    )
    snapshot = job.wait(300)
    assert snapshot.status == "done", snapshot.error
    scores = snapshot.result["scores"]
    scores.apply(queue, store)
    return snapshot.result["result"]


def test_retraining_from_the_current_model_again_and_again_goes_on_from_the_trained_models(
    store: Store, tmp_path: Path
) -> None:
    """Zero-shot start -> fine-tuned model 1 -> from model 1: a few-shot zero-shot-prior model
    2 (its encoder model 1's, frozen) -> from model 2's folder (model 1's encoder): fine-tuned 3."""
    encoder = save_tiny_encoder(tmp_path / "tiny", **TRAIN_ENCODER)
    rows = make_rows(12, seed=0)
    ids = [
        save(store, Document(row["text"], name=f"doc-{i}.txt"), {"econ": 0.5, "sport": 0.5})
        for i, row in enumerate(rows)
    ]
    queue = build_queue(store, SOURCE)
    assert base_encoder(store, queue, "model") is None  # a zero-shot start: its encoder only
    starts, models = [], []
    # From a fine-tuned model auto would pick SetFit (test_encoder_from_model): prior is asked for.
    steps = ((ids[:6], "fine-tune", "auto"), (ids[6:8], "auto", "prior"), (ids[8:10], "fine-tune", "auto"))
    for answered, mode, method in steps:
        for prediction_id in answered:
            queue.answer(store, rows[ids.index(prediction_id)]["label"], prediction_id=prediction_id)
        folder = tmp_path / f"work-{len(models)}"
        folder.mkdir()
        config, _ = retrain_config(
            store, queue, folder, base="model", mode=mode, few_shot_method=method, epochs=1
        )
        starts.append(config.encoder)
        if not models:  # the packaged default: the tiny encoder stands in for it
            config = dataclasses.replace(config, encoder=str(encoder))
        result = run_retrain(store, queue, dataclasses.replace(config, threads=1), folder)
        assert queue.rescored is not None and queue.rescored.model == config.name
        models.append(Path(result.output_dir))
    first, second, third = models
    assert len({first, second, third}) == 3
    assert starts[1:] == [str(first), str(second)]  # each time from the current model's folder
    assert read_manifest(second).architecture == "zero-shot-prior"  # auto mode: 4 labels per class
    assert read_manifest(second).encoder == str(first) and read_manifest(third).encoder == str(second)
    assert read_manifest(first).kind == "classifier"  # nothing of it was changed or lost
    # The next retrain from the current model starts from the fine-tuned model 3; afresh, from
    # the zero-shot start's encoder (the packaged default: None).
    assert base_encoder(store, queue, "model") == str(third)
    assert base_encoder(store, queue, "encoder") is None
    # A zero-shot-prior model's own folder, whatever became of the encoder it names (retrained
    # in place, or gone): its encoder/ holds the weights it read with.
    queue.rescored = dataclasses.replace(queue.rescored, model=second.name)
    assert base_encoder(store, queue, "model") == str(second)
    shutil.rmtree(first)
    assert base_encoder(store, queue, "model") == str(second)


def test_retraining_from_a_compressed_model_is_refused_naming_its_source(
    store: Store, tmp_path: Path
) -> None:
    from helpers.train_fixtures import train_quick_model, write_jsonl

    encoder = save_tiny_encoder(tmp_path / "tiny", **TRAIN_ENCODER)
    model = train_quick_model(tmp_path, write_jsonl(tmp_path / "train.jsonl", make_rows(8)), encoder)
    compressed = Compression(method="int8", source_model="models/news-v1")
    write_manifest(model, dataclasses.replace(read_manifest(model), compression=compressed))
    store.register_model("news-int8", folder=str(model), encoder=str(encoder), labels=LABELS)
    ids = []
    for i in range(4):  # a batch the int8 model labelled, then reviewed
        document = make_document(i)
        prediction = make_prediction(document, model="news-int8", label="econ", labels=LABELS)
        prediction = dataclasses.replace(prediction, probabilities={"econ": 0.6, "sport": 0.4})
        ids.append(store.save_prediction(prediction, document, label_set="news"))
    queue = build_queue(store, HistoryFilter(model="news-int8"))
    for prediction_id, label in zip(ids, ["econ", "sport", "econ", "sport"], strict=True):
        queue.answer(store, label, prediction_id)
    folder = tmp_path / "work"
    folder.mkdir()
    with pytest.raises(UnsupportedEncoderError, match=r"int8 of 'models/news-v1'.*source model"):
        retrain_config(store, queue, folder, base="model")
    config, _ = retrain_config(store, queue, folder, base="encoder")  # afresh: allowed
    assert config.encoder == str(encoder)


def test_retrain_names_are_reserved_atomically(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two retrains in the same second never pick the same folder: the name is taken by making
    its folder (an empty one, which training writes into as into none)."""
    from longbert.settings import models_dir
    from longbert.ui import review_jobs

    first, second = review_jobs._unused_name("review-x"), review_jobs._unused_name("review-x")
    assert (first, second) == ("review-x", "review-x-2")
    assert (models_dir() / first).is_dir() and not any((models_dir() / first).iterdir())
    # A name whose folder appears between the check and the use (another process) is skipped.
    real_mkdir = Path.mkdir

    def racing_mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.name == "review-y":
            real_mkdir(self)  # made by "someone else" just now
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    assert review_jobs._unused_name("review-y") == "review-y-2"
