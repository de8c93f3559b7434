"""What the command-line entry points (train, pretrain, predict, evaluate, compress) share: the parser,
``KEY=VALUE`` parameters, ``--exit-threshold``, the check of an output path and error handling."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from longbert.errors import LongBertError
from longbert.exit_threshold import MEANING, check_exit_threshold

T = TypeVar("T")

ABORTED = "Aborted."


class ParamError(LongBertError, argparse.ArgumentTypeError):
    """A ``--strategy-param`` that is not ``KEY=VALUE``: argparse reports it as an option's type
    error, and code that parses the values itself reports it as any LongBertError."""


class OutputPathError(LongBertError, OSError):
    """An output file or folder that cannot be written where the command line asks for it."""


def check_output(path: str | os.PathLike[str], option: str, *, folder: bool = False) -> Path:
    """``path`` as a Path once it is sure to be writable; :class:`OutputPathError` saying why not.

    Called before the work whose result goes there (an evaluation, a training run, a
    compression), so a typo costs a message rather than the finished work. Folders still
    missing are fine (they are made when the result is written); the nearest existing folder
    above must be a writable folder, not a file. ``folder``: ``path`` is itself a folder to
    write into (a checkpoint), else a file, which must not name an existing folder. The path
    returned is absolute (not resolved through links): it is what gets recorded, and a
    relative one would name another place from any other working folder (the app's).
    """
    target = Path(path).expanduser()
    if folder and target.exists() and not target.is_dir():
        raise OutputPathError(f"{option} {target}: this is a file, not a folder; choose a folder.")
    if not folder and target.is_dir():
        raise OutputPathError(f"{option} {target}: this is a folder; name a file in it.")
    above = target.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise OutputPathError(
            f"{option} {target}: '{above}' is a file, not a folder, so nothing can be written "
            "under it; choose another path."
        )
    if not os.access(above, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"{option} {target}: the folder '{above}' is not writable; choose another path."
        )
    return Path(os.path.abspath(target))


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it is JSON (``8``, ``true``, ``null``), else text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ParamError(f"a strategy parameter is KEY=VALUE (e.g. stride=384), not {text!r}.")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def new_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """An argument parser laid out like every LongBERT command's (the module docstring as examples)."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_strategy_param(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--strategy-param KEY=VALUE`` (repeatable) as a list of ``(key, value)`` pairs, [] when absent."""
    parser.add_argument(
        "--strategy-param", action="append", type=parse_param, default=[], metavar="KEY=VALUE", help=help_text
    )


def exit_threshold_value(text: str) -> float:
    """``--exit-threshold``'s value, a number from 0 to 1; argparse reports anything else as
    ``argument --exit-threshold: ...`` (exit status 2) before anything loads."""
    try:
        value = float(text)
        check_exit_threshold(value)  # NaN and inf parse as floats
    except ValueError:  # ExitThresholdError is one
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1 ({MEANING}).") from None
    return value


def add_exit_threshold(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--exit-threshold`` (predict, evaluate): None when absent (the model's own threshold)."""
    parser.add_argument(
        "--exit-threshold",
        type=exit_threshold_value,
        metavar="0..1",
        help="Early-exit models only (made by python -m longbert.compress --method early-exit): "
        "a text leaves at the first layer whose exit's normalised prediction entropy is below "
        "this; 0 runs the full model, higher is faster and less like it (default: the model's "
        "own threshold, chosen by compress). A model without exits runs every layer: a warning "
        "says the option has no effect. The threshold in force is recorded with the results.",
    )


def run_command(action: Callable[[], T], *, interrupted: str = ABORTED) -> tuple[T | None, int]:
    """Run ``action``; returns ``(result, 0)``, or ``(None, exit code)`` after printing why it stopped.

    A :class:`LongBertError` prints ``error: ...`` and gives 2; Ctrl-C prints ``interrupted`` and
    gives 130, the shell's code for SIGINT.
    """
    try:
        return action(), 0
    except LongBertError as error:
        print(f"error: {error}", file=sys.stderr)
        return None, 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return None, 130


def run_job(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    job: Callable[[argparse.Namespace], Any],
    describe: Callable[[Any], str],
) -> int:
    """A training-like command: parse ``argv``, run ``job(args)`` (see :func:`run_command`), and
    print ``describe(result)``; 130 when the job reports ``status == "interrupted"`` (it saved its
    state to resume)."""
    args = parser.parse_args(argv)
    result, code = run_command(lambda: job(args))
    if result is None:
        return code
    if result.status == "interrupted":
        return 130
    print(describe(result))
    return 0
