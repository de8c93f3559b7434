"""Short Windows-1252 texts come back in Windows-1252: a Western word with an accent the letter-pair
table did not know ("naïve", "Brontë") once lost to a Baltic reading that happened to score
nothing ("naļve", "Brontė"), and all-caps words ("CAFÉ") to any reading without capitals.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from longbert.readers import read_bytes
from longbert.text import charsets
from longbert.text.charsets import choose, implausibility, language_pairs
from longbert.text.decoding import decode_text

WORDS = ["naïve", "Brontë", "Noël", "façade", "Zoë", "coöperate", "café", "résumé", "über"]
TEMPLATES = ["{}", "A {} plan.", "The {} was mentioned twice in the report.", "{}, {}."]
CAPITALS = ["NAÏVE", "BRONTË", "NOËL", "FAÇADE", "CAFÉ", "THE CAFÉ IS OPEN", "BRONTË SISTERS"]
#: The audit's files, as written on Western Windows machines.
AUDIT_TEXTS = [
    "The report mentions naïve investors twice. The naïve view lost money.",
    "A naïve plan.",
    "The review of Brontë novels was long. Brontë fans disagreed.",
    "The “markets” fell – prices rose € 5 – naïve investors.",
]


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_a_loanword_in_a_short_text_comes_back(word: str, template: str, encoding: str) -> None:
    text = template.format(word, word)
    assert decode_text(text.encode(encoding)) == text


@pytest.mark.parametrize("text", AUDIT_TEXTS)
def test_the_audit_files_come_back_through_the_reader(text: str) -> None:
    (item,) = read_bytes("legacy.txt", text.encode("cp1252"))
    assert item.document.text == text


@pytest.mark.parametrize("text", CAPITALS)
def test_words_in_capitals_come_back(text: str) -> None:
    assert decode_text(text.encode("cp1252")) == text


def test_the_loanword_pairs_are_in_the_table() -> None:
    pairs = language_pairs()
    assert {"ïv", "ë_"} <= pairs["french"] and "të" in pairs["english"] and "oö" in pairs["dutch"]
    assert implausibility("The naïve Brontë fans drank café at the façade.")[0] == 0.0
    # The built table is untouched: the hand-kept words add to it.
    assert {"_à", "œu"} <= pairs["french"] and "ļv" in pairs["latvian"]


@pytest.fixture
def without_loanword_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The pair table as it was before the loanwords: only the ranking can save "naïve"."""
    empty = tmp_path / "no_extra_words.txt"
    empty.write_text("")
    monkeypatch.setattr(charsets, "_EXTRA_WORDS_FILE", empty)
    language_pairs.cache_clear()
    yield
    monkeypatch.undo()
    language_pairs.cache_clear()


@pytest.mark.usefixtures("without_loanword_pairs")
def test_one_rare_pair_does_not_displace_cp1252_in_western_text() -> None:
    assert "ïv" not in language_pairs()["french"]
    for text in (
        "The report mentions naïve investors twice. The naïve view lost money.",
        "The review of Brontë novels was long and the fans of Brontë disagreed.",
        "Il est naïve, et les autres sont partis.",
    ):
        assert choose(text.encode("cp1252"), ["cp1252", "cp1257", "cp1250"]) == ("cp1252", text)
        assert decode_text(text.encode("cp1252")) == text


def test_baltic_and_central_european_short_texts_still_win() -> None:
    """The benefit of the doubt is for Western text only: one Latvian or Polish word among words
    that are not Western European function words is still read in its own code page."""
    for text, encoding in (
        ("Nav norādīts.", "cp1257"),
        ("Rindai ir bērni", "cp1257"),
        ("Usuń klucz", "cp1250"),
        ("Zażółć gęślą jaźń.", "cp1250"),
    ):
        assert decode_text(text.encode(encoding)) == text
