"""The Train page with the app's corrections (AppTest on a temporary database and models folder,
a tiny encoder in place of the packaged one): a multi-label model's corrections train a
multi-label model; the label-set picker counts distinct texts and tells two versions of one
label set apart by their labels; and what cannot work is said before any job starts, in the
page's words (a taken name, corrections of one label only, a blank or too long name)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.document import Document
from longbert.store import Store, get_store
from tests.helpers.app_testing import assert_ok, fake_checkpoint, fresh_app, wait_until
from tests.helpers.classifier_factories import save_tiny_encoder
from tests.helpers.store_factories import make_document, make_prediction
from tests.helpers.train_fixtures import TRAIN_ENCODER

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOPICS = ("sport", "politics", "business")
TEXTS = ["The striker scored twice and the team won the cup final.",
         "Parliament passed the budget law after a long vote.",
         "The club's shares fell as the league cut its TV money.",
         "Minister defends new tax on bank profits.",
         "Fans cheered the coach after the match.",
         "Elections next spring: the senate campaign begins.",
         "Markets rallied and the company beat profit forecasts.",
         "The goalkeeper saved a penalty in extra time."]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-train-page"), **TRAIN_ENCODER)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_encoder: Path) -> Iterator[AppTest]:
    """The app, its Train page starting from the tiny encoder (offered as the packaged one)."""
    monkeypatch.setattr("longbert.settings.DEFAULT_ENCODER", str(tiny_encoder))
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    yield fresh_app(tmp_path, monkeypatch, timeout=120)


def _corrected(store: Store, model: str, answers: Sequence[str | list[str]], *,
               labels: Sequence[str] = TOPICS, multi_label: bool = False,
               texts: Sequence[str] = TEXTS, label_set: str = "Desk") -> None:
    """A prediction of ``model`` per text under ``label_set``, corrected to its answer."""
    if multi_label:
        store.register_model(model, labels=labels, multi_label=True, zero_shot=True)
    for i, (text, answer) in enumerate(zip(texts, answers, strict=False)):
        document = Document(text=text, name=f"n{i}.txt", source="upload")
        prediction = make_prediction(document, model=model, label=labels[0], labels=labels,
                                     zero_shot=True)
        store.add_correction(store.save_prediction(prediction, document, label_set=label_set), answer)


def _start(app: AppTest, name: str, **numbers: float) -> None:
    app.switch_page("app_pages/train.py").run()
    assert_ok(app)
    app.text_input(key="train:name").set_value(name)
    app.selectbox(key="train:mode").set_value("fine-tune")
    for key, value in {"epochs": 1, "batch_size": 4, **numbers}.items():
        app.number_input(key=f"train:{key}").set_value(value)
    app.button(key="train:start").click().run()
    assert_ok(app)


def _finished(app: AppTest) -> bool:
    return bool(app.success or app.error or app.warning)


@pytest.mark.parametrize("answers", [
    # some texts with two labels, one with none: refused as single-label data before the fix
    [["sport"], ["politics"], ["sport", "business"], ["politics", "business"], ["sport"],
     ["politics"], ["business"], []],
    # one label each: a single-label model came out before the fix
    [["sport"], ["politics"], ["business"], ["politics"], ["sport"], ["politics"], ["business"],
     ["sport"]],
], ids=["two-or-none", "one-each"])
def test_multi_label_corrections_train_a_multi_label_model(app: AppTest, tmp_path: Path,
                                                           answers: list[list[str]]) -> None:
    app.run()
    _corrected(get_store(), "zs-ml", answers, multi_label=True)
    app.switch_page("app_pages/train.py").run()
    box = next(c for c in app.checkbox if c.key.startswith("train:multi_label"))
    assert box.value is True and box.disabled  # the corrections' kind, not a choice
    _start(app, "ml")
    wait_until(app, _finished, timeout=300)
    assert not app.error, [e.value for e in app.error]
    manifest = json.loads((tmp_path / "models" / "ml" / "longbert.json").read_text())
    assert manifest["multi_label"] is True and set(manifest["labels"]) == set(TOPICS)


def test_label_set_picker_counts_texts_and_shows_each_sets_labels(app: AppTest) -> None:
    app.run()
    store = get_store()
    # One label set edited between two labellings with the same zero-shot model: two sets.
    two, three = TOPICS[:2], TOPICS
    for labels, count in ((two, 5), (three, 6)):
        texts = [f"{len(labels)} labels, document {i}" for i in range(count)]
        _corrected(store, "zero-shot:enc", [labels[i % len(labels)] for i in range(count)],
                   labels=labels, texts=texts)
    # A text corrected again on a trained model's prediction under the same label set.
    document = Document(text="3 labels, document 0", name="again.txt", source="upload")
    prediction = make_prediction(document, model="desk-v1", label="sport", labels=three)
    store.add_correction(store.save_prediction(prediction, document, label_set="Desk"), "sport")
    app.switch_page("app_pages/train.py").run()
    assert_ok(app)
    # 11 distinct texts (the sets hold 5 + 6 + 1 = 12): each text once.
    assert app.selectbox(key="train:label_set").options == ["Desk · 11 documents"]
    made_with = app.selectbox(key="train:corrections").options
    assert sorted(made_with) == sorted([
        "desk-v1 · sport, politics, business · 1 document",
        "zero-shot:enc · sport, politics, business · 6 documents",
        "zero-shot:enc · sport, politics · 5 documents",
    ])


def test_one_label_only_is_refused_in_the_pages_words(app: AppTest, tmp_path: Path) -> None:
    app.run()
    _corrected(get_store(), "zs", ["sport"] * 6, labels=TOPICS[:2])
    _start(app, "one-class")
    errors = [e.value for e in app.error]
    assert errors and "only the label 'sport'" in errors[0] and "Desk" in errors[0]
    assert "label column" not in errors[0]  # there is no column to check: corrections
    assert not app.get("progress") and not (tmp_path / "models" / "one-class").exists()


def test_a_taken_name_is_refused_before_the_job_in_the_pages_words(app: AppTest,
                                                                   tmp_path: Path) -> None:
    folder = fake_checkpoint(tmp_path / "models", "desk", ["sport", "politics"])
    before = sorted(p.name for p in folder.iterdir())
    app.run()
    _corrected(get_store(), "zs", ["sport", "politics"] * 4, labels=TOPICS[:2])
    _start(app, "desk")
    errors = [e.value for e in app.error]
    assert errors and "'desk' is taken" in errors[0] and "**overwrite**" in errors[0]
    assert "--overwrite" not in errors[0] and "--name" not in errors[0]
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written into it


@pytest.mark.parametrize(("name", "said"), [
    (" ", "visible character"),
    ("é" * 130, "260 bytes"),
])
def test_blank_and_too_long_names_are_refused_up_front(app: AppTest, tmp_path: Path, name: str,
                                                       said: str) -> None:
    app.run()
    _corrected(get_store(), "zs", ["sport", "politics"] * 4, labels=TOPICS[:2])
    _start(app, name)
    errors = [e.value for e in app.error]
    assert errors and said in errors[0]
    assert not app.get("progress")  # no job started
    models = tmp_path / "models"
    assert not models.exists() or not any(models.iterdir())


def test_the_stored_documents_are_counted_once_per_text(tmp_path: Path) -> None:
    """The picker's count from the store alone: one text corrected for two models is one."""
    from longbert.ui.correction_texts import corrections_by_label_set_with_texts

    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    for model in ("zs-enc", "desk-v1"):
        for index in range(3 if model == "desk-v1" else 6):
            document = make_document(index)
            prediction = make_prediction(document, model=model, label="sport", labels=TOPICS[:2])
            store.add_correction(store.save_prediction(prediction, document, label_set="Desk"),
                                 TOPICS[index % 2])
    found = corrections_by_label_set_with_texts(store)
    assert list(found) == ["Desk"] and found["Desk"].texts == 6
    assert sorted(c.documents for c in found["Desk"].sets) == [3, 6]
    store.close()
