"""The data parts of a new-layout (React) DW page: rich-text body, JSON-LD, ``__APOLLO_STATE__``."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import unquote

from markupsafe import escape

from demo import chrome
from demo.articles import LANGUAGE_NAMES, SUBHEAD, DemoArticle

IMAGE_WORD = {"en": "Image", "de": "Bild", "ru": "Фото"}


def iso_millis(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def script_json(data: object) -> str:
    """JSON safe to embed in a <script> element."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def rich_text_html(article: DemoArticle, base_url: str) -> str:
    """The ``div.rich-text`` content: paragraphs, ``h2`` subheads and inline figures."""
    inline = {c.after: (image_id, c) for image_id, c in article.images if not c.is_lead}
    parts = []
    for index, paragraph in enumerate(article.paragraphs):
        if paragraph.startswith(SUBHEAD):
            parts.append(f"<h2>{escape(paragraph.removeprefix(SUBHEAD))}</h2>")
        else:
            parts.append(f"<p>{escape(paragraph)}</p>")
        if index in inline:
            image_id, caption = inline[index]
            word = IMAGE_WORD.get(article.language, "Image")
            parts.append(
                '<figure class="placeholder-image master_landscape big">'
                f'<img data-format="MASTER_LANDSCAPE" data-id="{image_id}" '
                f'data-url="{base_url}/image/{image_id}_${{formatId}}.jpg" '
                f'data-aspect-ratio="16/9" alt="{escape(caption.text)}" '
                'style="padding-bottom: 56.25%; height: 0; max-height: 0;">'
                f'<figcaption class="img-caption">{escape(caption.text)}'
                f'<small class="copyright">{word}: {escape(caption.credit)}</small>'
                "</figcaption></figure>"
            )
    return "\n\n".join(parts)


def json_ld(article: DemoArticle, base_url: str) -> str:
    canonical = base_url + unquote(article.canonical_path)
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": canonical},
        "publisher": {
            "@type": "Organization",
            "name": "Deutsche Welle",
            "logo": {
                "@type": "ImageObject",
                "url": f"{base_url}/images/icons/favicon-180x180.png",
                "width": "180",
                "height": "180",
            },
        },
    }
    if article.authors:
        data["author"] = [{"@type": "Person", "name": name} for name in article.authors]
    data |= {
        "headline": article.title,
        "image": [f"{base_url}/image/{image_id}_804.jpg" for image_id, _ in article.images[:1]],
        "datePublished": iso_millis(article.published_at),
        "dateModified": iso_millis(article.modified_at),
    }
    return script_json(data)


def apollo_state(article: DemoArticle, base_url: str, i18n_marker: str) -> str:
    """``window.__APOLLO_STATE__``: the Article entity (with ``permaLinkUrl``) and its references.

    ``i18n_marker`` stands where the shared translations object is inserted afterwards.
    """
    key = f"Article:{article.content_id}"
    language = LANGUAGE_NAMES.get(article.language, article.language.upper())
    named_url = unquote(article.canonical_path)
    people = {name: 51_400_000 + sum(map(ord, name)) * 7 for name in article.authors}
    topics = [chrome.topic_for(name) for name in article.topics]
    state: dict[str, object] = {}
    for image_id, caption in article.images:
        state[f"Image:{image_id}"] = {
            "__typename": "Image",
            "id": image_id,
            "staticUrl": f"{base_url}/image/{image_id}_${{formatId}}.jpg",
            "licenserSupplement": caption.credit,
            "name": caption.text,
            "title": caption.text,
        }
        state[f'ContentLink:{{"targetId":{image_id}}}'] = {
            "__typename": "ContentLink",
            "targetId": image_id,
            "target": {"__ref": f"Image:{image_id}"},
            "description": caption.text,
            "isInText": not caption.is_lead,
            "targetType": "IMAGE",
            "name": "",
        }
    for name, person_id in people.items():
        state[f"Person:{person_id}"] = {
            "__typename": "Person",
            "id": person_id,
            "fullName": name,
            "namedUrl": f"/{article.language}/{chrome.slugify(name)}/person-{person_id}",
        }
    for topic in topics:
        state[f"AutoTopic:{topic.topic_id}"] = {
            "__typename": "AutoTopic",
            "id": topic.topic_id,
            "name": topic.name,
            "namedUrl": f"/{article.language}/{topic.slug}/t-{topic.topic_id}",
        }
    lead = next((image_id for image_id, c in article.images if c.is_lead), None)
    state[key] = {
        "__typename": "Article",
        "id": article.content_id,
        "namedUrl": named_url,
        "classicUrl": base_url + named_url,
        "subdomainUrl": base_url,
        "language": language,
        "isLive": True,
        "canonicalUrl": base_url + named_url,
        "ampUrl": base_url + "/amp" + named_url,
        "title": article.title,
        "name": article.title,
        "sharingDescription": article.teaser,
        "teaser": article.teaser,
        "localizedContentDate": article.published_at.strftime("%d.%m.%Y"),
        "mainContentImageLink": {"__ref": f'ContentLink:{{"targetId":{lead}}}'} if lead else None,
        "persons": [{"__ref": f"Person:{pid}"} for pid in people.values()],
        "firstPublicationDate": iso_millis(article.published_at),
        "lastPublicationDate": iso_millis(article.published_at),
        "lastModifiedDate": iso_millis(article.modified_at),
        "contentDate": iso_millis(article.published_at),
        "thematicFocusCategory": {"__typename": "Category", "name": article.section},
        "text": rich_text_html(article, base_url),
        "permaLinkUrl": article.permalink,
        "relatedAutoTopics": [{"__ref": f"AutoTopic:{t.topic_id}"} for t in topics],
        "trackingId": article.content_id,
        "trackingDate": int(article.published_at.strftime("%Y%m%d")),
    }
    root = {
        "__typename": "Query",
        "config": {
            "__typename": "FrontendConfig",
            "domainName": base_url,
            "staticBaseHost": base_url,
        },
        f'content({{"id":{article.content_id},"lang":"{language}"}})': {"__ref": key},
    }
    root_json = script_json(root)
    i18n_key = script_json(f'i18nByLang({{"lang":"{language}"}})')
    root_json = root_json[:-1] + f",{i18n_key}:{i18n_marker}}}"
    return '{"ROOT_QUERY":' + root_json + "," + script_json(state)[1:]
