"""The zero-shot-prior few-shot method: zero-shot logits plus a correction learnt from a few labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert import load_classifier
from longbert.checkpoints import read_manifest
from longbert.fewshot import (
    MULTI_LABEL_REFUSAL,
    FewShotConfig,
    ZeroShotPriorClassifier,
    train_few_shot,
    train_zero_shot_prior,
)
from longbert.fewshot.prior_fit import fit_correction
from longbert.zero_shot import ZeroShotClassifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Each label described as the *other* one: zero-shot gets (almost) every document wrong.
SWAPPED = {
    "econ": "sport: football, goals, matches and players",
    "sport": "economy: banks, markets, inflation and tax",
}


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-prior"), **TRAIN_ENCODER)


@pytest.fixture(autouse=True)
def exact_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))


def _texts(rows: list[dict]) -> list[str]:
    return [row["text"] for row in rows]


def _labels(rows: list[dict]) -> list[str]:
    return [row["label"] for row in rows]


def _accuracy(predictions: list, rows: list[dict]) -> float:
    return float(np.mean([p.label == row["label"] for p, row in zip(predictions, rows, strict=True)]))


def test_with_no_correction_it_is_the_zero_shot_model_exactly(tiny_encoder: Path) -> None:
    labels = {"econ": "banks and markets", "sport": "football matches", "tech": "computers"}
    chunks = {"name": "chunk", "params": {"window": 32, "stride": 32}}
    zero_shot = ZeroShotClassifier(labels, tiny_encoder, chunks)
    prior = ZeroShotPriorClassifier(labels, tiny_encoder, chunks)
    assert torch.count_nonzero(prior.correction.weight) == 0
    docs = _texts(make_rows(6, labels=("econ", "sport"), seed=3, words=(20, 90)))  # 1-3 windows
    inputs = prior.collate(prior.prepare(docs))
    assert inputs.num_rows > len(docs)
    a = zero_shot.infer(inputs, output_window_logits=True)
    b = prior.infer(inputs, output_window_logits=True)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.window_logits, b.window_logits)
    for x, y in zip(zero_shot.predict(docs), prior.predict(docs), strict=True):
        assert x.probabilities == y.probabilities and x.label == y.label
        assert x.zero_shot and not y.zero_shot  # a trained model's predictions are not zero-shot


def test_four_labels_per_class_flip_a_zero_shot_model_that_is_wrong() -> None:
    train, test = make_rows(8, seed=0), make_rows(40, seed=1)  # 4 econ + 4 sport; the real encoder
    zero_shot = ZeroShotClassifier(SWAPPED)
    assert _accuracy(zero_shot.predict(_texts(test), attention="none"), test) <= 0.1
    model = train_zero_shot_prior(_texts(train), _labels(train), descriptions=SWAPPED, seed=3)
    assert _accuracy(model.predict(_texts(test), attention="none"), test) >= 0.95
    info = model.metadata["few_shot"]
    assert model.metadata["training"] == "few_shot" and model.zero_shot is False
    assert info["method"] == "zero-shot-prior" and info["lam"] == 0.01 and info["seed"] == 3
    assert info["examples_per_label"] == {"econ": 4, "sport": 4} and info["seconds"] >= 0


def test_the_fit_is_deterministic_and_a_larger_penalty_stays_closer_to_zero_shot() -> None:
    rng = np.random.default_rng(0)
    x = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(6, 8))), dim=-1)
    labels = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(3, 8))), dim=-1)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    first = fit_correction(x, y, labels, 0.05, lam=0.01)
    again = fit_correction(x, y, labels, 0.05, lam=0.01)
    assert torch.equal(first["weight"], again["weight"]) and torch.equal(first["bias"], again["bias"])
    strong = fit_correction(x, y, labels, 0.05, lam=10.0)
    assert strong["weight"].norm() < first["weight"].norm()
    # One example per label: every dimension varies here, but a constant one must not divide by 0.
    x[:, 0] = 0.5
    single = fit_correction(x[[0, 2, 4]], y[[0, 2, 4]], labels, 0.05)
    assert single["scale"][0] == 1.0 and torch.isfinite(single["weight"]).all()


def test_saved_model_loads_with_load_classifier_and_predicts_the_same(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    train, test = make_rows(8, seed=0), make_rows(10, seed=1)
    model = train_zero_shot_prior(
        _texts(train),
        _labels(train),
        encoder=tiny_encoder,
        label_names=["econ", "sport", "tech"],
        descriptions={"econ": "money"},
        strategy="truncate",
        name="corrected",
    )
    assert model.metadata["few_shot"]["examples_per_label"]["tech"] == 0  # no example: the prior only
    expected = model.predict(_texts(test), attention="none")
    folder = model.save_pretrained(tmp_path / "corrected")
    manifest = read_manifest(folder)
    assert manifest.architecture == "zero-shot-prior" and manifest.kind == "classifier"
    assert json.loads((folder / "longbert.json").read_text())["architecture"] == "zero-shot-prior"
    loaded = load_classifier(folder, device="cpu")
    assert isinstance(loaded, ZeroShotPriorClassifier) and loaded.name == "corrected"
    assert loaded.labels == ["econ", "sport", "tech"] and loaded.strategy.name == "truncate"
    assert loaded.descriptions == {"econ": "money", "sport": "sport", "tech": "tech"}
    assert loaded.metadata["few_shot"]["method"] == "zero-shot-prior"
    again = loaded.predict(_texts(test), attention="none")
    for first, second in zip(expected, again, strict=True):
        assert first.label == second.label
        assert first.probabilities == pytest.approx(second.probabilities, abs=1e-6)
    # Explanations read per-window logits: they are the corrected ones.
    (explained,) = loaded.predict(_texts(test)[:1])
    assert explained.label == expected[0].label


def test_predict_cli_runs_a_saved_prior_model(tiny_encoder: Path, tmp_path: Path) -> None:
    from longbert.predict import main

    train = make_rows(8, seed=0)
    model = train_zero_shot_prior(_texts(train), _labels(train), encoder=tiny_encoder, strategy="truncate")
    folder = model.save_pretrained(tmp_path / "models" / "prior-cli")
    corpus = write_jsonl(tmp_path / "in.jsonl", make_rows(5, seed=2))
    out = tmp_path / "out.jsonl"
    assert main(["--model", str(folder), "--input", str(corpus), "--output", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5 and all(row["label"] in ("econ", "sport") for row in rows)
    assert not any(row.get("zero_shot") for row in rows)


def test_multi_label_is_refused_with_what_to_use_instead(tiny_encoder: Path) -> None:
    docs = ["bank rates", "football match"]
    with pytest.raises(ValueError, match="single-label only") as raised:
        train_zero_shot_prior(docs, [["econ", "sport"], "sport"], encoder=tiny_encoder)
    assert "setfit" in str(raised.value) and "fine-tune" in str(raised.value)
    with pytest.raises(ValueError, match="single-label only"):
        train_zero_shot_prior(docs, ["econ", "sport"], encoder=tiny_encoder, multi_label=True)
    config = FewShotConfig(method="zero-shot-prior")
    with pytest.raises(ValueError, match="single-label only"):
        train_few_shot(docs, [["econ"], ["sport"]], encoder=tiny_encoder, multi_label=True, config=config)
    assert "--few-shot-method setfit" in MULTI_LABEL_REFUSAL


def test_fitting_the_prior_leaves_the_global_random_state_alone(tiny_encoder: Path) -> None:
    from longbert.fewshot.prior_fit import fit_prior

    train = make_rows(6, seed=0)
    model = ZeroShotPriorClassifier({"econ": "econ", "sport": "sport"}, str(tiny_encoder))
    torch.manual_seed(123)
    torch.rand(3)  # a state no seed call gives
    state = torch.get_rng_state()
    fit_prior(model, _texts(train), _labels(train), seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert model.metadata["few_shot"]["seed"] == 7  # recorded all the same


def test_train_few_shot_dispatches_on_the_method(tiny_encoder: Path) -> None:
    train = make_rows(8, seed=0)
    for method in ("zero-shot-prior", "auto"):
        model = train_few_shot(
            _texts(train), _labels(train), encoder=tiny_encoder, config=FewShotConfig(method=method)
        )
        assert isinstance(model, ZeroShotPriorClassifier)
    with pytest.raises(ValueError, match="few-shot method"):
        unknown = FewShotConfig(method="knn")
        train_few_shot(_texts(train), _labels(train), encoder=tiny_encoder, config=unknown)


def test_train_cli_few_shot_prior_makes_a_loadable_model(tiny_encoder: Path, tmp_path: Path, capsys) -> None:
    from longbert.train import main

    train_file = write_jsonl(tmp_path / "train.jsonl", make_rows(8, seed=0))
    dev_file = write_jsonl(tmp_path / "dev.jsonl", make_rows(12, seed=5))
    descriptions = tmp_path / "descriptions.json"
    descriptions.write_text(json.dumps({"econ": "bank rates inflation market", "sport": "team match goal"}))
    argv = ["--train", str(train_file), "--dev", str(dev_file), "--encoder", str(tiny_encoder)]
    argv += ["--name", "first", "--mode", "few-shot", "--few-shot-method", "prior", "--threads", "1"]
    argv += ["--label-descriptions", str(descriptions), "--few-shot-prior-lam", "0.1", "--quiet"]
    assert main(argv) == 0
    assert "few-shot (zero-shot-prior)" in capsys.readouterr().out
    folder = tmp_path / "models" / "first"
    manifest = read_manifest(folder)
    assert manifest.architecture == "zero-shot-prior"
    assert manifest.metadata["few_shot"]["lam"] == 0.1
    assert manifest.metadata["training"]["few_shot_method"] == "zero-shot-prior"
    assert not (folder / "head").exists() and (folder / "prior" / "model.safetensors").is_file()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["few_shot"]["method"] == "zero-shot-prior" and metrics["best"]["accuracy"] >= 0
    model = load_classifier("first", device="cpu")
    assert isinstance(model, ZeroShotPriorClassifier)
    assert model.descriptions["econ"] == "bank rates inflation market"
    (prediction,) = model.predict(["bank rates inflation market prices"])
    assert prediction.label in ("econ", "sport")
    # Multi-label data with --few-shot-method prior: refused, saying what to use.
    rows = [{"text": "bank match", "label": ["econ", "sport"]}, {"text": "bank", "label": ["econ"]}]
    multi = write_jsonl(tmp_path / "multi.jsonl", rows)
    argv = ["--train", str(multi), "--encoder", str(tiny_encoder), "--multi-label", "--mode", "few-shot"]
    assert main([*argv, "--few-shot-method", "prior", "--name", "multi", "--quiet"]) != 0
    assert "single-label only" in capsys.readouterr().err


def test_the_prior_reads_as_zero_shot_unless_a_strategy_is_chosen(tiny_encoder: Path, tmp_path: Path) -> None:
    """The zero-shot model the prior corrects reads every 256-token window: a run that chose no
    strategy does too, and says so; a chosen strategy is honoured."""
    from longbert.training import TrainConfig, train
    from longbert.zero_shot import ZERO_SHOT_STRATEGY

    train_file = write_jsonl(tmp_path / "train.jsonl", make_rows(8, seed=0, words=(20, 60)))
    base = {"train": str(train_file), "encoder": str(tiny_encoder), "mode": "few-shot", "quiet": True}
    base |= {"few_shot_method": "prior", "threads": 1, "dev_fraction": 0.25}
    result = train(TrainConfig(name="reads-windows", **base))
    model = load_classifier(result.output_dir, device="cpu")
    assert model.strategy.name == ZERO_SHOT_STRATEGY["name"]
    for key, value in ZERO_SHOT_STRATEGY["params"].items():
        assert model.strategy.params[key] == value
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    assert any("every 256-token window" in note for note in metrics["notes"]), metrics["notes"]
    training = read_manifest(result.output_dir).metadata["training"]
    assert "no strategy was chosen" in training["strategy_note"]
    chosen = train(TrainConfig(name="reads-head", strategy_params={"mode": "head"}, **base))
    model = load_classifier(chosen.output_dir, device="cpu")
    assert model.strategy.name == "truncate" and model.strategy.params["mode"] == "head"
    assert read_manifest(chosen.output_dir).metadata["training"]["strategy_note"] is None


def test_train_page_offers_the_few_shot_methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from longbert.ui.training import FEW_SHOT_METHOD_TITLES, advanced_specs, build_config
    from tests.helpers.app_testing import assert_ok, fresh_app

    at = fresh_app(tmp_path, monkeypatch)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert_ok(at)
    method = at.selectbox(key="train:few_shot_method")
    assert method.value == "auto" and not method.disabled
    assert list(method.options) == [FEW_SHOT_METHOD_TITLES[m] for m in ("auto", "prior", "setfit")]
    assert "seconds" in method.help and "multi-label" in method.help
    assert all(s.name != "few_shot_method" for s in advanced_specs())  # not repeated under Advanced
    at.selectbox(key="train:mode").set_value("fine-tune").run()
    assert at.selectbox(key="train:few_shot_method").disabled
    config = build_config({"few_shot_method": "prior", "name": "m"}, train_path="x.jsonl", strategy=None)
    assert config.few_shot_method == "prior"


def test_the_app_offers_a_saved_prior_model_and_evaluate_scores_it(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    from longbert.evaluate import evaluate
    from longbert.ui.models import model_choices

    train, dev = make_rows(8, seed=0), make_rows(6, seed=4)
    model = train_zero_shot_prior(_texts(train), _labels(train), encoder=tiny_encoder, strategy="truncate")
    folder = model.save_pretrained(tmp_path / "models" / "offered")
    (choice, zero_shot) = model_choices(tmp_path / "models")
    assert choice.path == str(folder) and not choice.zero_shot and zero_shot.zero_shot
    assert choice.labels == ("econ", "sport")
    data = write_jsonl(tmp_path / "dev.jsonl", dev)
    for given in (model, str(folder)):  # the object as it is, or the folder loaded
        report = evaluate(given, str(data), device="cpu")
        assert 0 <= report["accuracy"] <= 1 and report["errors"] == []


def test_manifest_architecture_is_checked_and_older_manifests_read_as_cls_head(tmp_path: Path) -> None:
    from longbert.checkpoints import Manifest, write_manifest
    from longbert.errors import CheckpointError

    plain = Manifest(name="m", labels=("a", "b"), strategy={"name": "truncate", "params": {}})
    assert "architecture" not in plain.to_json()  # manifests of [CLS]-head models stay as before
    assert Manifest.from_json(plain.to_json(), "m").architecture == "cls-head"
    bad = {**plain.to_json(), "architecture": "svm"}
    with pytest.raises(CheckpointError, match="architecture 'svm'"):
        Manifest.from_json(bad, "m")
    encoder = {"kind": "encoder", "architecture": "zero-shot-prior", "labels": []}
    with pytest.raises(CheckpointError, match="only for a classifier"):
        Manifest.from_json(encoder, "e")
    # A prior folder whose correction is missing is a CheckpointError naming it, not a crash.
    folder = tmp_path / "broken"
    folder.mkdir()
    write_manifest(folder, Manifest(**{**plain.__dict__, "architecture": "zero-shot-prior"}))
    with pytest.raises(CheckpointError, match="incomplete"):
        load_classifier(folder, device="cpu")


def test_compressing_a_prior_model_is_refused_clearly(tiny_encoder: Path, tmp_path: Path) -> None:
    from longbert.compress import compress

    train = make_rows(4, seed=0)
    model = train_zero_shot_prior(_texts(train), _labels(train), encoder=tiny_encoder, strategy="truncate")
    folder = model.save_pretrained(tmp_path / "models" / "prior")
    with pytest.raises(ValueError, match="zero-shot-prior model"):
        compress(str(folder), method="int8", name="small", output_dir=str(tmp_path / "small"))


def test_longbertclassifier_from_pretrained_points_a_prior_folder_to_load_classifier(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    from longbert import LongBertClassifier
    from longbert.errors import CheckpointError

    train = make_rows(4, seed=0)
    model = train_zero_shot_prior(_texts(train), _labels(train), encoder=tiny_encoder, strategy="truncate")
    folder = model.save_pretrained(tmp_path / "prior")
    with pytest.raises(CheckpointError, match=r"load it with longbert\.load_classifier"):
        LongBertClassifier.from_pretrained(folder)
