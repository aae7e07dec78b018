"""Labels and navigation data for the page chrome of both DW layouts, per language.

The chrome (head scripts, navigation, footer, styles) is the same on every page of a language, so
``render.py`` renders it once and shares the bytes between pages; only the article part is per page.

Over 300 lines because most of it is a table: the labels both layouts print, in each demo language,
copied from real DW pages; the code is the few functions at the end.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

# smallList and page labels of the old layout, as on the real English and German pages
OLD_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "date": "Date",
        "author": "Author",
        "topics": "Related Subjects",
        "keywords": "Keywords",
        "feedback": "Send us your feedback.",
        "print": "Print",
        "print_page": "Print this page",
        "recommends": "DW recommends",
        "related": "Related content",
        "share": "Share",
        "send": "Send",
        "watch": "Watch video",
        "duration": "Duration",
        "ads": "Advertisement",
        "media": "Audios and videos on the topic",
        "home": "TOP STORIES",
        "minutes": "min.",
    },
    "de": {
        "date": "Datum",
        "author": "Autorin/Autor",
        "topics": "Themenseiten",
        "keywords": "Schlagwörter",
        "feedback": "Schicken Sie uns Ihr Feedback!",
        "print": "Drucken",
        "print_page": "Seite drucken",
        "recommends": "Die Redaktion empfiehlt",
        "related": "Mehr zum Thema",
        "share": "Teilen",
        "send": "Versenden",
        "watch": "Video ansehen",
        "duration": "Dauer",
        "ads": "Anzeige",
        "media": "Audios und Videos zum Thema",
        "home": "THEMEN",
        "minutes": "Min.",
    },
}
OLD_LABELS["ru"] = OLD_LABELS["en"]

NEW_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "skip_content": "Skip to content",
        "skip_nav": "Skip to main menu",
        "skip_more": "Skip to more DW sites",
        "image": "Image",
        "related_topics": "Related topics",
        "feedback": "Send us your feedback",
        "ads": "Advertisement",
        "live": "Live TV",
        "focus": "In focus",
        "videos": "Latest videos",
        "share": "Share",
    },
    "de": {
        "skip_content": "Zum Inhalt springen",
        "skip_nav": "Zur Hauptnavigation springen",
        "skip_more": "Zu weiteren Angeboten der DW springen",
        "image": "Bild",
        "related_topics": "Ähnliche Themen",
        "feedback": "Schicken Sie uns Ihr Feedback!",
        "ads": "Anzeige",
        "live": "Live-TV",
        "focus": "Im Fokus",
        "videos": "Neueste Videos",
        "share": "Teilen",
    },
    "ru": {
        "skip_content": "Перейти к содержанию",
        "skip_nav": "Перейти к главному меню",
        "skip_more": "Перейти к другим сайтам DW",
        "image": "Фото",
        "related_topics": "Похожие темы",
        "feedback": "Отправьте нам свой отзыв",
        "ads": "Реклама",
        "live": "Прямой эфир",
        "focus": "В фокусе",
        "videos": "Новые видео",
        "share": "Поделиться",
    },
}

# (title, section id) of the language's home page; listing pages live at these paths
HOME = {
    "en": ("/en/top-stories/s-9097", "News and current affairs from Germany and around the world"),
    "de": ("/de/themen/s-9077", "Nachrichten & Analysen: der globale Blick auf Schlagzeilen"),
    "ru": ("/ru/novosti/s-9119", "Новости и аналитика"),
}
NAV_ID = {"en": 9097, "de": 9077, "ru": 9119}

SECTIONS: dict[str, list[tuple[str, int, list[str]]]] = {
    "en": [
        ("Germany", 1432, ["Berlin", "Bundestag", "Elections", "Migration"]),
        ("World", 1429, ["Europe", "Africa", "Asia", "Americas", "Middle East"]),
        ("Business", 1431, ["Trade", "Energy", "Startups", "Markets"]),
        ("Science", 12526, ["Space", "Health", "Technology"]),
        ("Environment", 11798, ["Climate change", "Oceans", "Biodiversity"]),
        ("Culture", 1441, ["Music", "Film", "Art", "Literature", "Heritage"]),
        ("Sports", 8171, ["Bundesliga", "Football", "Handball", "Formula One"]),
    ],
    "de": [
        ("Deutschland", 12321, ["Berlin", "Bundestag", "Wahlen", "Migration"]),
        ("Welt", 12322, ["Europa", "Afrika", "Asien", "Amerika", "Nahost"]),
        ("Wirtschaft", 1503, ["Handel", "Energie", "Gründer", "Märkte"]),
        ("Wissenschaft", 12296, ["Raumfahrt", "Gesundheit", "Technik"]),
        ("Umwelt", 65924637, ["Klimawandel", "Meere", "Artenvielfalt"]),
        ("Kultur", 1534, ["Musik", "Film", "Kunst", "Literatur", "Welterbe"]),
        ("Sport", 12284, ["Bundesliga", "Fußball", "Handball", "Formel 1"]),
    ],
    "ru": [
        ("Германия", 9120, ["Берлин", "Бундестаг", "Выборы", "Миграция"]),
        ("Европа", 9121, ["Украина", "Россия", "Беларусь", "Кавказ"]),
        ("Экономика", 9122, ["Торговля", "Энергетика", "Финансы"]),
        ("Наука", 9123, ["Космос", "Здоровье", "Технологии"]),
        ("Культура", 9124, ["Музыка", "Кино", "Искусство"]),
        ("Спорт", 9125, ["Футбол", "Хоккей", "Теннис"]),
    ],
}

LANGUAGES = [
    ("sq", "Albanian", "Shqip"),
    ("am", "Amharic", "አማርኛ"),
    ("ar", "Arabic", "العربية"),
    ("bn", "Bengali", "বাংলা"),
    ("bs", "Bosnian", "B/H/S"),
    ("bg", "Bulgarian", "Български"),
    ("zh", "Chinese", "简"),
    ("hr", "Croatian", "Hrvatski"),
    ("fa-af", "Dari", "دری"),
    ("en", "English", "English"),
    ("fr", "French", "Français"),
    ("de", "German", "Deutsch"),
    ("el", "Greek", "Ελληνικά"),
    ("ha", "Hausa", "Hausa"),
    ("hi", "Hindi", "हिन्दी"),
    ("id", "Indonesian", "Indonesia"),
    ("sw", "Kiswahili", "Kiswahili"),
    ("mk", "Macedonian", "Македонски"),
    ("ps", "Pashto", "پښتو"),
    ("fa-ir", "Persian", "فارسی"),
    ("pl", "Polish", "Polski"),
    ("pt-br", "Portuguese", "Português"),
    ("ro", "Romanian", "Română"),
    ("ru", "Russian", "Русский"),
    ("sr", "Serbian", "Српски"),
    ("es", "Spanish", "Español"),
    ("tr", "Turkish", "Türkçe"),
    ("uk", "Ukrainian", "Українська"),
    ("ur", "Urdu", "اردو"),
]

TV_PROGRAMS = [
    ("DW News", "The latest news from Germany and around the world, with reports and analysis."),
    ("Focus on Europe", "Stories about the people behind the headlines across the continent."),
    ("Global 3000", "The globalization magazine: how global trends affect local lives."),
    ("Shift", "Living in the digital age: apps, gadgets and the internet's effect on society."),
    ("Euromaxx", "Lifestyle and culture in Europe: design, travel, food and fashion."),
    ("Tomorrow Today", "The science magazine: research, discoveries and the people behind them."),
    ("Kick off!", "Football from the Bundesliga, with highlights, portraits and background."),
    ("Made in Germany", "The business magazine: companies, markets and consumers."),
    ("Arts.21", "Art and culture in the 21st century: exhibitions, artists and debates."),
    ("Check-in", "Travel tips, destinations and reports from Germany and Europe."),
    ("Business Beat", "Business news and stories of the day explained in a few minutes."),
    ("Reporter", "DW correspondents report from places where news is made."),
]

FB_PAGES = [146634408702997 + 7919 * i * i for i in range(80)]

FOOTER_LINKS = {
    "en": [
        ("DW", ["About DW", "Press", "Reception", "Jobs", "Contact"]),
        ("Service", ["Newsletter", "RSS", "Apps", "Topics from A to Z", "Headlines"]),
        ("Learn German", ["Learn German", "Nicos Weg", "Deutschtrainer", "Placement test"]),
        ("DW Akademie", ["Media development", "Training", "Master's program"]),
        ("Legal", ["Legal notice", "Privacy policy", "Accessibility", "Privacy settings"]),
    ],
    "de": [
        ("DW", ["Über uns", "Presse", "Empfang", "Jobs", "Kontakt"]),
        ("Service", ["Newsletter", "RSS", "Apps", "Themen von A bis Z", "Schlagzeilen"]),
        ("Deutsch lernen", ["Deutsch lernen", "Nicos Weg", "Deutschtrainer", "Einstufungstest"]),
        ("DW Akademie", ["Medienentwicklung", "Fortbildung", "Masterstudiengang"]),
        (
            "Rechtliches",
            ["Impressum", "Datenschutz", "Barrierefreiheit", "Datenschutzeinstellungen"],
        ),
    ],
    "ru": [
        ("DW", ["О нас", "Пресса", "Прием сигнала", "Вакансии", "Контакт"]),
        ("Сервис", ["Рассылка", "RSS", "Приложения", "Темы от А до Я", "Заголовки"]),
        ("Немецкий язык", ["Учить немецкий", "Nicos Weg", "Тренажер", "Тест"]),
        ("DW Akademie", ["Развитие СМИ", "Обучение", "Магистратура"]),
        ("Правовая информация", ["Выходные данные", "Защита данных", "Доступность"]),
    ],
}


@dataclass(frozen=True)
class Topic:
    name: str
    topic_id: int

    @property
    def slug(self) -> str:
        return slugify(self.name)


def topic_for(name: str) -> Topic:
    """A stable DW-style topic id (``/t-17284476``) for a topic name."""
    return Topic(name, 17_000_000 + int(hashlib.sha1(name.encode()).hexdigest()[:6], 16) % 999_999)


def slugify(text: str) -> str:
    kept = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    return "-".join(part for part in kept.split("-") if part)


def styled_css(rules: int = 320) -> str:
    """Generated styled-components CSS, like the new layout's inline <style data-styled>."""
    properties = [
        "display:flex;flex-direction:column;",
        "margin:0 auto;max-width:1110px;",
        "font-family:Pangea,Arial,sans-serif;font-size:1.6rem;line-height:1.5;",
        "color:#081336;background:transparent;",
        "padding:0 15px;position:relative;",
        "border-bottom:1px solid #E0DFDE;",
        "transition:transform 450ms ease;",
        "grid-template-columns:repeat(12,1fr);gap:30px;",
        "text-decoration:none;cursor:pointer;",
        "width:100%;height:auto;object-fit:cover;",
        "letter-spacing:0.17rem;font-weight:700;",
    ]
    lines = []
    for i in range(rules):
        digest = hashlib.md5(str(i).encode()).hexdigest()
        cls = "".join(chr(97 + int(c, 16) % 26) for c in digest[:6])
        lines.append(f".{cls}{{{properties[i % len(properties)]}}}/*!sc*/")
        if i % 3 == 0:
            width = 576 + (i % 4) * 208
            lines.append(
                f"@media (min-width:{width}px){{.{cls}{{{properties[(i + 5) % 11]}}}}}/*!sc*/"
            )
        lines.append(f'data-styled.g{i + 1}[id="sc-{digest[6:12]}"]{{content:"{cls},"}}/*!sc*/')
    return "\n".join(lines)


def i18n_json(language: str) -> str:
    """The translations the new layout embeds in ``__APOLLO_STATE__`` (the same on every page)."""
    labels = NEW_LABELS[language]
    components = [
        "content_block",
        "top_story",
        "news",
        "stories_thematic_focus",
        "stories_region",
        "hub_thematic_focus",
        "dw_recommends",
        "panorama",
        "widget",
        "opinion",
        "topic_cluster",
        "av_news",
        "av_magazine",
        "breaking_news",
        "news_videos",
        "reports_videos",
        "featured_video",
        "featured_audio",
        "crosspromotion",
        "program_list_videos",
        "all_programs",
        "headlines_list",
        "image_gallery",
        "video_player",
        "audio_player",
        "sharing",
        "feedback",
        "navigation",
        "footer",
        "live_tv",
        "search",
        "cookie_banner",
        "newsletter",
        "author_details",
        "related_topics",
        "more_stories",
        "live_blog",
    ]
    values = list(labels.values())
    table = {
        name: {
            f"{key}_{n}": {"label": f"{values[(i + n) % len(values)]}", "headline": name}
            for n, key in enumerate(["general", "button", "aria", "title", "hint"])
        }
        for i, name in enumerate(components)
    }
    return json.dumps(
        {"__typename": "Translations", "all": json.dumps(table, ensure_ascii=False)},
        ensure_ascii=False,
    )
