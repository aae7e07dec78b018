"""The watchlist matcher as a user sees it: which articles hit, which terms, and the snippet."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.matcher import ArticleText, Matcher, WatchlistHit
from alerts.snippets import Snippet
from alerts.watchlists import WatchlistConfig

SEED_FILE = "dw-1HDPC-france-wants-to-hit-nerve-center-of-is.txt"
SEED_TITLE = "France wants to hit 'nerve center' of 'IS'"
SYRIA = {"terms": ["Raqqa", "Rakka", "Daesh", "Islamic State"], "match_case": ["IS"]}


def article(
    body: str = "",
    title: str = "",
    teaser: str = "",
    topics: tuple[str, ...] = (),
    language: str | None = "en",
) -> ArticleText:
    return ArticleText(title, teaser, body, list(topics), language)


def hit_of(text: ArticleText | str, **config: object) -> WatchlistHit | None:
    """The hit of one watchlist ("w", built from `config`) on an article or a body text."""
    watchlist = WatchlistConfig(name="w", **config)  # type: ignore[arg-type]
    if isinstance(text, str):
        text = article(body=text)
    hits = Matcher([watchlist]).match(text)
    assert len(hits) <= 1
    return hits[0] if hits else None


def terms_hit(text: ArticleText | str, **config: object) -> dict[str, int]:
    hit = hit_of(text, **config)
    return hit.terms if hit else {}


def snippet_words(snippet: Snippet) -> list[str]:
    return [word for word in snippet.text.split() if word != "…"]


# --- the seed article -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_article() -> ArticleText:
    location = Path(os.environ.get("NEWSWATCH_SEED") or Path(__file__).parents[2] / "shared/seed")
    path = location / SEED_FILE if location.is_dir() else location
    if not path.is_file():
        pytest.skip(f"seed article {path} is not there")
    page = path.read_text(encoding="utf-8")
    assert SEED_TITLE in page
    body = page.split(SEED_TITLE, 1)[1]
    return article(title=SEED_TITLE, body=body, topics=("Syria", "France"))


def test_seed_article_hits_the_syria_watchlist_with_its_terms(seed_article: ArticleText) -> None:
    hit = hit_of(seed_article, **SYRIA)
    assert hit is not None
    assert {"Raqqa", "Daesh", "Islamic State", "IS"} <= set(hit.terms)
    assert hit.terms["Raqqa"] == 3  # twice as written, and the caption's "Rakka" (a place alias)
    assert ("Raqqa", "Rakka", "place") in {(h.term, h.form, h.how) for h in hit.hits}
    assert hit.terms["Daesh"] == 2
    assert hit.terms["Islamic State"] == 4  # "Islamic State", "Islamic State," and [Islamic State]
    assert hit.terms["IS"] >= 10
    assert hit.fields == ["title", "body"]


def test_seed_article_snippet_is_the_title_with_IS_marked(seed_article: ArticleText) -> None:
    hit = hit_of(seed_article, **SYRIA)
    assert hit is not None
    assert hit.snippet.highlighted("[", "]") == "France wants to hit 'nerve center' of '[IS]'"
    assert hit.snippet.to_dict() == {"text": SEED_TITLE, "spans": [[39, 41]]}


def test_seed_body_snippet_marks_terms_as_written(seed_article: ArticleText) -> None:
    body_only = article(body=seed_article.body)
    hit = hit_of(body_only, **SYRIA)
    assert hit is not None
    marked = {hit.snippet.text[start:end] for start, end in hit.snippet.spans}
    assert marked <= {"Raqqa", "Rakka", "Daesh", "Islamic State", "IS"}
    assert "Raqqa" in marked
    assert len(snippet_words(hit.snippet)) <= 40


# --- case, accents, quotes, whitespace --------------------------------------------------------


@pytest.mark.parametrize("text", ["it is raining", "Is it raining?", "this island", "ISIS", "Isis"])
def test_match_case_IS_ignores_other_cases_and_longer_words(text: str) -> None:
    assert terms_hit(text, match_case=["IS"]) == {}


@pytest.mark.parametrize("text", ["IS fighters", "against (IS).", "the IS-held city", "“IS”"])
def test_match_case_IS_hits_the_word_in_capitals(text: str) -> None:
    assert terms_hit(text, match_case=["IS"]) == {"IS": 1}


def test_match_case_phrase_needs_its_case_but_not_its_spacing() -> None:
    config = {"match_case": ["Islamic State"]}
    assert terms_hit("the Islamic\n  State group", **config) == {"Islamic State": 1}
    assert terms_hit("an islamic state", **config) == {}
    assert terms_hit("ISLAMIC STATE", **config) == {}


@pytest.mark.parametrize("text", ["RAQQA", "raqqa", "Raqqa", "rAqQa"])
def test_terms_ignore_case(text: str) -> None:
    assert terms_hit(f"the city of {text} fell", terms=["Raqqa"]) == {"Raqqa": 1}


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("Frühburgunder", "FRUHBURGUNDER wine"),
        ("Fruhburgunder", "a Frühburgunder from Baden"),
        ("Fruhburgunder", "a Fru\u0308hburgunder from Baden"),  # decomposed ü
        ("Ελλάδα", "ΕΛΛΑΔΑ"),
        ("Sao Paulo", "São Paulo"),
    ],
)
def test_terms_ignore_accents(term: str, text: str) -> None:
    assert terms_hit(text, terms=[term]) == {term: 1}


def test_span_covers_the_whole_accented_word_as_written() -> None:
    hit = hit_of("Ein Fru\u0308hburgunder, bitte.", terms=["Fruhburgunder"])
    assert hit is not None
    assert hit.snippet.highlighted("[", "]") == "Ein [Fru\u0308hburgunder], bitte."


@pytest.mark.parametrize(
    "text",
    [
        'the "Islamic State" group',
        "the “Islamic State” group",
        'the "Islamic  State" group',
        "the Islamic\nState group",
        "the Islamic\r\n   State group",
        "the Islamic\u00a0State group",
    ],
)
def test_phrases_match_across_quotes_whitespace_and_line_breaks(text: str) -> None:
    assert terms_hit(text, terms=["Islamic State"]) == {"Islamic State": 1}


def test_phrase_does_not_match_across_punctuation() -> None:
    assert terms_hit("was it Islamic? State officials said no", terms=["Islamic State"]) == {}


def test_curly_apostrophe_matches_straight_one() -> None:
    assert terms_hit("Moshe Ya’alon said", terms=["Ya'alon"]) == {"Ya'alon": 1}


def test_invisible_soft_hyphen_inside_a_word_is_ignored() -> None:
    assert terms_hit("in Raq\u00adqa today", terms=["Raqqa"]) == {"Raqqa": 1}


# --- word boundaries and prefixes ---------------------------------------------------------------


def test_hyphen_is_a_word_boundary() -> None:
    assert terms_hit("the city of Ar-Raqqa", terms=["Raqqa"]) == {"Raqqa": 1}
    assert terms_hit("the city of Ar‑Raqqa", terms=["Ar-Raqqa"]) == {"Ar-Raqqa": 1}


def test_whole_words_only() -> None:
    assert terms_hit("the Rakkas family", terms=["Rakka"]) == {}
    assert terms_hit("Rakka, Rakkas and Rakka.", terms=["Rakka"]) == {"Rakka": 2}


def test_prefix_term_hits_longer_words_and_plain_term_does_not() -> None:
    text = "Die Terrormiliz und der Terror; terrorists, antiterror units, anti-terror laws"
    assert terms_hit(text, terms=["terror*"]) == {"terror*": 4}
    assert terms_hit(text, terms=["terror"]) == {"terror": 2}


def test_same_term_as_prefix_and_whole_word_counts_each() -> None:
    hit = hit_of("Terrormiliz and terror", terms=["terror", "terror*"])
    assert hit is not None
    assert hit.terms == {"terror": 1, "terror*": 2}


def test_arabic_term_in_arabic_text() -> None:
    text = "سيطر تنظيم الدولة الإسلامية على مدينة الرقة السورية، ثم الرقة."
    assert terms_hit(text, terms=["الرقة"], languages=["ar"]) == {}  # article is English
    arabic = article(body=text, language="ar")
    assert terms_hit(arabic, terms=["الرقة"]) == {"الرقة": 2}
    assert terms_hit(article(body="بالرقةالسورية", language="ar"), terms=["الرقة"]) == {}


def test_cyrillic_term_ignores_case_and_keeps_word_boundaries() -> None:
    assert terms_hit("Бои в РАККА продолжаются", terms=["Ракка"]) == {"Ракка": 1}
    assert terms_hit("Бои под Раккой", terms=["Ракка"]) == {}


def test_cjk_term_matches_as_substring() -> None:
    hit = hit_of(article(body="叙利亚拉卡市的局势", language="zh"), terms=["拉卡"])
    assert hit is not None
    assert hit.terms == {"拉卡": 1}
    assert hit.snippet.highlighted("[", "]") == "叙利亚[拉卡]市的局势"


def test_latin_term_next_to_cjk_characters_is_a_whole_word() -> None:
    assert terms_hit("伊斯兰国IS组织", match_case=["IS"]) == {"IS": 1}


# --- require, exclude, fields, languages ------------------------------------------------------


def test_require_needs_every_required_term() -> None:
    config = {"terms": ["Raqqa"], "require": ["airstrike*", "France"]}
    assert terms_hit("Raqqa airstrikes by France", **config) == {"Raqqa": 1}
    assert terms_hit("Raqqa airstrikes", **config) == {}


def test_exclude_vetoes_the_article() -> None:
    config = {"terms": ["Raqqa"], "exclude": ["football"]}
    assert terms_hit("Raqqa news", **config) == {"Raqqa": 1}
    assert terms_hit("Raqqa football club", **config) == {}


def test_fields_limit_where_terms_count() -> None:
    text = article(title="Football results", body="Raqqa", topics=("Raqqa",))
    assert hit_of(text, terms=["Raqqa"], fields=["title"]) is None
    hit = hit_of(text, terms=["Raqqa"], fields=["topics"])
    assert hit is not None
    assert (hit.fields, hit.snippet.text) == (["topics"], "Raqqa")
    hit = hit_of(text, terms=["Raqqa"], fields=["title", "teaser", "body", "topics"])
    assert hit is not None
    assert hit.fields == ["body", "topics"]


def test_phrases_do_not_run_from_one_topic_into_the_next() -> None:
    text = article(topics=("Islamic", "State"))
    assert hit_of(text, terms=["Islamic State"], fields=["topics"]) is None


def test_exclude_only_looks_at_the_watchlist_fields() -> None:
    text = article(title="Raqqa", body="football")
    assert terms_hit(text, terms=["Raqqa"], exclude=["football"], fields=["title"]) == {"Raqqa": 1}


def test_languages_limit_by_article_language() -> None:
    config = {"terms": ["Raqqa"], "languages": ["de"]}
    assert terms_hit(article(body="Raqqa", language="en"), **config) == {}
    assert terms_hit(article(body="Raqqa", language="de"), **config) == {"Raqqa": 1}
    assert terms_hit(article(body="Raqqa", language="de-DE"), **config) == {"Raqqa": 1}
    assert terms_hit(article(body="Raqqa", language=None), **config) == {}
    assert terms_hit(article(body="Raqqa", language=None), terms=["Raqqa"]) == {"Raqqa": 1}


def test_one_matcher_reports_every_watchlist_hit_in_configuration_order() -> None:
    watchlists = [
        WatchlistConfig(name="sport", terms=["football"]),
        WatchlistConfig(name="syria", terms=["Raqqa"]),
        WatchlistConfig(name="wine", terms=["Riesling"]),
    ]
    hits = Matcher(watchlists).match(article(body="Raqqa football"))
    assert [hit.watchlist for hit in hits] == ["sport", "syria"]


# --- configuration errors and fingerprints ----------------------------------------------------


@pytest.mark.parametrize(
    ("role", "term"),
    [
        ("terms", ""),
        ("terms", "   "),
        ("terms", "!!!"),
        ("terms", "*"),
        ("terms", "*terror"),
        ("terms", "ter*ror"),
        ("terms", "terror**"),
        ("match_case", "--"),
        ("require", ""),
        ("exclude", "*foot"),
    ],
)
def test_bad_term_is_a_config_error_naming_watchlist_and_term(role: str, term: str) -> None:
    config = {"terms": ["Raqqa"], role: ["Raqqa", term] if role == "terms" else [term]}
    with pytest.raises(ValueError, match="syria") as error:
        WatchlistConfig(name="syria", **config)  # type: ignore[arg-type]
    assert repr(term) in str(error.value)


def test_watchlist_without_terms_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="empty-list"):
        WatchlistConfig(name="empty-list", require=["Raqqa"])


def test_unknown_setting_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="term"):
        WatchlistConfig(name="typo", terms=["Raqqa"], term=["Rakka"])  # type: ignore[call-arg]


def test_repeated_watchlist_names_are_refused() -> None:
    with pytest.raises(ValueError, match="syria"):
        Matcher(
            [WatchlistConfig(name="syria", terms=["a"]), WatchlistConfig(name="syria", terms=["b"])]
        )


def test_fingerprint_is_equal_for_equivalent_definitions() -> None:
    first = WatchlistConfig(name="syria", terms=["Raqqa", "Daesh", "terror*"], fields=["body"])
    second = WatchlistConfig(
        name="syria", terms=[" DAESH", "terror *", "Raqqa", "raqqa"], fields=["body"]
    )
    assert first.fingerprint() == second.fingerprint()
    assert len(first.fingerprint()) == 64


def test_fingerprint_follows_a_terms_capitals_where_inflected_hits_keep_them() -> None:
    def fingerprint(term: str, inflections: bool = True) -> str:
        return WatchlistConfig(name="w", terms=[term], inflections=inflections).fingerprint()

    assert fingerprint("Male") != fingerprint("male")  # "mal" is not "Male" inflected
    assert fingerprint("Male") == fingerprint("MALE")
    assert fingerprint("Male", inflections=False) == fingerprint("male", inflections=False)


@pytest.mark.parametrize(
    "change",
    [
        {"terms": ["Raqqa", "Daesh"]},
        {"terms": ["Raqqa*"]},
        {"match_case": ["IS"]},
        {"exclude": ["football"]},
        {"fields": ["title"]},
        {"languages": ["en"]},
        {"name": "other"},
    ],
)
def test_fingerprint_changes_with_the_definition(change: dict[str, object]) -> None:
    base = {"name": "syria", "terms": ["Raqqa"]}
    assert (
        WatchlistConfig(**base).fingerprint()  # type: ignore[arg-type]
        != WatchlistConfig(**{**base, **change}).fingerprint()  # type: ignore[arg-type]
    )


def test_match_case_fingerprint_keeps_case() -> None:
    upper = WatchlistConfig(name="w", match_case=["IS"])
    lower = WatchlistConfig(name="w", match_case=["is"])
    assert upper.fingerprint() != lower.fingerprint()


# --- snippets ---------------------------------------------------------------------------------


LONG_BODY = " ".join(f"word{n}" for n in range(300))


def test_snippet_is_about_forty_words_around_the_hit_with_ellipses() -> None:
    body = LONG_BODY.replace("word150", "Raqqa")
    hit = hit_of(body, terms=["Raqqa"])
    assert hit is not None
    words = snippet_words(hit.snippet)
    assert len(words) <= 40
    assert "Raqqa" in words
    assert hit.snippet.text.startswith("… ") and hit.snippet.text.endswith(" …")
    assert set(words) <= set(body.split())  # whole words only


def test_snippet_at_the_end_of_the_body_shows_what_comes_before() -> None:
    body = LONG_BODY + " Raqqa."
    hit = hit_of(body, terms=["Raqqa"])
    assert hit is not None
    assert hit.snippet.text.endswith("Raqqa.")
    assert len(snippet_words(hit.snippet)) == 40


def test_snippet_prefers_the_title() -> None:
    text = article(title="News from Raqqa", body=LONG_BODY + " Raqqa and Daesh")
    hit = hit_of(text, terms=["Raqqa", "Daesh"])
    assert hit is not None
    assert hit.snippet.highlighted("<mark>", "</mark>") == "News from <mark>Raqqa</mark>"
    assert hit.fields == ["title", "body"]
    assert hit.terms == {"Raqqa": 2, "Daesh": 1}


def test_snippet_goes_where_most_terms_are() -> None:
    body = "Raqqa. " + LONG_BODY + " Daesh left Raqqa, the Islamic State said. " + LONG_BODY
    hit = hit_of(body, terms=["Raqqa", "Daesh", "Islamic State"])
    assert hit is not None
    assert hit.snippet.highlighted("[", "]").count("[") == 3
    assert "[Daesh] left [Raqqa], the [Islamic State] said." in hit.snippet.highlighted("[", "]")


def test_snippet_spans_keep_original_case_and_collapse_whitespace() -> None:
    hit = hit_of("The\n\n“ISLAMIC   STATE” took RAQQA", terms=["Islamic State", "raqqa"])
    assert hit is not None
    assert hit.snippet.text == "The “ISLAMIC STATE” took RAQQA"
    assert [hit.snippet.text[s:e] for s, e in hit.snippet.spans] == ["ISLAMIC STATE", "RAQQA"]
    assert hit.snippet.highlighted("[", "]") == "The “[ISLAMIC STATE]” took [RAQQA]"


def test_snippet_round_trips_through_a_dict() -> None:
    snippet = Snippet("in Raqqa today", [(3, 8)])
    assert Snippet.from_dict(snippet.to_dict()) == snippet
    assert snippet.segments() == [("in ", False), ("Raqqa", True), (" today", False)]


# --- the automaton agrees with a slow reference matcher ----------------------------------------

CONTINUOUS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
STRAIGHT = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "‐": "-", "–": "-"})
WORD_CHAR_OUTSIDE_CJK = f"(?:[^\\W{CONTINUOUS}]|[\u0300-\u036f])"


def reference_fold(text: str) -> str:
    """Whole-string folding, written independently of alerts.textnorm."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
    text = unicodedata.normalize("NFKC", text.translate(STRAIGHT))
    return re.sub(r"\s+", " ", text)


def reference_count(text: str, term: str, *, exact_case: bool = False) -> int:
    """Occurrences of `term` by one regex on the folded text (overlapping ones too)."""
    prefix = term.endswith("*")
    body = term.removesuffix("*").strip()
    key = body if exact_case else reference_fold(body).strip()
    haystack = text if exact_case else reference_fold(text)
    word_edge = re.compile(WORD_CHAR_OUTSIDE_CJK)
    before = f"(?<!{WORD_CHAR_OUTSIDE_CJK})" if word_edge.fullmatch(key[0]) else ""
    after = f"(?!{WORD_CHAR_OUTSIDE_CJK})" if word_edge.fullmatch(key[-1]) and not prefix else ""
    return len(re.findall(f"(?=({before}{re.escape(key)}{after}))", haystack))


LETTERS = "aAbBeEéÉäÄsSß" + "аА" + "ر" + "中国"
TEXT_ALPHABET = LETTERS + "1_ \n\u00a0\u00a0-'’“”.,\u0308"
words = st.text(alphabet=LETTERS, min_size=1, max_size=4)
plain_terms = st.builds(
    lambda first, rest, joiner, star: joiner.join([first, *rest]) + ("*" if star else ""),
    words,
    st.lists(words, max_size=2),
    st.sampled_from([" ", " ", "-", "'", " - "]),
    st.booleans(),
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def term_identity(term: str) -> str:
    return reference_fold(term.removesuffix("*")).strip() + ("*" if term.endswith("*") else "")


@st.composite
def terms_and_text(draw: st.DrawFn) -> tuple[list[str], str]:
    """Terms, and a text made of their words (in any case), random characters and separators."""
    terms = draw(st.lists(plain_terms, min_size=1, max_size=6, unique_by=term_identity))
    words_of_terms = [word for term in terms for word in re.split(r"\W+", term) if word]
    piece = st.one_of(
        st.sampled_from(words_of_terms).map(lambda word: word.upper()),
        st.sampled_from(words_of_terms),
        st.text(alphabet=TEXT_ALPHABET, max_size=3),
        st.sampled_from([" ", "  ", "\n", "-", "“", "” ", "’", ", ", "\u00a0"]),
    )
    return terms, "".join(draw(st.lists(piece, max_size=30)))


@PROPERTY
@given(terms_and_text())
def test_automaton_agrees_with_a_regex_per_term(case: tuple[list[str], str]) -> None:
    terms, text = case
    expected = {term: reference_count(text, term) for term in terms}
    assert terms_hit(text, terms=terms) == {term: n for term, n in expected.items() if n}


@PROPERTY
@given(
    st.text(alphabet="aAiIsS \n-.,'’\u0308中", max_size=80),
    st.lists(
        st.text(alphabet="aAiIsS", min_size=1, max_size=3), min_size=1, max_size=4, unique=True
    ),
)
def test_match_case_agrees_with_an_exact_regex_per_term(text: str, terms: list[str]) -> None:
    expected = {term: reference_count(text, term, exact_case=True) for term in terms}
    assert terms_hit(text, match_case=terms) == {term: n for term, n in expected.items() if n}


@PROPERTY
@given(st.lists(st.text(alphabet=TEXT_ALPHABET, max_size=6), max_size=30), plain_terms)
def test_snippet_spans_point_at_the_hit_text(pieces: list[str], term: str) -> None:
    text = " ".join(pieces)  # at most 30 words: the snippet is the whole text
    hit = hit_of(text, terms=[term])
    if hit is None:
        return
    key = reference_fold(term.removesuffix("*")).strip()
    assert hit.snippet.spans
    for start, end in hit.snippet.spans:
        assert 0 <= start < end <= len(hit.snippet.text)
        assert reference_fold(hit.snippet.text[start:end]).startswith(key)


@PROPERTY
@given(st.text(alphabet=TEXT_ALPHABET.replace("中国", ""), max_size=60))
def test_original_text_survives_into_the_snippet(text: str) -> None:
    hit = hit_of(text + " Raqqa", terms=["Raqqa"])
    assert hit is not None
    assert " ".join(snippet_words(hit.snippet)) == " ".join(
        word for word in (text + " Raqqa").split() if word != "…"
    )
