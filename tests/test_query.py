"""Watchlist queries as an analyst writes them: what they parse into, where a mistake is reported,
and that deciding an article agrees with a slow evaluator written independently here."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

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
from scheduler.cli import main
from scheduler.config import load_config

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
        ("a NEAR/5 b NEAR/3 c", Near(Term("a"), Term("b"), 5, ((3, Term("c")),))),
        ("(a NEAR/3 b) NEAR/10 c", Near(Near(Term("a"), Term("b"), 3), Term("c"), 10)),
        ("a NEAR/10 (b NEAR/3 c)", Near(Term("a"), Near(Term("b"), Term("c"), 3), 10)),
        (
            "(Raqqa AND attack) NEAR/5 Daesh",
            Near(And((Term("Raqqa"), Term("attack"))), Term("Daesh"), 5),
        ),
        (
            "(Raqqa attack) NEAR/5 Daesh",
            Near(And((Term("Raqqa"), Term("attack"))), Term("Daesh"), 5),
        ),
        (
            '"Islamic State" NEAR/5 (Raqqa OR Rakka)',
            Near(Phrase("Islamic State"), Or((Term("Raqqa"), Term("Rakka"))), 5),
        ),
        (
            "title:(a NEAR/2 b)",
            Near(Term("a", field="title"), Term("b", field="title"), 2),
        ),
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
        ("a NEAR/3 b NEAR/x c", 12, "NEAR needs a number of words"),
        ("(a -b) NEAR/3 c", 4, "put NOT, '-' and lang: outside it"),
        ("a NEAR/3 (b OR NOT c)", 16, "put NOT, '-' and lang: outside it"),
        ("(a lang:de) NEAR/3 c", 4, "a part of NEAR/n is made of words"),
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


@pytest.mark.parametrize(
    ("text", "line", "column", "says"),
    [
        ("(Raqqa OR Rakka)\nAND (attack OR\n  Anschlag OR)", 3, 14, "found ')'"),
        ("Raqqa\n  AND (attack OR Anschlag\n", 2, 7, "'(' is never closed"),
        ("Raqqa\n  title:Rakka\n  tittle:x", 3, 3, "unknown field 'tittle:'"),
        ("Raqqa\nNEAR/x attack", 2, 1, "NEAR needs a number of words"),
        ("Raqqa AND\n  attack AND\n", 2, 13, "found the end"),
        ("\n-football\n", 1, 1, "matches articles that contain none of its words"),
    ],
)
def test_a_mistake_in_a_query_of_several_lines_names_the_line_and_its_column(
    text: str, line: int, column: int, says: str
) -> None:
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query(text)
    assert str(raised.value).startswith(f"line {line}, column {column}: ")
    assert (raised.value.line, raised.value.column) == (line, column)
    assert says in str(raised.value)


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


def test_a_chain_wants_each_part_near_the_one_before_on_different_words() -> None:
    query = parse_query("a NEAR/1 b NEAR/1 c")  # leaves a=0, b=1, c=2

    def at(a: int, b: int, c: int, field_c: Field = "body") -> bool:
        return evaluate(
            query,
            {0: [Occurrence("body", a)], 1: [Occurrence("body", b)], 2: [Occurrence(field_c, c)]},
            None,
        )

    assert at(0, 2, 4)  # a _ b _ c
    assert at(4, 2, 0)  # either order
    assert at(2, 0, 1)  # b c a: a within 1 of b, c next to b
    assert not at(0, 2, 5)  # c two words after b
    assert not at(0, 3, 4)  # a two words before b, though c is near b
    assert not at(0, 2, 4, "title")
    same_word = parse_query("Raqqa NEAR/3 attack NEAR/3 Raqqa")  # two Raqqas
    once = {0: [Occurrence("body", 0)], 1: [Occurrence("body", 2)]}
    assert not evaluate(same_word, once, None)
    assert evaluate(same_word, {**once, 0: [Occurrence("body", 0), Occurrence("body", 4)]}, None)


def test_a_nested_near_is_one_part_spanning_its_pair() -> None:
    query = parse_query("(a NEAR/3 b) NEAR/1 c")

    def at(a: int, b: int, c: int) -> bool:
        return evaluate(
            query,
            {0: [Occurrence("body", a)], 1: [Occurrence("body", b)], 2: [Occurrence("body", c)]},
            None,
        )

    assert at(0, 4, 6)  # a _ _ _ b _ c: c one word after the pair's end
    assert at(4, 0, 6)  # the pair either way round
    assert at(2, 6, 0)  # c _ a: c one word before the pair's start
    assert at(0, 4, 2)  # c inside the pair's span, on a word of its own
    assert not at(0, 4, 7)  # two words after b
    assert not at(0, 5, 6)  # a and b four words apart: no pair
    chained = parse_query("a NEAR/3 b NEAR/1 c")
    occurrences = {
        0: [Occurrence("body", 4)],
        1: [Occurrence("body", 0)],
        2: [Occurrence("body", 6)],
    }
    assert evaluate(query, occurrences, None)  # c next to the pair (to a)
    assert not evaluate(chained, occurrences, None)  # but not next to b


def test_an_and_group_near_something_wants_every_member_and_the_group_span_near() -> None:
    query = parse_query("(Raqqa AND attack) NEAR/2 Daesh")  # Raqqa=0, attack=1, Daesh=2

    def at(raqqa: list[int], attack: list[int], daesh: list[int]) -> bool:
        def where(positions: list[int]) -> list[Occurrence]:
            return [Occurrence("body", p) for p in positions]

        return evaluate(query, {0: where(raqqa), 1: where(attack), 2: where(daesh)}, None)

    assert at([0], [9], [12])  # members far apart, two words between the group and Daesh
    assert at([5], [9], [2])  # Daesh two words before the group
    assert at([0], [9], [4])  # Daesh inside the group's span
    assert not at([0], [9], [13])
    assert not at([0], [], [1])  # every member must occur
    assert not at([0], [1], [0])  # not on the same word
    assert at([0], [1], [0, 3])
    title_member = {
        0: [Occurrence("title", 0)],
        1: [Occurrence("body", 0)],
        2: [Occurrence("body", 1)],
    }
    assert not evaluate(query, title_member, None)  # the members in one field


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


def _canonical(kind: type[And] | type[Or], items: list[Query]) -> Query:
    """n-ary and flat, as the parser builds them."""
    flat: list[Query] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


distances = st.integers(0, 3)


def _near_of(parts: list[Query], gaps: list[int]) -> Near:
    return Near(parts[0], parts[1], gaps[0], tuple(zip(gaps[1:], parts[2:], strict=True)))


def _nears_over(parts: st.SearchStrategy[Query]) -> st.SearchStrategy[Near]:
    """Two parts, or a chain of three, with a distance between each."""
    return st.integers(2, 3).flatmap(
        lambda size: st.builds(
            _near_of,
            st.lists(parts, min_size=size, max_size=size),
            st.lists(distances, min_size=size - 1, max_size=size - 1),
        )
    )


def near_parts(leaf: st.SearchStrategy[Leaf]) -> st.SearchStrategy[Query]:
    """A part of NEAR: a leaf, or AND / OR / NEAR of parts (groups and nesting)."""
    return st.recursive(
        leaf,
        lambda children: (
            st.lists(children, min_size=2, max_size=3).map(lambda items: _canonical(Or, items))
            | st.lists(children, min_size=2, max_size=2).map(lambda items: _canonical(And, items))
            | _nears_over(children)
        ),
        max_leaves=4,
    )


near_sides = near_parts(leaf_nodes)
nears = _nears_over(near_sides)
# fewer fields and no exact case: NEARs that find something in the texts made for them
plain_leaves: st.SearchStrategy[Leaf] = st.builds(
    Term, st.sampled_from(TERM_TEXTS), st.booleans(), st.just(False)
) | st.builds(Phrase, st.sampled_from(PHRASE_TEXTS), st.booleans(), st.just(False))
plain_nears = _nears_over(near_parts(plain_leaves))
langs = st.builds(Lang, st.sampled_from(["de", "en", "de-at"]))


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


RefSpan = tuple[str, int, int, frozenset[int]]  # field, first char, end char, chars found


def reference(
    query: Query,
    article: dict[str, str],
    language: str | None,
    fields: list[Field] | None,
) -> bool:
    def spans(part: Query) -> set[RefSpan]:
        """Where a part of NEAR stands, by brute force over every combination."""
        if isinstance(part, Term | Phrase):
            searched = [part.field] if part.field else (fields or FIELDS)
            return {
                (field, start, end, frozenset(range(start, end)))
                for field in searched
                for start, end in reference_spans(part, article[field])
            }
        if isinstance(part, Or):
            return {span for item in part.items for span in spans(item)}
        if isinstance(part, And):
            found = set()
            for chosen in itertools.product(*(spans(item) for item in part.items)):
                if len({span[0] for span in chosen}) == 1:
                    found.add(hull(chosen, frozenset().union(*(span[3] for span in chosen))))
            return found
        assert isinstance(part, Near)
        found = set()
        for chosen in itertools.product(*(spans(item) for item in part.parts)):
            chars = [span[3] for span in chosen]
            if (
                len({span[0] for span in chosen}) == 1
                and sum(map(len, chars)) == len(frozenset().union(*chars))  # different words
                and all(
                    words_between(chosen[at], chosen[at + 1]) <= distance
                    for at, distance in enumerate(part.distances)
                )
            ):
                found.add(hull(chosen, frozenset().union(*chars)))
        return found

    def hull(chosen: tuple[RefSpan, ...], chars: frozenset[int]) -> RefSpan:
        return (chosen[0][0], min(s[1] for s in chosen), max(s[2] for s in chosen), chars)

    def words_between(a: RefSpan, b: RefSpan) -> int:
        if a[1] < b[2] and b[1] < a[2]:
            return 0  # one reaches into the other
        return len(re.findall(r"\w+", article[a[0]][min(a[2], b[2]) : max(a[1], b[1])]))

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
    return bool(spans(query))


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


def texts_for(query: Query) -> st.SearchStrategy[str]:
    """Texts made of the query's own words and a filler, so its NEARs have something to find."""
    words = sorted({word for leaf in leaves(query) for word in leaf.text.split()})
    return st.lists(st.sampled_from([*words, "filler"]), max_size=12).map(" ".join)


@settings(max_examples=500, deadline=None)
@given(st.data(), plain_nears | nears | near_sides.map(lambda part: Near(part, part, 1)))
def test_chained_nested_and_grouped_nears_agree_with_the_slow_reference(
    data: st.DataObject, query: Query
) -> None:
    """The evaluator over word positions, and the matcher (its automaton finding the words in
    the text), against the reference over regular-expression matches."""
    article = data.draw(st.fixed_dictionaries({field: texts_for(query) for field in FIELDS}))
    fields = data.draw(st.lists(st.sampled_from(FIELDS), min_size=1, unique=True))
    expected = reference(query, article, None, fields)
    occurrences = occurrences_by_tokens(leaves(query), article)
    assert evaluate(query, occurrences, None, fields) == expected
    watchlist = WatchlistConfig(
        name="q", query=format_query(query), fields=fields, inflections=False, places=False
    )
    assert bool(Matcher([watchlist]).match(an_article(**article))) == expected


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


def test_chained_nested_and_grouped_nears_match_the_articles_an_analyst_expects() -> None:
    group = "(Raqqa AND attack) NEAR/5 Daesh"
    hit = query_hit(group, body="Daesh fighters claimed the attack on Raqqa on Monday.")
    assert hit is not None and hit.terms == {"Raqqa": 1, "attack": 1, "Daesh": 1}
    assert query_hit(group, body="Raqqa: Daesh claimed it. A long week later, an attack.")
    assert not query_hit(
        group, body="Daesh was driven out long ago, the city says. Raqqa saw an attack."
    )
    assert not query_hit(group, body="Daesh claimed the attack.")  # every member of the group

    either = '"Islamic State" NEAR/5 (Raqqa OR Rakka)'
    assert query_hit(either, body="Fighters of the Islamic State left Rakka.", language="de")
    assert not query_hit(
        either, body="The Islamic State lost ground; months later, far away, Raqqa."
    )

    chain = "Raqqa NEAR/3 attack NEAR/3 Daesh"
    assert query_hit(chain, body="In Raqqa an attack, claimed by Daesh.")
    assert not query_hit(chain, body="In Raqqa an attack was reported; later on, the Daesh group")
    # each part near the one written before it: attack is five words from Raqqa here
    assert not query_hit(chain, body="Raqqa, they say, Daesh then claimed attack.")
    assert query_hit(
        "Raqqa NEAR/3 Daesh NEAR/3 attack", body="Raqqa, they say, Daesh then claimed attack."
    )

    nested = "(Raqqa NEAR/1 attack) NEAR/3 Daesh"
    assert query_hit(nested, body="Daesh claimed it: attack in Raqqa.")  # Daesh near the pair
    assert not query_hit(nested, body="Daesh claimed it: an attack, they say, in Raqqa.")


def test_a_grouped_near_finds_inflections_and_place_names_as_a_word_does() -> None:
    watchlist = WatchlistConfig(name="q", query="(Raqqa AND Anschlag) NEAR/5 Daesh")
    article = an_article(body="Daesh bekannte sich zu den Anschlägen in Rakka.", language="de")
    hits = Matcher([watchlist]).match(article)
    assert hits and hits[0].terms == {"Raqqa": 1, "Anschlag": 1, "Daesh": 1}


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


def test_newswatch_check_names_the_line_and_column_of_a_mistake_in_a_multi_line_query(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        '[[watchlists]]\nname = "syria"\nterms = ["Raqqa"]\n\n'
        "[[watchlists]]\n"
        'name = "is-raqqa"\n'
        "query = '''\n"
        '("Islamic State" OR Daesh)\n'
        "  NEAR/5 (Raqqa OR Rakka\n"
        "     OR Ракка))\n"
        "'''\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "check"]) == 2
    out, err = capsys.readouterr()
    assert err == (
        f"newswatch: config error: {config}: watchlists[1]: watchlist 'is-raqqa': "
        "query line 3, column 15: ')' closes no '('\n"
    )
    assert out == ""
    # mended, the same file loads and check accepts it
    config.write_text(config.read_text(encoding="utf-8").replace("Ракка))", "Ракка)"))
    assert load_config(config).watchlists[1].rules() == Near(
        Or((Phrase("Islamic State"), Term("Daesh"))),
        Or((Term("Raqqa"), Term("Rakka"), Term("Ракка"))),
        5,
    )
    assert main(["--config", str(config), "check"]) == 0
    assert "watchlist is-raqqa" in capsys.readouterr().out


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
