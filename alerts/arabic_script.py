"""Arabic-script text as search engines normalise it, and the prefixes Arabic attaches to words.

Letters (applied by `alerts.textnorm` to every text and term, whatever the article's language,
as Lucene's ArabicNormalizer and PersianNormalizer do): the alef forms آ أ إ become ا and the
harakat (fatha, damma, kasra, tanween, shadda, sukun) go, as every other combining mark does in
`textnorm`; ى (alef maksura), Persian ی and Urdu ے become ي; Persian ک becomes ك; ة (teh
marbuta), ۀ, ە and Urdu ہ become ه; the tatweel ـ (a stretching stroke) is dropped. So Persian
"رقه" and Arabic "رقة" fold alike, and so do "الإسلامية" and "الاسلاميه".

Prefixes (`strip_arabic_prefix`, the inflection step of Arabic-script languages, see
`alerts.inflections`): Arabic writes the article ال and the clitics و (and), ف (so), ب (by, in),
ك (like), ل (for) joined to the next word: "والموصل" is "and the Mosul", "بالدولة" "by the
state". The list is Lucene's light stemmer's (Larkey's light10): ال, وال, بال, كال, فال, لل, and
a lone و, with و/ف before بال and لل ("وبالرقة"); a lone ب, ل, ف or ك is not stripped,
because too many words begin with those letters (بغداد, Baghdad). At least two letters stay.
Persian, Pashto and Urdu borrow names with the article ("الرقه") but do not attach the clitics:
for them only ال goes. Suffixes are left alone on purpose: light10 would strip ة/ه too and make
"دولة" (state) equal "دول" (states).
"""

from __future__ import annotations

__all__ = ["ARABIC_LETTERS", "strip_arabic_article", "strip_arabic_prefix"]

ARABIC_LETTERS = str.maketrans(
    {
        "\u0649": "\u064a",  # ى alef maksura -> ي
        "\u06cc": "\u064a",  # ی Farsi yeh -> ي
        "\u06d2": "\u064a",  # ے yeh barree (Urdu) -> ي
        "\u06a9": "\u0643",  # ک keheh -> ك
        "\u0629": "\u0647",  # ة teh marbuta -> ه
        "\u06c0": "\u0647",  # ۀ heh with yeh above -> ه
        "\u06d5": "\u0647",  # ە ae (what NFKD leaves of ۀ) -> ه
        "\u06c1": "\u0647",  # ہ heh goal (Urdu) -> ه
        "\u06c3": "\u0647",  # ۃ teh marbuta goal -> ه
        "\u0640": "",  # ـ tatweel
    }
)

# Longest first, so "وال" goes before "و". Text is folded (ة -> ه, ...) before this applies.
_PREFIXES = ("وبال", "فبال", "ولل", "فلل", "وال", "بال", "كال", "فال", "لل", "ال")
_ARTICLE = "ال"
_MIN_LEFT = 2  # letters a word keeps after a prefix goes


def strip_arabic_prefix(word: str) -> str:
    """`word` (folded) without its article and attached clitics: "والموصل" -> "موصل",
    "بالدوله" -> "دوله", "وموصل" -> "موصل"; a word that would keep fewer than two letters, or
    that only starts with a lone ب/ل/ف/ك, stays as it is."""
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= _MIN_LEFT:
            return word[len(prefix) :]
    if word.startswith("و") and len(word) >= 4:  # light10: a lone و only before 3+ letters
        return word[1:]
    return word


def strip_arabic_article(word: str) -> str:
    """`word` without a leading ال (Persian, Pashto, Urdu: borrowed names keep it or not)."""
    if word.startswith(_ARTICLE) and len(word) - len(_ARTICLE) >= _MIN_LEFT:
        return word[len(_ARTICLE) :]
    return word
