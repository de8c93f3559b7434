"""HTML pages: the main content (trafilatura) without navigation, cookie banner, sidebars and
footer, and the whole visible text (the BeautifulSoup reader) when no main text is found."""

from __future__ import annotations

import pytest

from longbert.readers import read_bytes
from longbert.readers.documents import FALLBACK_NOTE, MAIN_TEXT_NOTE

ARTICLE = [
    "Councillors in Port Avery voted on Tuesday to rebuild the town's ageing flood wall, after "
    "three winters in which the sea came over the promenade and into shops on Quay Street.",
    "The new wall will be a metre higher than the old one and is expected to cost about "
    "£14 million, most of it from a national coastal defence fund. Work is due to begin next "
    "spring and should take two years.",
    'Shop owners welcomed the decision. "We have lost stock every January since 2023," said '
    'Maria Okafor, who runs a bakery on the seafront. "This gives us a reason to stay."',
    "The vote passed by 31 to 6, with two abstentions.",
]

BOILERPLATE = [
    "We use cookies to improve your experience",
    "Accept all cookies",
    "Home",
    "Sport",
    "Weather",
    "Most read",
    "Celebrity chef opens pier restaurant",
    "Contact us",
    "Privacy policy",
    "All rights reserved",
]


def news_page(article_extra: str = "") -> bytes:
    """A realistic news page: cookie banner, header with navigation, article, aside, footer."""
    paragraphs = "\n".join(f"      <p>{p.replace('£', '&pound;')}</p>" for p in ARTICLE)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Harbour town votes to rebuild its flood wall - Coastal Herald</title>
  <script>window.dataLayer = [];</script>
  <style>.nav {{ display: flex; }}</style>
</head>
<body>
  <div id="cookie-banner" class="cookie-consent">
    <p>We use cookies to improve your experience. By continuing you accept our cookie policy.</p>
    <button>Accept all cookies</button>
  </div>
  <header class="site-header">
    <a href="/" class="logo">Coastal Herald</a>
    <nav class="main-nav">
      <ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
      <li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li></ul>
    </nav>
  </header>
  <main>
    <article>
      <h1>Harbour town votes to rebuild its flood wall</h1>
      <p class="byline">By Jane Marsh, local affairs reporter</p>
{paragraphs}
{article_extra}
    </article>
    <aside class="related">
      <h2>Most read</h2>
      <ul><li><a href="/a">Celebrity chef opens pier restaurant</a></li>
      <li><a href="/b">Ten best walks this autumn</a></li></ul>
    </aside>
  </main>
  <footer class="site-footer">
    <p>Home | News | Sport | Contact us | Privacy policy</p>
    <p>&copy; 2026 Coastal Herald Media Ltd. All rights reserved.</p>
  </footer>
</body>
</html>
""".encode()


def read_one(name: str, data: bytes):
    [item] = list(read_bytes(name, data))
    assert item.ok, item
    return item.document


def test_news_page_keeps_the_article_and_drops_the_boilerplate() -> None:
    document = read_one("flood-wall.html", news_page())
    text = document.text
    for paragraph in ARTICLE:
        assert paragraph in text
    assert "Harbour town votes to rebuild its flood wall" in text
    # The page title still opens the document, as with the whole-page reader.
    assert text.startswith("Harbour town votes to rebuild its flood wall - Coastal Herald\n\n")
    for boilerplate in BOILERPLATE:
        assert boilerplate not in text, boilerplate
    assert "Home | News | Sport" not in text and "dataLayer" not in text
    assert document.notes[0] == MAIN_TEXT_NOTE


def test_page_without_main_text_falls_back_to_all_visible_text() -> None:
    # A menu page: nothing but navigation links and a one-line footer. trafilatura finds no
    # article; the whole visible text is kept (better than an empty document) and noted.
    page = b"""<html><head><title>Site map</title></head><body>
    <nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
    <li><a href="/sport">Sport</a></li></ul></nav>
    <footer><p>Contact us</p></footer></body></html>"""
    document = read_one("sitemap.html", page)
    assert document.text == "Site map\n\nHome\nNews\nSport\n\nContact us"
    assert document.notes[0] == FALLBACK_NOTE
    assert "no main article found" in document.notes[0]


def test_short_page_is_read_whole_not_cut_to_one_paragraph() -> None:
    # trafilatura keeps only the paragraph here and drops the heading and list; under the
    # minimum main-text length the page is read whole.
    page = (
        b"<html><body><h1>Minutes</h1><p>Budget approved.</p>"
        b"<ul><li>Roads</li><li>Parks</li></ul></body></html>"
    )
    document = read_one("minutes.html", page)
    assert document.text == "Minutes\n\nBudget approved.\n\nRoads\nParks"
    assert document.notes[0] == FALLBACK_NOTE


def test_extractor_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    def broken(*args, **kwargs):
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(trafilatura, "extract", broken)
    document = read_one("flood-wall.html", news_page())
    assert ARTICLE[0] in document.text
    assert "Accept all cookies" in document.text  # the whole page, boilerplate included
    assert document.notes[0] == FALLBACK_NOTE


def test_markup_inside_the_article_is_stripped_and_escaped_text_kept_literal() -> None:
    extra = """      <p>The plan, <b>in bold</b>, is <a href="https://example.org/plan">online</a>
      <script>document.cookie = "stolen";</script> and says &lt;script&gt;alert(1)&lt;/script&gt;
      is not a flood barrier &amp; never was.</p>
      <table><tr><th>Year</th><th>Floods</th></tr><tr><td>2024</td><td>3</td></tr></table>"""
    document = read_one("flood-wall.html", news_page(extra))
    text = document.text
    assert document.notes[0] == MAIN_TEXT_NOTE
    assert "The plan, in bold, is online" in text
    # Text the page shows as markup stays as literal characters; real markup is gone.
    assert "says <script>alert(1)</script> is not a flood barrier & never was." in text
    for markup in ("<b>", "</b>", "<a ", "href", "stolen", "document.cookie", "&lt;", "&amp;", "<p>"):
        assert markup not in text, markup
    assert "Year Floods" in text and "2024 3" in text


def test_a_page_nested_beyond_any_real_one_is_read_without_a_parser() -> None:
    """Tree-building parsers are quadratic in nesting depth (50,000 nested <div>s took minutes):
    such markup is stripped linearly instead, the text and its entities intact, hidden parts out."""
    from longbert.readers.documents import DEEP_NESTING_NOTE, MAX_NESTING_DEPTH, read_html_page

    depth = 5 * MAX_NESTING_DEPTH
    page = (
        b"<html><head><title>Budget &amp; roads</title><script>steal()</script></head><body>"
        + b"<div>" * depth + b"The council approved the budget &lt;b&gt; today.<p>Second part."
        + b"</div>" * depth + b"</body></html>"
    )
    result = read_html_page(page)
    assert result.note == DEEP_NESTING_NOTE
    assert result.text == "Budget & roads\n\nThe council approved the budget <b> today.\nSecond part."


def test_unclosed_paragraphs_do_not_count_as_deep_nesting() -> None:
    from longbert.readers.documents import DEEP_NESTING_NOTE, MAX_NESTING_DEPTH, read_html_page

    page = b"<html><body>" + b"<p>A sentence of the article. " * (2 * MAX_NESTING_DEPTH) + b"</body></html>"
    assert read_html_page(page).note != DEEP_NESTING_NOTE
