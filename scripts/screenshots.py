"""Regenerate the README's screenshots (docs/screenshots/*.png).

Starts the app on a throwaway database and models folder, labels five short news items
written for this purpose (zero-shot, the packaged encoder, the app's default labels) on the
Batch label page, classifies one on the Classify page and opens History, taking a screenshot
of each in Debian's Chromium (Playwright drives it; nothing is downloaded)::

    .venv/bin/python scripts/screenshots.py            # writes docs/screenshots/
    .venv/bin/python scripts/screenshots.py --out /tmp/shots

Each PNG is reduced to a 256-colour palette when over MAX_BYTES so the repository stays small.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from app_server import running_app  # scripts/ is on the path when run as a script

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LONGBERT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1440, "height": 1000}
MAX_BYTES = 300_000
LABEL_SET = "News desk"

#: Five short news items written for the screenshots (no third-party text is shown).
DOCUMENTS = {
    "harbour-flood-wall.txt": (
        "Councillors in Port Avery voted on Tuesday to rebuild the town's flood wall after three "
        "winters in which the sea reached shops on Quay Street. The new wall will be a metre "
        "higher and cost about 14 million pounds, most of it from a national coastal defence "
        "fund. The vote in the council chamber passed by 31 to 6. The opposition group said the "
        "plan ignores homes further up the estuary and asked the minister to publish the flood "
        "modelling before the local election in May."
    ),
    "cup-final-report.txt": (
        "Avery Rovers won the county cup on Saturday, beating Millbrook Athletic 3-1 in front of "
        "a record crowd. Their captain scored twice in the first half, and the goalkeeper saved a "
        "penalty ten minutes from the end. The manager said the team had trained all season for "
        "a final like this one. Millbrook's coach praised his players and said the club would "
        "build on the cup run in next season's league."
    ),
    "bakery-chain-results.txt": (
        "Shares in the bakery chain Crumb & Co rose 8% after it reported annual profits of 42 "
        "million pounds, up from 30 million, on sales that grew in every region. The company "
        "will open 60 shops next year and raise its dividend. Analysts said lower flour prices "
        "and a new coffee range helped margins, but warned that wage costs and rents would "
        "squeeze the high street retailer's earnings if consumer spending slows."
    ),
    "chip-research-lab.txt": (
        "Researchers at the Northgate university laboratory have built a computer chip that "
        "runs language software on a tenth of the power used by today's processors. The team "
        "published the design and the software online, so other engineers can test it. The "
        "prototype stores the model's numbers inside the memory cells themselves, avoiding the "
        "energy spent moving data between memory and processor. A startup plans to sell it."
    ),
    "trade-talks.txt": (
        "Ministers from both countries met in Geneva for a third round of trade talks, hoping to "
        "cut tariffs on farm goods and cars before the summer. The government said progress had "
        "been made on customs rules, while the opposition in parliament demanded a vote on any "
        "final agreement. Exporters and the steel industry are watching closely: the tariffs "
        "have cost manufacturers an estimated 2 billion pounds a year."
    ),
}


def shrink(path: Path, max_bytes: int = MAX_BYTES) -> None:
    """Re-save ``path`` with a 256-colour palette when it is over ``max_bytes``."""
    from PIL import Image

    if path.stat().st_size <= max_bytes:
        return
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            path, optimize=True)


def prepare(db_url: str) -> None:
    """A saved label set (the app's default labels under a name) that every page starts with."""
    from longbert.store import Store
    from longbert.ui.models import DEFAULT_ZERO_SHOT_LABELS, parse_labels

    store = Store(db_url)
    try:
        store.save_label_set(LABEL_SET, parse_labels(DEFAULT_ZERO_SHOT_LABELS))
        store.set_setting("label_set", LABEL_SET)  # app_pages.widgets.LABEL_SET_SETTING
    finally:
        store.close()


def take(url: str, out: Path) -> list[Path]:
    """Drive the app in Chromium and save the screenshots; returns their paths."""
    from playwright.sync_api import expect, sync_playwright

    shots: list[Path] = []

    def shot(page, name: str) -> None:
        page.wait_for_timeout(1500)  # charts and grids finish painting their canvases
        path = out / name
        page.screenshot(path=path)
        shrink(path)
        shots.append(path)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        try:
            page.goto(url, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Classify a document")).to_be_visible(
                timeout=90_000)

            page.get_by_role("link", name="Batch label").click()
            expect(page.get_by_role("heading", name="Batch label")).to_be_visible(timeout=30_000)
            page.locator("input[type=file]").first.set_input_files([
                {"name": name, "mimeType": "text/plain", "buffer": text.encode()}
                for name, text in DOCUMENTS.items()
            ])
            start = page.get_by_role("button", name="Start labelling")
            expect(start).to_be_enabled(timeout=30_000)
            start.click()
            expect(page.get_by_text(f"Done: {len(DOCUMENTS)} documents")).to_be_visible(
                timeout=300_000)
            expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
            shot(page, "batch-label.png")

            page.get_by_role("link", name="Classify").click()
            expect(page.get_by_role("heading", name="Classify a document")).to_be_visible(
                timeout=30_000)
            page.get_by_label("Document text").fill(DOCUMENTS["harbour-flood-wall.txt"])
            page.get_by_role("button", name="Classify", exact=True).click()
            expect(page.get_by_text("and saved it to History")).to_be_visible(timeout=120_000)
            page.mouse.move(800, 500)
            page.mouse.wheel(0, 520)  # the result, not the text box, fills the picture
            shot(page, "classify.png")

            why = page.get_by_role("heading", name="Why this label")
            why.scroll_into_view_if_needed()
            page.get_by_role("button", name="Explain", exact=True).click()
            expect(page.get_by_text("Explained in")).to_be_visible(timeout=120_000)
            # The method switch at the top, the sentences for and against below it.
            page.get_by_text("Explained in").first.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.mouse.wheel(0, -40)
            shot(page, "why-this-label.png")

            page.get_by_role("link", name="History").click()
            expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=30_000)
            expect(page.get_by_text(f"{len(DOCUMENTS) + 1} predictions").first).to_be_visible(
                timeout=30_000)
            shot(page, "history.png")

            page.get_by_role("link", name="Review queue").click()
            expect(page.get_by_role("heading", name="Review queue")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("to go").first).to_be_visible(timeout=60_000)
            shot(page, "review-queue.png")
        finally:
            browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="longbert-shots-") as scratch:
        data = Path(scratch)
        sys.path.insert(0, str(ROOT))  # run as a script: the project is not on the path
        prepare(f"sqlite:///{data / 'shots.sqlite'}")
        with running_app(data, "shots.sqlite") as (url, _):
            for path in take(url, args.out):
                print(f"{path} ({path.stat().st_size / 1000:.0f} kB)")


if __name__ == "__main__":
    main()
