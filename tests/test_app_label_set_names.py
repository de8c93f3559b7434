"""Label sets by name on the Train, Models and Classify pages (AppTest, database filled
directly), and the store queries behind them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import Store, get_store
from tests.helpers.app_testing import assert_ok, fake_checkpoint, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

TOPICS = ("sport", "politics")


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    yield fresh_app(tmp_path, monkeypatch)


def _corrected(store: Store, model: str, labels: tuple[str, ...], label_set: str | None,
               indices: range, *, zero_shot: bool = True) -> None:
    """Predictions of ``model`` under ``label_set``, each corrected to its first label."""
    for index in indices:
        document = make_document(index, name=f"doc-{index}.txt")
        prediction = make_prediction(document, model=model, labels=labels, label=labels[0],
                                     seed=index, zero_shot=zero_shot)
        pid = store.save_prediction(prediction, document, label_set=label_set)
        store.add_correction(pid, labels[index % 2])


def _checkpoint(root: Path, name: str, labels: list[str]) -> Path:
    return fake_checkpoint(root, name, labels, saved_at="2026-01-01T00:00:00+00:00")


def test_store_names_the_label_sets_of_corrections_and_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    _corrected(store, "zero-shot:minilm", TOPICS, "Topics", range(0, 4))
    _corrected(store, "zero-shot:minilm", ("true", "false"), "Stance", range(10, 13))
    _corrected(store, "hp", ("true", "false"), None, range(20, 22), zero_shot=False)
    by_set = {c.label_set_name: c for c in store.correction_sets()}
    assert set(by_set) == {"Topics", "Stance", None}
    assert by_set["Topics"].documents == 4 and by_set["Topics"].model == "zero-shot:minilm"
    assert by_set[None].model == "hp" and by_set[None].label_set_names == ()
    assert store.label_sets_by_model() == {"zero-shot:minilm": ["Stance", "Topics"]}
    store.close()


def test_train_page_picks_corrections_by_label_set_name(app: AppTest) -> None:
    app.run()
    store = get_store()
    _corrected(store, "zero-shot:minilm", TOPICS, "Topics", range(0, 6))
    _corrected(store, "news-v1", TOPICS, "Topics", range(0, 3), zero_shot=False)
    _corrected(store, "zero-shot:minilm", ("true", "false"), "Stance", range(10, 15))
    _corrected(store, "hp", ("yes", "no"), None, range(20, 24), zero_shot=False)
    app.switch_page("app_pages/train.py").run()
    assert_ok(app)
    picker = app.selectbox(key="train:label_set")
    assert set(picker.options) == {
        # Topics: 6 texts, 3 of them corrected again for news-v1: each text counted once.
        "Topics · 6 documents", "Stance · 5 documents", "unnamed label set (yes/no) · 4 documents"}
    picker.set_value("Stance").run()
    assert_ok(app)
    # One model under that name: nothing more to choose, the caption says what it is.
    assert not [s for s in app.selectbox if s.key == "train:corrections"]
    assert any("predictions made with zero-shot:minilm" in c.value for c in app.caption)
    assert any("5 documents with a corrected" in c.value for c in app.caption)
    app.selectbox(key="train:label_set").set_value("Topics").run()
    assert_ok(app)
    # Used with two models: the export never mixes them, so the page asks which.
    made_with = app.selectbox(key="train:corrections")
    assert sorted(made_with.options) == ["news-v1 · sport, politics · 3 documents",
                                         "zero-shot:minilm · sport, politics · 6 documents"]
    made_with.set_value("\x1f".join(["news-v1", *sorted(TOPICS)])).run()
    assert_ok(app)
    assert any("3 documents with a corrected" in c.value for c in app.caption)


def test_models_page_shows_each_models_label_sets(app: AppTest, tmp_path: Path) -> None:
    _checkpoint(tmp_path / "models", "news", ["politics", "sport"])
    app.run()
    store = get_store()
    store.save_label_set("Topics", {"sport": "matches", "politics": "government"})
    store.save_label_set("Stance", ["true", "false"])
    _corrected(store, "zero-shot:minilm", TOPICS, "Topics", range(0, 2))
    _corrected(store, "zero-shot:minilm", ("true", "false"), "Stance", range(10, 12))
    app.switch_page("app_pages/models.py").run()
    assert_ok(app)
    table, others = (frame.value for frame in app.dataframe)  # checkpoints, other models
    assert list(table["label sets"]) == ["Topics"]  # the saved set with the model's labels
    row = others[others["name"] == "zero-shot:minilm"].iloc[0]
    assert row["label sets"] == "Stance, Topics"  # one zero-shot name, two label sets told apart


def test_classify_result_shows_the_label_set(app: AppTest) -> None:
    app.run()
    get_store().save_label_set("Sports desk", {"sport": "a sports match, players and teams",
                                               "politics": "government, elections and laws"})
    app.run()
    app.selectbox(key="classify:label_set").set_value("Sports desk").run()
    app.text_area(key="classify:text").input("The striker scored twice in the final. " * 20)
    app.button(key="classify:go").click().run()
    assert_ok(app)
    assert app.metric[0].value == "sport"
    assert any("Label set **Sports desk** (politics, sport)" in c.value for c in app.caption), \
        [c.value for c in app.caption]
    history = get_store().history().rows
    assert [r.label_set for r in history] == ["Sports desk"]
