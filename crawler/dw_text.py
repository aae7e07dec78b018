"""Readable text out of a DW article container: paragraphs and subheads only.

Both DW layouts put the article's own text in one container (``div.longText`` in the classic
layout, ``div.rich-text`` in the React layout) but also nest things in it that are not the
article's text: picture boxes with captions, picture galleries, embedded video teasers with their
own share boxes, ad slots, "Read more: <link>" lines and newsletter promos. ``paragraphs_of``
walks the container once and keeps only the text blocks.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

# elements whose content is never article text
_SKIP_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "figure", "figcaption", "aside", "iframe",
        "object", "embed", "form", "input", "button", "select", "textarea", "svg", "video",
        "audio", "picture", "img", "nav", "footer", "-comment",
    }
)  # fmt: skip
# elements that continue the current paragraph
_INLINE_TAGS = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "cite", "code", "del", "dfn", "em", "font", "i", "ins",
        "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u",
        "var", "wbr",
    }
)  # fmt: skip
# class tokens (lower case) of boxes nested in the text that are not the article's text
_JUNK_CLASSES = frozenset(
    {
        "picbox", "gallery", "slideshow", "mediaitem", "standalonewrap", "linklist", "smalllist",
        "relatedcontent", "col1", "col2", "col3", "col4", "copyright", "img-caption",
        "rich-text-ad", "shareinfo", "infobox",
    }
)  # fmt: skip
_JUNK_CLASS_PREFIXES = (
    "placeholder", "video", "audio", "gallery", "vjs", "jw-", "basicteaser", "embed", "widget",
    "teaser", "imgteaser", "advert", "share", "sharing",
)  # fmt: skip
_JUNK_IDS = frozenset({"sharing-bar"})
# a paragraph that is mostly one link ("Read more: <link>", newsletter promos) is a related link
_MAX_LETTERS_BESIDE_LINK = 20
_NOT_LETTERS = re.compile(r"[\W_]+")
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")
# dropped from one-line text; the other C0 controls (\v \f \r \x1c-\x1f) are whitespace there
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1b\ud800-\udfff\u200b\ufeff]")


def clean_text(text: str | None) -> str:
    """One line of text: whitespace (incl. no-break spaces) collapsed, zero-width spaces and
    control characters gone."""
    if not text:
        return ""
    return " ".join(_INVISIBLE.sub("", text).split())


def storable(text: str) -> str:
    """``text`` without what a database rejects or a reader cannot see: NUL and the other C0
    control characters except tab and newline (PostgreSQL refuses NUL in text), and lone
    surrogates (from JSON ``"\\ud800"`` escapes; not encodable as UTF-8)."""
    return _UNSTORABLE.sub("", text)


def is_junk_box(node: LexborNode) -> bool:
    """A picture box, gallery, media teaser, share box or ad slot nested in the text."""
    attrs = node.attributes
    if attrs.get("id") in _JUNK_IDS:
        return True
    classes = (attrs.get("class") or "").lower().split()
    return any(c in _JUNK_CLASSES or c.startswith(_JUNK_CLASS_PREFIXES) for c in classes)


def paragraphs_of(container: LexborNode) -> list[str]:
    """The text blocks (paragraphs, subheads, list items) of ``container`` in document order.

    Text and inline elements collect into a run; a block element (p, h2, li, div ...) or ``<br>``
    ends the run. Iterative, so hostile nesting depth cannot exhaust the stack.
    """
    out: list[str] = []
    run: list[LexborNode] = []
    stack = [container.iter(include_text=True)]
    while stack:
        child = next(stack[-1], None)
        if child is None:  # end of a block
            stack.pop()
            _flush(run, out)
            continue
        tag = child.tag
        if tag == "-text" or (tag in _INLINE_TAGS and not is_junk_box(child)):
            run.append(child)
        elif tag == "br":
            _flush(run, out)
        elif tag not in _SKIP_TAGS and not is_junk_box(child):
            _flush(run, out)
            stack.append(child.iter(include_text=True))
    return out


def _flush(run: list[LexborNode], out: list[str]) -> None:
    if not run:
        return
    text = clean_text("".join(_node_text(n) for n in run))
    if text and not _is_link_line(run, text):
        out.append(text)
    run.clear()


def _node_text(node: LexborNode) -> str:
    if node.tag == "-text":
        return node.text(deep=False) or ""
    if node.css_first("br") is None:
        return node.text(deep=True) or ""
    return "".join(  # a line break inside an inline element is a space
        " " if n.tag == "br" else n.text(deep=False) or ""
        for n in node.traverse(include_text=True)
        if n.tag in ("-text", "br")
    )


def _is_link_line(run: list[LexborNode], text: str) -> bool:
    """ "Read more: <link>", "Lesen Sie mehr: <link>", a bare newsletter link: a related link."""
    links = [n for n in run if n.tag == "a"]
    for n in run:
        if n.tag not in ("a", "-text"):
            links.extend(n.css("a"))
    if not links:
        return False
    link_letters = sum(len(_NOT_LETTERS.sub("", a.text(deep=True) or "")) for a in links)
    if link_letters == 0:
        return False
    return len(_NOT_LETTERS.sub("", text)) - link_letters <= _MAX_LETTERS_BESIDE_LINK
