"""User templates are sandboxed: a broken or hostile one is a one-line error from `check`
(which finishes), and one that fails only on real data is a problem `status --check` reports,
with the matches kept for the digest that renders once it is fixed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.config import MailConfig, SubscriberConfig
from alerts.digest import NOT_RENDERED_SUBJECT, build_digests
from alerts.match_stage import match_articles
from alerts.render import DigestRenderer, TemplateProblem, sample_digests
from alerts.watchlists import WatchlistConfig
from scheduler.cli import main
from store.articles import upsert_article
from store.clock import fixed_clock
from store.db import Database
from store.models import Delivery, OutboxMessage, SubscriberState
from tests.articles import article_fields

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "alerts" / "templates"
CHECK_TIMEOUT = 120  # a hang fails the test instead of blocking the suite


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSWATCH_SMTP_URL", raising=False)


def config_with_templates(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "templates"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    folder.mkdir(exist_ok=True)
    path = tmp_path / "newswatch.toml"
    path.write_text(f'[mail]\ntemplates = "{folder}"\n')
    return path


def check_in_a_subprocess(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "--config", str(config), "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
    )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


BUNDLED_DIGEST_TXT = (BUNDLED / "digest.txt").read_text()
APPENDED_LINE = BUNDLED_DIGEST_TXT.count("\n") + 1  # a line added to the end of it
# the line of the bundled digest.txt that includes the entry partial
ENTRY_INCLUDE_LINE = next(
    number
    for number, text in enumerate(BUNDLED_DIGEST_TXT.splitlines(), 1)
    if '"_partials/entry.txt"' in text
)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOSTILE = {
    "division by zero": (
        "digest.html",
        "<p>{{ total }}</p>\n<p>\n{{ 1 / 0 }}</p>",
        "template digest.html line 3: division by zero",
    ),
    "recursive macro": (
        "digest.html",
        "{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}\n{{ down(1) }}",
        "template digest.html line 1: maximum recursion depth exceeded",
    ),
    "huge range": (
        "digest.html",
        "{% for i in range(10**10) %}{{ i }}{% endfor %}",
        "template digest.html line 1: range() of 10000000000 items: at most 10000",
    ),
    "loops that never end in time": (
        "subject.txt",
        "{% set l = range(10000)|list %}{% for a in l %}{% for b in l %}{% for c in l %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "template subject.txt line 1: took longer than 5s to render",
    ),
    "a huge string": (
        "digest.txt",
        'x\n{{ "x" * 10**10 }}',
        "template digest.txt line 2: repeating 1 items 10000000000 times",
    ),
    "a padding folded at compile time": (
        "digest.html",
        '{{ "x"|center(1000000000) }}',
        "template digest.html line 1: a width of 1,000,000,000 characters: at most 1,000,000",
    ),
    "a printf width": (
        "digest.html",
        '{{ "%1000000000d" % total }}',
        "template digest.html line 1: a format wider than 1,000,000 characters",
    ),
    "a wrap joined by a long string": (
        "digest.txt",
        'x\n{{ ("a " * 400000)|wordwrap(1, wrapstring="x" * 10000) }}',
        "template digest.txt line 2: a width of 10,000 characters: at most 1,000,000",
    ),
    "a wrap joined by a long string, by keyword": (
        "digest.txt",
        '{{ ("a " * 400000)|wordwrap(width=1, wrapstring="x" * 10000) }}',
        "template digest.txt line 1: a width of 10,000 characters: at most 1,000,000",
    ),
    "escaping the sandbox": (
        "digest.html",
        "{{ total.__class__.__mro__ }}",
        "template digest.html line 1: access to attribute '__class__' of 'int' object is unsafe",
    ),
    # the sample digests have Arabic, Cyrillic and CJK watchlist names: so may real ones
    "an error only with non-Latin text": (
        "digest.txt",
        BUNDLED_DIGEST_TXT
        + '{% for group in groups %}{{ group.name.encode("ascii") }}{% endfor %}',
        f"template digest.txt line {APPENDED_LINE}: 'ascii' codec can't encode characters",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_template_is_one_line_from_check_and_check_finishes(tmp_path, case) -> None:
    name, text, expected = HOSTILE[case]
    result = check_in_a_subprocess(config_with_templates(tmp_path, {name: text}))
    assert result.returncode == 2, result.stdout
    line = one_line(result.stderr)
    assert line.startswith("newswatch: config error: mail.templates: template ")
    assert expected in line
    assert "Traceback" not in result.stderr


def test_check_renders_a_digest_whose_group_is_shown_by_count_only(capsys, tmp_path) -> None:
    """More articles than the caps: the second group has no entry shown in full."""
    text = "{% for group in groups %}{{ group.entries[0].title }}{% endfor %}"
    config = config_with_templates(tmp_path, {"digest.txt": text})
    assert main(["--config", str(config), "check"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "template digest.txt line 1:" in line and "no element 0" in line


def test_a_template_linking_outside_its_folder_is_refused(capsys, tmp_path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("{{ recipient }} SECRET")
    config = config_with_templates(tmp_path, {})
    folder = tmp_path / "templates"
    (folder / "subject.txt").symlink_to(outside / "secret.txt")
    assert main(["--config", str(config), "check"]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"template subject.txt: is a link to {outside / 'secret.txt'}" in line
    assert "outside the templates folder" in line
    # a linked partial, found by an include, is refused too and named with the include's line
    (folder / "subject.txt").unlink()
    (folder / "_partials").mkdir()
    (folder / "_partials" / "entry.txt").symlink_to(outside / "secret.txt")
    assert main(["--config", str(config), "check"]) == 2
    line = one_line(capsys.readouterr().err)
    assert (
        f"template digest.txt line {ENTRY_INCLUDE_LINE}: _partials/entry.txt is a link to" in line
    )
    # a link that stays inside the folder is a template like any other
    (folder / "_partials" / "entry.txt").unlink()
    (folder / "mine.txt").write_text("alert: {{ total }}")
    (folder / "subject.txt").symlink_to(folder / "mine.txt")
    assert main(["--config", str(config), "check"]) == 0
    capsys.readouterr()


def test_the_bundled_templates_render_every_sample_shape() -> None:
    renderer = DigestRenderer()
    for digest in sample_digests():
        rendered = renderer.render(digest)
        assert rendered.subject.startswith("newswatch: ")
        assert digest.groups[0].name in rendered.text
        if digest.unsubscribe_url:  # the footer links to the subscriber's pages
            assert f"Unsubscribe: {digest.unsubscribe_url}" in rendered.text
            assert f'href="{digest.unsubscribe_url}"' in rendered.html
            assert f"Manage your alerts: {digest.manage_url}" in rendered.text
        else:  # no web app: the footer names the sender, and promises nothing automatic
            assert "To stop these digests, write to newswatch@localhost." in rendered.text
        assert "reply with" not in rendered.text


def test_a_render_time_limit_stops_a_template_in_any_thread(tmp_path) -> None:
    """The service renders in a worker thread: the limit holds there too."""
    slow = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
    config_with_templates(tmp_path, {"digest.txt": slow})
    renderer = DigestRenderer(tmp_path / "templates")
    failures: list[str] = []

    def render() -> None:
        try:
            renderer.render(sample_digests()[0])
        except TemplateProblem as problem:
            failures.append(str(problem))

    worker = threading.Thread(target=render)
    worker.start()
    worker.join(CHECK_TIMEOUT)
    assert not worker.is_alive()
    assert failures == ["template digest.txt line 1: took longer than 5s to render"]


# ---------------------------------------------------------------- a failure in `run`

FAILS_ON_RAKKA = BUNDLED_DIGEST_TXT + (
    '{% for group in groups %}{% for entry in group.entries %}{% if "Rakka" in entry.title %}'
    "{{ 1 / 0 }}{% endif %}{% endfor %}{% endfor %}\n"
)


def test_a_digest_that_fails_to_render_is_a_status_problem_and_loses_nothing(
    capsys, tmp_path, database_url
) -> None:
    url = database_url
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "digest.txt").write_text(FAILS_ON_RAKKA)
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f'[storage]\nurl = "{url}"\n'
        f'[mail]\nmaildir = "{tmp_path / "mail"}"\ntemplates = "{folder}"\n'
        '[[watchlists]]\nname = "syria"\nterms = ["Rakka"]\n'
        '[[watchlists]]\nname = "bonn"\nterms = ["Bonn"]\n'
        '[[subscribers]]\nemail = "rakka@example.org"\nwatchlists = ["syria"]\n'
        'schedule = "immediate"\n'
        '[[subscribers]]\nemail = "bonn@example.org"\nwatchlists = ["bonn"]\n'
        'schedule = "immediate"\n'
    )
    with Database(url) as db, db.session() as session:
        for cid, title in [(71000001, "Rakka residents return"), (71000002, "Rain in Bonn")]:
            upsert_article(session, _article(cid, title, NOW - timedelta(hours=1)), NOW)
        session.commit()

    def cli(*args: str) -> tuple[int, str, str]:
        code = main(["--config", str(config), *args], clock=fixed_clock(NOW))
        out, err = capsys.readouterr()
        return code, out, err

    assert cli("check")[0] == 0  # the samples hold no "Rakka": check cannot know
    assert cli("match")[0] == 0
    for attempt in (1, 2):
        code, out, err = cli("digest")
        assert code == 1
        if attempt == 1:  # the other subscriber's digest is built as usual, once
            assert "bonn@example.org: newswatch: 1 new article (bonn 1)" in out
        assert (
            f"rakka@example.org: digest not rendered: template digest.txt line {APPENDED_LINE}: "
            "division by zero" in err
        )
        assert cli("send")[0] == 0
        code, out, _ = cli("status", "--check")
        assert code == 1
        assert out.strip() == (
            f"outbox: the digest for rakka@example.org did not render ({attempt} tries): "
            f"template digest.txt line {APPENDED_LINE}: division by zero"
        )
        with Database(url) as db, db.session() as session:
            [failed] = session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == "not_rendered")
            ).all()
            assert (failed.recipient, failed.subject) == ("rakka@example.org", NOT_RENDERED_SUBJECT)
            assert failed.attempts == attempt  # one row, counting the builds that failed
            assert session.get(SubscriberState, "rakka@example.org") is None  # still due
            given = session.scalars(select(Delivery.subscriber)).all()
            assert given == ["bonn@example.org"]  # nothing of the failed digest is given
    # the template is fixed: the waiting match goes out, and status is healthy again
    (folder / "digest.txt").write_text(BUNDLED_DIGEST_TXT)
    code, out, err = cli("digest")
    assert code == 0, err
    assert out.splitlines()[0] == "rakka@example.org: newswatch: 1 new article (syria 1)"
    assert cli("send")[0] == 0
    assert cli("status", "--check")[:2] == (0, "ok\n")
    mailed = [p.read_text() for p in (tmp_path / "mail" / "new").iterdir()]
    assert sum("Rakka residents return" in text for text in mailed) == 1


def _article(cid: int, title: str, published: datetime) -> dict:
    return article_fields(
        cid,
        url=f"https://www.dw.com/en/x/a-{cid}",
        title=title,
        body="Body.",
        published_at=published,
    )


def test_a_templates_folder_gone_after_check_fails_each_digest_visibly(tmp_path) -> None:
    gone = tmp_path / "templates"
    mail = MailConfig(maildir=str(tmp_path / "mail"), templates=str(gone))
    subscriber = SubscriberConfig(email="a@example.org", watchlists=["syria"], schedule="immediate")
    with Database(f"sqlite:///{tmp_path / 'nw.db'}") as db:
        with db.session() as session:
            upsert_article(session, _article(71000003, "Rakka", NOW), NOW)
            session.commit()
        match_articles(db, [WatchlistConfig(name="syria", terms=["Rakka"])], now=NOW)
        built = build_digests(db, [subscriber], mail, now=NOW)
        assert built == []
        assert built.not_rendered == {"a@example.org": f"{gone} is not a folder"}
        with db.session() as session:
            [row] = session.scalars(select(OutboxMessage)).all()
        assert (row.status, row.last_error) == (
            "not_rendered",
            f"digest not rendered: {gone} is not a folder",
        )
