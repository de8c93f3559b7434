"""The first-start workflow in AppTest, as a person would do it on a fresh install: zero-shot
pre-labels for a batch, a person confirms them, the first [CLS] model is trained from those
corrections in the background, then it is listed and used. Minutes on a CPU: marked slow."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import get_store
from tests.helpers.app_testing import wait_until

pytestmark = pytest.mark.slow

APP = Path(__file__).resolve().parent.parent / "app.py"
SPORT = ["The striker scored twice and the club won the cup final.",
         "The coach praised the defence after the league match.",
         "Fans cheered as the team lifted the championship trophy.",
         "The goalkeeper saved a penalty in extra time."]
POLITICS = ["Parliament passed the budget law after a long debate.",
            "The minister answered questions from the opposition.",
            "Voters went to the polls in the general election.",
            "The government announced new rules on taxes."]


def test_zero_shot_batch_confirm_train_then_use(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'first.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    at.switch_page("app_pages/batch.py").run()
    files = [(f"sport-{i}.txt", (" ".join(SPORT[i:] + SPORT[:i]) * 3).encode(), "text/plain")
             for i in range(4)]
    files += [(f"politics-{i}.txt", (" ".join(POLITICS[i:] + POLITICS[:i]) * 3).encode(),
               "text/plain") for i in range(4)]
    at.file_uploader(key="batch:files").set_value(files)
    at.run()
    at.button(key="batch:start").click().run()
    wait_until(at, lambda a: bool(a.data_editor), timeout=600, run_timeout=120, poll=1)
    at.button(key="batch:confirm").click().run()  # a person checked the pre-labels
    assert sum(1 for r in get_store().history().rows if r.corrected_label) == 8

    at.switch_page("app_pages/train.py").run()
    assert "8 documents" in " ".join(c.value for c in at.caption)
    at.text_input(key="train:name").input("first-model")
    at.number_input(key="train:epochs").set_value(1)
    at.number_input(key="train:batch_size").set_value(4)
    at.button(key="train:start").click().run()
    wait_until(at, lambda a: bool(a.success) or bool(a.error), timeout=600, run_timeout=120, poll=1)
    assert not at.error, [e.value for e in at.error]
    assert "first-model" in at.success[0].value
    assert at.get("plotly_chart")  # the loss/metric chart of the finished run

    at.switch_page("app_pages/models.py").run()
    assert at.dataframe[0].value["name"].tolist() == ["first-model"]
    at.switch_page("app_pages/classify.py").run()
    model_key = str((tmp_path / "models" / "first-model").resolve())
    at.selectbox(key="classify:model").set_value(model_key).run()
    at.text_area(key="classify:text").input(" ".join(SPORT * 5))
    at.button(key="classify:go").click().run()
    assert not at.exception and not at.error
    assert at.metric[0].value in ("sport", "politics")
    assert any("first-model" in c.value for c in at.caption)  # the trained model, not zero-shot
