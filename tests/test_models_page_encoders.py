"""An adapted encoder on the Models page: listed with the classifiers, but not offered as the
default model or for evaluation (it labels nothing by itself); a default stored as an encoder
(before this was refused) reads as zero-shot on the Models page, as on every other page."""

from __future__ import annotations

from pathlib import Path

import pytest

from longbert.errors import LongBertError
from longbert.store import get_store
from longbert.ui.model_admin import DEFAULT_MODEL_SETTING, default_model, set_default_model
from longbert.ui.models import ZERO_SHOT_KEY
from tests.helpers.app_testing import assert_ok, fake_checkpoint, fresh_app


def _models(root: Path) -> tuple[Path, Path]:
    classifier = fake_checkpoint(root, "news", ["politics", "sport"],
                                 saved_at="2026-01-01T00:00:00+00:00")
    encoder = fake_checkpoint(root, "desk-adapted", [], kind="encoder",
                              saved_at="2026-02-01T00:00:00+00:00")
    return classifier, encoder


def test_an_encoder_cannot_be_made_the_default_or_evaluated(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    classifier, encoder = _models(tmp_path / "models")
    app = fresh_app(tmp_path, monkeypatch)
    app.switch_page("app_pages/models.py").run()
    assert_ok(app)
    details = app.selectbox(key="models:detail")
    details.set_value(next(i for i, o in enumerate(details.options) if "desk-adapted" in o)).run()
    assert_ok(app)
    assert app.button(key="models:default").disabled
    assert any("adapted encoder" in c.value and "starting point" in c.value for c in app.caption)
    assert not [e for e in app.expander if e.label == "Evaluate on a labelled file"]
    # The classifier is offered both, as before.
    details.set_value(next(i for i, o in enumerate(details.options) if "news" in o)).run()
    assert not app.button(key="models:default").disabled
    assert [e for e in app.expander if e.label == "Evaluate on a labelled file"]
    with pytest.raises(LongBertError, match="adapted encoder"):
        set_default_model(get_store(), str(encoder.resolve()))
    set_default_model(get_store(), str(classifier.resolve()))  # a classifier still can be


def test_a_stored_encoder_default_reads_as_zero_shot_on_the_models_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, encoder = _models(tmp_path / "models")
    app = fresh_app(tmp_path, monkeypatch)
    app.run()
    get_store().set_setting(DEFAULT_MODEL_SETTING, str(encoder.resolve()))  # an older app's choice
    app.switch_page("app_pages/models.py").run()
    assert_ok(app)
    said = [c.value for c in app.caption if c.value.startswith("Default model of every page")]
    assert said and said[0].startswith("Default model of every page: zero-shot")
    app.switch_page("app_pages/classify.py").run()
    assert app.selectbox(key="classify:model").value == ZERO_SHOT_KEY  # the same on Classify
    assert default_model(get_store(), [str(encoder.resolve())]) == str(encoder.resolve())
