"""Legacy code pages come back exactly: Western European text is never read as Baltic or CJK.

Texts written here, in each language, encoded in the code pages people use for it, at three
lengths. ``bench/bench_robustness.py --only mojibake`` measures the same on real translated text.
"""

from __future__ import annotations

import pytest

from longbert.data import load_dataset
from longbert.document import as_document
from longbert.readers import TableOptions, read_bytes
from longbert.text.charsets import implausibility
from longbert.text.decoding import decode_text

TEXTS = {
    "french": (
        "La jeune fille naïve était déjà partie à l'école quand le garçon arriva. "
        "Où est-il allé ? Il a reçu une lettre très étrange, écrite à la hâte, et il a "
        "dû s'en aller sans un mot ; « c'est la vie », dit-elle en haussant les épaules."
    ),
    "german": (
        "Der Bär läuft über die Straße, während die Kinder fröhlich im großen Garten spielen. "
        "Müssen wir wirklich schon gehen? Ich weiß es nicht, aber die Äpfel sind süß."
    ),
    "spanish": (
        "El niño comió una manzana en la montaña. ¿Dónde está la biblioteca? Mañana "
        "iremos a la reunión, aunque todavía no sé a qué hora empieza. ¡Qué lástima!"
    ),
    "portuguese": (
        "A informação não está disponível, disse João ao coração da cidade. As crianças "
        "aprendem rápido e a lição é fácil; amanhã vão à praia com os avós."
    ),
    "italian": (
        "Perché la città è così bella? Già, è proprio vero: più la guardi e più ti piace. "
        "Lunedì andremo all'università, poi forse al caffè qui vicino."
    ),
    "danish": (
        "Jeg har købt en ny bil, og den kører rigtig godt på de små veje i Århus. "
        "Vi spiste æbler og drak kaffe, før vi gik en tur ved søen."
    ),
    "swedish": (
        "Det är en vacker dag och vi går till sjön för att bada i det kalla vattnet. "
        "Efter åtta timmar på jobbet är jag trött, men jag mår ändå bra."
    ),
    "polish": (
        "Zażółć gęślą jaźń. Wczoraj poszliśmy do miasta, żeby kupić świeży chleb i mleko. "
        "Błąd w programie spowodował, że dane zostały utracone."
    ),
    "czech": (
        "Příliš žluťoučký kůň úpěl ďábelské ódy. Včera jsme šli do obchodu a koupili "
        "čerstvý chléb, protože doma už nic nebylo."
    ),
    "russian": (
        "Съешь же ещё этих мягких французских булок, да выпей чаю. Вчера мы ходили в "
        "магазин и купили свежий хлеб и молоко."
    ),
    "greek": (
        "Η γρήγορη καφέ αλεπού πηδάει πάνω από το τεμπέλικο σκυλί. Χθες πήγαμε στην "
        "αγορά και αγοράσαμε φρέσκο ψωμί και γάλα."
    ),
    "lithuanian": (
        "Vakar mes ėjome į parduotuvę ir nusipirkome šviežios duonos bei pieno. "
        "Žmonės čia labai draugiški, o oras šiandien gražus."
    ),
    "latvian": (
        "Vakar mēs gājām uz veikalu un nopirkām svaigu maizi un pienu. Cilvēki šeit ir "
        "ļoti draudzīgi, un šodien laiks ir skaists."
    ),
}
CODE_PAGES = {
    "french": ("latin-1", "cp1252"),
    "german": ("latin-1", "cp1252"),
    "spanish": ("latin-1", "cp1252"),
    "portuguese": ("latin-1", "cp1252"),
    "italian": ("latin-1", "cp1252"),
    "danish": ("latin-1", "cp1252"),
    "swedish": ("latin-1", "cp1252"),
    "polish": ("cp1250", "iso8859_2"),
    "czech": ("cp1250", "iso8859_2"),
    "russian": ("cp1251", "koi8_r"),
    "greek": ("cp1253",),
    "lithuanian": ("cp1257",),
    "latvian": ("cp1257",),
}
CASES = [(lang, enc) for lang, encodings in CODE_PAGES.items() for enc in encodings]


def first_sentence(text: str) -> str:
    for end in (". ", "? ", "! "):
        if end in text:
            return text[: text.index(end) + 1]
    return text


@pytest.mark.parametrize(("language", "encoding"), CASES)
def test_one_sentence_comes_back(language: str, encoding: str) -> None:
    sentence = first_sentence(TEXTS[language])
    assert decode_text(sentence.encode(encoding)) == sentence


@pytest.mark.parametrize(("language", "encoding"), CASES)
def test_a_page_comes_back(language: str, encoding: str) -> None:
    page = "\n\n".join([TEXTS[language]] * 12)
    assert decode_text(page.encode(encoding)) == page


@pytest.mark.parametrize(("language", "encoding"), [("french", "latin-1"), ("polish", "cp1250")])
def test_a_book_comes_back(language: str, encoding: str) -> None:
    book = "\n\n".join(f"Chapitre {i}. {TEXTS[language]}" for i in range(1500))  # ~300k characters
    assert decode_text(book.encode(encoding)) == book


def test_the_reported_french_case_is_not_read_as_baltic() -> None:
    text = "Elle était naïve, mais elle l'avait déjà compris."
    for encoding in ("latin-1", "cp1252"):
        decoded = decode_text(text.encode(encoding))
        assert decoded == text
        assert "ļ" not in decoded and "ą" not in decoded


def test_cp1252_specials() -> None:
    text = "“Smart quotes” cost 5 € – or… was it 6 €? ‘Yes’, said the café’s owner — “naïve”."
    assert decode_text(text.encode("cp1252")) == text
    english = "It’s a “test” – nothing more… The price: 10 €. " * 3
    assert decode_text(english.encode("cp1252")) == english


def test_gbk_utf16_and_mixed_scripts_still_work() -> None:
    chinese = "中文测试：这是一个用于检测编码的句子，我们用Python读取它。今天天气很好。"
    assert decode_text(chinese.encode("gbk")) == chinese
    assert decode_text(chinese.encode("gb18030")) == chinese
    mixed = "English, Ελληνικά, Русский and 中文 in one UTF-8 file."
    assert decode_text(mixed.encode("utf-8")) == mixed
    french = TEXTS["french"]
    assert decode_text(french.encode("utf-16")) == french  # with BOM
    assert decode_text(french.encode("utf-16-le")) == french  # without: NUL pattern


def test_readers_csv_and_as_document_decode_the_same_way() -> None:
    rows = "text,label\n" + "".join(
        f'"{first_sentence(TEXTS[lang])}",{lang}\n' for lang in ("french", "german", "spanish", "danish")
    )
    data = rows.encode("cp1252")
    docs = list(read_bytes("train.csv", data, table=TableOptions(label_column="label")))
    assert [d.document.text for d in docs] == [
        first_sentence(TEXTS[lang]) for lang in ("french", "german", "spanish", "danish")
    ]
    text = TEXTS["french"]
    assert as_document(text.encode("latin-1")).text == text


def test_training_csv_in_latin1_loads_exactly(tmp_path) -> None:
    sentences = [first_sentence(TEXTS[lang]) for lang in ("french", "german", "spanish", "italian")]
    path = tmp_path / "train.csv"
    body = "".join(f'"{s}",{"a" if i % 2 else "b"}\n' for i, s in enumerate(sentences))
    path.write_bytes(("text,label\n" + body).encode("latin-1"))
    assert load_dataset(path).texts() == sentences


def test_implausibility_sees_mojibake() -> None:
    good, _ = implausibility("naïve, déjà, garçon")
    baltic, _ = implausibility("naļve, déją, garēon")
    cjk, _ = implausibility("Det 雷 en vacker dag och vi g枓 till sj蟄")
    assert good < 0.3  # "ïv" is missing from the French pair table: real text is not always 0
    assert baltic > good + 0.5 and cjk > good + 0.5
    assert implausibility("plain ASCII") == (0.0, 0)
