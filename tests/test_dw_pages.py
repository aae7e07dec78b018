"""crawler.dw_page on real DW pages (both layouts) and on hostile input.

The real pages come from ``$NEWSWATCH_DW_SAMPLES`` (see its SOURCES.md). Every expected value
below was read off the page by hand: the smallList / JSON-LD / Apollo state for ids, dates,
authors and topics, the longText / rich-text for the first and last paragraph.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crawler.dw_page import PageError, ParsedPage, parse_page
from store.article_schema import PAGE_FIELDS
from store.dw_ids import short_id

BERLIN = ZoneInfo("Europe/Berlin")
JSON_KEYS = {*PAGE_FIELDS, "sources"}  # the documented list: tests/test_cli.py PARSE_JSON_KEYS
KINDS = {"article", "video", "gallery", "live", "audio"}
SHORT_ID = re.compile(r"[0-9A-Za-z]{1,11}")  # base 62
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,2}")  # en, pt-br, sr-latn-rs
# what PostgreSQL or UTF-8 refuses: NUL, the C0 controls but tab and newline, lone surrogates
UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")
# the reasons parse_page gives on purpose; "unreadable page (...)" means the parser crashed
REASONS = (
    "empty document",
    "no DW content id: ",
    "not a DW page: ",
    "not a DW content page: ",
    "no title: not a DW content page (",
)
NO_ADDRESS = "no DW content id: no canonical/og:url DW address, no url, no Permalink"


def skip_or_fail(reason: str) -> None:
    """Skip, or fail where NEWSWATCH_REQUIRE_SERVICES=1 says the real pages must be there."""
    if os.environ.get("NEWSWATCH_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (NEWSWATCH_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def samples_folder() -> Path:
    folder = os.environ.get("NEWSWATCH_DW_SAMPLES")
    if not folder:
        skip_or_fail("NEWSWATCH_DW_SAMPLES is not set: no real DW pages to test against")
    path = Path(folder or "")
    if not path.is_dir():
        skip_or_fail(f"NEWSWATCH_DW_SAMPLES={folder} is not a folder")
    return path


@cache
def parsed_sample(name: str) -> ParsedPage:
    path = samples_folder() / name
    if not path.is_file():
        skip_or_fail(f"sample page {name} is missing from {path.parent}")
    return parse_page(path.read_bytes())


@dataclass(frozen=True)
class Expected:
    short_id: str
    content_id: int
    url: str
    language: str
    kind: str
    title: str
    teaser_start: str
    published_at: datetime
    authors: list[str]
    topics: list[str]
    captions: list[str]
    first_paragraph: str  # the whole paragraph ("" for a video page without text)
    last_paragraph: str
    subheads: list[str] = field(default_factory=list)
    junk: list[str] = field(default_factory=list)  # must appear nowhere in body
    modified_at: datetime | None = None


EN_2020 = Expected(
    short_id="3WRPd",
    content_id=52060881,
    url="https://www.dw.com/en/berlin-confronts-germanys-colonial-past-with-new-initiative/a-52060881",
    language="en",
    kind="article",
    title="Berlin confronts Germany's colonial past with new initiative",
    teaser_start="The German capital has launched a five-year project to mark its part in",
    published_at=datetime(2020, 1, 19, tzinfo=BERLIN),
    authors=["Ben Knight"],
    topics=["Berlin", "colonialism", "German Reich", "Africa", "Wedding"],
    captions=[
        "Tahir Della helped organize Berlin's new initiative",
        "Petersallee is to be renamed after the Maji Maji Rebellion against German rule",
    ],
    first_paragraph=(
        "Berlin's relationship with its colonial history is being reconsidered, despite "
        "opposition from far-right politicians and some disgruntled locals unhappy at plans to "
        "change the names of their streets."
    ),
    last_paragraph=(
        "The city of Berlin itself became a major part of African colonial history in 1884, when "
        "Chancellor Otto von Bismarck hosted the infamous Berlin Conference which regulated "
        "Europe's colonization in Africa, and which opened the gates to a period of intense "
        "imperialist activity."
    ),
    subheads=["Freedom fighters replace colonial leaders", "Right-wing resistance"],
    junk=[
        "Namibians want Germany to remove monuments",  # embedded video teaser (short id 2Xns8)
        "Watch video",
        "2Xns8",
        "'Our future is on the water'",  # picture gallery slides
        "Under Chancellor Otto von Bismarck, Germany's colonial empire",
        "Julia Hitz",
        "Racist, ruthless, cruel",
        "Tahir Della helped organize",  # captions belong in captions
        "picture-alliance",  # image credits
        "(Tahir Della)",
        "Read more",  # inline related links
        "Recognizing Germany colonial crimes",
        "Sign up for the newsletter",
        "Permalink",
        "p.dw.com",
        "Facebook",
        "DW recommends",
        "Send us your feedback",
    ],
)

FR_2011 = Expected(
    short_id="RPYx",
    content_id=6533123,
    url=(
        "https://www.dw.com/fr/la-perte-des-terres-fertiles-et-les-%C3%A9l%C3%A9phants-en-"
        "guin%C3%A9e-conakry/a-6533123"
    ),
    language="fr",
    kind="article",
    title="La perte des terres fertiles et les éléphants en Guinée-Conakry",
    teaser_start="24 milliards de tonnes de terres fertiles sont perdues chaque année",
    published_at=datetime(2011, 5, 23, tzinfo=BERLIN),
    authors=["Kossivi Tiassou"],  # from the "Auteur : ..." credit line, no Author item here
    topics=[],
    captions=[],
    first_paragraph="Auteur : Kossivi Tiassou",
    last_paragraph="Edition : M-A. Pioerron",
    junk=["Permalien", "Imprimer", "Audios et vidéos sur le sujet", "p.dw.com"],
)

DE_2023_HABECK = Expected(
    short_id="4OdJW",
    content_id=64976342,
    url="https://www.dw.com/de/habeck-will-besseren-schutz-f%C3%BCr-brasiliens-regenwald/a-64976342",
    language="de",
    kind="article",
    title="Habeck will besseren Schutz für Brasiliens Regenwald",
    teaser_start="Wirtschaftsminister Robert Habeck dringt auf einen deutsch-brasilianischen",
    published_at=datetime(2023, 3, 14, tzinfo=BERLIN),
    authors=[],
    topics=[
        "Amazonas",
        "Robert Habeck",
        "Migration nach Deutschland",
        'Luiz Inácio "Lula" da Silva',
        "Deutschland",
        "Berlinale",
        "Brasilien",
        "Regenwald",
        "Lula da Silva",
    ],
    captions=[
        "Der idyllische Schein trügt: der Regenwald im Amazonasgebiet ist in Gefahr",
        "Bundeswirtschaftsminister Robert Habeck will die Beziehungen zu Brasilien stärken",
        "In Belo Horizonte wurden die deutsch-brasilianischen Wirtschaftstage eröffnet",
        "Die Abholzung des Regenwaldes schreitet bislang voran",
    ],
    first_paragraph=(
        "Seit dem Machtwechsel in Brasilien wird von deutscher Seite versucht, die Beziehungen zu "
        "dem südamerikanischen Land wieder zu verbessern und neue Formen der Kooperation zu "
        "suchen. Das wird auch auf der mehrtägigen Brasilien-Reise von Bundeswirtschaftsminister "
        "und Vizekanzler Robert Habeck deutlich. So machte der Grünen-Politiker beim Start der "
        "deutsch-brasilianischen Wirtschaftstage in Belo Horizonte klar, dass es einen Aufbruch "
        "in den deutsch-brasilianischen Beziehungen geben soll."
    ),
    last_paragraph="cwo/fab (dpa, afp)",  # DW's own agency credit line closes the text
    subheads=[
        "Freihandelsabkommen im Blick",
        "Besuch bei indigenem Volk im Amazonas",
        "Abholzung geht weiter",
    ],
    junk=[
        "Der idyllische Schein trügt",
        "Luftbild auf den Regenwald",
        "Die Redaktion empfiehlt",
        "Scholz lobt Brasiliens Klima-Pläne",
        "Permalink",
        "Seite drucken",
        "Schicken Sie uns Ihr Feedback",
    ],
)

DE_2023_LIBANON = Expected(
    short_id="4PBBF",
    content_id=65106525,
    url="https://www.dw.com/de/libanon-wirtschafts-krise-ohne-ende/a-65106525",
    language="de",
    kind="article",
    title="Libanon: (Wirtschafts-)Krise ohne Ende",
    teaser_start="Der Libanon ist pleite, Zahlungen aus dem Ausland an Organisationen",
    published_at=datetime(2023, 3, 25, tzinfo=BERLIN),
    authors=["Diana Hodali"],
    topics=[
        "Dollar",
        "Michel Aoun",
        "Finanzkrise",
        "Libanon",
        "Beirut",
        "Wirtschaftskrise",
        "Libanesische Lira",
        "Libanesische Pfund",
        "Korruption",
        "Reformen",
    ],
    captions=[
        "Ein libanesischer Soldat steht vor einem zerstörten Geldautomaten in Beirut.",
        "Mittlerweile sind 105.000 Libanesische Pfund einen Dollart wert",
        "Die Abhebungen von den Banken sind eingeschränkt, die Menschen kommen kaum an ihr "
        "Erspartes",
        "Benzin ist teuer, die Menschen stehen Schlange für Brot - die Krisen nehmen kein Ende",
        "Libanon-Expertin Lina Khatib ist scheidende Direktorin des Middle East Programme des in "
        "London ansässigen Chatham House und neue Direktorin des SOAS Middle East Institute",
        "Immer wieder kommt es zu Protesten und Streiks im Libanon",
    ],
    first_paragraph=(
        "Früher standen die Telefone von Pure Taxi in Beirut nicht still. 30 Autos waren kurz "
        "nach der Gründung des Unternehmens 2014/2015 unterwegs und haben die Kunden von A nach "
        "B gebracht. Das Geschäft florierte."
    ),
    last_paragraph=(
        'Doch davon ist das Land zum jetzigen Zeitpunkt weit entfernt. "Der Staat ist einfach '
        'abwesend", sagt Automechaniker Mahmoud Sidawi. "Wir kümmern uns um uns selbst."'
    ),
    subheads=[
        '"Eine der weltweit schlimmsten Krisen seit Mitte des 19. Jahrhunderts"',
        "Korruption und Misswirtschaft der libanesischen Politiker",
        "Kurzfristige Hilfen aus dem Ausland reichen nicht",
    ],
    junk=[
        "Ein libanesischer Soldat steht",
        "Libanon Wirtschaftskrise Protest in Beirut",  # image title/alt
        "Cholera verschärft die Krise im Libanon",  # recommended / related content
        "Libanon am Abgrund",
        "Permalink",
        "Autorin/Autor",
    ],
)

DE_2024_REACT = Expected(
    short_id="4boRv",
    content_id=68117411,
    url=(
        "https://www.dw.com/de/russland-wahl-nadeschdin-setzt-auf-ein-ende-der-putin-%C3%A4ra/"
        "a-68117411"
    ),
    language="de",
    kind="article",
    title="Russland-Wahl: Nadeschdin setzt auf ein Ende der Putin-Ära",
    teaser_start="Tausende standen für ihn stundenlang in der Kälte: Boris Nadeschdin will",
    published_at=datetime(2024, 1, 30, 14, 13, 12, 269000, tzinfo=UTC),
    modified_at=datetime(2024, 1, 30, 14, 13, 51, 283000, tzinfo=UTC),
    authors=["Jennifer Pahlke"],
    topics=["Ende des Getreideabkommens", "Russland", "Finnland", "Krieg in der Ukraine"],
    captions=[
        "Gilt als einziger Antikriegskandidat für die russische Präsidentschaftswahl: "
        "Boris Nadeschdin",
        "Alles streng im Blick: Bilder von Überwachungskameras in Wahllokalen während der "
        "Parlamentswahl 2021",
        "Wollte gegen Putin antreten, wurde aber von der Wahl ausgeschlossen: die Journalistin "
        "Ekaterina Duntzova",
        "Wladimir Putin auf einer Wahlkampfveranstaltung im Moskauer Luschniki-Stadion",
    ],
    first_paragraph=(
        "Die erste Hürde hat er gemeistert: Boris Nadeschdin darf 100.000 Unterschriften sammeln. "
        "Unterschriften, die er braucht, um bei der russischen Präsidentschaftswahl im März gegen "
        "Amtsinhaber Wladimir Putin antreten zu dürfen. Nach eigenen Angaben hat er sogar schon "
        "200.000 zusammen - mehr als genug, um sie bei der Zentralen Wahlkommission der "
        "Russischen Föderation einzureichen, selbst wenn diese einige nicht anerkennen sollte. "
        "Erst nach Prüfung durch die Wahlkommission kann Nadeschdin als Präsidentschaftskandidat "
        "registriert werden. In der Vergangenheit waren bereits mehrfach Kandidaten wegen "
        'angeblicher "Formfehler" nicht zugelassen worden - etwa, weil Wahlhelfer angeblich '
        "teilweise Unterschriften nicht korrekt erfasst haben."
    ),
    last_paragraph=(
        "Sollte Nadeschdin mehr als fünf Prozent der Stimmen bekommen oder sogar Zweiter werden, "
        "wäre es, wenn auch kein politischer, so doch zumindest ein ideologischer Sieg: Denn das "
        "Bild des Zusammenhalts der russischen Bevölkerung gegen die Ukraine und den Westen, "
        "welches der Kreml nur zu gerne nutzt, würde sichtbare Kratzer bekommen."
    ),
    subheads=[
        "Wer ist Boris Nadeschdin?",
        "Vor allem junge Menschen unterstützen Nadeschdin",
        "Unterstützung durch die Opposition",
        "Wie realistisch ist ein Sieg Nadeschdins?",
    ],
    junk=[
        "Bild:",  # image credits in figcaption <small class="copyright">
        "TASS",
        "REUTERS",
        "Alles streng im Blick",  # captions belong in captions
        "Anzeige",  # ad slots
        "Schicken Sie uns Ihr Feedback",
        "Ähnliche Themen",
        "Putins Regime wird durch Dialog gestärkt",  # dossier teaser (Article:59080161)
        "p.dw.com",
    ],
)

VIDEO_2018 = Expected(
    short_id="2uMfI",
    content_id=42986168,
    url="https://www.dw.com/de/global-3000-das-globalisierungsmagazin/av-42986168",
    language="de",
    kind="video",
    title="Global 3000 - Das Globalisierungsmagazin",
    teaser_start="Manipulation von Videos, was ist noch echt? Die Waisenkinder von Mossul",
    published_at=datetime(2018, 10, 28, tzinfo=BERLIN),  # still summer time at midnight
    authors=[],
    topics=[
        "Irak",
        "Griechenland",
        "Kenia",
        "Comic",
        "Waisen",
        "Cozumel",
        "Kreuzfahrtschiff",
        "Snack Thessaloniki",
        "Gyros",
        "Videomanipulation",
        "Waisenkinder",
        "Kreuzfahrtschiffe",
    ],
    captions=[],
    first_paragraph="",  # a video page: player and teaser, no text of its own
    last_paragraph="",
)

VIDEO_2021 = Expected(
    short_id="3qFH0",
    content_id=56780778,
    url="https://www.dw.com/de/shift-leben-in-der-digitalen-welt/av-56780778",
    language="de",
    kind="video",
    title="Shift - Leben in der digitalen Welt",
    teaser_start=(
        "Shift Spezial: In Japan wird intensiv an neuen Technologien für die Katastrophenhilfe "
        "geforscht."
    ),
    published_at=datetime(2021, 3, 9, tzinfo=BERLIN),
    authors=[],
    topics=[
        "Japan",
        "Atomkraft",
        "Roboter",
        "Fukushima",
        "Internet",
        "Radioaktivität",
        "Kernkraftwerk",
        "Nuklearkatastrophe",
        "TEPCO",
        "TOSHIBA",
        "Little Sunfish",
        "Fumitoshi Matsuno",
        "Universität Kyoto",
        "Snake Robot",
        "FUHGA",
    ],
    captions=[],
    first_paragraph="",
    last_paragraph="",
)

SAMPLES = {
    "article-en-2020-a-52060881-old-layout.html": EN_2020,
    "article-fr-2011-a-6533123-old-layout.html": FR_2011,
    "article-de-2023-a-64976342-old-layout.html": DE_2023_HABECK,
    "article-de-2023-a-65106525-old-layout.html": DE_2023_LIBANON,
    "article-de-2024-a-68117411-new-layout.html": DE_2024_REACT,
    "video-de-2018-av-42986168-old-layout.html": VIDEO_2018,
    "video-de-2021-av-56780778-old-layout.html": VIDEO_2021,
}


def test_every_sample_page_has_expectations() -> None:
    pages = sorted(p.name for p in samples_folder().glob("*.html"))
    assert pages, "no .html pages in NEWSWATCH_DW_SAMPLES"
    assert set(pages) == set(SAMPLES), "a sample page was added or removed: read it, add it here"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ids_and_address_come_from_the_page(name: str) -> None:
    page, want = parsed_sample(name), SAMPLES[name]
    assert (page.short_id, page.content_id) == (want.short_id, want.content_id)
    assert page.url == want.url
    assert (page.language, page.kind) == (want.language, want.kind)
    assert page.warnings == []


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_title_teaser_and_dates(name: str) -> None:
    page, want = parsed_sample(name), SAMPLES[name]
    assert page.title == want.title
    assert page.teaser.startswith(want.teaser_start)
    assert "\n" not in page.teaser and "  " not in page.teaser
    assert page.published_at == want.published_at
    assert page.published_at is not None and page.published_at.utcoffset() is not None
    assert page.published_at.utcoffset() == want.published_at.utcoffset()
    assert page.modified_at == want.modified_at


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_authors_topics_and_captions(name: str) -> None:
    page, want = parsed_sample(name), SAMPLES[name]
    assert page.authors == want.authors
    assert page.topics == want.topics
    assert page.captions == want.captions


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_body_is_the_articles_own_text(name: str) -> None:
    page, want = parsed_sample(name), SAMPLES[name]
    paragraphs = page.body.split("\n\n") if page.body else [""]
    assert paragraphs[0] == want.first_paragraph
    assert paragraphs[-1] == want.last_paragraph
    for subhead in want.subheads:
        assert subhead in paragraphs
    for junk in want.junk:
        assert junk not in page.body, f"{junk!r} leaked into the body"
    for caption in page.captions:
        assert caption not in page.body
    assert not page.selector_fallback


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_to_json_has_exactly_the_agreed_keys(name: str) -> None:
    data = parsed_sample(name).to_json()
    assert set(data) == JSON_KEYS
    assert data["published_at"] == SAMPLES[name].published_at.isoformat()
    assert datetime.fromisoformat(data["published_at"]).utcoffset() is not None


def test_english_article_keeps_its_own_short_id_not_the_embedded_videos() -> None:
    page = parsed_sample("article-en-2020-a-52060881-old-layout.html")
    assert page.short_id == "3WRPd"  # the embedded video teaser's share box says 2Xns8


def test_real_page_read_from_str_equals_read_from_bytes() -> None:
    name = "article-de-2024-a-68117411-new-layout.html"
    text = (samples_folder() / name).read_text(encoding="utf-8")
    assert parse_page(text).to_json() == parsed_sample(name).to_json()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_truncated_real_page_keeps_its_ids_and_title_or_says_why(name: str) -> None:
    want = SAMPLES[name]
    data = (samples_folder() / name).read_bytes()
    pages = 0
    for cut in range(0, len(data), max(1, len(data) // 40)):
        outcome = _parse_or_error(data[:cut])
        if not isinstance(outcome, ParsedPage):
            why = "empty document" if cut == 0 else f"no title: not a DW content page ({want.url})"
            assert error_text(outcome) == why, cut
            continue
        pages += 1
        assert_readable(outcome)
        assert (outcome.short_id, outcome.content_id, outcome.url) == (
            want.short_id,
            want.content_id,
            want.url,
        ), cut
        assert (outcome.language, outcome.kind, outcome.title) == (
            want.language,
            want.kind,
            want.title,
        ), cut
        assert outcome.published_at in (None, want.published_at), cut
        assert outcome.warnings == [], cut
    assert pages >= 30  # most cuts come after the headline


def test_real_page_cut_after_its_text_keeps_ids_and_text() -> None:
    data = (samples_folder() / "article-en-2020-a-52060881-old-layout.html").read_bytes()
    cut = data.index(b"intense imperialist activity.</p>") + 40
    page = parse_page(data[:cut])
    assert page.short_id == "3WRPd"  # from the share bar: the smallList was cut off
    assert page.body.split("\n\n")[-1].endswith("intense imperialist activity.")
    assert page.published_at is None  # the date was in the missing smallList


# --- hostile and hand-built pages (no samples needed) -------------------------------------


def classic_page(
    *,
    canonical: str | None = "https://www.dw.com/de/gr%C3%BC%C3%9Fe/a-18879446",
    permalink: str | None = "1HDPC",
    date: str = "01.02.2016",
    body: str = "<p>Bärenstark: 5 € für Müller.</p>",
    charset: str | None = None,
) -> str:
    head = f'<meta charset="{charset}">' if charset else ""
    head += f'<link rel="canonical" href="{canonical}">' if canonical else ""
    facts = f"<li><strong>Datum</strong> {date}</li>"
    facts += (
        f"<li><strong>Permalink</strong> https://p.dw.com/p/{permalink}</li>" if permalink else ""
    )
    return (
        f'<!DOCTYPE html><html lang="de"><head>{head}<title>Grüße | DW | {date}</title></head>'
        '<body><div id="bodyContent"><div class="col3"><h1>Grüße aus Köln – „Straße“</h1>'
        f'<p class="intro">Über Köln.</p><div class="longText">{body}</div>'
        f'<ul class="smallList">{facts}</ul></div></div></body></html>'
    )


def react_page(apollo: str) -> str:
    ld = (
        '{"@context":"https://schema.org","@type":"NewsArticle","headline":"Titel",'
        '"author":[{"@type":"Person","name":"A. Autor"},{"@type":"Organization","name":"DW"}],'
        '"datePublished":"2024-01-30T14:13:12.269Z","dateModified":"2024-01-31T08:00:00Z"}'
    )
    return (
        '<html lang="de"><head><link rel="canonical" href="https://www.dw.com/de/t/a-68117411">'
        f'<script type="application/ld+json">{ld}</script></head><body><article><header>'
        '<h1>Titel</h1><p class="teaser-text">Vorspann.</p></header><div class="rich-text">'
        "<p>Erster Absatz.</p><h2>Zwischentitel</h2><p>Letzter Absatz.</p></div></article>"
        f"<script>window.__APOLLO_STATE__={apollo};</script></body></html>"
    )


def _parse_or_error(data: bytes | str, url: str | None = None) -> ParsedPage | PageError:
    try:
        return parse_page(data, url)
    except PageError as error:
        return error


def assert_readable(page: ParsedPage) -> None:
    """What a subscriber and the store see of any page that was read: a one-line title, a short
    id that is the content id in base 62, a plain language tag, dates a person could mean and text
    the database takes."""
    assert page.title and page.title == " ".join(page.title.split()), repr(page.title)
    assert "\n" not in page.teaser, repr(page.teaser)
    for text in (page.title, page.teaser, page.body, *page.captions, *page.authors, *page.topics):
        assert not UNSTORABLE.search(text), repr(text)
    assert page.content_id > 0 and SHORT_ID.fullmatch(page.short_id)
    assert page.short_id == short_id(page.content_id)
    assert page.url.startswith(("https://", "http://")), page.url
    if page.language is not None:
        assert len(page.language) <= 16 and LANGUAGE_TAG.fullmatch(page.language), page.language
    assert page.kind in KINDS, page.kind
    for moment in (page.published_at, page.modified_at):
        if moment is not None:
            assert moment.utcoffset() is not None and 1900 <= moment.year <= 2100, moment
    assert set(page.to_json()) == JSON_KEYS


def error_text(outcome: ParsedPage | PageError) -> str:
    """The one line a crawl error shows for a page that was not read."""
    assert isinstance(outcome, PageError), f"read as a page: {outcome.title!r}"
    message = str(outcome)
    assert message.startswith(REASONS), message
    assert "\n" not in message and "Traceback" not in message, message
    return message


def test_windows_1252_bytes_without_charset_are_decoded() -> None:
    page = parse_page(classic_page().encode("cp1252"))
    assert page.title == "Grüße aus Köln – „Straße“"
    assert page.body == "Bärenstark: 5 € für Müller."
    assert (page.short_id, page.content_id) == ("1HDPC", 18879446)


def test_declared_charset_is_honoured() -> None:
    html = classic_page(charset="windows-1251", body="<p>Привет из Москвы</p>")
    page = parse_page(html.encode("cp1251", errors="replace"))
    assert page.body == "Привет из Москвы"


def test_http_equiv_latin1_is_read_as_windows_1252() -> None:
    html = classic_page().replace(
        "<title>", '<meta http-equiv="content-type" content="text/html; charset=ISO-8859-1"><title>'
    )
    assert parse_page(html.encode("cp1252")).body == "Bärenstark: 5 € für Müller."


def test_the_http_charset_decodes_a_page_that_declares_none() -> None:
    data = classic_page(body="<p>Привет из Москвы</p>").encode("koi8-r", errors="replace")
    assert parse_page(data, content_type="text/html; charset=KOI8-R").body == "Привет из Москвы"
    assert parse_page(data).body != "Привет из Москвы"  # undeclared: read as windows-1252


def test_the_http_charset_wins_over_the_pages_own() -> None:
    title = "Grüße aus Köln – „Straße“"
    data = classic_page(charset="windows-1252").encode("utf-8")
    assert parse_page(data).title == title.encode("utf-8").decode("cp1252")  # as declared
    assert parse_page(data, content_type="text/html;charset=UTF-8").title == title


def test_utf8_page_cut_mid_character_without_charset_stays_utf8() -> None:
    data = classic_page().encode("utf-8")
    cut = data.index("Müller".encode()) + 2  # between the two bytes of "ü"
    page = parse_page(data[:cut])
    assert page.title == "Grüße aus Köln – „Straße“"
    assert page.body.startswith("Bärenstark: 5 € für M")


@pytest.mark.parametrize("label", ["utf-16", "UTF-16LE", "utf-32"])
def test_utf16_declared_in_the_markup_is_read_as_utf8(label: str) -> None:
    page = parse_page(classic_page(charset=label).encode("utf-8"))
    assert page.title == "Grüße aus Köln – „Straße“"


def test_utf8_bytes_with_a_bom_are_decoded() -> None:
    page = parse_page(b"\xef\xbb\xbf" + classic_page().encode("utf-8"))
    assert page.title == "Grüße aus Köln – „Straße“"


def test_utf8_bytes_given_to_lexbor_read_as_the_decoded_text() -> None:
    """A UTF-8 page is parsed from its bytes as they came (not decoded and encoded again): every
    real sample reads exactly as its decoded text does."""
    for path in sorted(samples_folder().glob("*.html")):
        data = path.read_bytes()
        from_bytes = parse_page(data, content_type="text/html; charset=utf-8")
        assert from_bytes == parse_page(data.decode("utf-8")), path.name


def test_a_byte_that_is_not_utf8_is_replaced_as_in_the_text() -> None:
    data = classic_page(body="<p>Bärenstark: 5 € für M\udcfcller.</p>").encode(
        "utf-8", errors="surrogateescape"
    )  # a lone latin-1 "ü" (0xfc) in UTF-8 bytes
    page = parse_page(data, content_type="text/html; charset=utf-8")
    assert page.body == "Bärenstark: 5 € für M\ufffdller."
    assert page.title == "Grüße aus Köln – „Straße“"


@pytest.mark.parametrize("data", [b"", b"   \n\t", "", "\n"])
def test_empty_document_is_a_page_error(data: bytes | str) -> None:
    with pytest.raises(PageError, match="empty"):
        parse_page(data)


def test_non_dw_page_is_a_page_error() -> None:
    html = (
        '<html><head><link rel="canonical" href="https://example.com/news/story">'
        "<title>Example</title></head><body><article><p>Hello</p></article></body></html>"
    )
    with pytest.raises(PageError, match="not a DW page"):
        parse_page(html.encode())


def test_page_without_any_dw_address_is_a_page_error() -> None:
    with pytest.raises(PageError, match="no DW content id"):
        parse_page("<html><body><h1>Hello</h1><p>World</p></body></html>")


def test_dw_section_page_is_not_a_content_page() -> None:
    html = '<link rel="canonical" href="https://www.dw.com/en/top-stories/s-9097"><h1>Top</h1>'
    with pytest.raises(PageError, match="not a DW content page"):
        parse_page(html, "https://www.dw.com/en/x/a-1")


NO_TITLE_AT_A_1 = "no title: not a DW content page (https://www.dw.com/en/x/a-1)"


@pytest.mark.parametrize(
    ("data", "without_url", "with_url"),
    [
        (bytes(range(256)) * 40, NO_ADDRESS, NO_TITLE_AT_A_1),
        (b"\x00" * 1000, NO_ADDRESS, NO_TITLE_AT_A_1),
        (b"<div>" * 20000 + b"<h1>x", NO_ADDRESS, NO_TITLE_AT_A_1),
        (  # a codec that is no text encoding: the page is still read, its address found
            b'<meta charset="rot13"><link rel="canonical" href="https://www.dw.com/en/x/a-1"><h1>x',
            NO_TITLE_AT_A_1,
            NO_TITLE_AT_A_1,
        ),
        (
            b'<link rel="canonical" href="http://[::1"><h1>x</h1>',
            "not a DW page: its own address 'http://[::1' names no DW content id",
            "not a DW page: its own address 'http://[::1' names no DW content id",
        ),
        (
            b'<script type="application/ld+json">{"@type":"NewsArticle","datePublished":"no"',
            NO_ADDRESS,
            NO_TITLE_AT_A_1,
        ),
    ],
    ids=["every-byte", "nul", "deep-nesting", "rot13", "broken-ipv6-address", "cut-json-ld"],
)
def test_garbage_is_a_page_error_saying_why(data: bytes, without_url: str, with_url: str) -> None:
    assert error_text(_parse_or_error(data)) == without_url
    assert error_text(_parse_or_error(data, "https://www.dw.com/en/x/a-1")) == with_url


def test_hostile_nesting_depth_is_read_not_a_crash() -> None:
    page = parse_page(classic_page(body="<div>" * 5000 + "<p>tief<span>" * 2000 + "<br>unten"))
    assert page.body.startswith("tief")
    assert page.body.endswith("unten")


def test_every_truncation_of_a_page_keeps_its_ids_or_says_why() -> None:
    for html in (classic_page(), react_page('{"Article:68117411":{"permaLinkUrl":"x"}}')):
        data = html.encode()
        whole = parse_page(data)
        address_read = data.index(b">", data.index(b'rel="canonical"')) + 1  # its <link> is in
        headline_read = data.index(b"<h1>") + len(b"<h1>") + 1  # a letter of the headline is in
        for cut in range(len(data) + 1):
            outcome = _parse_or_error(data[:cut])
            if not isinstance(outcome, ParsedPage):
                if cut == 0:
                    why = "empty document"
                elif cut < address_read:
                    why = NO_ADDRESS
                else:
                    why = f"no title: not a DW content page ({whole.url})"
                assert error_text(outcome) == why, cut
                assert cut < headline_read, cut
                continue
            assert_readable(outcome)
            assert cut >= address_read
            assert (outcome.content_id, outcome.short_id, outcome.url) == (
                whole.content_id,
                whole.short_id,
                whole.url,
            ), cut
            assert (outcome.language, outcome.kind) == (whole.language, whole.kind), cut
            assert outcome.published_at in (None, whole.published_at), cut


HEADLINE = "<h1>Grüße aus Köln – „Straße“</h1>"
HOSTILE_TEXT = st.lists(
    st.one_of(
        st.characters(exclude_categories=("Cs",)),  # bytes decode to no lone surrogate
        st.sampled_from(("&#0;", "&#x1f;", "&#xD800;", "&#1114112;", "&nbsp;", "&amp;")),
        st.sampled_from(("\x00", "\x01", "\x0b", "\x1b", "\x1f", "\x7f", "\u200b", "\ufeff")),
        st.sampled_from(("\r\n", "<br>", "<b>", "</h1>", "<!--", "<script>")),  # text ends
    ),
    max_size=30,
).map("".join)
HOSTILE_DATE = st.one_of(st.from_regex(r"\d{1,2}\.\d{1,2}\.\d{4}", fullmatch=True), HOSTILE_TEXT)
HOSTILE_LANGUAGE = st.text(alphabet="abdeprtxzBRS019-_ .\t\x01", max_size=18)  # no quote, no <>


@settings(max_examples=100, deadline=None)
@given(headline=HOSTILE_TEXT, paragraph=HOSTILE_TEXT, date=HOSTILE_DATE, lang=HOSTILE_LANGUAGE)
@example(headline="Köln \x01 Bonn", paragraph="\x00", date="31.12.0999", lang="de_DE\x01")
@example(headline="\x01\u200b", paragraph="", date="01.02.2016", lang="pt_BR")
def test_hostile_text_in_a_page_still_reads_as_a_clean_page(
    headline: str, paragraph: str, date: str, lang: str
) -> None:
    # a short-URL canonical names no language: <html lang> is all there is
    html = classic_page(canonical="https://p.dw.com/p/1HDPC", date=date, body=f"<p>{paragraph}</p>")
    html = html.replace(HEADLINE, f"<h1>{headline}</h1>").replace('lang="de"', f'lang="{lang}"')
    page = parse_page(html.encode())
    assert_readable(page)  # an empty headline falls back to the <title>: "Grüße"
    assert (page.content_id, page.short_id, page.url) == (
        18879446,
        "1HDPC",
        "https://p.dw.com/p/1HDPC",
    )


def test_short_id_mismatch_is_reported_and_content_id_wins(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="crawler.dw_page"):
        page = parse_page(classic_page(permalink="2Xns8"))
    assert (page.short_id, page.content_id) == ("1HDPC", 18879446)
    assert len(page.warnings) == 1 and "2Xns8" in page.warnings[0]
    assert "2Xns8" in caplog.text


def test_missing_short_id_is_derived_from_the_content_id() -> None:
    page = parse_page(classic_page(permalink=None))
    assert page.short_id == "1HDPC"
    assert page.warnings == []


def test_page_without_address_uses_the_url_it_was_fetched_from() -> None:
    page = parse_page(classic_page(canonical=None), "http://m.dw.com/de/gruesse/a-18879446?maca=x")
    assert page.url == "https://www.dw.com/de/gruesse/a-18879446"
    assert page.content_id == 18879446


def test_page_without_any_address_falls_back_to_its_permalink() -> None:
    page = parse_page(classic_page(canonical=None))
    assert (page.short_id, page.content_id) == ("1HDPC", 18879446)
    assert page.url == "https://p.dw.com/p/1HDPC"


def test_fetched_url_naming_another_article_is_reported() -> None:
    page = parse_page(classic_page(), "https://www.dw.com/de/x/a-1")
    assert page.content_id == 18879446
    assert len(page.warnings) == 1 and "names content id 1," in page.warnings[0]


def test_date_only_is_midnight_berlin_and_relative_dates_are_ignored() -> None:
    summer = parse_page(classic_page(date="14.07.2022")).published_at
    assert summer == datetime(2022, 7, 14, tzinfo=BERLIN)
    assert summer is not None and summer.isoformat() == "2022-07-14T00:00:00+02:00"
    assert parse_page(classic_page(date="vor 3 Stunden")).published_at is None


def test_read_more_and_promo_links_are_not_body_text() -> None:
    body = (
        "<p>Erster Absatz mit <a href='/de/x/a-2'>einem Link</a> mitten im Satz.</p>"
        "<p><em>Lesen Sie auch:</em> <a href='/de/y/a-3'>Ein anderer Artikel</a></p>"
        "<p><a href='/de/newsletter/a-4'>Abonnieren Sie unseren Newsletter hier.</a></p>"
        "<div class='picBox full'><img title='Bild (dpa)'><p>Eine Bildunterschrift</p></div>"
        "<p>Letzter Absatz.</p>"
    )
    page = parse_page(classic_page(body=body))
    assert page.body == "Erster Absatz mit einem Link mitten im Satz.\n\nLetzter Absatz."
    assert page.captions == ["Eine Bildunterschrift"]


def test_react_page_reads_its_own_apollo_entry_not_an_embedded_teasers() -> None:
    apollo = (
        '{"Article:59080161":{"id":59080161,"permaLinkUrl":"https://p.dw.com/p/3VfTp"},'
        '"Article:68117411":{"id":68117411,"permaLinkUrl":"https://p.dw.com/p/4boRv"}}'
    )
    page = parse_page(react_page(apollo))
    assert page.short_id == "4boRv" and page.warnings == []
    assert page.authors == ["A. Autor"]  # the Organization "DW" is no author
    assert page.body == "Erster Absatz.\n\nZwischentitel\n\nLetzter Absatz."
    assert page.modified_at == datetime(2024, 1, 31, 8, tzinfo=UTC)


def test_react_page_with_a_wrong_permalink_is_reported() -> None:
    page = parse_page(
        react_page('{"Article:68117411":{"permaLinkUrl":"https://p.dw.com/p/2Xns8"}}')
    )
    assert page.short_id == "4boRv"
    assert page.warnings and "2Xns8" in page.warnings[0]


def test_unknown_layout_falls_back_to_trafilatura() -> None:
    text = " ".join(["Die Bundesregierung hat am Dienstag neue Regeln beschlossen."] * 8)
    html = (
        '<html lang="de"><head><link rel="canonical" href="https://www.dw.com/de/x/a-18879446">'
        '<meta property="og:title" content="Neue Regeln | DW | 01.02.2016">'
        '<meta property="article:modified_time" content="2016-02-02T10:00:00+01:00">'
        f"</head><body><main><h1>Neue Regeln</h1><p>{text}</p><p>{text}</p></main></body></html>"
    )
    page = parse_page(html)
    assert page.selector_fallback
    assert page.title == "Neue Regeln"
    assert "neue Regeln beschlossen" in page.body
    assert (
        page.modified_at is not None and page.modified_at.isoformat() == "2016-02-02T10:00:00+01:00"
    )


def test_to_json_of_a_built_page() -> None:
    data = parse_page(classic_page()).to_json()
    assert set(data) == JSON_KEYS
    assert data["published_at"] == "2016-02-01T00:00:00+01:00"
    assert data["modified_at"] is None
    assert data["selector_fallback"] is False
