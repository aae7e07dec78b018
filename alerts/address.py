"""Email addresses, parsed once: ``"Name <local@domain>"`` or ``"local@domain"`` becomes an
`Address` (the text as given, the display name, the bare address and its domain).

`mail.sender` is parsed where the config is read (`SenderAddress`, a pydantic field type that
writes the text back), so a sender that is no address is a config error naming the field; a
recipient is parsed from its outbox row just before the row is sent. Addresses may be
internationalised (a non-ASCII local part goes out with SMTPUTF8, see `alerts.transports`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator

# Unicode categories that end a header line or have no business in one: controls (CR, LF, TAB,
# NUL, NEL, ...), line and paragraph separators, lone surrogates.
BREAKING = frozenset({"Cc", "Zl", "Zp", "Cs"})


@dataclass(frozen=True)
class Address:
    text: str  # as given (trimmed): what the From header says, and what a config writes back
    display_name: str  # "" when there is none
    addr_spec: str  # the bare address, ``local@domain``: the envelope's

    @property
    def domain(self) -> str:
        return self.addr_spec.rpartition("@")[2]

    def __str__(self) -> str:
        return self.text


def parse_address(value: str, what: str) -> Address:
    """``value`` as an `Address`; ValueError, naming ``what``, for anything that is not one
    address: control or line-breaking characters, no or several addresses, no local part or
    domain, whitespace in the bare address."""
    text = value.strip()
    if any(unicodedata.category(char) in BREAKING for char in text):
        raise ValueError(f"{what} {value!r} contains control characters")
    found = getaddresses([text])
    if len(found) == 1:
        name, spec = found[0]
        local, at, domain = spec.rpartition("@")
        if at and local and domain and "@" not in local and not any(c.isspace() for c in spec):
            return Address(text, name, spec)
    raise ValueError(f"{what} {value!r} is not an email address")


def _sender(value: object) -> Address:
    if isinstance(value, Address):
        return value
    if not isinstance(value, str):
        raise ValueError("give the sender as text, e.g. 'newswatch <alerts@example.org>'")
    return parse_address(value, "sender")


# `mail.sender`: read from text, written back as text (`scheduler.demo_flow.config_toml`)
SenderAddress = Annotated[Address, PlainValidator(_sender), PlainSerializer(str, return_type=str)]
