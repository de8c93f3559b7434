"""One run at a time per output: the same command started twice (two terminals, an overlapping
cron job) had both runs succeed, rows duplicated, one run truncating the other's ledger and two
store batches. Now the second run is refused at once (exit status 2, before its model loads),
naming the process that writes the output; the lock goes with its holder however it ends, and
a lock file left behind by a killed run blocks nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk.output_lock import lock_output
from longbert.bulk.outputs import OutputError, lock_path, state_path, written_files
from longbert.predict import main
from longbert.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _args(model: Path, inputs: Path, out: Path, *extra: str) -> list[str]:
    return ["--model", str(model), "--input", str(inputs), "--output", str(out), "--quiet", *extra]


@pytest.mark.parametrize("store", [True, False])
def test_a_second_run_on_the_same_output_is_refused_at_once(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    store: bool,
) -> None:
    (env / "a.txt").write_text("Markets fell as rates rose.")
    out = env / "out" / "labels.jsonl"
    args = _args(checkpoint, env / "a.txt", out, *([] if store else ["--no-store"]))
    with lock_output(out):  # another run (this process, on its own open file: flock says busy)
        assert lock_path(out).read_text().strip() == str(os.getpid())
        capsys.readouterr()
        assert main(args) == 2
        message = capsys.readouterr().err
        assert f"another run is writing {out} (pid {os.getpid()})" in message
        assert not out.exists() and not state_path(out).exists()  # nothing written, nothing claimed
    if store:
        assert Store().list_batches() == []  # no second batch
    assert main(args) == 0  # the lock went with its holder
    assert not lock_path(out).exists()  # and the run took its lock file away
    assert len(out.read_text().splitlines()) == 1


def test_a_lock_file_left_by_a_killed_run_blocks_nothing(env: Path, checkpoint: Path) -> None:  # noqa: F811
    (env / "a.txt").write_text("Markets fell as rates rose.")
    out = env / "labels.jsonl"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from longbert.bulk.output_lock import lock_output
                with lock_output(Path({str(out)!r})):
                    print("locked", flush=True)
                    time.sleep(600)
                """
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        busy = rf"another run is writing .* \(pid {holder.pid}\)"
        with pytest.raises(OutputError, match=busy), lock_output(out):
            pass
    finally:
        holder.kill()  # SIGKILL: no clean-up runs
        holder.wait()
    assert lock_path(out).read_text().strip() == str(holder.pid)  # left behind, stale
    started = time.monotonic()
    assert main(_args(checkpoint, env / "a.txt", out)) == 0
    assert time.monotonic() - started < 120
    assert not lock_path(out).exists()


def test_the_lock_is_let_go_when_the_run_fails(env: Path) -> None:  # noqa: F811
    out = env / "labels.csv"
    code = main(["--model", str(env / "no-such-model"), "--input", str(env), "--output", str(out)])
    assert code == 2  # the model cannot load: refused after the lock was taken
    with lock_output(out):
        pass
    with pytest.raises(RuntimeError), lock_output(out):
        raise RuntimeError("the run failed")
    with lock_output(out):
        pass


def test_the_lock_file_is_never_read_as_an_input(env: Path) -> None:  # noqa: F811
    out = env / "corpus" / "labels.csv"
    assert lock_path(out) in written_files(out)  # the walk of an input folder leaves it out
