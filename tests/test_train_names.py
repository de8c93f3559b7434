"""Model names refused before a run starts: blank ones (a folder named " " was made and listed)
and ones longer than a folder name may be in bytes (the run failed only when saving)."""

from __future__ import annotations

import pytest

from longbert.config_fields import NAME_BYTES, check_name
from longbert.pretraining.errors import PretrainError
from longbert.training import TrainConfig, TrainConfigError


@pytest.mark.parametrize("name", [" ", "\t", "  \n"])
def test_blank_names_are_refused(name: str) -> None:
    with pytest.raises(TrainConfigError, match="visible character"):
        TrainConfig(name=name).validate()


def test_names_are_measured_in_bytes_as_folder_names_are() -> None:
    TrainConfig(name="a" * NAME_BYTES).validate()
    TrainConfig(name="é" * (NAME_BYTES // 2)).validate()  # 254 bytes
    with pytest.raises(TrainConfigError, match=r"260 bytes long in UTF-8 \(130 characters"):
        TrainConfig(name="é" * 130).validate()  # 130 characters: the store takes 255 of them
    with pytest.raises(TrainConfigError, match="at most 255 bytes"):
        TrainConfig(name="a" * (NAME_BYTES + 1)).validate()


def test_the_other_name_rules_hold_for_every_command() -> None:
    for name in ("a/b", ".hidden", "", "nul\0byte"):
        with pytest.raises(PretrainError, match="plain folder name"):
            check_name(name, PretrainError)
    check_name("desk model (v2)", PretrainError)
