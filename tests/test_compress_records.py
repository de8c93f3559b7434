"""What ``compress`` records of the new model: its own dev scores (not its source's), its row in
the database, honest speeds, and the options that go with them (--skip-bad-rows, --epochs,
--overwrite of a source)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl

from longbert.checkpoints import read_manifest
from longbert.compress import compress, main
from longbert.ui.models import checkpoint_row, scan_checkpoints, unlisted_models

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compress-records")
    encoder = save_tiny_encoder(root / "tiny-bert", **TRAIN_ENCODER)
    rows = make_rows(12, seed=5)
    bad = [*rows[:5], {"id": "bad", "text": "", "label": "econ"}, *rows[5:]]
    return {
        "model": train_quick_model(root, write_jsonl(root / "train.jsonl", make_rows(24)), encoder),
        "train": root / "train.jsonl",
        "dev": write_jsonl(root / "dev.jsonl", rows),
        "bad": write_jsonl(root / "dev-one-bad.jsonl", bad),
    }


@pytest.fixture
def models(trained: dict[str, Path], isolated: Path) -> Path:
    """The models folder of a throwaway database, holding the trained model as ``src``."""
    folder = isolated / "models"
    shutil.copytree(trained["model"], folder / "src")
    return folder


def int8(*argv: str) -> list[str]:
    return ["--method", "int8", "--device", "cpu", *argv]


def choice_named(folder: Path, name: str) -> Any:
    return next(c for c in scan_checkpoints(folder)[0] if c.title == name)


def test_the_compressed_model_shows_its_own_dev_scores_not_its_sources(
    models: Path, trained: dict[str, Path]
) -> None:
    assert main(int8("--model", "src", "--name", "src-int8", "--dev", str(trained["dev"]))) == 0
    manifest = read_manifest(models / "src-int8")
    source_metrics = read_manifest(models / "src").metadata["metrics"]
    metrics = manifest.metadata["metrics"]
    assert manifest.metadata["source_metrics"] == source_metrics
    assert metrics["accuracy"] == manifest.compression.accuracy_after
    assert metrics["macro_f1"] == manifest.compression.macro_f1_after
    assert metrics["num_docs"] == 12 and metrics["data"] == str(trained["dev"])
    # The run's settings and notes evaluate reports are not scores of the model.
    assert not {"precision", "exit_threshold", "warnings"} & set(metrics)
    assert metrics["docs_per_second"] == manifest.compression.docs_per_second_after
    assert source_metrics["num_docs"] != 12  # the source's came from its own 2-document split
    choice = choice_named(models, "src-int8")
    assert choice.metrics == metrics and choice.dev_docs == 12
    row = checkpoint_row(choice, {})
    assert row["accuracy"] == round(metrics["accuracy"], 4) and row["dev_docs"] == 12


def test_without_dev_the_compressed_model_has_no_scores_of_its_own(models: Path) -> None:
    assert main(int8("--model", "src", "--name", "plain-int8")) == 0
    metadata = read_manifest(models / "plain-int8").metadata
    assert "metrics" not in metadata and "source_metrics" in metadata
    choice = choice_named(models, "plain-int8")
    assert choice.metrics == {} and choice.dev_docs is None


def test_a_manifest_written_before_keeps_its_copied_metrics_off_the_models_page(
    models: Path, trained: dict[str, Path]
) -> None:
    """Older compressed manifests carry the source's ``metrics``: the page shows what compress
    measured after instead."""
    assert main(int8("--model", "src", "--name", "old-int8", "--dev", str(trained["dev"]))) == 0
    path = models / "old-int8" / "longbert.json"
    data = json.loads(path.read_text())
    data["metadata"]["metrics"] = data["metadata"].pop("source_metrics")
    path.write_text(json.dumps(data))
    choice = choice_named(models, "old-int8")
    after = data["compression"]["accuracy_after"]
    assert choice.metrics == {"accuracy": after, "macro_f1": data["compression"]["macro_f1_after"]}
    assert choice.dev_docs is None


def test_compress_registers_the_model_with_its_folder_as_train_does(
    models: Path, trained: dict[str, Path]
) -> None:
    from longbert import load_classifier
    from longbert.document import Document
    from longbert.store import get_store

    assert main(int8("--model", "src", "--name", "src-int8", "--dev", str(trained["dev"]))) == 0
    store = get_store()
    record = store.get_model("src-int8")
    manifest = read_manifest(models / "src-int8")
    assert record.folder == str(models / "src-int8") and record.labels == list(manifest.labels)
    assert record.metrics["accuracy"] == manifest.compression.accuracy_after
    assert record.strategy == manifest.strategy
    # Its predictions point at that row: the Models page does not list it as deleted or moved.
    document = Document("bank rates market", name="d1")
    prediction = load_classifier(models / "src-int8", device="cpu").predict([document])[0]
    store.save_prediction(prediction, document)
    assert store.get_model("src-int8").folder == str(models / "src-int8")
    checkpoints = scan_checkpoints(models)[0]
    assert "src-int8" not in [m.name for m in unlisted_models(store.list_models(), checkpoints)]


def test_a_row_a_prediction_made_without_a_folder_is_not_listed_as_deleted(models: Path) -> None:
    """Compressed models predicted before compress registered them have a row without a folder."""
    from longbert.store import get_store

    assert main(int8("--model", "src", "--name", "src-int8", "--no-record")) == 0
    store = get_store()
    assert "src-int8" not in [m.name for m in store.list_models()]
    store.register_model("src-int8")  # as a first prediction registers an unknown model
    store.register_model("gone")  # a model whose checkpoint was deleted: still listed
    checkpoints = scan_checkpoints(models)[0]
    assert [m.name for m in unlisted_models(store.list_models(), checkpoints)] == ["gone"]


def test_a_model_saved_outside_the_models_folder_is_registered_only_when_asked(
    models: Path, isolated: Path
) -> None:
    from longbert.store import get_store

    assert main(int8("--model", "src", "--name", "away", "--output-dir", str(isolated / "away"))) == 0
    assert "away" not in [m.name for m in get_store().list_models()]
    argv = int8("--model", "src", "--name", "kept", "--output-dir", str(isolated / "kept"), "--record")
    assert main(argv) == 0
    assert get_store().get_model("kept").folder == str(isolated / "kept")


def test_speeds_are_timed_warm_in_turns_not_the_source_first_and_cold(
    models: Path, trained: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's case: a model identical to its source measured 2.2 times as fast, the source
    being timed first in a cold process. Here the first pass of the process is slow (as a cold
    one is) and the "compressed" model is the source itself: the speed-up must be about 1."""
    import longbert.compression.int8 as int8_module
    from longbert.classifier import LongBertClassifier

    monkeypatch.setattr(int8_module, "quantize_int8", lambda classifier: False)  # same model
    predict = LongBertClassifier.predict
    cold = [True]

    def first_pass_slow(self: LongBertClassifier, *args: Any, **kwargs: Any) -> Any:
        if cold[0]:
            cold[0] = False
            time.sleep(1.0)
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(LongBertClassifier, "predict", first_pass_slow)
    _, provenance = compress(models / "src", "int8", "same", dev=trained["dev"], device="cpu")
    speed_up = provenance.docs_per_second_after / provenance.docs_per_second_before
    assert 0.4 < speed_up < 2.5, speed_up
    speed = read_manifest(models / "same").metadata["compression"]["speed"]
    assert speed["documents"] == 12 and speed["rounds"] == 3


def test_time_models_warms_both_up_then_alternates_which_goes_first() -> None:
    from longbert.compression.measuring import TIMING_DOCUMENTS, time_models

    calls: list[tuple[str, int]] = []

    class Fake:
        strategy = None

        def __init__(self, name: str) -> None:
            self.name = name

        def predict(self, documents: list[str], **options: Any) -> list[None]:
            calls.append((self.name, len(documents)))
            return [None] * len(documents)

    speed = time_models(Fake("source"), Fake("compressed"), [f"doc {i}" for i in range(100)])
    warm_up, rounds = (
        ["source", "compressed"],
        ["source", "compressed", "compressed", "source", "source", "compressed"],
    )
    assert [name for name, _ in calls] == [*warm_up, *rounds]
    assert {size for _, size in calls} == {TIMING_DOCUMENTS} and speed["documents"] == TIMING_DOCUMENTS
    assert speed["before"] > 0 and speed["after"] > 0


def test_skip_bad_rows_skips_a_bad_dev_row_as_its_error_advises(
    models: Path, trained: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = int8("--model", "src", "--name", "skip-int8", "--dev", str(trained["bad"]))
    assert main(argv) == 2
    assert "--skip-bad-rows" in capsys.readouterr().err and not (models / "skip-int8").exists()
    assert main([*argv, "--skip-bad-rows"]) == 0
    assert "skipped 1 row" in capsys.readouterr().err
    assert read_manifest(models / "skip-int8").metadata["metrics"]["num_docs"] == 12


def test_skip_bad_rows_skips_a_bad_calibration_row(
    models: Path, trained: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", "src", "--method", "early-exit", "--name", "exit", "--device", "cpu"]
    argv += ["--texts", str(trained["train"]), "--calibration", str(trained["bad"])]
    assert main(argv) == 2
    assert "--skip-bad-rows" in capsys.readouterr().err
    assert main([*argv, "--skip-bad-rows"]) == 0
    assert "--calibration" in capsys.readouterr().err
    assert read_manifest(models / "exit").metadata["compression"]["calibration"]["documents"] == 12


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_distill_needs_at_least_one_epoch(
    models: Path, trained: dict[str, Path], epochs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", "src", "--method", "distill", "--name", "student", "--texts", str(trained["train"])]
    assert main([*argv, "--epochs", epochs]) == 2
    assert f"--epochs must be 1 or more: distill trains that many; got {epochs}" in capsys.readouterr().err
    assert not (models / "student").exists()


def test_overwriting_the_source_of_compressed_models_warns(
    models: Path, trained: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit's case: ``--overwrite`` replaced ``mcopy``, the source of ``mcopy-int8``,
    silently; the new ``mcopy`` is an int8 model that ``mcopy-int8`` now names as its source."""
    shutil.copytree(models / "src", models / "other")
    assert main(int8("--model", "src", "--name", "src-int8")) == 0
    capsys.readouterr()
    assert main(int8("--model", "other", "--name", "src", "--overwrite")) == 0
    err = capsys.readouterr().err
    assert "warning: --overwrite replaces" in err and "'src-int8'" in err
    assert read_manifest(models / "src").compression.source_model == str(models / "other")
    assert main(int8("--model", "other", "--name", "src-int8", "--overwrite")) == 0
    assert "warning" not in capsys.readouterr().err  # nothing was made from src-int8
