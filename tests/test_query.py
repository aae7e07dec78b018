"""Watchlist queries as an analyst writes them: what they parse into, where a mistake is reported,
and that deciding an article agrees with a slow evaluator written independently here."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from alerts.matcher import ArticleText, Matcher, WatchlistHit
from alerts.query import (
    And,
    Lang,
    Near,
    Not,
    Occurrence,
    Or,
    Phrase,
    Query,
    QuerySyntaxError,
    Term,
    compile_query,
    evaluate,
    format_query,
    leaves,
    list_form_query,
    matches_without_hits,
    parse_query,
    positive_leaves,
)
from alerts.query_ast import Field, Leaf
from alerts.query_parser import parse_query as parse_syntax
from alerts.watchlists import WatchlistConfig
from alerts.word_positions import WordPositions

# --- parsing every construct ------------------------------------------------------------------


def test_the_issue_examples_parse_into_the_tree_an_analyst_means() -> None:
    assert parse_query("(Raqqa OR Rakka) AND (attack OR Anschlag) -football") == And(
        (
            Or((Term("Raqqa"), Term("Rakka"))),
            Or((Term("attack"), Term("Anschlag"))),
            Not(Term("football")),
        )
    )
    assert parse_query('"Islamic State" NEAR/5 Raqqa') == Near(
        Phrase("Islamic State"), Term("Raqqa"), 5
    )
    assert parse_query("title:Raqqa lang:de") == And((Term("Raqqa", field="title"), Lang("de")))


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("Raqqa", Term("Raqqa")),
        ("terror*", Term("terror", prefix=True)),
        ("=IS", Term("IS", exact=True)),
        ("=terror*", Term("terror", prefix=True, exact=True)),
        ('"Islamic State"', Phrase("Islamic State")),
        ('"Islamic Sta*"', Phrase("Islamic Sta", prefix=True)),
        ('="Islamic State"', Phrase("Islamic State", exact=True)),
        ("Ar-Raqqa", Term("Ar-Raqqa")),
        ("Rakka'da", Term("Rakka'da")),
        ("ANDROID", Term("ANDROID")),
        ("NEARBY", Term("NEARBY")),
        ("a and b or c", And((Term("a"), Term("and"), Term("b"), Term("or"), Term("c")))),
        ("a AND b", And((Term("a"), Term("b")))),
        ("a b", And((Term("a"), Term("b")))),
        ("a OR b", Or((Term("a"), Term("b")))),
        ("NOT a", Not(Term("a"))),
        ("-a", Not(Term("a"))),
        ("a NOT b", And((Term("a"), Not(Term("b"))))),
        ("-(a OR b)", Not(Or((Term("a"), Term("b"))))),
        ("a NEAR/0 b", Near(Term("a"), Term("b"), 0)),
        ('(a OR "b c") NEAR/3 d', Near(Or((Term("a"), Phrase("b c"))), Term("d"), 3)),
        ("teaser:a", Term("a", field="teaser")),
        ("body:a", Term("a", field="body")),
        ("topics:Syria", Term("Syria", field="topics")),
        ("Title:a", Term("a", field="title")),
        ('title:"a b"', Phrase("a b", field="title")),
        ("title:=IS", Term("IS", exact=True, field="title")),
        ("title: a", Term("a", field="title")),
        ("title:(a OR b)", Or((Term("a", field="title"), Term("b", field="title")))),
        ("title:(a OR body:b)", Or((Term("a", field="title"), Term("b", field="body")))),
        ("lang:de", Lang("de")),
        ("lang:de-AT", Lang("de-at")),
        ("lang:pt_BR", Lang("pt-br")),
        ("a\n  OR b", Or((Term("a"), Term("b")))),
    ],
)
def test_each_construct_parses(text: str, tree: Query) -> None:
    assert parse_syntax(text) == tree


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        # NOT binds tighter than AND, AND (written or implied) tighter than OR
        ("a OR b AND c", Or((Term("a"), And((Term("b"), Term("c")))))),
        ("a OR b c", Or((Term("a"), And((Term("b"), Term("c")))))),
        ("a b OR c", Or((And((Term("a"), Term("b"))), Term("c")))),
        ("NOT a AND b", And((Not(Term("a")), Term("b")))),
        ("NOT a OR b", Or((Not(Term("a")), Term("b")))),
        ("-a b OR c -d", Or((And((Not(Term("a")), Term("b"))), And((Term("c"), Not(Term("d"))))))),
        ("(a OR b) c", And((Or((Term("a"), Term("b"))), Term("c")))),
        # NEAR binds tightest
        ("a NEAR/2 b c", And((Near(Term("a"), Term("b"), 2), Term("c")))),
        ("-a NEAR/2 b", Not(Near(Term("a"), Term("b"), 2))),
        ("a OR b NEAR/2 c", Or((Term("a"), Near(Term("b"), Term("c"), 2)))),
        # one And / Or however bracketed
        ("a AND (b AND c)", And((Term("a"), Term("b"), Term("c")))),
        ("(a OR b) OR c", Or((Term("a"), Term("b"), Term("c")))),
        ("((a))", Term("a")),
    ],
)
def test_precedence_is_not_then_and_then_or(text: str, tree: Query) -> None:
    assert parse_syntax(text) == tree


# --- errors: one line, the column, what was expected ------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("", 1, "the query is empty"),
        ("   ", 1, "the query is empty"),
        ("(Raqqa OR Rakka", 1, "'(' is never closed"),
        ("a AND (b OR (c)", 7, "'(' is never closed"),
        ("Raqqa)", 6, "')' closes no '('"),
        ("Raqqa AND", 10, "expected a word, a \"phrase\" or '(', found the end"),
        ("AND Raqqa", 1, "found 'AND'"),
        ("Raqqa OR OR Rakka", 10, "found 'OR'"),
        ("a NEAR/x b", 3, "NEAR needs a number of words, as in NEAR/5"),
        ("a NEAR b", 3, "NEAR needs a number of words"),
        ("a NEAR/5", 9, "found the end"),
        ("a NEAR/3 b NEAR/2 c", 12, "NEAR/n joins two sides"),
        ("(a AND b) NEAR/3 c", 1, "each side of NEAR/n is a word"),
        ("a NEAR/3 -b", 10, "found '-'"),
        ("()", 2, "found ')'"),
        ('"Islamic State', 1, "'\"' is never closed"),
        ('a ""', 3, "has no letter or digit"),
        ("te*rror", 3, "'*' may only end a word"),
        ('"Isl*amic State"', 5, "'*' may only end a word"),
        ("tittle:Raqqa", 1, "unknown field 'tittle:'"),
        ("10:30", 1, "unknown field '10:'"),
        ("lang:123", 1, "lang: needs a language code"),
        ("title:lang:de", 7, "found 'lang:de'"),
        ("a - b", 3, "'-' must touch what it excludes"),
        ("= IS", 1, "'=' must touch its word"),
        ("-football", 1, "matches articles that contain none of its words"),
        ("lang:de", 1, "matches articles that contain none of its words"),
        ("Raqqa OR -football", 1, "matches articles that contain none of its words"),
    ],
)
def test_a_mistake_is_one_line_naming_the_column(text: str, column: int, says: str) -> None:
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query(text)
    message = str(raised.value)
    assert raised.value.column == column
    assert message.startswith(f"column {column}: ")
    assert says in message
    assert "\n" not in message


def test_a_query_that_needs_a_word_besides_its_negations_is_accepted() -> None:
    assert parse_query("Raqqa -football lang:de") == And(
        (Term("Raqqa"), Not(Term("football")), Lang("de"))
    )
    assert parse_query("NOT lang:en Raqqa") == And((Not(Lang("en")), Term("Raqqa")))


# --- leaves -----------------------------------------------------------------------------------


def test_leaves_are_every_word_and_phrase_once_in_written_order() -> None:
    query = parse_query(
        '(Raqqa OR Rakka) NEAR/5 "Islamic State" -raqqa title:Raqqa =IS is Ar-Raqqa "Ar Raqqa"'
    )
    assert leaves(query) == [
        Term("Raqqa"),
        Term("Rakka"),
        Phrase("Islamic State"),
        Term("Raqqa", field="title"),
        Term("IS", exact=True),
        Term("is"),
        Term("Ar-Raqqa"),
        Phrase("Ar Raqqa"),
    ]
    assert leaves(parse_query("Raqqa lang:de")) == [Term("Raqqa")]


# --- evaluation, by hand ----------------------------------------------------------------------


def test_near_counts_the_words_between_either_order_in_one_field() -> None:
    query = parse_query('"Islamic State" NEAR/2 Raqqa')
    phrase = [Occurrence("body", 0, 2)]  # "Islamic State" are words 0 and 1
    assert evaluate(query, {0: phrase, 1: [Occurrence("body", 4)]}, None)  # 2 between
    assert not evaluate(query, {0: phrase, 1: [Occurrence("body", 5)]}, None)  # 3 between
    assert evaluate(query, {0: [Occurrence("body", 3, 2)], 1: [Occurrence("body", 0)]}, None)
    assert not evaluate(query, {0: phrase, 1: [Occurrence("title", 2)]}, None)


def test_fields_and_languages_decide_as_written() -> None:
    query = parse_query("title:Raqqa lang:de")
    assert evaluate(query, {0: [Occurrence("title", 3)]}, "de")
    assert evaluate(query, {0: [Occurrence("title", 3)]}, "de-AT")
    assert not evaluate(query, {0: [Occurrence("title", 3)]}, "den")
    assert not evaluate(query, {0: [Occurrence("title", 3)]}, None)
    assert not evaluate(query, {0: [Occurrence("body", 3)]}, "de")
    unrestricted = parse_query("Raqqa")
    assert not evaluate(unrestricted, {0: [Occurrence("topics", 0)]}, "de", ["title", "body"])
    assert evaluate(unrestricted, {0: [Occurrence("topics", 0)]}, "de")


# --- Hypothesis: a slow reference evaluator over texts --------------------------------------

FIELDS: list[Field] = ["title", "teaser", "body"]
WORDS = ["Raqqa", "raqqa", "Rakka", "attack", "Islamic", "State", "state", "football", "IS", "is"]
TERM_TEXTS = ["Raqqa", "rakka", "attack", "Islamic", "state", "football", "IS", "is", "Ra", "Isl"]
PHRASE_TEXTS = ["Islamic State", "state attack", "Raqqa attack", "is Raqqa", "IS IS"]
LANGUAGES = [None, "de", "en", "de-AT", "fr"]

fields_or_none = st.none() | st.sampled_from(FIELDS)
terms = st.builds(Term, st.sampled_from(TERM_TEXTS), st.booleans(), st.booleans(), fields_or_none)
phrases = st.builds(
    Phrase, st.sampled_from(PHRASE_TEXTS), st.booleans(), st.booleans(), fields_or_none
)
leaf_nodes: st.SearchStrategy[Leaf] = terms | phrases
near_sides: st.SearchStrategy[Query] = leaf_nodes | st.lists(
    leaf_nodes, min_size=2, max_size=3
).map(lambda items: Or(tuple(items)))
nears = st.builds(Near, near_sides, near_sides, st.integers(0, 3))
langs = st.builds(Lang, st.sampled_from(["de", "en", "de-at"]))


def _canonical(kind: type[And] | type[Or], items: list[Query]) -> Query:
    """n-ary and flat, as the parser builds them."""
    flat: list[Query] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


queries: st.SearchStrategy[Query] = st.recursive(
    leaf_nodes | nears | langs,
    lambda children: (
        st.lists(children, min_size=2, max_size=3).map(lambda items: _canonical(And, items))
        | st.lists(children, min_size=2, max_size=3).map(lambda items: _canonical(Or, items))
        | st.builds(Not, children)
    ),
    max_leaves=8,
)
texts = st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join)
articles = st.fixed_dictionaries({field: texts for field in FIELDS})


def reference_spans(leaf: Leaf, text: str) -> list[tuple[int, int]]:
    """(start, end) character spans where a leaf stands in a text, by a regular expression:
    whole words, whitespace only between a phrase's words, the case only for exact ones, the
    last word a prefix."""
    words = leaf.text.split()
    pattern = r"\s+".join(re.escape(word) for word in words)
    tail = r"\w*" if leaf.prefix else ""
    pattern = rf"(?<!\w)(?=({pattern}{tail})(?!\w))"
    flags = 0 if leaf.exact else re.IGNORECASE
    return [(found.start(1), found.end(1)) for found in re.finditer(pattern, text, flags)]


def reference(
    query: Query,
    article: dict[str, str],
    language: str | None,
    fields: list[Field] | None,
) -> bool:
    def spans(side: Query) -> list[tuple[str, int, int]]:
        items = side.items if isinstance(side, Or) else (side,)
        found = []
        for leaf in items:
            assert isinstance(leaf, Term | Phrase)
            searched = [leaf.field] if leaf.field else (fields or FIELDS)
            for field in searched:
                found += [(field, *span) for span in reference_spans(leaf, article[field])]
        return found

    if isinstance(query, Term | Phrase):
        return bool(spans(query))
    if isinstance(query, And):
        return all(reference(item, article, language, fields) for item in query.items)
    if isinstance(query, Or):
        return any(reference(item, article, language, fields) for item in query.items)
    if isinstance(query, Not):
        return not reference(query.item, article, language, fields)
    if isinstance(query, Lang):
        code = (language or "").lower()
        return language is not None and (code == query.code or code.startswith(query.code + "-"))
    for field_a, start_a, end_a in spans(query.left):
        for field_b, start_b, end_b in spans(query.right):
            if field_a != field_b or (start_a < end_b and start_b < end_a):
                continue
            text = article[field_a]
            gap = text[min(end_a, end_b) : max(start_a, start_b)]
            if len(re.findall(r"\w+", gap)) <= query.distance:
                return True
    return False


def occurrences_by_tokens(
    found: list[Leaf], article: dict[str, str]
) -> dict[int, list[Occurrence]]:
    """What the matcher hands over, here by comparing token lists."""
    occurrences: dict[int, list[Occurrence]] = {}
    for index, leaf in enumerate(found):
        wanted = leaf.text.split()
        for field in FIELDS:
            tokens = article[field].split()
            for position in range(len(tokens) - len(wanted) + 1):
                window = tokens[position : position + len(wanted)]
                if not leaf.exact:
                    window, wanted_now = [t.lower() for t in window], [w.lower() for w in wanted]
                else:
                    wanted_now = wanted
                last_ok = (
                    window[-1].startswith(wanted_now[-1])
                    if leaf.prefix
                    else window[-1] == wanted_now[-1]
                )
                if window[:-1] == wanted_now[:-1] and last_ok:
                    occurrences.setdefault(index, []).append(
                        Occurrence(field, position, len(wanted))
                    )
    return occurrences


@settings(max_examples=400, deadline=None)
@given(
    queries,
    articles,
    st.sampled_from(LANGUAGES),
    st.none() | st.lists(st.sampled_from(FIELDS), min_size=1, unique=True),
)
def test_evaluation_agrees_with_a_slow_reference(
    query: Query, article: dict[str, str], language: str | None, fields: list[Field] | None
) -> None:
    occurrences = occurrences_by_tokens(leaves(query), article)
    assert evaluate(query, occurrences, language, fields) == reference(
        query, article, language, fields
    )


@settings(max_examples=300, deadline=None)
@given(queries)
def test_a_written_out_query_reads_back_the_same(query: Query) -> None:
    assert parse_syntax(format_query(query)) == query


# --- the list form means the same as its query ------------------------------------------------

word_lists = st.lists(st.sampled_from([*TERM_TEXTS, "Ra*", "Islamic State", "state att*"]))


def list_form_reference(
    article: dict[str, str],
    terms: list[str],
    match_case: list[str],
    require: list[str],
    exclude: list[str],
) -> bool:
    """The list form's own rules, over the regular expressions above."""

    def occurs(written: str, exact: bool) -> bool:
        text = written.removesuffix("*")
        leaf = Term(text, written.endswith("*"), exact)
        return any(reference_spans(leaf, article[field]) for field in FIELDS)

    anything = any(occurs(t, False) for t in terms) or any(occurs(t, True) for t in match_case)
    return (
        anything
        and all(occurs(term, False) for term in require)
        and not any(occurs(term, False) for term in exclude)
    )


@settings(max_examples=300, deadline=None)
@given(articles, word_lists, word_lists, word_lists, word_lists)
def test_the_list_form_and_its_query_agree(
    article: dict[str, str],
    terms: list[str],
    match_case: list[str],
    require: list[str],
    exclude: list[str],
) -> None:
    if not terms and not match_case:
        with pytest.raises(ValueError, match="needs at least one of terms, match_case"):
            list_form_query(terms, match_case, require, exclude)
        return
    query = list_form_query(terms, match_case, require, exclude)
    occurrences = occurrences_by_tokens(leaves(query), article)
    assert evaluate(query, occurrences, "en") == list_form_reference(
        article, terms, match_case, require, exclude
    )
    assert parse_query(format_query(query)) == query


def test_the_list_form_as_a_query() -> None:
    query = list_form_query(["Raqqa", "Islamic State", "terror*"], ["IS"], ["Syria"], ["football"])
    assert query == And(
        (
            Or(
                (
                    Term("Raqqa"),
                    Phrase("Islamic State"),
                    Term("terror", prefix=True),
                    Term("IS", exact=True),
                )
            ),
            Term("Syria"),
            Not(Term("football")),
        )
    )
    assert format_query(query) == (
        '(Raqqa OR "Islamic State" OR terror* OR =IS) AND Syria AND -football'
    )
    assert list_form_query(["=Raqqa"]) == Term("Raqqa", exact=True)


def test_a_match_is_explained_by_the_words_outside_its_negations() -> None:
    query = parse_query("Raqqa -football NOT -(Mosul OR Kirkuk) title:Raqqa")
    assert [leaf.text for leaf in leaves(query)] == [
        "Raqqa",
        "football",
        "Mosul",
        "Kirkuk",
        "Raqqa",
    ]
    assert positive_leaves(query) == {0, 2, 3, 4}
    compiled = compile_query(query)
    assert compiled.named_fields == {"title"}
    assert not compiled.needs_positions
    assert compile_query(parse_query("a NEAR/2 b")).needs_positions


# --- word positions -----------------------------------------------------------------------


def test_word_positions_count_words_as_the_folded_text_has_them() -> None:
    text = "Die Kämpfer des „Islamischen Staates“ in Rakka, 伊斯兰国 Ter\xadror"
    positions = WordPositions(text)

    def at(part: str) -> tuple[int, int]:
        start = text.index(part)
        return positions.locate(start, start + len(part))

    assert at("Die") == (0, 1)
    assert at("Kämpfer") == (1, 1)
    assert at("Islamischen Staates") == (3, 2)  # the quote separates, it is no word
    assert at("Rakka") == (6, 1)
    assert at("伊斯兰国") == (7, 4)  # every CJK character is a word
    assert at("Ter\xadror") == (11, 1)  # a soft hyphen does not split a word
    assert len(positions) == 12


# --- phase 2: queries in watchlists, decided by the matcher ----------------------------------


def query_hit(query: str, **article_fields: object) -> WatchlistHit | None:
    watchlist = WatchlistConfig(name="q", query=query, inflections=False, places=False)
    hits = Matcher([watchlist]).match(an_article(**article_fields))
    return hits[0] if hits else None


def an_article(
    title: str = "",
    teaser: str = "",
    body: str = "",
    topics: tuple[str, ...] = (),
    language: str | None = "en",
) -> ArticleText:
    return ArticleText(title, teaser, body, list(topics), language)


def test_the_issue_queries_match_the_articles_an_analyst_expects() -> None:
    query = "(Raqqa OR Rakka) AND (attack OR Anschlag) -football"
    hit = query_hit(query, body="Ein Anschlag in Rakka.", language="de")
    assert hit is not None
    assert hit.terms == {"Rakka": 1, "Anschlag": 1}
    assert query_hit(query, body="An attack in Raqqa after the football match.") is None
    assert query_hit(query, body="Raqqa was calm.") is None

    near = '"Islamic State" NEAR/5 Raqqa'
    assert query_hit(near, body="Islamic State fighters were driven out of Raqqa.")
    assert query_hit(near, body="Raqqa, once held by the Islamic State.")
    assert not query_hit(near, body="The Islamic State lost ground; months later, far away, Raqqa.")
    assert not query_hit(near, title="Islamic State", body="Raqqa")

    title_de = "title:Raqqa lang:de"
    assert query_hit(title_de, title="Raqqa nach dem Krieg", language="de")
    assert not query_hit(title_de, title="Raqqa after the war", language="en")
    assert not query_hit(title_de, body="Raqqa nach dem Krieg", language="de")


def test_a_field_named_in_the_query_is_searched_even_if_fields_leaves_it_out() -> None:
    assert query_hit("topics:Syria Raqqa", body="Raqqa", topics=("Syria",))
    assert not query_hit("Syria Raqqa", body="Raqqa", topics=("Syria",))


def test_exact_words_keep_their_case() -> None:
    assert query_hit("=IS Raqqa", body="IS fighters left Raqqa")
    assert not query_hit("=IS Raqqa", body="Raqqa is quiet")


def test_a_bad_query_stops_the_config_naming_the_watchlist_and_the_column() -> None:
    with pytest.raises(ValueError, match=r"watchlist 'syria': query column 10: expected a word"):
        WatchlistConfig(name="syria", query="Raqqa AND")
    with pytest.raises(
        ValueError, match="watchlist 'syria': query column 1: '\\(' is never closed"
    ):
        WatchlistConfig(name="syria", query="(Raqqa OR Rakka")
    with pytest.raises(ValueError, match="either a query or terms/match_case"):
        WatchlistConfig(name="syria", query="Raqqa", terms=["Rakka"])
    with pytest.raises(ValueError, match="require and exclude go with terms"):
        WatchlistConfig(name="syria", query="Raqqa", exclude=["football"])
    with pytest.raises(ValueError, match="needs a query or at least one of terms, match_case"):
        WatchlistConfig(name="syria")


def test_the_fingerprint_follows_what_the_query_means() -> None:
    def fingerprint(query: str) -> str:
        return WatchlistConfig(name="w", query=query).fingerprint()

    assert fingerprint("a AND (b AND c)") == fingerprint("a b   c")
    assert fingerprint("a b c") != fingerprint("a b OR c")
    assert fingerprint("Raqqa") != WatchlistConfig(name="w", terms=["Raqqa"]).fingerprint()


articles_with_language = st.tuples(articles, st.sampled_from(LANGUAGES))
punctuated = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from([" ", ", ", " - ", "\n", ". "]))
)
punctuated_articles = st.fixed_dictionaries(
    {field: punctuated.map(lambda parts: "".join(w + sep for w, sep in parts)) for field in FIELDS}
)


@settings(max_examples=300, deadline=None)
@given(articles_with_language, word_lists, word_lists, word_lists, word_lists)
def test_a_list_form_watchlist_and_its_query_form_match_the_same_articles(
    article_language: tuple[dict[str, str], str | None],
    terms: list[str],
    match_case: list[str],
    require: list[str],
    exclude: list[str],
) -> None:
    if not terms and not match_case:
        return
    article, language = article_language
    lists = WatchlistConfig(
        name="lists", terms=terms, match_case=match_case, require=require, exclude=exclude
    )
    query = format_query(list_form_query(terms, match_case, require, exclude))
    queried = WatchlistConfig(name="query", query=query)
    text = an_article(**article, language=language)
    by_lists, by_query = Matcher([lists]).match(text), Matcher([queried]).match(text)
    assert bool(by_lists) == bool(by_query)
    if by_lists:
        # the lists' fields are where their terms hit; the query's, where any of its positive
        # words did, `require` ones included: the same once there are none
        assert set(by_lists[0].fields) <= set(by_query[0].fields)
        if not require:
            assert by_lists[0].fields == by_query[0].fields


@settings(max_examples=400, deadline=None)
@given(
    queries,
    st.tuples(articles | punctuated_articles, st.sampled_from(LANGUAGES)),
    st.lists(st.sampled_from(FIELDS), min_size=1, unique=True),
)
def test_the_matcher_agrees_with_the_slow_reference_on_random_queries(
    query: Query,
    article_language: tuple[dict[str, str], str | None],
    fields: list[Field],
) -> None:
    assume(not matches_without_hits(query))
    article, language = article_language
    watchlist = WatchlistConfig(
        name="q", query=format_query(query), fields=fields, inflections=False, places=False
    )
    matched = bool(Matcher([watchlist]).match(an_article(**article, language=language)))
    assert matched == reference(query, article, language, fields)
