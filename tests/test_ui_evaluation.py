"""A model has to earn its place: scores, the majority baseline, the verdict in words, and the
default model that only a person changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbert.document import Document
from longbert.errors import LongBertError
from longbert.store import Store
from longbert.ui.evaluation import Verdict, evaluate_upload, majority_scores, score
from longbert.ui.model_admin import default_model, delete_checkpoint, set_default_model
from longbert.ui.models import ZERO_SHOT_KEY
from tests.helpers.store_factories import make_prediction


def test_scores_count_failures_as_wrong_and_fill_the_confusion_matrix() -> None:
    scores = score("m", ["a", "b", "a", "c"], ["a", "a", "a", None], ["a", "b", "c"])
    assert scores.accuracy == 0.5 and scores.failed == 1 and scores.documents == 4
    assert scores.labels == ["a", "b", "c", "(failed)"]
    assert scores.confusion[0] == [2, 0, 0, 0] and scores.confusion[2] == [0, 0, 0, 1]
    baseline = majority_scores(["a", "a", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert baseline.name.startswith("always 'a'") and baseline.accuracy == 0.25


def test_the_verdict_says_plainly_when_a_model_is_no_better() -> None:
    gold = ["a"] * 8 + ["b"] * 2
    chance = score("the trained model", gold, ["a"] * 10, ["a", "b"])
    verdict = Verdict(chance, [majority_scores(["a", "a", "b"], gold, ["a", "b"])])
    assert not verdict.better and "no better than a simpler choice" in verdict.message
    assert "Keep the current default model" in verdict.message
    good = score("the trained model", gold, gold, ["a", "b"])
    zero = score("zero-shot with the label names", gold, ["b"] * 10, ["a", "b"])
    verdict = Verdict(good, [majority_scores(["a"], gold, ["a", "b"]), zero])
    assert verdict.better and "better than" in verdict.message
    assert [r["model"] for r in verdict.rows()][1:] == ["always 'a' (majority baseline)",
                                                       "zero-shot with the label names"]


def test_an_upload_is_scored_as_the_command_line_scores_it(tmp_path: Path) -> None:
    from helpers.classifier_factories import save_tiny_encoder, text_of

    from longbert import LongBertClassifier
    from longbert.evaluate import evaluate

    classifier = LongBertClassifier.from_encoder(
        save_tiny_encoder(tmp_path / "tiny-bert"), labels=["x", "y"], device="cpu"
    )
    rows = [{"body": f"{text_of(3, offset=i)} Item {i}.", "topic": "x" if i % 2 else "y"} for i in range(6)]
    rows += rows[:2]  # two repeated texts
    data = "\n".join(json.dumps(r) for r in rows).encode()
    scores = evaluate_upload("gold.jsonl", data, "body", "topic", classifier)
    (tmp_path / "gold.jsonl").write_bytes(data)
    cli = evaluate(classifier, tmp_path / "gold.jsonl", text_column="body", label_column="topic")
    assert (scores.accuracy, scores.macro_f1, scores.documents) == (cli["accuracy"], cli["macro_f1"], 6)
    assert scores.duplicates_dropped == 2 and scores.confusion == cli["confusion_matrix"]
    with pytest.raises(LongBertError, match="nope"):
        evaluate_upload("gold.jsonl", data, "body", "nope", classifier)
    unknown = json.dumps({"body": "a text", "topic": "z"}).encode()
    with pytest.raises(LongBertError, match="z"):
        evaluate_upload("gold.jsonl", unknown, "body", "topic", classifier)


def test_the_default_model_changes_only_when_a_person_chooses(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.sqlite'}")
    root = tmp_path / "models"
    folder = root / "news"
    folder.mkdir(parents=True)
    (folder / "longbert.json").write_text(json.dumps({"name": "news", "labels": ["a", "b"]}))
    keys = [str(folder.resolve()), ZERO_SHOT_KEY]
    assert default_model(store, keys) == ZERO_SHOT_KEY  # a new model does not take over
    set_default_model(store, keys[0])
    assert default_model(store, keys) == keys[0]
    assert default_model(store, [ZERO_SHOT_KEY]) == ZERO_SHOT_KEY  # gone: zero-shot again
    document = Document(text="kept", name="kept.txt", source="paste")
    prediction_id = store.save_prediction(make_prediction(document, model="news"), document)
    with pytest.raises(LongBertError, match="not a checkpoint folder"):
        delete_checkpoint(store, tmp_path, root)
    delete_checkpoint(store, folder, root)
    assert not folder.exists() and default_model(store) == ZERO_SHOT_KEY
    assert store.get_prediction(prediction_id).prediction.model_name == "news"  # record kept
    set_default_model(store, ZERO_SHOT_KEY)
    assert store.get_setting("default_model") is None


def test_train_and_judge_scores_the_run_on_its_own_dev_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import longbert.ui.judging as judging
    from longbert.ui.training import build_config

    rows = [{"text": f"document number {i} about {'sport' if i % 4 else 'politics'}",
             "label": "sport" if i % 4 else "politics"} for i in range(40)]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    config = build_config({"name": "m", "dev_fraction": 0.25}, train_path=str(data), strategy=None)
    asked: list[tuple[str, int]] = []

    def fake_classify_with(labels: list[str]):  # the trained model says "sport" to everything
        def classify_with(key: str, documents: list[Document]) -> list[object]:
            asked.append((key, len(documents)))
            label = "politics" if key == "zero-shot" else "sport"
            return [make_prediction(d, labels=("politics", "sport"), label=label) for d in documents]
        return classify_with

    monkeypatch.setattr(judging, "_classify_with", fake_classify_with)
    done = SimpleNamespace(status="done", output_dir=tmp_path / "m")
    out = judging.train_and_judge(config, train_fn=lambda cfg, progress, should_stop: done)
    verdict = out["verdict"]
    assert out["problem"] is None and out["result"] is done
    assert [key for key, _ in asked] == [str(tmp_path / "m"), "zero-shot"]
    from longbert.training.datasets import prepare_data

    dev = prepare_data(config).dev  # the run's own dev split, for both scorers
    assert asked[0][1] == asked[1][1] == verdict.model.documents == len(dev.examples) > 5
    assert not verdict.better and "majority baseline" in verdict.message
    stopped = judging.train_and_judge(config, train_fn=lambda cfg, progress, should_stop:
                                      SimpleNamespace(status="interrupted"))
    assert stopped["verdict"] is None and "did not finish" in stopped["problem"]
    assert judging.small_run_log_every({"epochs": 2, "batch_size": 8}, 40) == 1
    assert judging.small_run_log_every({"log_every": 5}, 40) == 5
    assert judging.small_run_log_every({"batch_size": 1, "epochs": 10}, 10_000) == 10
