"""Start the Streamlit app on a free localhost port with its own database (the browser tests and
``scripts/screenshots.py`` share this)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Return when the server at ``url`` answers its health check; RuntimeError if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("streamlit did not become healthy in time")


@contextmanager
def running_app(data: Path, database: str, timeout: float = 120) -> Iterator[tuple[str, int]]:
    """``streamlit run app.py`` on a free localhost port, with the SQLite database ``data/database``
    and the models folder ``data/models`` (every other setting from .streamlit/config.toml, as
    ``scripts/run_app.sh`` starts it); yields ``(url, pid)`` once healthy and stops it after. Its
    output goes to ``data/streamlit.log``."""
    port = free_port()
    env = {**os.environ, "LONGBERT_DB_URL": f"sqlite:///{data / database}",
           "LONGBERT_MODELS_DIR": str(data / "models")}
    env.pop("LONGBERT_SPOOL_DIR", None)
    url = f"http://127.0.0.1:{port}"
    with (data / "streamlit.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(url, process, timeout)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
