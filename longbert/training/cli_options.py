"""The command line of training: one ``--option`` per :class:`TrainConfig` field, and the config
they make (defaults < ``--config`` file < command-line options)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from longbert.cli_common import parse_param
from longbert.config_fields import base_type
from longbert.config_fields import flag as _flag
from longbert.training.config import TrainConfig, file_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per TrainConfig field, grouped, defaults shown, values SUPPRESSed.

    Unset options stay out of the namespace, so a ``--config`` file's values survive unless the
    command line names them again.
    """
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        group = groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = meta["help"] if default in (None, {}) else f"{meta['help']} (default: {default!r})"
        kind = base_type(TrainConfig, f.name)
        flag = f"--{_flag(f.name)}"
        if kind is bool:
            group.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
            )
        elif kind is dict:
            group.add_argument(
                "--strategy-param",
                dest=f.name,
                action="append",
                type=parse_param,
                metavar="KEY=VALUE",
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(
                flag,
                type=kind,
                choices=meta["choices"],
                default=argparse.SUPPRESS,
                metavar=f.name.upper() if meta["choices"] is None else None,
                help=help_text,
            )


def given_options(args: argparse.Namespace) -> frozenset[str]:
    """The options set explicitly: on the command line or in the ``--config`` file.

    :func:`add_arguments` leaves unset options out of the namespace, so these are the names it
    holds, plus the file's keys. ``--resume`` takes every other option from the interrupted run.
    """
    names = {f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    if getattr(args, "config", None):
        names |= {str(k).replace("-", "_") for k in file_options(Path(args.config))}
    return frozenset(names)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < ``--config`` file < command-line options."""
    base = TrainConfig.from_file(args.config) if getattr(args, "config", None) else TrainConfig()
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    if "strategy_params" in given:
        given["strategy_params"] = {**base.strategy_params, **dict(given["strategy_params"])}
    return dataclasses.replace(base, **given).validate()
