"""The training building blocks on their own: config, losses, metrics, schedule, batching."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from longbert.training.cli_options import add_arguments, config_from_args
from longbert.training.config import TrainConfig, TrainConfigError
from longbert.training.losses import class_weights, make_loss
from longbert.training.metrics import classification_report, format_report, multilabel_report
from longbert.training.optim import linear_schedule, make_optimizer, parameter_groups
from longbert.training.prepared import plan_epoch


def parse(argv: list[str]) -> TrainConfig:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_arguments(parser)
    return config_from_args(parser.parse_args(argv))


# -- config ------------------------------------------------------------------------------------


def test_every_option_is_on_the_command_line_with_help() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = parser.format_help()
    for name in TrainConfig.__dataclass_fields__:
        flag = "--strategy-param" if name == "strategy_params" else "--" + name.replace("_", "-")
        assert flag in text, flag


def test_config_file_then_command_line(tmp_path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text(
        '[train]\nstrategy = "chunk"\nepochs = 7\nlearning-rate = 0.001\n'
        "[train.strategy_params]\nwindow = 128\nstride = 64\n"
    )
    config = parse(["--config", str(toml), "--epochs", "2", "--strategy-param", "pooling=max"])
    assert (config.strategy, config.epochs, config.learning_rate) == ("chunk", 2, 0.001)
    assert config.strategy_params == {"window": 128, "stride": 64}
    assert config.pooling == "max"  # a model setting given the old way becomes its own option
    json_file = tmp_path / "train.json"
    config.save(json_file)
    assert TrainConfig.from_file(json_file) == config


def test_model_settings_are_options_of_their_own() -> None:
    config = parse(["--strategy", "sparse", "--attention-window", "64", "--pooling", "max"])
    assert (config.attention_window, config.pooling, config.strategy_params) == (64, "max", {})
    saved = TrainConfig.from_dict({"strategy": "sparse", "strategy_params": {"attention_window": 32}})
    assert (saved.attention_window, saved.strategy_params) == (32, {})  # a format-1 run's options
    params = {"pooling": "max", "window": 64}
    assert TrainConfig(strategy="chunk", strategy_params=params).pooling == "max"
    assert params == {"pooling": "max", "window": 64}  # the caller's dict is left alone
    with pytest.raises(TrainConfigError, match="disagree"):
        TrainConfig(strategy="chunk", strategy_params={"pooling": "max"}, pooling="attention")
    with pytest.raises(TrainConfigError, match="--pooling"):
        TrainConfig(pooling="sum").validate()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--epochs", "0"], "--epochs"),
        (["--learning-rate", "0"], "--learning-rate"),
        (["--dev-fraction", "1.5"], "--dev-fraction"),
        (["--resume", "--overwrite"], "contradict"),
        (["--name", "../escape"], "--name"),
    ],
)
def test_bad_options_are_named(argv: list[str], fragment: str) -> None:
    with pytest.raises(TrainConfigError, match=fragment):
        parse(argv)


def test_config_file_rejects_unknown_and_mistyped_options(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"epocs": 3}')
    with pytest.raises(TrainConfigError, match="epocs"):
        TrainConfig.from_file(bad)
    bad.write_text('{"epochs": "three"}')
    with pytest.raises(TrainConfigError, match="epochs"):
        TrainConfig.from_file(bad)


def test_config_file_null_is_refused_for_an_option_that_needs_a_value(tmp_path) -> None:
    bad = tmp_path / "null.json"
    bad.write_text('{"epochs": null, "dev": null}')  # dev may be null: no dev file
    with pytest.raises(TrainConfigError, match=r"Option 'epochs' in .*null\.json must be int, got null"):
        parse(["--config", str(bad)])
    bad.write_text('{"dev": null}')
    assert parse(["--config", str(bad)]).dev is None


# -- losses ------------------------------------------------------------------------------------


def test_focal_with_gamma_zero_is_cross_entropy() -> None:
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 3), torch.tensor([0, 1, 2, 1, 0, 2])
    weights = torch.tensor([1.0, 2.0, 0.5])
    for smoothing in (0.0, 0.1):
        focal = make_loss(
            "focal", multi_label=False, focal_gamma=0.0, label_smoothing=smoothing, weights=weights
        )
        ce = F.cross_entropy(logits, targets, weight=weights, label_smoothing=smoothing)
        assert torch.allclose(focal(logits, targets), ce, atol=1e-6)
    # gamma > 0 down-weights easy examples: the loss gets smaller.
    focal2 = make_loss("focal", multi_label=False, focal_gamma=2.0)
    assert focal2(logits, targets) < F.cross_entropy(logits, targets)


def test_class_weights() -> None:
    targets = np.array([0, 0, 0, 1])
    balanced = class_weights("balanced", ["a", "b"], targets, multi_label=False)
    assert torch.allclose(balanced, torch.tensor([4 / 6, 4 / 2]))
    explicit = class_weights("b=3", ["a", "b"], targets, multi_label=False)
    assert explicit.tolist() == [1.0, 3.0]
    assert class_weights("none", ["a", "b"], targets, multi_label=False) is None
    with pytest.raises(TrainConfigError, match="'c=2'"):
        class_weights("c=2", ["a", "b"], targets, multi_label=False)
    multi = class_weights(
        "balanced", ["a", "b"], np.array([[1, 0], [1, 1], [0, 0], [1, 0]]), multi_label=True
    )
    assert multi.tolist() == pytest.approx([1 / 3, 3.0])


def test_multi_label_loss_is_bce() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = make_loss("cross_entropy", multi_label=True)(logits, targets)
    assert torch.allclose(loss, F.binary_cross_entropy_with_logits(logits, targets))


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    report = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert report["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert report["confusion_matrix"] == confusion_matrix(y_true, y_pred).tolist()
    precision = precision_score(y_true, y_pred, average=None)
    assert [report["per_class"][k]["precision"] for k in "abc"] == pytest.approx(precision)
    assert "macro-F1" in format_report(report)
    t, p = rng.integers(0, 2, (40, 4)), rng.integers(0, 2, (40, 4))
    multi = multilabel_report(t, p, list("wxyz"))
    assert multi["macro_f1"] == pytest.approx(f1_score(t, p, average="macro"))
    assert multi["micro_f1"] == pytest.approx(f1_score(t, p, average="micro"))
    assert multi["accuracy"] == pytest.approx(accuracy_score(t, p))


# -- optimiser and schedule --------------------------------------------------------------------


def test_no_weight_decay_on_biases_and_layernorm() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Embedding(10, 4))
    decay, no_decay = parameter_groups(model, 0.01)
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3


def test_parts_trained_from_scratch_may_learn_faster() -> None:
    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)
            self.pooling = torch.nn.Linear(4, 1)

    model = Tiny()
    assert len(make_optimizer(model, 1e-4, 0.01).param_groups) == 2  # as before: one rate
    optimizer = make_optimizer(model, 1e-4, 0.01, head_learning_rate=1e-2)
    scheduler = linear_schedule(optimizer, warmup_steps=2, total_steps=4)
    rates = {(g["lr"], g["weight_decay"]): {id(p) for p in g["params"]} for g in optimizer.param_groups}
    assert rates[(5e-5, 0.01)] == {id(model.encoder.weight)}
    assert rates[(5e-3, 0.01)] == {id(model.head.weight), id(model.pooling.weight)}
    assert rates[(5e-3, 0.0)] == {id(model.head.bias), id(model.pooling.bias)}
    optimizer.step()  # (no gradients: nothing moves) the order torch expects, without its warning
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-4, 1e-4, 1e-2, 1e-2])


def test_linear_warmup_then_decay() -> None:
    model = torch.nn.Linear(2, 2)
    optimizer = make_optimizer(model, 1.0, 0.0)
    scheduler = linear_schedule(optimizer, warmup_steps=4, total_steps=12)
    rates = []
    for _ in range(12):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert rates[4:] == pytest.approx([1 - i / 8 for i in range(8)])
    assert scheduler.get_last_lr()[0] == 0.0


# -- batching ----------------------------------------------------------------------------------


def test_epoch_plans_are_seeded_bucketed_and_shared_out() -> None:
    lengths = np.random.default_rng(0).integers(10, 500, 101)
    one = plan_epoch(lengths, 8, seed=1, epoch=0)
    assert [b.tolist() for b in one] == [b.tolist() for b in plan_epoch(lengths, 8, seed=1, epoch=0)]
    assert [b.tolist() for b in one] != [b.tolist() for b in plan_epoch(lengths, 8, seed=1, epoch=1)]
    assert sorted(np.concatenate(one).tolist()) == list(range(101))
    # Length-sorted inside a pool: much less padding than random batches.
    padding = sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in one)
    shuffled = np.random.default_rng(0).permutation(101)
    random_batches = [shuffled[i : i + 8] for i in range(0, 101, 8)]
    assert padding < 0.2 * sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in random_batches)
    ranks = [plan_epoch(lengths, 8, seed=1, epoch=0, rank=r, world_size=3) for r in range(3)]
    assert len({len(r) for r in ranks}) == 1 and len(ranks[0]) == math.ceil(len(one) / 3)
    assert set(np.concatenate([np.concatenate(r) for r in ranks]).tolist()) == set(range(101))


def test_auto_gradient_checkpointing_is_on_where_a_step_holds_many_windows() -> None:
    """auto: sparse, and chunk reading every window (or more than 8) per document."""
    from longbert.training.config import TrainConfig
    from longbert.training.loop import uses_gradient_checkpointing

    def uses(mode: str, **options: object) -> bool:
        return uses_gradient_checkpointing(TrainConfig(**options), mode)

    assert uses("long") and not uses("window")
    assert uses("chunks", max_train_windows=0) and uses("chunks", max_train_windows=9)
    assert not uses("chunks", max_train_windows=8) and not uses("chunks", max_train_windows=4)
    assert not uses("long", gradient_checkpointing="off")
    assert uses("window", gradient_checkpointing="on")
