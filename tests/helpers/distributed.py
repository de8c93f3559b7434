"""Run a rank script under ``torch.distributed.run`` with two CPU (gloo) processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def run_two_ranks(tmp_path: Path, rank_script: str, arguments: list[str]) -> list[dict[str, Any]]:
    """Run ``rank_script`` (dedented) as two ranks with ``tmp_path arguments...``, in a fresh store
    and models folder under ``tmp_path``; assert it succeeds and return what each rank wrote to
    ``tmp_path/rank<r>.json``."""
    script = tmp_path / "rank.py"
    script.write_text(textwrap.dedent(rank_script))
    env = {
        **os.environ,
        "LONGBERT_DB_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "LONGBERT_MODELS_DIR": str(tmp_path / "models"),
        "LONGBERT_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO_ROOT),
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += [str(script), str(tmp_path), *arguments]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
