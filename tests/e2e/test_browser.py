"""End to end in a real headless browser: open the app, batch-label two uploaded files, see the
results table, open History. Screenshots go to tests/artifacts/ (git-ignored).

Needs Debian's ``chromium`` and the ``playwright`` wheel (requirements-dev.txt); the browser
Playwright would download cannot be fetched here, so the system one is launched by path.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("LONGBERT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

SPORT = (
    "The goalkeeper saved a penalty in the second half. The club won the league title on the "
    "last day of the season. Their striker scored twice and was named player of the match. "
) * 25
POLITICS = (
    "Parliament passed the budget law after a long debate. The government and the opposition "
    "argued over taxes and the election campaign. The minister resigned after the vote. "
) * 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app.py`` on a free localhost port, a fresh database, no models."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/setup.sh dev (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: "
                        "pip install -r requirements-dev.txt")
    data = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {**os.environ, "LONGBERT_DB_URL": f"sqlite:///{data / 'e2e.sqlite'}",
           "LONGBERT_MODELS_DIR": str(data / "models")}
    env.pop("LONGBERT_SPOOL_DIR", None)
    log = (data / "streamlit.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.headless", "true", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(data / "streamlit.log", ARTIFACTS / "streamlit.log")


def test_page_url_opened_first_gets_app_navigation(server: str) -> None:
    """The first visit to a fresh server opens ``/history`` directly (a bookmark): Streamlit's
    legacy ``pages/`` folder navigation must not take over (pages.shared.ensure_app_navigation).
    Must stay the first test of this module: the server fixture is shared."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        try:
            page.goto(f"{server}/history", wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=60_000)
            nav = page.get_by_test_id("stSidebarNav")
            expect(nav.get_by_text("Review")).to_be_visible(timeout=30_000)  # app.py's sections
            expect(nav.get_by_role("link", name="Batch label")).to_be_visible()
            expect(nav.get_by_text("shared", exact=True)).to_have_count(0)  # not the folder list
            # app.py's wide layout: the main column uses most of the 1440 px window.
            box = page.get_by_test_id("stMainBlockContainer").bounding_box()
            assert box is not None and box["width"] > 1000, box
        finally:
            browser.close()


def test_batch_label_two_files_then_history(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        try:
            page.goto(server, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Classify a document")).to_be_visible(
                timeout=60_000)
            expect(page.get_by_text("Zero-shot").first).to_be_visible()
            expect(page.get_by_role("button", name="Classify")).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1000)  # widgets finish painting
            page.screenshot(path=ARTIFACTS / "01-classify.png")

            page.get_by_role("link", name="Batch label").click()
            expect(page.get_by_role("heading", name="Batch label")).to_be_visible(timeout=30_000)
            page.locator("input[type=file]").first.set_input_files([
                {"name": "match-report.txt", "mimeType": "text/plain", "buffer": SPORT.encode()},
                {"name": "budget-vote.txt", "mimeType": "text/plain",
                 "buffer": POLITICS.encode()},
            ])
            expect(page.get_by_text("budget-vote.txt").first).to_be_visible(timeout=30_000)
            start = page.get_by_role("button", name="Start labelling")
            expect(start).to_be_enabled(timeout=30_000)
            started = time.monotonic()
            start.click()
            expect(page.get_by_text("Done: 2 documents")).to_be_visible(timeout=180_000)
            seconds = time.monotonic() - started
            expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
            grid = page.locator("[data-testid='stDataFrame']").first
            expect(grid).to_be_visible()
            page.wait_for_timeout(1500)  # let the grid paint its canvas before the screenshot
            page.screenshot(path=ARTIFACTS / "02-batch-results.png")
            (ARTIFACTS / "timings.txt").write_text(f"batch of 2 files: {seconds:.1f} s\n")

            page.get_by_role("link", name="History").click()
            expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("2 predictions")).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=ARTIFACTS / "03-history.png")

            page.get_by_role("combobox", name="Open a prediction").click()
            page.get_by_role("option", name=re.compile("budget-vote")).click()
            expect(page.get_by_role("heading", name=re.compile("Prediction #.*budget-vote"))
                   ).to_be_visible(timeout=30_000)
            expect(page.get_by_text("What the model saw")).to_be_visible()
            # Streamlit scrolls inside its own container: a tall window shows the whole view.
            page.set_viewport_size({"width": 1440, "height": 3000})
            page.wait_for_timeout(2000)
            page.screenshot(path=ARTIFACTS / "04-history-prediction.png")
        except Exception:
            page.screenshot(path=ARTIFACTS / "failure.png")
            raise
        finally:
            browser.close()
