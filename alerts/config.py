"""The alerts stage's configuration: who gets what, and how mail goes out."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from alerts.address import SenderAddress, parse_address
from alerts.channels import parse_channel
from alerts.schedules import Schedule, parse_schedule
from store.durations import DAY, HOUR, bounded_duration

_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
CommandTimeout = Annotated[float, bounded_duration(HOUR, positive=True)]  # mail.*timeout
GiveUpAfter = Annotated[float, bounded_duration(30 * DAY)]  # and at least an hour


def _schedule_of(value: object) -> Schedule:
    """The schedule text, parsed (in UTC until the subscriber's model knows its time zone);
    ScheduleError is a ValueError, its message names the forms."""
    if isinstance(value, Schedule):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    return parse_schedule(" ".join(value.split()))


# parsed once, here; written back (model_dump, the demo's TOML) as its text
ScheduleField = Annotated[
    Schedule,
    PlainValidator(_schedule_of, json_schema_input_type=str),
    PlainSerializer(lambda schedule: schedule.text, return_type=str),
]


class SubscriberConfig(BaseModel):
    """Who gets which watchlists, when, and where: by email, through channels (chat, push,
    webhooks: `alerts.channels`), or both. ``key`` names them everywhere (states, deliveries,
    choices, `status`): their address, or, with no email, their ``name``."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    channels: list[str] = []  # Apprise URLs and webhook+https:// URLs, ${VAR} for secrets
    watchlists: list[str] = Field(min_length=1)
    schedule: ScheduleField = Field(default="daily 07:00", validate_default=True)  # in timezone
    timezone: str = "UTC"

    @property
    def key(self) -> str:
        """The subscriber's identity in the database and in messages: the email address, or
        the name of a subscriber reached through channels only."""
        key = self.email or self.name
        assert key is not None  # the model validator makes sure
        return key

    @field_validator("email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or "@" in value or "/" in value):
            raise ValueError(f"{value!r}: a name has no '@', no '/' and no spaces around it")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for index, url in enumerate(value):
            try:
                parse_channel(url)
            except ValueError as error:
                raise ValueError(f"channels[{index}]: {error}") from None
        if len(set(value)) != len(value):
            raise ValueError("a channel appears twice")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _reachable(self) -> SubscriberConfig:
        if self.email is None and not self.channels:
            raise ValueError("a subscriber needs an email, channels, or both")
        if self.email is None and self.name is None:
            raise ValueError(
                "a subscriber without an email needs a name (how `status`, the logs and "
                "`notify-test` call them)"
            )
        return self

    @model_validator(mode="after")
    def _schedule_in_timezone(self) -> SubscriberConfig:
        if self.schedule.timezone != self.timezone:
            self.schedule = parse_schedule(self.schedule.text, self.timezone)
        return self


class MailConfig(BaseModel):
    """How mail goes out. ``password`` is the one secret: scheduler.config fills it from
    $NEWSWATCH_SMTP_PASSWORD (a config file may not hold it); it shows as ``**********`` in a
    repr and is left out of ``model_dump``/``model_dump_json``, so no written config has it."""

    model_config = ConfigDict(extra="forbid")
    ENV_PASSWORD: ClassVar[str] = "NEWSWATCH_SMTP_PASSWORD"

    sender: SenderAddress = Field(
        default=parse_address("newswatch <newswatch@localhost>", "sender"),
        description="the From address; its bare address is the envelope sender",
    )
    smtp_url: str = Field(default="", description="empty: deliver into `maildir`")
    maildir: str = "mail"
    templates: str = ""
    timeout: CommandTimeout = Field(
        default=30.0, description="connecting, the greeting, each SMTP command"
    )
    data_timeout: CommandTimeout = Field(
        default=600.0,
        description="the server's reply to the end of a message (RFC 5321 4.5.3.2.6: 10 min)",
    )
    uncertain_retries: int = Field(
        default=1, ge=0, le=5, description="sends again after the server's reply was lost"
    )
    give_up_after: GiveUpAfter = Field(
        default=5 * DAY,
        ge=HOUR,
        description="a message still not accepted this long after it was queued fails",
    )
    password: SecretStr | None = Field(
        default=None, exclude=True, description="for the smtp_url user; from the environment"
    )

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value and not re.match(r"^(smtp|smtps|smtp\+starttls)://[^/\s]+", value):
            raise ValueError(
                "smtp_url must look like smtp://, smtps:// or smtp+starttls://host:port"
            )
        if re.match(r"^[^:]+://[^@/]*:[^@/]*@", value):
            raise ValueError(f"put no password in smtp_url; set {cls.ENV_PASSWORD} instead")
        return value


class ChannelsConfig(BaseModel):
    """How digests go out through chat, push and webhook channels (`alerts.channel_delivery`).
    Retries follow the outbox's backoff, as for mail."""

    model_config = ConfigDict(extra="forbid")

    timeout: CommandTimeout = Field(
        default=30.0, description="connecting to a channel's service, and waiting for its answer"
    )
    max_articles: int = Field(
        default=10, ge=1, le=100, description="articles listed in a chat or push message"
    )
    uncertain_retries: int = Field(
        default=1, ge=0, le=5, description="sends again after the service's answer was lost"
    )
    give_up_after: GiveUpAfter = Field(
        default=1 * DAY,
        ge=HOUR,
        description="a message still not accepted this long after it was queued fails",
    )
    concurrency: int = Field(
        default=4,
        ge=1,
        le=32,
        description="channel messages sent at once (one slow service does not hold up the others)",
    )
