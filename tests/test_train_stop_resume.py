"""Stop a fine-tuning run on the Train page, then resume it: from a terminal with the very command
the page gives, or with the page's own Resume button. The run's training data (the corrections
the page exported) is kept beside its resumable state until nothing needs it any more; before,
the job's cleanup deleted it and the advised ``--resume`` failed on a missing file.

AppTest on a temporary database and models folder, a tiny encoder offered as the packaged one.
The stopped run waits at its first step until Stop is pressed, so the stop always lands
mid-run (a real run could finish first on a fast machine)."""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from longbert.checkpoints import is_checkpoint
from longbert.document import Document
from longbert.runs import last_folder
from longbert.store import get_store
from longbert.train import main
from longbert.ui.training_runs import DATA_FOLDER, interrupted_run, tidy_training_data
from tests.helpers.app_testing import APP, assert_ok, fresh_app, wait_until
from tests.helpers.classifier_factories import save_tiny_encoder
from tests.helpers.store_factories import make_prediction
from tests.helpers.train_fixtures import TRAIN_ENCODER, make_rows

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = ("econ", "sport")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-stop-resume"), **TRAIN_ENCODER)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_encoder: Path) -> Iterator[AppTest]:
    """The app with 40 corrected documents; a new run waits at its first step until stopped."""
    import longbert.training as training

    real_train = training.train

    def train_waiting_for_stop(config: Any, progress: Any = None, should_stop: Any = None,
                               **kwargs: Any) -> Any:
        asked = should_stop if should_stop is not None else (lambda: False)
        if config.resume:
            return real_train(config, progress=progress, should_stop=should_stop, **kwargs)
        waited = threading.Event()

        def stop_after_first_step() -> bool:
            if not waited.is_set():
                deadline = time.monotonic() + 120
                while not asked() and time.monotonic() < deadline:
                    time.sleep(0.05)
                waited.set()
            return asked()

        return real_train(config, progress=progress, should_stop=stop_after_first_step, **kwargs)

    monkeypatch.setattr(training, "train", train_waiting_for_stop)
    monkeypatch.setattr("longbert.settings.DEFAULT_ENCODER", str(tiny_encoder))
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    at = fresh_app(tmp_path, monkeypatch, timeout=120)
    at.run()
    store = get_store()
    for row in make_rows(40, labels=LABELS, words=(8, 16)):
        document = Document(text=row["text"], name=row["id"] + ".txt", source="upload")
        prediction = make_prediction(document, model="zs", label=LABELS[0], labels=LABELS,
                                     zero_shot=True)
        store.add_correction(store.save_prediction(prediction, document, label_set="Desk"),
                             row["label"])
    yield at


def _keys(app: AppTest) -> set[str]:
    return {b.key for b in app.button}


def _start_and_stop(app: AppTest, models: Path) -> Path:
    """Start fine-tuning 'desk-ft' for 2 epochs, press Stop; returns the run's folder."""
    app.switch_page("app_pages/train.py").run()
    app.text_input(key="train:name").set_value("desk-ft")
    app.selectbox(key="train:mode").set_value("fine-tune")
    app.number_input(key="train:epochs").set_value(2)
    app.number_input(key="train:batch_size").set_value(4)
    app.button(key="train:start").click().run()
    assert_ok(app)
    wait_until(app, lambda a: "train:stop" in _keys(a), timeout=300)
    app.button(key="train:stop").click().run()
    wait_until(app, lambda a: bool(a.warning), timeout=300)
    assert [w.value for w in app.warning] == ["Training was stopped."]
    folder = models / "desk-ft"
    assert last_folder(folder) is not None
    kept = list((folder / DATA_FOLDER).rglob("corrections.jsonl"))
    assert len(kept) == 1  # the data the saved state points at
    run = interrupted_run(folder)
    assert run is not None and Path(run.config["train"]) == kept[0].resolve()
    return folder


def test_the_advised_command_resumes_the_stopped_run(app: AppTest, tmp_path: Path) -> None:
    folder = _start_and_stop(app, tmp_path / "models")
    said = " ".join(i.value for i in app.info)
    command = re.search(r"`(python -m longbert\.train [^`]*)`", said)
    assert command is not None and str(folder) in said, said
    argv = shlex.split(command.group(1))[3:]
    assert argv == ["--name", "desk-ft", "--resume"]
    # As typed in a terminal, only where to run added (options a resume may change).
    assert main([*argv, "--threads", "1", "--device", "cpu", "--quiet"]) == 0
    assert is_checkpoint(folder) and last_folder(folder) is None
    # The command drops the kept data itself when the resumed run ends; tidying again is harmless.
    assert not (folder / DATA_FOLDER).exists() and is_checkpoint(folder)
    tidy_training_data(folder)
    assert is_checkpoint(folder)


def test_the_page_resumes_the_stopped_run_and_then_drops_its_data(app: AppTest,
                                                                   tmp_path: Path) -> None:
    folder = _start_and_stop(app, tmp_path / "models")
    assert "train:resume" in _keys(app)
    app.button(key="train:resume").click().run()
    assert_ok(app)
    wait_until(app, lambda a: bool(a.success) or bool(a.error), timeout=300)
    assert not app.error, [e.value for e in app.error]
    assert "desk-ft" in app.success[0].value
    assert is_checkpoint(folder) and last_folder(folder) is None
    assert not (folder / DATA_FOLDER).exists()  # finished: no copy of the texts left behind
    runs = get_store().list_training_runs()
    assert len(runs) == 1  # one run, continued: not a second one


def test_a_typed_name_of_an_interrupted_run_offers_resume(app: AppTest, tmp_path: Path) -> None:
    folder = _start_and_stop(app, tmp_path / "models")
    fresh = AppTest.from_file(str(APP), default_timeout=120)  # another browser session
    fresh.switch_page("app_pages/train.py").run()
    fresh.text_input(key="train:name").set_value("desk-ft").run()
    assert_ok(fresh)
    assert any("interrupted run" in i.value for i in fresh.info)
    assert "train:resume-name" in _keys(fresh)
    fresh.button(key="train:start").click().run()  # a new run would take its name: refused
    assert any("Resume it with the button" in e.value for e in fresh.error)
    assert last_folder(folder) is not None and (folder / DATA_FOLDER).exists()
