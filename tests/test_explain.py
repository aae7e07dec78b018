"""`newswatch explain` as a user runs it: on real DW pages, demo pages and plain text; its JSON
shape; its one-line errors and exit statuses. No database is involved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo import DemoServer
from demo.articles import demo_articles
from demo.site import DemoSite
from scheduler.cli import main
from store.clock import fixed_clock
from tests.test_cli import NOW

SAMPLE_PAGES = [
    "article-de-2023-a-64976342-old-layout.html",
    "article-de-2023-a-65106525-old-layout.html",
    "article-de-2024-a-68117411-new-layout.html",
    "article-en-2020-a-52060881-old-layout.html",
    "article-fr-2011-a-6533123-old-layout.html",
    "video-de-2018-av-42986168-old-layout.html",
    "video-de-2021-av-56780778-old-layout.html",
]
WATCHLIST_KEYS = ["name", "matched", "terms", "fields", "snippet", "hits"]
HIT_KEYS = ["term", "form", "how", "field"]
CONFIG = """
[[watchlists]]
name = "syria"
terms = ["Raqqa", "Daesh", "Islamic State"]
match_case = ["IS"]

[[watchlists]]
name = "amazon"
terms = ["Brasilien*", "Regenwald"]
exclude = ["Fußball"]

[[watchlists]]
name = "habeck-nuclear"
terms = ["Habeck"]
require = ["Atomkraft"]

[[watchlists]]
name = "english-habeck"
terms = ["Habeck"]
languages = ["en"]
"""
HABECK_PAGE = "article-de-2023-a-64976342-old-layout.html"  # Habeck in Brazil, rainforest


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args), clock=fixed_clock(NOW))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def explain_json(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> list[dict]:
    code, out, err = run(capsys, "--config", str(config), "explain", *args, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert list(document) == ["watchlists"]
    for watchlist in document["watchlists"]:
        assert list(watchlist) == WATCHLIST_KEYS
        for hit in watchlist["hits"]:
            assert list(hit) == HIT_KEYS
            assert hit["how"] in ("exact", "inflection", "place")
    return document["watchlists"]


@pytest.mark.parametrize("name", SAMPLE_PAGES)
def test_explain_json_has_one_entry_per_watchlist_for_each_real_page(
    dw_samples, capsys, config, name
) -> None:
    watchlists = explain_json(capsys, config, str(dw_samples / name))
    assert [w["name"] for w in watchlists] == [
        "syria",
        "amazon",
        "habeck-nuclear",
        "english-habeck",
    ]
    for watchlist in watchlists:
        if not watchlist["matched"]:
            assert (watchlist["terms"], watchlist["fields"], watchlist["snippet"]) == ({}, [], None)
            assert watchlist["hits"] == []


def test_explain_says_which_terms_hit_a_real_page_where_and_why_others_did_not(
    dw_samples, capsys, config
) -> None:
    code, out, err = run(capsys, "--config", str(config), "explain", str(dw_samples / HABECK_PAGE))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "4OdJW (de, article): Habeck will besseren Schutz für Brasiliens Regenwald"
    assert "syria: no match (no term found in title, teaser, body)" in lines
    assert "amazon: matches" in lines
    assert "  snippet  Habeck will besseren Schutz für [Brasilien]s [Regenwald]" in lines
    assert "habeck-nuclear: no match (terms Habeck found, but require Atomkraft not)" in lines
    assert "english-habeck: no match (only for articles in en; this one is in de)" in lines
    assert any(line.strip().startswith("Regenwald (exact) in title") for line in lines)


def test_explain_json_of_a_real_page_gives_terms_fields_snippet_and_hits(
    dw_samples, capsys, config
) -> None:
    watchlists = explain_json(
        capsys, config, str(dw_samples / HABECK_PAGE), "--watchlist", "amazon"
    )
    assert len(watchlists) == 1
    amazon = watchlists[0]
    assert amazon["matched"] is True
    assert list(amazon["terms"]) == ["Brasilien*", "Regenwald"]
    assert amazon["fields"] == ["title", "teaser", "body"]
    assert amazon["snippet"] == "Habeck will besseren Schutz für [Brasilien]s [Regenwald]"
    assert {"term": "Regenwald", "form": "Regenwald", "how": "exact", "field": "title"} in amazon[
        "hits"
    ]


def test_explain_works_on_every_demo_page(capsys, tmp_path, config) -> None:
    site = DemoSite(demo_articles(NOW))
    matched = {}
    for article in site.articles:
        page = tmp_path / f"{article.short_id}.html"
        page.write_bytes(site.page(article))
        syria = explain_json(capsys, config, str(page), "--watchlist", "syria")[0]
        matched[article.short_id] = syria["matched"]
    assert matched["1HDPC"] is True  # the seed article: France and 'IS'
    assert matched["4fYgE"] is False  # "ISS crew returns": ISS is not IS


def test_explain_of_a_russian_text_file_finds_the_term_as_written(capsys, tmp_path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('[[watchlists]]\nname = "syria"\nterms = ["Ракка"]\n', encoding="utf-8")
    text = tmp_path / "ru.txt"
    text.write_text("Город Ракка на севере Сирии.\n", encoding="utf-8")
    watchlists = explain_json(capsys, config, "--text-file", str(text), "--language", "ru")
    assert watchlists == [
        {
            "name": "syria",
            "matched": True,
            "terms": {"Ракка": 1},
            "fields": ["body"],
            "snippet": "Город [Ракка] на севере Сирии.",
            "hits": [{"term": "Ракка", "form": "Ракка", "how": "exact", "field": "body"}],
        }
    ]


def test_explain_of_an_arabic_text_file_in_text_form(capsys, tmp_path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('[[watchlists]]\nname = "iraq"\nterms = ["الموصل"]\n', encoding="utf-8")
    text = tmp_path / "ar.txt"
    text.write_text("معارك في الموصل شمال العراق", encoding="utf-8")
    code, out, err = run(
        capsys, "--config", str(config), "explain", "--text-file", str(text), "--language", "ar"
    )
    assert code == 0, err
    assert out.splitlines() == [
        f"{text} (ar, 5 words)",
        "iraq: matches",
        "  terms    الموصل ×1",
        "  hits     الموصل (exact) in body",
        "  fields   body",
        "  snippet  معارك في [الموصل] شمال العراق",
    ]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["explain", "{tmp}/nope.html"], 2, "nope.html"),
        (["explain", "--text-file", "{tmp}/nope.txt", "--language", "ru"], 2, "nope.txt"),
        (["explain", "{tmp}/other.html"], 1, "not a DW content page"),
        (["explain", "{sample}", "--watchlist", "nope"], 2, "no watchlist named 'nope'"),
        (["explain", "--text-file", "{tmp}/ru.txt", "--language", "russian"], 2, "'russian'"),
        (["explain", "--text-file", "{tmp}/ru.txt"], 2, "--text-file needs --language"),
        (["explain", "{sample}", "--text-file", "{tmp}/ru.txt"], 2, "not both"),
        (["explain"], 2, "needs a FILE_OR_URL or --text-file"),
        (["explain", "--text-file", "{tmp}/latin1.txt", "--language", "de"], 2, "not UTF-8"),
    ],
)
def test_explain_errors_are_one_line_with_the_cli_exit_status(
    dw_samples, capsys, tmp_path, config, args, code, says
) -> None:
    (tmp_path / "other.html").write_text("<html><head><title>Hi</title></head><body>x</body>")
    (tmp_path / "ru.txt").write_text("Ракка", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Größe".encode("latin-1"))
    sample = str(dw_samples / HABECK_PAGE)
    argv = [arg.format(tmp=tmp_path, sample=sample) for arg in args]
    got, out, err = run(capsys, "--config", str(config), *argv)
    assert (got, out) == (code, "")
    assert says in err and err.count("\n") == 1 and err.startswith("newswatch: ")


def test_explain_help_says_what_it_prints(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["explain", "--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0
    for words in ("--text-file", "--language", "--watchlist", "--json", "inflection", "place"):
        assert words in out


MULTILINGUAL = """
[[watchlists]]
name = "syria"
terms = ["Raqqa", "Ракка", "Islamic State"]

[[watchlists]]
name = "iraq"
terms = ["Mosul"]

[[watchlists]]
name = "syria-as-written"
terms = ["Raqqa", "=Ракка"]
inflections = false
places = false
"""


@pytest.fixture
def multilingual(tmp_path: Path) -> Path:
    path = tmp_path / "multilingual.toml"
    path.write_text(MULTILINGUAL, encoding="utf-8")
    return path


def test_explain_of_a_russian_text_names_the_inflected_form_and_the_place_alias(
    capsys, tmp_path, multilingual
) -> None:
    text = tmp_path / "ru.txt"
    text.write_text("Бои в районе Ракки возобновились.", encoding="utf-8")
    watchlists = explain_json(capsys, multilingual, "--text-file", str(text), "--language", "ru")
    syria, iraq, as_written = watchlists
    assert syria["matched"] and syria["terms"] == {"Raqqa": 1, "Ракка": 1}
    assert {"term": "Ракка", "form": "Ракки", "how": "inflection", "field": "body"} in syria["hits"]
    assert {"term": "Raqqa", "form": "Ракки", "how": "place", "field": "body"} in syria["hits"]
    assert syria["snippet"] == "Бои в районе [Ракки] возобновились."
    assert not iraq["matched"] and not as_written["matched"]
    code, out, _ = run(
        capsys, "--config", str(multilingual), "explain", "--text-file", str(text),
        "--language", "ru", "--watchlist", "syria",
    )  # fmt: skip
    assert code == 0
    assert "Ракки ← Ракка (inflection) in body" in out
    assert "Ракки ← Raqqa (place: Ar Raqqah) in body" in out


def test_explain_of_an_arabic_text_names_the_place_of_each_alias(
    capsys, tmp_path, multilingual
) -> None:
    text = tmp_path / "ar.txt"
    text.write_text("معارك قرب الرقة، وقوات تتقدم نحو والموصل", encoding="utf-8")
    code, out, err = run(
        capsys, "--config", str(multilingual), "explain", "--text-file", str(text),
        "--language", "ar",
    )  # fmt: skip
    assert code == 0, err
    lines = [line.strip().removeprefix("hits").strip() for line in out.splitlines()]
    assert "الرقة ← Raqqa (place: Ar Raqqah) in body" in lines
    assert "الرقة ← Ракка (place: Ar Raqqah) in body" in lines
    assert "والموصل ← Mosul (place: Mosul) in body" in lines
    assert "snippet  معارك قرب [الرقة]، وقوات تتقدم نحو والموصل" in lines
    assert "syria-as-written: no match (no term found in title, teaser, body)" in lines


def test_explain_with_inflections_and_places_off_hits_only_as_written(
    capsys, tmp_path, multilingual
) -> None:
    text = tmp_path / "ru.txt"
    text.write_text("Ракка, Ракки и РАККА", encoding="utf-8")
    watchlists = explain_json(
        capsys, multilingual, "--text-file", str(text), "--language", "ru",
        "--watchlist", "syria-as-written",
    )  # fmt: skip
    assert watchlists[0]["terms"] == {"=Ракка": 1}
    assert watchlists[0]["hits"] == [
        {"term": "=Ракка", "form": "Ракка", "how": "exact", "field": "body"}
    ]


def test_explain_on_a_real_german_page_finds_inflections_only_with_them_on(
    dw_samples, capsys, tmp_path
) -> None:
    """The Brazil page writes `Regenwald`, `Regenwaldes` and `Regenwalds`."""
    config = tmp_path / "rainforest.toml"
    config.write_text(
        '[[watchlists]]\nname = "on"\nterms = ["Regenwald"]\n'
        '[[watchlists]]\nname = "off"\nterms = ["Regenwald"]\ninflections = false\n'
        "places = false\n",
        encoding="utf-8",
    )
    on, off = explain_json(capsys, config, str(dw_samples / HABECK_PAGE))
    assert on["matched"] and off["matched"]
    inflected = {hit["form"] for hit in on["hits"] if hit["how"] == "inflection"}
    assert inflected and inflected <= {"Regenwaldes", "Regenwalds"}
    assert {hit["form"] for hit in off["hits"]} == {"Regenwald"}
    assert on["terms"]["Regenwald"] > off["terms"]["Regenwald"]


def test_check_lists_place_expansions_and_the_languages_with_inflections(
    capsys, multilingual
) -> None:
    code, out, err = run(capsys, "--config", str(multilingual), "check")
    assert code == 0, err
    lines = out.splitlines()
    assert "  watchlist syria: 3 terms; inflections on, places on" in lines
    assert "  watchlist syria-as-written: 2 terms; inflections off, places off" in lines
    raqqa = next(line for line in lines if line.startswith("    place Raqqa → "))
    assert "Ракка" in raqqa and "(Ar Raqqah, GeoNames" in raqqa
    assert any(line.startswith("    place Mosul → ") for line in lines)
    assert not any("Islamic State →" in line for line in lines)  # names no place
    places_of_exact = lines[lines.index("  watchlist syria-as-written: 2 terms; inflections off, "
                                        "places off") + 1]  # fmt: skip
    assert not places_of_exact.startswith("    place")
    inflections = next(line for line in lines if line.startswith("  inflections: "))
    for language in ("ar", "de", "ru", "tr", "uk"):
        assert f" {language}," in inflections or f" {language};" in inflections


def test_explain_of_a_url_fetches_the_page(capsys, multilingual) -> None:
    """The Russian demo article about Raqqa, fetched from the demo site on loopback."""
    articles = demo_articles(NOW)
    raqqa = next(article for article in articles if article.short_id == "4fdsk")
    with DemoServer(articles) as server:
        url = server.url(raqqa.canonical_path)
        watchlists = explain_json(capsys, multilingual, url, "--watchlist", "syria")
    assert watchlists[0]["matched"] is True
    assert watchlists[0]["snippet"].startswith("Сирия: в районе [Ракки]")


QUERIES = """
[[watchlists]]
name = "raqqa-attacks"
query = '(Raqqa OR Rakka) AND (Anschlag OR attack) -football'

[[watchlists]]
name = "mosul"
query = 'Mosul'
"""


def test_explain_and_check_with_query_watchlists(capsys, tmp_path) -> None:
    config = tmp_path / "queries.toml"
    config.write_text(QUERIES, encoding="utf-8")
    text = tmp_path / "de.txt"
    text.write_text("Anschlag in Rakka: mindestens sieben Tote", encoding="utf-8")
    code, out, err = run(
        capsys, "--config", str(config), "explain", "--text-file", str(text), "--language", "de"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert "raqqa-attacks: matches" in lines
    assert "  snippet  [Anschlag] in [Rakka]: mindestens sieben Tote" in lines
    assert "mosul: no match (the query does not match)" in lines
    code, out, err = run(capsys, "--config", str(config), "check")
    assert code == 0, err
    lines = out.splitlines()
    assert (
        "  watchlist raqqa-attacks: query '(Raqqa OR Rakka) AND (Anschlag OR attack) -football'; "
        "inflections on, places on"
    ) in lines
    assert any(line.startswith("    place Raqqa → ") for line in lines)
    assert any(line.startswith("    place Mosul → ") for line in lines)
    assert not any(line.startswith("    place Anschlag") for line in lines)
