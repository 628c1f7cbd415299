"""Where a webhook may go: a public host over https, judged at submission.

A caller aims the Worker's webhook POST, so an unchecked URL would make the Worker
call its own network (loopback, the cloud metadata address, private ranges) and tell
the caller what answered. A host is judged as fetch will read it (WHATWG URL): an IPv4
address may be written in decimal (`2130706433`), hex (`0x7f000001`), octal
(`0177.0.0.1`) or short (`127.1`); IPv6 may carry an IPv4 address (`::ffff:127.0.0.1`).
Every spelling is parsed to the address it names, and only global unicast addresses
pass. Names that are local by definition (`localhost`, `*.local`, `*.internal`, a name
without a dot) are refused; the Workers runtime itself reaches no private network, so a
public name that resolves to a private address is not reached either. The URL is sent
as rebuilt here, never as typed, so this judgement and fetch read the same host."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from .settings import Settings

MAX_URL = 2000
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan", ".intranet", ".corp")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "broadcasthost"}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")  # no spaces, controls, backslashes checked apart


class BadTarget(ValueError):
    """The URL is not a public https endpoint (the message says why)."""


@dataclass(frozen=True)
class Policy:
    allow_local: bool = False  # WEBHOOK_ALLOW_LOCAL: local development only (http, loopback, private hosts)
    own_hosts: tuple[str, ...] = ()  # this Worker's own host names: never a webhook target


def policy_for(settings: Settings, request_host: str | None = None) -> Policy:
    """The deployment's policy: this Worker's own hosts (PUBLIC_BASE_URL's, the request's) are never targets."""
    own = {urlsplit(settings.public_base_url).hostname or "", (request_host or "").lower()} - {""}
    return Policy(allow_local=settings.webhook_allow_local, own_hosts=tuple(sorted(own)))


def _ipv4_part(part: str) -> int | None:
    """One dotted part as WHATWG reads it: 0x… hex, 0… octal, else decimal; None if not a number."""
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if digits == "":
        return 0 if base == 16 else None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a numeric host names (WHATWG IPv4 parser), None when it is a name.
    A host whose last part is numeric but does not parse is refused: fetch refuses it too."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts.pop()
    last = parts[-1] if parts else ""
    if not (last.isdigit() or last[:2].lower() == "0x" and all(c in "0123456789abcdefABCDEF" for c in last[2:])):
        return None
    numbers = [_ipv4_part(p) for p in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise BadTarget(f"host {host!r} is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise BadTarget(f"host {host!r} is not a valid IPv4 address")
    address = values[-1]
    for i, n in enumerate(values[:-1]):
        address += n << (8 * (3 - i))
    return ipaddress.IPv4Address(address)


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not _public(embedded):
            return False
        if address.ipv4_mapped is not None:
            return True
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _host_problem(host: str, policy: Policy) -> str | None:
    if host.startswith("["):
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"host {host!r} is not a valid IPv6 address"
    else:
        address = _ipv4(host)
    if address is not None:
        return None if _public(address) or policy.allow_local else f"host {host!r} is not a public address"
    name = host.rstrip(".")
    if not all(_LABEL.match(label) for label in name.split(".")):
        return f"host {host!r} is not a valid host name"
    if policy.allow_local:
        return None
    if name in policy.own_hosts:
        return "a webhook may not call this Worker itself"
    if name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES) or "." not in name:
        return f"host {host!r} is a local name"
    return None


def checked(url: str, policy: Policy) -> str:
    """The URL to send to (rebuilt from its parts), or BadTarget saying why it may not be."""
    if len(url) > MAX_URL or not _PRINTABLE.match(url) or "\\" in url:
        raise BadTarget("webhook_url must be a printable URL of at most 2000 characters, without spaces or backslashes")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_local):
        raise BadTarget("webhook_url must be an https URL")
    if "@" in parts.netloc:
        raise BadTarget("webhook_url may not carry a user name or password")
    netloc = parts.netloc.lower()
    host, _, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    if host == "" or not (port == "" or port.isdigit() and 0 < int(port) < 65536):
        host, port = netloc, ""
    if "%" in host or host == "":
        raise BadTarget("webhook_url needs a plain host name")
    problem = _host_problem(host, policy)
    if problem:
        raise BadTarget(f"webhook_url: {problem}")
    return urlunsplit((scheme, host + (f":{port}" if port else ""), parts.path or "/", parts.query, ""))
