"""``--config`` files never drop an option in silence: keys beside a ``[train]`` table, two
spellings of one option, and a ``.TOML`` suffix (read as JSON before) are all handled."""

from __future__ import annotations

from pathlib import Path

import pytest

from longbert.train import build_parser
from longbert.training import TrainConfig, TrainConfigError
from longbert.training.cli_options import config_from_args, given_options


def parse(argv: list[str]) -> TrainConfig:
    return config_from_args(build_parser().parse_args(argv))


def test_keys_beside_a_train_table_are_refused_and_named(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.toml"
    mixed.write_text('name = "top-level-name"\nepochs = 7\n[train]\nbatch_size = 4\n')
    # Before: the table alone was read; name and epochs were dropped without a word.
    with pytest.raises(TrainConfigError, match=r"\[train\] table and also key\(s\) outside it: epochs, name"):
        parse(["--config", str(mixed)])
    with pytest.raises(TrainConfigError, match="epochs, name"):
        given_options(build_parser().parse_args(["--config", str(mixed)]))
    # A table alone, and a flat file, still read as before.
    mixed.write_text("[train]\nbatch_size = 4\nepochs = 7\n")
    assert (parse(["--config", str(mixed)]).batch_size, parse(["--config", str(mixed)]).epochs) == (4, 7)
    mixed.write_text("batch_size = 4\nepochs = 7\n")
    assert parse(["--config", str(mixed)]).epochs == 7


def test_two_spellings_of_one_option_are_refused(tmp_path: Path) -> None:
    both = tmp_path / "both.json"
    both.write_text('{"batch-size": 2, "batch_size": 3}')  # before: the last one (3) won
    with pytest.raises(TrainConfigError, match="'batch_size' twice, as 'batch-size' and 'batch_size'"):
        parse(["--config", str(both)])
    with pytest.raises(TrainConfigError, match="twice"):
        TrainConfig.from_dict({"batch_size": 3, "batch-size": 2})
    both.write_text('{"batch-size": 2, "learning_rate": 0.001}')
    assert parse(["--config", str(both)]).batch_size == 2


@pytest.mark.parametrize("suffix", [".TOML", ".Toml", ".toml"])
def test_a_toml_suffix_in_any_case_is_read_as_toml(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"train{suffix}"
    path.write_text("epochs = 2\n[strategy_params]\nmode = 'head'\n")
    config = parse(["--config", str(path)])  # before: .TOML was parsed as JSON and refused
    assert (config.epochs, config.strategy_params) == (2, {"mode": "head"})
