"""Which legacy code page a file was written in: decode with each candidate, keep the most plausible text.

charset-normalizer ranks code pages by a chaos ("mess") measure and a language fit, and on Western
European prose it often ranks a code page first that turns the text into mojibake: French
"naïve, déjà" in Latin-1 becomes "naļve, déją" in cp1257 (Baltic), Swedish "är, går" becomes
CJK characters in GBK. Both readings are valid byte-wise and "clean" by its measure. What gives
them away is how the *non-ASCII* characters sit in the decoded text; a person sees it at once:

- letters no single language writes together (``é`` and ``ļ`` and ``ą`` in one French text),
- symbols wedged inside words (``sj¶n``, ``Za¿ó³æ``), case flipping inside a word (``pЕРВЫЙ``),
- scripts mixed inside a word (``naпve``, ``g枓``), CJK characters standing alone amid Latin
  text, long runs of accented Latin letters (``ÖÐÎÄ`` is GBK read as cp1252),
- control characters and undefined code points.

:func:`implausibility` counts these per non-ASCII character; :func:`choose` decodes the bytes
with charset-normalizer's candidates plus the common Windows code pages and keeps the reading
with the fewest, leaving near-ties to charset-normalizer's own order. (Browsers take the same
stance: the WHATWG default for unlabelled Western pages is windows-1252, and Firefox's chardetng
scores each single-byte candidate by how plausible its letters are.)
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from longbert.text.western import looks_western

#: The non-ASCII letters each language writes (lower case). Letters outside the best one or two
#: languages of a text are what a wrong code page produces.
LANGUAGE_LETTERS: dict[str, str] = {
    "french": "àâæçéèêëîïôœùûüÿ",
    "german": "äöüß",
    "spanish": "áéíñóúü",
    "portuguese": "áâãàçéêíóôõú",
    "italian": "àèéìíîòóùú",
    "catalan": "àçèéíïòóúü",
    "dutch": "áéèëïóöü",
    "danish": "æøåé",
    "norwegian": "æøåéèóô",
    "swedish": "åäöé",
    "finnish": "äöåšž",
    "icelandic": "áðéíóúýþæö",
    "polish": "ąćęłńóśźż",
    "czech": "áčďéěíňóřšťúůýž",
    "slovak": "áäčďéíĺľňóôŕšťúýž",
    "slovene": "čšž",
    "croatian": "čćđšž",
    "hungarian": "áéíóöőúüű",
    "romanian": "ăâîșțşţ",
    "turkish": "çğıöşüâîûİ",
    "lithuanian": "ąčęėįšųūž",
    "latvian": "āčēģīķļņšūž",
    "estonian": "äöõüšž",
}
_LANGUAGE_SETS = {name: frozenset(letters) for name, letters in LANGUAGE_LETTERS.items()}

#: Windows code pages tried on every legacy file, besides charset-normalizer's candidates.
#: cp1252 first: it is the WHATWG fallback for unlabelled text in most of the world.
COMMON_CODE_PAGES = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1257", "iso8859_2", "koi8_r")

#: Code pages nobody writes prose in any more, whose readings of Western bytes look clean enough
#: to fool a scorer ("Jungfru—arna" in hp_roman8): never chosen.
RARE_CODE_PAGES = frozenset(
    {
        "hp_roman8", "cp1006", "cp1125", "kz1048", "ptcp154", "cp856", "cp037", "cp273", "cp424",
        "cp500", "cp875", "cp1026", "cp1140", "mac_iceland", "mac_turkish", "mac_croatian",
        "mac_romanian", "mac_farsi", "mac_arabic", "cp720", "cp864", "cp869", "cp737", "cp775",
        "cp1258",  # Vietnamese composes with combining accents: "così" becomes "cos\u0301"
    }
)

#: Non-ASCII punctuation that does sit between letters in real text (apostrophes, hyphens,
#: the Catalan middle dot).
_JOINERS = frozenset("’‘´`·‐‑–—\xad")
#: Scripts told apart for mixing checks; CJK ideographs, kana and Hangul count as one ("cjk").
_SCRIPT_PREFIXES = (
    ("LATIN", "latin"),
    ("GREEK", "greek"),
    ("COPTIC", "greek"),
    ("CYRILLIC", "cyrillic"),
    ("ARMENIAN", "armenian"),
    ("HEBREW", "hebrew"),
    ("ARABIC", "arabic"),
    ("THAI", "thai"),
    ("DEVANAGARI", "devanagari"),
    ("CJK", "cjk"),
    ("HIRAGANA", "cjk"),
    ("KATAKANA", "cjk"),
    ("HANGUL", "cjk"),
    ("HALFWIDTH", "cjk"),
    ("FULLWIDTH", "cjk"),
    ("BOPOMOFO", "cjk"),
)
#: Whitespace-separated tokens holding at least one non-ASCII character: all that is scored.
_TOKEN_RE = re.compile(r"\S*[^\x00-\x7f\s]\S*")
#: Words inside a token, for letter pairs.
_WORD_RE = re.compile(r"[^\W\d_]+")
#: Tokens scored per candidate (spread over the text); enough to tell, cheap on a book.
MAX_TOKENS = 4000

# Weights of each kind of evidence, per occurrence.
_W_INVALID = 10.0  # control character, undefined or private-use code point, U+FFFD
_W_SYMBOL_IN_WORD = 3.0  # "sj¶n"
_W_SYMBOL_OPENS_WORD = 2.0  # "³añcuch"
_W_SYMBOL_ENDS_WORD = 1.0  # "kropk¹"
_W_HALFWIDTH = 1.0  # halfwidth katakana: rare in modern text, "ｫｻ" is «» read as cp932
_W_SCRIPT_MIX = 3.0  # "naпve", "g枓"
_W_CASE_FLIP = 2.0  # "pЕРВЫЙ", "ÄnDERUNG"
_W_LONE_CJK = 2.0  # "Det 雷 en"
_W_INNER_CAPITAL = 0.3  # an accented or non-Latin capital inside a word: "ЧЩЪПЧ" (KOI8-R read as cp1251)
_W_AFTER_DIGIT = 1.0  # "5ş" ("5º" read as cp1254); the ordinals ª º are made for it
_W_RARE_HAN = 0.5  # a Han character outside the common sets of GB2312, JIS X 0208 and Big5
_W_LATIN_RUN = 1.0  # each accented letter past the second in a row: "ÖÐÎÄ"
_W_NO_LANGUAGE_LETTER = 2.0  # an accented letter no language of the table writes
_W_RARE_PAIR = 1.0  # a letter pair ("aè") no language of the table writes
#: Letters or letter pairs written only by the text's 1st, 2nd, 3rd... best-fitting language.
_GRADES = (0.0, 0.25, 0.5, 0.5, 0.5, 0.5)

_PAIRS_FILE = Path(__file__).with_name("letter_pairs.txt")
_EXTRA_WORDS_FILE = Path(__file__).with_name("letter_pairs_extra.txt")


def script_of(ch: str) -> str:
    """A coarse script name for a letter (``"latin"``, ``"cyrillic"``, ``"cjk"``...)."""
    if ch.isascii():
        return "latin"
    name = unicodedata.name(ch, "")
    for prefix, script in _SCRIPT_PREFIXES:
        if name.startswith(prefix):
            return script
    return "other"


def implausibility(text: str) -> tuple[float, int]:
    """How implausible ``text``'s non-ASCII characters are: (penalty per non-ASCII character, count).

    0 is text in which every accented letter, symbol and script sits as in real writing.
    Pure ASCII text scores (0.0, 0): it carries no evidence either way.
    """
    penalty, non_ascii = _penalty(_sample_tokens(text))
    if non_ascii == 0:
        return 0.0, 0
    return penalty / non_ascii, non_ascii


def _penalty(tokens: Iterable[str]) -> tuple[float, int]:
    """Total penalty of ``tokens`` and how many non-ASCII characters they hold."""
    penalty = 0.0
    non_ascii = 0
    latin_letters: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for token in tokens:
        penalty += _token_penalty(token, latin_letters)
        non_ascii += sum(1 for ch in token if not ch.isascii())
        _count_pairs(token, pairs)
    penalty += _alphabet_penalty(latin_letters) + _pair_penalty(pairs)
    return penalty, non_ascii


def _distinct_penalty(text: str) -> float:
    """The total penalty of ``text``'s distinct words: evidence of a code page, which a word
    repeated ("naïve ... naïve", "Naïve") does not add to."""
    words = {token.strip(_EDGE_PUNCTUATION).casefold(): token for token in reversed(_sample_tokens(text))}
    return _penalty(words.values())[0]


def choose(data: bytes, candidates: Sequence[str]) -> tuple[str, str] | None:
    """The most plausible decoding of ``data`` among ``candidates`` (in order of preference).

    Returns ``(encoding, text)``, or ``None`` when no candidate decodes the bytes. A later
    candidate replaces an earlier one only when it is clearly more plausible (by more than a
    small margin), so near-ties keep the caller's order. The first candidate (the default
    reading: cp1252 for the decoder) is displaced only by a reading clearly better per character;
    when its unaccented words are Western European ones (:func:`~longbert.text.western.looks_western`),
    also by more than one rare letter pair over its distinct words (:data:`_FIRST_MIN_EVIDENCE`):
    an English sentence with one accented word the pair table lacks ("naïve" before it had "ïv")
    scores a rare pair in cp1252, while a Baltic reading ("naļve") may happen to score nothing.
    """
    best: tuple[float, str, str] | None = None
    seen: set[str] = set()
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if text in seen:
            continue
        seen.add(text)
        score, _ = implausibility(text)
        if best is None:
            better = True
        elif best[1] == candidates[0]:
            better = score <= best[0] - _FIRST_MARGIN + _ROUNDING and (
                not looks_western(best[2])
                or _distinct_penalty(text) < _distinct_penalty(best[2]) - _FIRST_MIN_EVIDENCE
            )
        else:
            better = score <= best[0] - _MARGIN + _ROUNDING
        if better:
            best = (score, encoding, text)
            if score == 0.0:
                break
    return None if best is None else (best[1], best[2])


#: How much less implausible a later candidate must be to replace an earlier one, and to
#: replace the first (the default reading, cp1252 for the decoder: a short text in another
#: code page has to look clearly better to displace it).
_MARGIN = 0.02
_FIRST_MARGIN = 0.15
#: Slack for float rounding in those comparisons (0.21 - 0.15 is 0.06 when scores are compared).
_ROUNDING = 1e-9
#: And by how much less penalty in all to replace the first: more than one rare letter pair's
#: worth, so one unusual pair in one word never decides the code page of a Western text.
_FIRST_MIN_EVIDENCE = _W_RARE_PAIR + 0.01
#: Punctuation stripped from a token's ends to tell its word ("naïve," is "naïve").
_EDGE_PUNCTUATION = ".,;:!?()[]{}\"'«»“”‘’„‚<>"


def _sample_tokens(text: str) -> list[str]:
    tokens = [m.group(0) for m in itertools.islice(_TOKEN_RE.finditer(text), MAX_TOKENS)]
    if len(tokens) == MAX_TOKENS and len(text) > 200_000:
        # A long text: add tokens from its end, so a late change of language or of quoting
        # style is seen too.
        tail = text[-100_000:]
        tokens += [m.group(0) for m in itertools.islice(_TOKEN_RE.finditer(tail), MAX_TOKENS // 4)]
    return tokens


def _token_penalty(token: str, latin_letters: Counter[str]) -> float:
    penalty = 0.0
    latin_run = 0
    cjk_run = 0
    previous = ""
    capitals = token.isupper()
    for index, ch in enumerate(token):
        code = ord(ch)
        category = unicodedata.category(ch)
        if code < 128:
            letter = ch.isalpha()
        else:
            if (category in ("Cc", "Cf", "Co", "Cn", "Cs") and ch != "\xad") or ch == "\ufffd":
                penalty += _W_INVALID
            elif 0xFF61 <= code <= 0xFF9F:
                penalty += _W_HALFWIDTH
            letter = category.startswith("L")
        if letter:
            script = script_of(ch)
            if previous and previous.isalpha() and (code >= 128 or not previous.isascii()):
                if script_of(previous) != script:
                    penalty += _W_SCRIPT_MIX
                elif previous.islower() and ch.isupper():
                    penalty += _W_CASE_FLIP
            if code >= 128 and script == "latin":
                latin_letters[_fold(ch)] += 1
                latin_run += 1
                if latin_run > 2:
                    penalty += _W_LATIN_RUN
            else:
                latin_run = 0
            if code >= 128 and ch.isupper() and previous.isalpha() and not (script == "latin" and capitals):
                penalty += _W_INNER_CAPITAL  # but "CAFÉ", "BRONTË": Latin words in capitals
            if code >= 128 and previous.isdigit() and ch not in "ªº":
                penalty += _W_AFTER_DIGIT
            if script == "cjk":
                cjk_run += 1
                if _is_rare_han(ch):
                    penalty += _W_RARE_HAN
            else:
                if cjk_run == 1:
                    penalty += _W_LONE_CJK
                cjk_run = 0
        else:
            latin_run = 0
            if cjk_run == 1:
                penalty += _W_LONE_CJK
            cjk_run = 0
            if category.startswith("M"):
                if previous.isalpha() and script_of(ch) not in ("other", script_of(previous)):
                    penalty += _W_SCRIPT_MIX  # a Hebrew point on a Latin letter: "ENTRֹE"
            elif code >= 128 and ch not in _JOINERS:
                penalty += _stray_symbol(token, index, previous)
        previous = ch
    if cjk_run == 1 and len(token) > 1:
        penalty += _W_LONE_CJK
    elif cjk_run == 1 and len(token) == 1:
        penalty += _W_LONE_CJK / 2  # one CJK character alone between spaces
    return penalty


def _stray_symbol(token: str, index: int, previous: str) -> float:
    """A non-ASCII symbol, digit or mark stuck to letters: inside a word ("sj¶n", "Fortf³hrung"),
    or opening one without being an opening quote or ¿¡ ("³añcuch")."""
    following = token[index + 1] if index + 1 < len(token) else ""
    ch = token[index]
    if not following.isalpha():
        # A sign or symbol closing a word ("kropk¹", "ustawie±"); units such as "m²" pay too,
        # but every reading of such bytes does.
        if previous.isalpha() and unicodedata.category(ch)[0] in "SN":
            return _W_SYMBOL_ENDS_WORD
        return 0.0
    if previous.isalpha():
        return _W_SYMBOL_IN_WORD
    if unicodedata.category(ch) in ("Ps", "Pi", "Pf") or ch in "¿¡«»„‚":
        return 0.0
    return _W_SYMBOL_OPENS_WORD


@functools.lru_cache(maxsize=65536)
def _is_rare_han(ch: str) -> bool:
    """A CJK ideograph outside the everyday sets (GB2312 level 1, JIS X 0208 level 1, Big5's
    frequent block): readings of non-CJK bytes as GBK or Big5 are full of them."""
    if not "\u4e00" <= ch <= "\u9fff":
        return False
    for codec, low, high in (("gb2312", 0xB0, 0xD7), ("shift_jis", 0x88, 0x9F), ("big5", 0xA4, 0xC6)):
        try:
            lead = ch.encode(codec)[0]
        except UnicodeEncodeError:
            continue
        if low <= lead <= high:
            return False
    return True


def _fold(ch: str) -> str:
    lower = ch.lower()
    return lower if len(lower) == 1 else ch


def _alphabet_penalty(letters: Counter[str]) -> float:
    """Accented Latin letters by how many languages it takes to write them (see :func:`_graded_cover`)."""
    return _graded_cover(letters, _LANGUAGE_SETS, _W_NO_LANGUAGE_LETTER)


def _graded_cover(counts: Counter[str], languages: dict[str, frozenset[str]], uncovered: float) -> float:
    """Cover ``counts`` (letters or letter pairs) greedily with languages, best-fitting first:
    free for the first language, :data:`_GRADES` for each further one (a text may mix a few
    languages, mojibake mixes many), ``uncovered`` for what no language writes."""
    remaining = dict(counts)
    penalty = 0.0
    for grade in _GRADES:
        if not remaining:
            break
        gains = {
            name: sum(n for key, n in remaining.items() if key in known) for name, known in languages.items()
        }
        name = max(gains, key=gains.__getitem__)
        gain = gains[name]
        if gain == 0:
            break
        penalty += grade * gain
        known = languages[name]
        remaining = {key: n for key, n in remaining.items() if key not in known}
    return penalty + uncovered * sum(remaining.values())


@functools.cache
def language_pairs() -> dict[str, frozenset[str]]:
    """Letter pairs each language writes: ``letter_pairs.txt`` (built from message catalogues by
    scripts/build_letter_pairs.py) plus the pairs of the words in ``letter_pairs_extra.txt``
    (kept by hand: loanwords and names the catalogues lack, such as "naïve" and "Brontë")."""
    table: dict[str, set[str]] = {}
    for line in _PAIRS_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            language, *pairs = line.split()
            table.setdefault(language, set()).update(pairs)
    for line in _EXTRA_WORDS_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            language, *words = line.split()
            extra: Counter[str] = Counter()
            for word in words:
                _count_pairs(word, extra)
            table.setdefault(language, set()).update(extra)
    return {language: frozenset(pairs) for language, pairs in table.items()}


def _count_pairs(token: str, pairs: Counter[str]) -> None:
    """Letter pairs of a token's words holding a non-ASCII letter (``_`` = word boundary); CJK
    text has no letter pairs to speak of and is left out."""
    for word in _WORD_RE.findall(token.lower()):
        if word.isascii():
            continue
        padded = f"_{word}_"
        for a, b in itertools.pairwise(padded):
            if not (a.isascii() and b.isascii()) and script_of(a if not a.isascii() else b) != "cjk":
                pairs[a + b] += 1


def _pair_penalty(pairs: Counter[str]) -> float:
    """Letter pairs by how many languages it takes to write them; pairs none writes cost most."""
    if not pairs:
        return 0.0
    return _graded_cover(pairs, language_pairs(), _W_RARE_PAIR)
