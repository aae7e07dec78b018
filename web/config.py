"""``[web]``: where the web app listens, the address mail links use, who may read what.

The two secrets come from the environment only (scheduler.config fills them): ``token`` from
``$NEWSWATCH_WEB_TOKEN`` (the operator's: the dashboard, and the archive and feeds when the app
listens beyond loopback and is not ``public``), ``secret_key`` from ``$NEWSWATCH_SECRET_KEY``
(signs subscriber and feed links; generated and kept in the database when unset). Neither is
ever written back (``exclude``) nor shown in a repr."""

from __future__ import annotations

import ipaddress
import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_LISTEN = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\s\[\]]+):(?P<port>\d{1,5})$")


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ENV_TOKEN: ClassVar[str] = "NEWSWATCH_WEB_TOKEN"
    ENV_SECRET_KEY: ClassVar[str] = "NEWSWATCH_SECRET_KEY"

    listen: str = Field(
        default="127.0.0.1:8080",
        description="host:port the web app listens on (`newswatch run` and `newswatch web`); "
        "empty: no web app",
    )
    base_url: str = Field(
        default="", description="the public address in mail links; empty: http://<listen>"
    )
    public: bool = Field(
        default=False,
        description="archive, search and feeds open to anyone (else, beyond loopback, they "
        "need the operator token or a feed token)",
    )
    token: SecretStr | None = Field(
        default=None, exclude=True, description="the operator's token; from the environment"
    )
    secret_key: SecretStr | None = Field(
        default=None, exclude=True, description="signs links; from the environment"
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        found = _LISTEN.match(value)
        if not found or not 0 < int(found["port"]) < 65536:
            raise ValueError(f"listen must be host:port (e.g. 127.0.0.1:8080), not {value!r}")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            raise ValueError(f"base_url must be an http(s) address, not {value!r}")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    @property
    def host(self) -> str:
        found = _LISTEN.match(self.listen)
        return found["host"].strip("[]") if found else ""

    @property
    def port(self) -> int:
        found = _LISTEN.match(self.listen)
        return int(found["port"]) if found else 0

    @property
    def loopback(self) -> bool:
        """Whether the app listens on loopback only (then only this machine reaches it)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve to anything
            return False

    @property
    def link_base(self) -> str:
        """The address mail links start with."""
        if self.base_url:
            return self.base_url
        return f"http://{self.listen or '127.0.0.1:8080'}"
