"""``--mode auto|fine-tune|few-shot``: which mode auto picks, and a few-shot run recorded as one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert import load_classifier
from longbert.checkpoints import read_manifest
from longbert.data import from_records
from longbert.store import get_store
from longbert.train import build_parser, main
from longbert.training import TrainConfig, TrainConfigError
from longbert.training.datasets import DataSplits
from longbert.training.few_shot_run import labels_per_class, read_descriptions, resolve_mode
from longbert.training.modes import FEW_SHOT_BELOW
from longbert.ui.training import MODE_TITLES, advanced_specs, build_config, write_descriptions

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-mode"), **TRAIN_ENCODER)


def _splits(per_class: dict[str, int], dev: dict[str, int] | None = None) -> DataSplits:
    def records(counts: dict[str, int]) -> list[dict[str, str]]:
        return [
            {"text": f"{label} text {i}", "label": label} for label, n in counts.items() for i in range(n)
        ]

    train = from_records(records(per_class), name="train")
    dev_set = from_records(records(dev or {"econ": 1, "sport": 1}), name="dev", min_classes=1)
    return DataSplits(train, dev_set, None, list(train.labels), dev_carved=dev is None)


def test_auto_counts_the_rarest_label_with_the_carved_dev_split() -> None:
    few = _splits({"econ": 3, "sport": 40})  # + 1 each carved into dev: econ has 4
    assert labels_per_class(few) == {"econ": 4, "sport": 41}
    mode, why = resolve_mode(TrainConfig(mode="auto"), few)
    assert mode == "few-shot" and "4 training documents" in why
    many = _splits({"econ": FEW_SHOT_BELOW, "sport": 40}, dev={"econ": 2, "sport": 2})
    assert resolve_mode(TrainConfig(mode="auto"), many)[0] == "fine-tune"
    # A chosen mode is kept whatever the counts; the threshold is an option.
    assert resolve_mode(TrainConfig(mode="fine-tune"), few)[0] == "fine-tune"
    assert resolve_mode(TrainConfig(mode="auto", few_shot_below=50), many)[0] == "few-shot"


def test_mode_options_are_checked_and_the_command_line_defaults_to_auto() -> None:
    with pytest.raises(TrainConfigError, match="--mode must be one of"):
        TrainConfig(mode="setfit").validate()
    with pytest.raises(TrainConfigError, match="--few-shot-iterations"):
        TrainConfig(few_shot_iterations=0).validate()
    assert TrainConfig().mode == "fine-tune"  # Python scripts written before keep their meaning
    assert "(default: 'auto')" in build_parser().format_help()
    assert "bench_active.json" in build_parser().format_help()  # why 16


def test_descriptions_of_labels_the_data_lacks_are_left_out_and_named(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"econ": "money and markets"}))
    assert read_descriptions(str(path), ["econ", "sport"]) == ({"econ": "money and markets"}, [])
    path.write_text(json.dumps({"econ": "money", "ecno": "typo"}))
    described, notes = read_descriptions(str(path), ["econ", "sport"])
    assert described == {"econ": "money"} and "ecno" in notes[0]
    path.write_text("[1, 2]")
    with pytest.raises(TrainConfigError, match="object of label"):
        read_descriptions(str(path), ["econ", "sport"])


def test_cli_auto_trains_few_shot_from_4_labels_per_class_and_records_the_mode(
    encoder: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_file = write_jsonl(isolated / "train.jsonl", make_rows(8, seed=0))  # 4 econ, 4 sport
    dev_file = write_jsonl(isolated / "dev.jsonl", make_rows(12, seed=5))
    descriptions = isolated / "descriptions.json"
    descriptions.write_text(json.dumps({"econ": "bank rates inflation market", "sport": "team match goal"}))
    argv = ["--train", str(train_file), "--dev", str(dev_file), "--encoder", str(encoder)]
    argv += ["--name", "first", "--few-shot-iterations", "2", "--threads", "1", "--quiet"]
    argv += ["--label-descriptions", str(descriptions)]
    assert main(argv) == 0
    assert "few-shot" in capsys.readouterr().out
    folder = isolated / "models" / "first"
    manifest = read_manifest(folder)
    assert manifest.metadata["training"]["mode"] == "few-shot"
    assert manifest.metadata["few_shot"]["descriptions_used"] is True
    assert manifest.metadata["few_shot"]["examples"] == 8
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["mode"] == "few-shot" and metrics["best"]["docs_per_second"] > 0
    (run,) = get_store().list_training_runs()
    assert run.status == "done" and run.config["mode"] == "few-shot"
    assert run.model_folder == str(folder) and run.best_metrics["accuracy"] >= 0
    assert list(get_store().get_model("first").labels) == ["econ", "sport"]
    model = load_classifier(folder, device="cpu")
    (prediction,) = model.predict(["bank rates inflation market prices"])
    assert prediction.label in ("econ", "sport")


def test_cli_fine_tune_is_kept_when_chosen(encoder: Path, isolated: Path) -> None:
    train_file = write_jsonl(isolated / "train.jsonl", make_rows(8, seed=0))
    argv = ["--train", str(train_file), "--encoder", str(encoder), "--name", "plain", "--mode", "fine-tune"]
    argv += ["--epochs", "1", "--batch-size", "4", "--threads", "1", "--quiet"]
    assert main(argv) == 0
    (run,) = get_store().list_training_runs()
    assert run.config["mode"] == "fine-tune"
    assert read_manifest(isolated / "models" / "plain").metadata["training"]["config"]["mode"] == "fine-tune"


def test_train_page_offers_the_modes_with_auto_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.app_testing import assert_ok, fresh_app

    at = fresh_app(tmp_path, monkeypatch)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert_ok(at)
    mode = at.selectbox(key="train:mode")
    assert mode.value == "auto" and list(mode.options) == [
        MODE_TITLES[m] for m in ("auto", "few-shot", "fine-tune")
    ]
    assert "bench_active.json" in mode.help and f"{FEW_SHOT_BELOW} documents" in mode.help
    # The mode is the page's own widget, not repeated under Advanced options.
    assert all(s.name not in ("mode", "label_descriptions") for s in advanced_specs())
    config = build_config({"mode": "auto", "name": "m"}, train_path="x.jsonl", strategy=None)
    assert config.mode == "auto"


def test_label_set_descriptions_are_written_for_few_shot(isolated: Path) -> None:
    store = get_store()
    store.save_label_set("news", {"econ": "money and markets", "sport": "sport"})
    path = write_descriptions(store, "news", isolated)
    assert path is not None and json.loads(Path(path).read_text()) == {"econ": "money and markets"}
    store.save_label_set("bare", ["econ", "sport"])  # descriptions that only repeat the label
    assert write_descriptions(store, "bare", isolated) is None
    assert write_descriptions(store, "missing", isolated) is None
    assert write_descriptions(store, None, isolated) is None


def test_fine_tune_ignores_the_few_shot_method_it_does_not_use() -> None:
    """`--mode fine-tune --multi-label --few-shot-method prior`: the method never applies, so it
    is not refused; a run that can train few-shot still is. The Train page sends "auto" when
    the method box is disabled (fine-tune)."""
    TrainConfig(mode="fine-tune", multi_label=True, few_shot_method="prior").validate()
    for mode in ("auto", "few-shot"):
        with pytest.raises(TrainConfigError, match="single-label only"):
            TrainConfig(mode=mode, multi_label=True, few_shot_method="prior").validate()
    values = {"mode": "fine-tune", "few_shot_method": "prior", "multi_label": True, "name": "m"}
    assert build_config(values, train_path="x.jsonl", strategy=None).few_shot_method == "auto"
    values["mode"] = "few-shot"
    with pytest.raises(TrainConfigError, match="single-label only"):
        build_config(values, train_path="x.jsonl", strategy=None)


def test_the_few_shot_method_word_translates_in_one_place() -> None:
    """`--few-shot-method prior` is the library's `zero-shot-prior`: one function translates,
    and every option word names a library method."""
    from longbert.fewshot import FEW_SHOT_METHODS
    from longbert.training.few_shot_run import few_shot_method
    from longbert.training.modes import FEW_SHOT_METHOD_OPTIONS, library_few_shot_method

    assert library_few_shot_method("prior") == "zero-shot-prior"
    assert {library_few_shot_method(word) for word in FEW_SHOT_METHOD_OPTIONS} == set(FEW_SHOT_METHODS)
    with pytest.raises(TrainConfigError, match="one of auto, prior, setfit"):
        library_few_shot_method("zero-shot-prior")
    assert few_shot_method(TrainConfig(few_shot_method="prior")) == "zero-shot-prior"
    assert few_shot_method(TrainConfig(few_shot_method="setfit")) == "setfit"
