"""End to end in a real headless browser: open the app, batch-label two uploaded files, see the
results table, open History and read the predicted label off the page (checked against the
library's own prediction), and check the idle server does not burn CPU. Screenshots go to
tests/artifacts/ (git-ignored).

Needs Debian's ``chromium`` and the ``playwright`` wheel (requirements-dev.txt); the browser
Playwright would download cannot be fetched here, so the system one is launched by path.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from longbert.results import Prediction
from scripts.app_server import running_app

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


#: The streamlit server's process id (set by the ``server`` fixture).
SERVER_PID: dict[str, int] = {}
#: How long the idle server is watched.
IDLE_SECONDS = 6.0


def library_prediction(text: str, name: str) -> Prediction:
    """What the library predicts for ``text`` with the app's defaults (zero-shot with the
    default labels, the model's own strategy), computed here, outside the app."""
    from longbert.document import Document
    from longbert.ui.models import DEFAULT_ZERO_SHOT_LABELS, ZERO_SHOT_KEY, parse_labels
    from longbert.ui.service import classify, load_model

    model = load_model(ZERO_SHOT_KEY, parse_labels(DEFAULT_ZERO_SHOT_LABELS), device="cpu")
    (result,) = classify(model, [Document(text=text, name=name, source="batch")])
    assert isinstance(result, Prediction), result
    return result


def idle_cpu_seconds(pid: int, seconds: float) -> float:
    """CPU time (user + system, all threads) process ``pid`` uses in the next ``seconds``."""

    def used() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before = used()
    time.sleep(seconds)
    return used() - before


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app.py`` on a free localhost port, a fresh database, no models; every
    other setting from .streamlit/config.toml, as ``scripts/run_app.sh`` starts it."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/setup.sh dev (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: "
                        "pip install -r requirements-dev.txt")
    data = tmp_path_factory.mktemp("e2e")
    try:
        with running_app(data, "e2e.sqlite", timeout=90) as (url, pid):
            SERVER_PID["pid"] = pid
            yield url
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(data / "streamlit.log", ARTIFACTS / "streamlit.log")

def test_page_url_opened_first_gets_app_navigation(server: str) -> None:
    """The first visit to a fresh server opens ``/history`` directly (a bookmark): app.py's
    ``st.navigation`` lays it out, and the helper modules beside the pages are not listed as
    pages. Must stay the first test of this module: the server fixture is shared."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        try:
            page.goto(f"{server}/history", wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=60_000)
            nav = page.get_by_test_id("stSidebarNav")
            expect(nav.get_by_text("Review", exact=True)).to_be_visible(timeout=30_000)  # a section
            expect(nav.get_by_role("link", name="Batch label")).to_be_visible()
            for helper in ("resources", "widgets", "views", "shared"):  # not a folder listing
                expect(nav.get_by_text(helper, exact=True)).to_have_count(0)
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
            # The label on screen is the library's prediction for the same text.
            shown = page.get_by_test_id("stMetricValue").first.inner_text().strip()
            probability = page.get_by_test_id("stMetricDelta").first.inner_text()
            expected = library_prediction(POLITICS, "budget-vote.txt")
            assert shown == expected.label, (shown, expected.label)
            percent = float(re.search(r"([\d.]+)%", probability).group(1))  # type: ignore[union-attr]
            assert abs(percent / 100 - expected.probabilities[expected.label]) < 0.002, probability
            # Streamlit scrolls inside its own container: a tall window shows the whole view.
            page.set_viewport_size({"width": 1440, "height": 3000})
            page.wait_for_timeout(2000)
            page.screenshot(path=ARTIFACTS / "04-history-prediction.png")
            # Idle with the page open: no file watcher, no polling, (almost) no CPU.
            page.wait_for_timeout(2000)
            seconds = idle_cpu_seconds(SERVER_PID["pid"], IDLE_SECONDS)
            with (ARTIFACTS / "timings.txt").open("a") as timings:
                timings.write(f"idle server: {seconds:.2f} s CPU in {IDLE_SECONDS:.0f} s\n")
            assert seconds < 0.15 * IDLE_SECONDS, f"the idle server used {seconds:.2f} s of CPU"
        except Exception:
            page.screenshot(path=ARTIFACTS / "failure.png")
            raise
        finally:
            browser.close()
