"""Generated articles of realistic size for benchmarks: ``synthetic_articles(2000)``.

Deterministic for a given ``seed`` (and ``now``): English and German, both layouts, about
350–750 words, one in ten mentioning Syria (Raqqa, Daesh, "Islamic State", IS) for matching.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from demo.articles import SUBHEAD, Caption, DemoArticle
from demo.chrome import slugify
from store.dw_ids import short_id

FIRST_ID = 70_000_000
WORDS = {
    "en": {
        "subjects": [
            "The government",
            "Local officials",
            "Researchers",
            "The company",
            "Residents",
            "The union",
            "Ministers",
            "Aid groups",
            "The court",
            "Economists",
        ],
        "verbs": [
            "announced",
            "warned about",
            "criticized",
            "welcomed",
            "discussed",
            "rejected",
            "presented",
            "questioned",
            "defended",
            "postponed",
        ],
        "objects": [
            "new rules for the energy market",
            "plans for a high-speed rail line",
            "a study on air quality in cities",
            "changes to the pension system",
            "a reform of the asylum procedure",
            "the budget for next year",
            "cuts in public broadcasting",
            "a program for rural schools",
            "the expansion of wind farms at sea",
            "stricter controls at the border",
        ],
        "places": [
            "in Berlin",
            "in Brussels",
            "in Hamburg",
            "in Munich",
            "in Nairobi",
            "in Warsaw",
            "in Lisbon",
            "in Cologne",
            "in Dresden",
            "in Athens",
        ],
        "times": [
            "on Monday",
            "on Tuesday",
            "on Wednesday",
            "last week",
            "this morning",
            "after months of talks",
            "at a press conference",
            "in a statement",
        ],
        "syria": 'Fighters of the so-called "Islamic State" (IS) attacked a checkpoint near '
        "Raqqa, officials said, adding that Daesh cells remain active in eastern Syria.",
        "subheads": [
            "Criticism from the opposition",
            "What happens next",
            "A long debate",
            "Costs and benefits",
            "Reactions abroad",
        ],
        "sections": ["Germany", "World", "Business", "Science", "Environment", "Culture"],
    },
    "de": {
        "subjects": [
            "Die Bundesregierung",
            "Die Kommune",
            "Forschende",
            "Das Unternehmen",
            "Anwohner",
            "Die Gewerkschaft",
            "Die Ministerin",
            "Hilfsorganisationen",
            "Das Gericht",
            "Ökonomen",
        ],
        "verbs": [
            "kündigte",
            "kritisierte",
            "begrüßte",
            "diskutierte",
            "verteidigte",
            "präsentierte",
            "verschob",
            "prüfte",
            "forderte",
            "lehnte",
        ],
        "objects": [
            "neue Regeln für den Strommarkt",
            "Pläne für eine Schnellfahrstrecke",
            "eine Studie zur Luftqualität",
            "Änderungen am Rentensystem",
            "eine Reform des Asylverfahrens",
            "den Haushalt für das kommende Jahr",
            "Kürzungen im Kulturbereich",
            "ein Programm für Schulen auf dem Land",
            "den Ausbau der Windkraft auf See",
            "strengere Kontrollen an der Grenze",
        ],
        "places": [
            "in Berlin",
            "in Brüssel",
            "in Hamburg",
            "in München",
            "in Leipzig",
            "in Warschau",
            "in Lissabon",
            "in Köln",
            "in Dresden",
            "in Athen",
        ],
        "times": [
            "am Montag",
            "am Dienstag",
            "am Mittwoch",
            "vergangene Woche",
            "am Morgen",
            "nach monatelangen Gesprächen",
            "auf einer Pressekonferenz",
            "in einer Erklärung",
        ],
        "syria": 'Kämpfer der Terrormiliz "Islamischer Staat" (IS) griffen nach Behördenangaben '
        "einen Kontrollposten bei Ar-Raqqa an; Daesh-Zellen seien in Syrien weiter aktiv.",
        "subheads": [
            "Kritik der Opposition",
            "Wie es weitergeht",
            "Eine lange Debatte",
            "Kosten und Nutzen",
            "Reaktionen aus dem Ausland",
        ],
        "sections": ["Deutschland", "Welt", "Wirtschaft", "Wissenschaft", "Umwelt", "Kultur"],
    },
}


def synthetic_articles(n: int, seed: int = 0, now: datetime | None = None) -> list[DemoArticle]:
    """``n`` generated articles, published within the three days before ``now``."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    return [_article(i, rng, now) for i in range(n)]


def _sentence(rng: random.Random, words: dict[str, object]) -> str:
    def pick(key: str) -> str:
        return rng.choice(words[key])  # type: ignore[arg-type]

    return f"{pick('subjects')} {pick('verbs')} {pick('objects')} {pick('places')} {pick('times')}."


def _article(index: int, rng: random.Random, now: datetime) -> DemoArticle:
    language = "en" if index % 3 else "de"
    words = WORDS[language]
    syria = index % 10 == 7
    paragraphs: list[str] = []
    for number in range(rng.randint(8, 13)):
        if number and number % 4 == 0:
            paragraphs.append(SUBHEAD + rng.choice(words["subheads"]))  # type: ignore[arg-type]
        sentences = [_sentence(rng, words) for _ in range(rng.randint(3, 5))]
        if syria and number == 2:
            sentences.append(words["syria"])  # type: ignore[arg-type]
        paragraphs.append(" ".join(sentences))
    title = _sentence(rng, words).rstrip(".")
    title = title[:90].rsplit(" ", 1)[0] if len(title) > 90 else title
    published = now - timedelta(minutes=rng.randint(5, 72 * 60))
    section = rng.choice(words["sections"])  # type: ignore[arg-type]
    content_id = FIRST_ID + index * 37
    return DemoArticle(
        content_id=content_id,
        short_id=short_id(content_id),  # generated: computed, unlike the hand-written articles'
        language=language,
        layout="new" if index % 2 else "old",
        kind="article",
        slug=slugify(title)[:80].strip("-"),
        old_slug=slugify(title)[:40].strip("-") + "-old",
        title=title,
        teaser=" ".join(_sentence(rng, words) for _ in range(2)),
        paragraphs=tuple(paragraphs),
        captions=(
            Caption(_sentence(rng, words).rstrip("."), "DW/Archive", -1),
            Caption(_sentence(rng, words).rstrip("."), "picture alliance", 2),
        ),
        authors=(rng.choice(["Anna Weber", "Paul Schmidt", "Maria Rossi", "John Carter"]),),
        topics=(section,),
        keywords=tuple(
            rng.sample(
                [
                    "politics",
                    "economy",
                    "climate",
                    "Europe",
                    "Germany",
                    "society",
                    "energy",
                    "education",
                ],
                3,
            )
        ),
        published_at=published,
        modified_at=published + timedelta(minutes=rng.randint(0, 90)),
        section=section,
    )
