"""Whether a text reads as Western European, from its unaccented words alone.

:func:`~longbert.text.charsets.choose` gives the default code page (cp1252) the benefit of the
doubt on such text: one unusual letter pair in one accented word ("naïve" before the pair table
knew "ïv") must not hand an English sentence to a Baltic code page ("naļve"). The unaccented
words decode the same in every candidate code page, so they are evidence no candidate can fake.
"""

from __future__ import annotations

import re

#: Function words of English, French, German, Spanish, Italian, Portuguese and Dutch, less those
#: that are words of languages written in other code pages too ("to", "on" and "do" are
#: Polish, "a" Czech, "un" and "es" Latvian, "pas" and "per" Lithuanian, "et" Estonian, "van"
#: and "le" Hungarian, "de" and "da" Romanian and Turkish).
_WORDS = """
    the of and for that with from this are was were which have has had not but his her their
    they you will would been about more after than into its by at is it an or
    les des est une dans pour qui que avec sur sont du au aux il elle nous vous ils
    der die das und ist nicht mit dem ein eine auf sich auch wird werden zu
    el los las del por una con para como muy
    di che della non sono gli
    os um uma com dos das
    het een niet op voor zijn wordt
"""
WESTERN_WORDS = frozenset(_WORDS.split())
#: Words of ASCII letters only, not part of a word with accents ("na" in "naïve" is not one).
_ASCII_WORD_RE = re.compile(r"(?<![^\W\d_])[A-Za-z]+(?![^\W\d_])")
#: Characters looked at: enough to tell, cheap on a book.
_SAMPLE_CHARS = 20_000


def looks_western(text: str) -> bool:
    """Whether Western European function words ("the", "und", "les") make up a fifth of
    ``text``'s unaccented words at least."""
    words = [word.casefold() for word in _ASCII_WORD_RE.findall(text[:_SAMPLE_CHARS])]
    known = sum(1 for word in words if word in WESTERN_WORDS)
    return known > 0 and known * 5 >= len(words)
