"""The web app as an operator starts it: `newswatch web` and `newswatch run` as real processes
serving on loopback ports, reached over HTTP. Each test asserts what an operator notices: pages
that answer, exit codes, the one line a refusal prints, a port that closes on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo import DemoServer
from tests.service_helpers import (
    ROOT,
    Mailbox,
    Service,
    config_text,
    free_port,
    smtp_server,
    wait_for,
)

STOP_TIMEOUT = 30
TOKEN = "operator-token-for-tests"


def web_config(folder: Path, listen: str) -> Path:
    path = folder / "newswatch.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{folder / "newswatch.db"}"\n\n'
        '[[watchlists]]\nname = "syria"\nterms = ["Raqqa"]\n\n'
        f'[web]\nlisten = "{listen}"\n',
        encoding="utf-8",
    )
    return path


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    return clean | (extra or {})


class Command:
    """`newswatch --config PATH ARGS...` in a subprocess, its output in a file."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path = config.with_name(f"{args[0]}-{free_port()}.log")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scheduler.cli", "--config", str(config), *args],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=environment(env),
            )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        return self.process.wait(timeout)

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def commands() -> Iterator[list[Command]]:
    started: list[Command] = []
    try:
        yield started
    finally:
        for command in started:
            command.kill()


def answers(url: str, headers: dict[str, str] | None = None) -> httpx.Response | None:
    try:
        return httpx.get(url, headers=headers, timeout=5, follow_redirects=False)
    except httpx.TransportError:
        return None


def wait_serving(url: str, command: Command | Service) -> None:
    def ready() -> bool:
        process = command.process
        if process is not None and process.poll() is not None:
            raise AssertionError(f"exited {process.returncode} before serving:\n{command.log()}")
        return answers(url) is not None

    wait_for(f"{url} to answer", ready, timeout=60)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_newswatch_web_serves_the_archive_until_sigterm(
    tmp_path: Path, commands: list[Command]
) -> None:
    port = free_port()
    config = web_config(tmp_path, "127.0.0.1:1")  # --listen overrides the config's address
    web = Command(config, "web", "--listen", f"127.0.0.1:{port}")
    commands.append(web)
    base = f"http://127.0.0.1:{port}"
    wait_serving(base + "/", web)

    home = httpx.get(base + "/")
    assert home.status_code == 200 and "text/html" in home.headers["content-type"]
    watchlists = httpx.get(base + "/watchlists")
    assert watchlists.status_code == 200 and "syria" in watchlists.text
    # a link token (here a forged one) is a key: the access log shows the path without it
    assert httpx.get(base + "/preferences/Zm9yZ2Vk.c2VjcmV0").status_code == 400

    assert web.stop() == 0, web.log()
    assert not port_open(port)
    assert "Traceback" not in web.log()
    assert '"GET /watchlists HTTP/1.1" 200' in web.log()
    assert '"GET /preferences/… HTTP/1.1" 400' in web.log()
    assert "Zm9yZ2Vk" not in web.log()


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path, commands: list[Command]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = web_config(tmp_path, f"127.0.0.1:{port}")
        for args in (("web",), ("run",)):
            command = Command(config, *args)
            commands.append(command)
            assert command.wait() == 1, command.log()
            assert (
                f"newswatch: cannot listen on 127.0.0.1:{port}: the address is already in use"
                in (command.log())
            )
            assert "Traceback" not in command.log()
            assert "newswatch service started" not in command.log()


def test_listening_beyond_loopback_without_the_token_is_refused(
    tmp_path: Path, commands: list[Command]
) -> None:
    port = free_port()
    config = web_config(tmp_path, f"0.0.0.0:{port}")
    for args in (("web",), ("run",), ("web", "--listen", f"0.0.0.0:{port}")):
        command = Command(config, *args)
        commands.append(command)
        assert command.wait() == 2, command.log()
        [line] = command.log().splitlines()
        assert line == (
            f"newswatch: config error: web.listen: the web app listens on 0.0.0.0:{port} "
            "beyond loopback: set NEWSWATCH_WEB_TOKEN (the operator's token for /status) or "
            f"listen on 127.0.0.1:{port}"
        )
    assert not port_open(port)


def test_on_a_public_bind_the_dashboard_needs_the_operators_token(
    tmp_path: Path, commands: list[Command]
) -> None:
    port = free_port()
    config = web_config(tmp_path, f"0.0.0.0:{port}")
    web = Command(config, "web", env={"NEWSWATCH_WEB_TOKEN": TOKEN})
    commands.append(web)
    base = f"http://127.0.0.1:{port}"  # reached from this machine, yet the bind is public
    wait_serving(base + "/", web)

    page = httpx.get(base + "/status")
    assert page.status_code in (303, 307, 401), page.text
    assert page.status_code == 401 or page.headers["location"].startswith("/login")
    assert httpx.get(base + "/api/status").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.get(base + "/api/status", headers=wrong).status_code == 401

    operator = {"Authorization": f"Bearer {TOKEN}"}
    dashboard = httpx.get(base + "/status", headers=operator)
    assert dashboard.status_code == 200 and "syria" in dashboard.text
    status = httpx.get(base + "/api/status", headers=operator)
    assert status.status_code == 200
    assert [w["name"] for w in status.json()["watchlists"]] == ["syria"]
    assert web.stop() == 0, web.log()


def test_newswatch_run_serves_the_web_app_moves_it_on_reload_and_stops_with_it(
    tmp_path: Path,
) -> None:
    port, moved = free_port(), free_port()
    mailbox = Mailbox()
    with DemoServer() as site, smtp_server(mailbox) as smtp_port:
        config = tmp_path / "newswatch.toml"

        def write(listen_port: int) -> None:
            database = f"sqlite:///{tmp_path / 'newswatch.db'}"
            listen = f"127.0.0.1:{listen_port}"
            text = config_text(database, site, smtp_port, every="1h", web_listen=listen)
            config.write_text(text, encoding="utf-8")

        write(port)
        service = Service(config, tmp_path / "service.log")
        try:
            service.start()
            service.wait_log("newswatch service started")
            assert f"web app serving on http://127.0.0.1:{port}" in service.log()
            service.wait_log("new matches")  # the first crawl stored and matched the demo site
            page = httpx.get(f"http://127.0.0.1:{port}/watchlists/syria")
            assert page.status_code == 200 and "Raqqa" in page.text

            write(moved)  # SIGHUP: the web app follows [web] listen
            service.signal(signal.SIGHUP)
            service.wait_log("config reloaded")
            assert httpx.get(f"http://127.0.0.1:{moved}/watchlists").status_code == 200
            assert not port_open(port)

            service.signal(signal.SIGTERM)
            assert service.wait(STOP_TIMEOUT) == 0, service.log()
            assert "newswatch service stopped" in service.log()
            assert "web app stopped" in service.log()
            assert not port_open(moved)
        finally:
            service.cleanup()
