"""Time to first result in the browser: paste a long document on the Classify page, click
Classify, wait until the result is on screen.

    python bench/bench_app.py                     # 5,000 words, zero-shot (a fresh database)
    python bench/bench_app.py --words 10000 --repeats 3

Starts ``streamlit run app.py`` on a free localhost port with a fresh database and no trained
model (what a first start sees), drives Debian's chromium with Playwright, and prints the seconds
from the click to the label on screen: the first click (includes loading the encoder) and the
next ones (model cached by ``st.cache_resource``), then the CPU the idle server uses. The
document is made of hyperpartisan articles from ../shared/data, joined until it has the wanted
number of words.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PROJECT_ROOT, hyperpartisan

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "e2e"))
from test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_healthy, idle_cpu_seconds


def long_document(words: int) -> str:
    """Hyperpartisan articles, longest first, joined and cut at ``words`` words."""
    rows = sorted(hyperpartisan("official_train"), key=lambda r: -len(r["text"]))
    out: list[str] = []
    for row in rows:
        out.extend(row["text"].split())
        if len(out) >= words:
            break
    return " ".join(out[:words])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2, help="Clicks (the first one loads the model).")
    parser.add_argument("--timeout", type=float, default=600, help="Seconds to wait for one result.")
    parser.add_argument("--idle", type=float, default=10, help="Seconds the idle server is watched.")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    text = long_document(args.words)
    data = Path(tempfile.mkdtemp(prefix="bench-app-"))
    port = _free_port()
    env = {
        **os.environ,
        "LONGBERT_DB_URL": f"sqlite:///{data / 'app.sqlite'}",
        "LONGBERT_MODELS_DIR": str(data / "models"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(PROJECT_ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
        ],  # every other setting from .streamlit/config.toml, as scripts/run_app.sh starts it
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            expect(page.get_by_role("button", name="Classify")).to_be_visible(timeout=60_000)
            page.get_by_label("Document text").fill(text)
            page.keyboard.press("Control+Enter")  # commit the text area before clicking
            page.wait_for_timeout(1000)
            print(f"document: {args.words:,} words, {len(text):,} characters; strategy: the page's default")
            for attempt in range(1, args.repeats + 1):
                started = time.perf_counter()
                page.get_by_role("button", name="Classify").click()
                # Streamlit marks its root with the script's state: wait for the rerun to end.
                app = page.locator("[data-testid=stApp]")
                expect(app).to_have_attribute("data-test-script-state", "running", timeout=30_000)
                expect(app).to_have_attribute(
                    "data-test-script-state", "notRunning", timeout=args.timeout * 1000
                )
                expect(page.get_by_text("tokens used").first).to_be_visible()
                seconds = time.perf_counter() - started
                label = "first click (loads the encoder)" if attempt == 1 else "next click (model cached)"
                print(f"  {label}: {seconds:.1f} s to the result on screen", flush=True)
            page.wait_for_timeout(2000)
            idle = idle_cpu_seconds(server.pid, args.idle)
            print(f"  idle with the page open: {idle:.2f} s of CPU in {args.idle:.0f} s "
                  f"({idle / args.idle:.1%} of a core)")
            page.screenshot(path=str(data / "result.png"), full_page=True)
            print(f"screenshot: {data / 'result.png'}")
            browser.close()
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
