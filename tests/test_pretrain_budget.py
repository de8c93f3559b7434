"""Pre-training under a time budget: the MLM head's warm-up cannot eat the whole budget, and a
run that never trained its encoder says so (result, manifest, CLI exit code). The CLI's
"before" perplexity is the one after the head warm-up. Time is a fake clock, so the tests are
exact whatever the machine's load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.fake_clock import FakeClock
from helpers.pretrain_fixtures import pretrain_options
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl
from safetensors.torch import load_file

from longbert.modeling.long_bert import LongBertModel
from longbert.pretrain import main
from longbert.pretraining import PretrainConfig, pretrain, read_encoder_manifest
from longbert.pretraining import budget as budget_module

pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "docs.jsonl", make_rows(16, words=(30, 90)))


def options(encoder: Path, data: Path, **overrides: Any) -> PretrainConfig:
    return pretrain_options(encoder, [data], **{"record": False, "save_every_minutes": 0.0, **overrides})


def encoder_tensors(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "encoder" / "model.safetensors"))


def test_the_head_warm_up_gets_only_a_share_of_the_time_budget(
    encoder: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 planned steps put the auto warm-up at 100 steps; a 30-second budget at one second a
    step stops at step 30. The warm-up ends at 10% of the budget (3 s), so the encoder trains."""
    clock = FakeClock()
    monkeypatch.setattr(budget_module, "perf_counter", clock)
    result = pretrain(
        options(encoder, corpus, output_dir=str(tmp_path / "b"), max_steps=1000, max_minutes=0.5),
        progress=clock.per_step(1.0),
    )
    assert result.status == "done" and result.stopped_by_time and result.steps == 30
    assert result.encoder_steps == 27 and result.encoder_trained
    training = read_encoder_manifest(tmp_path / "b").metadata["training"]
    assert training["head_warmup_steps"] == 3
    assert training["encoder_steps"] == 27 and training["encoder_trained"] is True
    assert "after_head_warmup" in result.heldout  # scored where the warm-up really ended
    source = LongBertModel.from_bert(str(encoder)).state_dict()
    saved = encoder_tensors(tmp_path / "b")
    changed = [k for k in saved if k in source and not torch.equal(saved[k], source[k])]
    assert "encoder.layer.0.attention.self.query.weight" in changed


def test_without_a_time_budget_the_planned_warm_up_is_kept(
    encoder: Path, corpus: Path, tmp_path: Path
) -> None:
    result = pretrain(options(encoder, corpus, output_dir=str(tmp_path / "n"), max_steps=20))
    training = read_encoder_manifest(tmp_path / "n").metadata["training"]
    assert training["head_warmup_steps"] == 2 and training["encoder_steps"] == 18
    assert result.encoder_steps == 18 and not any("NOT trained" in n for n in result.notes)


def test_a_run_stopped_before_the_encoder_trained_is_not_reported_as_adapted(
    encoder: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One step longer than the whole budget: the run ends inside the head warm-up."""
    clock = FakeClock()
    monkeypatch.setattr(budget_module, "perf_counter", clock)
    result = pretrain(
        options(encoder, corpus, output_dir=str(tmp_path / "u"), max_steps=100, max_minutes=1.0),
        progress=clock.per_step(120.0),
    )
    assert result.status == "done" and result.stopped_by_time and result.steps == 1
    assert result.encoder_steps == 0 and not result.encoder_trained
    assert any("The encoder was NOT trained" in note for note in result.notes)
    training = read_encoder_manifest(tmp_path / "u").metadata["training"]
    assert training["encoder_steps"] == 0 and training["encoder_trained"] is False


def test_cli_exits_3_and_warns_when_the_encoder_was_not_trained(
    encoder: Path, corpus: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    ticks = iter(range(0, 10**9, 10_000))  # every reading of the clock is 10,000 s later
    monkeypatch.setattr(budget_module, "perf_counter", lambda: float(next(ticks)))
    argv = [str(corpus), "--encoder", str(encoder), "--name", "cli-budget", "--max-tokens", "62"]
    argv += ["--batch-size", "2", "--max-steps", "50", "--max-minutes", "1", "--precision", "fp32"]
    argv += ["--threads", "1", "--quiet", "--no-record"]
    assert main(argv) == 3  # longbert.pretrain.NOT_TRAINED
    captured = capsys.readouterr()
    assert "Encoder saved but NOT trained" in captured.out
    assert "warning: The encoder was NOT trained" in captured.err
    training = read_encoder_manifest(isolated / "models" / "cli-budget").metadata["training"]
    assert training["encoder_trained"] is False


def test_cli_compares_perplexity_from_the_end_of_the_head_warm_up(
    encoder: Path, corpus: Path, isolated: Path, capsys: Any
) -> None:
    argv = [str(corpus), "--encoder", str(encoder), "--name", "cli-ppl", "--max-tokens", "62"]
    argv += ["--batch-size", "2", "--max-steps", "4", "--head-warmup-steps", "2", "--precision", "fp32"]
    argv += ["--threads", "1", "--quiet", "--no-record"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    heldout = read_encoder_manifest(isolated / "models" / "cli-ppl").metadata["heldout"]
    warm, after = heldout["after_head_warmup"]["perplexity"], heldout["after"]["perplexity"]
    assert f"held-out perplexity {warm:,.1f} -> {after:,.1f}" in out
    assert f"{heldout['before']['perplexity']:,.1f} ->" not in out  # the random head's
    assert "2 of them training the encoder" in out


def test_a_resumed_run_keeps_the_warm_up_end_the_budget_chose(
    encoder: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(budget_module, "perf_counter", clock)
    steps: list[int] = []

    def tick(event: dict[str, Any]) -> None:
        if event["event"] in ("step", "progress"):
            steps.append(event["step"])
            clock.advance(1.0)

    common = {"output_dir": str(tmp_path / "r"), "max_steps": 1000, "max_minutes": 0.5}
    stopped = pretrain(options(encoder, corpus, **common), progress=tick, should_stop=lambda: len(steps) >= 6)
    assert stopped.status == "interrupted" and stopped.steps == 6
    resumed = pretrain(options(encoder, corpus, resume=True, **common), progress=tick, given={"resume"})
    assert resumed.status == "done" and resumed.stopped_by_time and resumed.steps == 30
    training = read_encoder_manifest(tmp_path / "r").metadata["training"]
    assert training["head_warmup_steps"] == 3 and training["encoder_steps"] == 27
