"""What the edge records of a browser: the address it came from and the device it says it is.

Both end up in the log and in the certificate of completion, so neither may be free text
from the request. The address is an IP address parsed by `ipaddress`, or nothing: the
direct peer, unless that peer is a proxy the operator named (`--trusted-proxy`); then the
forwarding headers are walked from the right, past every trusted proxy, to the nearest
hop nobody trusted, which is the first one a client could not have written itself. The
device is the User-Agent with control and bidi characters removed and cut to a length,
with a short human form beside it ("Safari 17 on iPad").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from aiohttp import web

from ceremony.text import without_unsafe
from signatures.consent_desk import Client

from .appkeys import SETTINGS
from .settings import ProxyNetwork

MAX_DEVICE = 300  # characters of a User-Agent kept
_PORT = re.compile(r":[0-9]{1,5}")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def observe(request: web.Request) -> Client:
    """The client of this request, as recorded for an enrollment or a consent."""
    device = device_text(request.headers.get("User-Agent", ""))
    return Client(address=address_of(request), device=device, device_summary=device_summary(device))


def address_of(request: web.Request) -> str:
    """The client's IP address behind the trusted proxies (--trusted-proxy), or ""."""
    return client_address(
        request.remote,
        request.headers.getall("X-Forwarded-For", []),
        request.headers.getall("Forwarded", []),
        request.app[SETTINGS].trusted_proxies,
    )


def forwarded_proto(request: web.Request) -> str | None:
    """The scheme a trusted proxy (--trusted-proxy) says the client used, or None: from anyone
    else, X-Forwarded-Proto is the client's own word and decides nothing."""
    direct = parse_address(request.remote or "")
    if direct is None or not _trusted(direct, request.app[SETTINGS].trusted_proxies):
        return None
    proto = request.headers.get("X-Forwarded-Proto", "").strip().lower()
    return proto if proto in ("http", "https") else None


def client_address(
    peer: str | None, forwarded_for: Sequence[str], forwarded: Sequence[str], trusted: Sequence[ProxyNetwork]
) -> str:
    """The client's IP address as normalised text, or "" when nothing trustworthy names one.

    X-Forwarded-For is read when present, else Forwarded (RFC 7239 `for=`); a proxy in front
    must set the one it uses and drop the other, or a client may write it.
    """
    direct = parse_address(peer or "")
    if direct is None:
        return ""
    if not _trusted(direct, trusted):
        return str(direct)
    if forwarded_for:
        hops = [hop.strip() for line in forwarded_for for hop in line.split(",")]
    else:
        hops = [_forwarded_for(element) for line in forwarded for element in line.split(",")]
    nearest = direct
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return ""  # the nearest untrusted hop is garbage or hidden ("unknown", "_obfuscated")
        nearest = address
        if not _trusted(address, trusted):
            break
    return str(nearest)


def parse_address(text: str) -> IPAddress | None:
    """An IP address from a peer name or a forwarded hop ("[2001:db8::1]:443", "192.0.2.1:80"), or None."""
    text = text.strip().strip('"')
    if text.startswith("["):  # IPv6, perhaps with a port
        text, bracket, port = text[1:].partition("]")
        if not bracket or (port and not _PORT.fullmatch(port)):
            return None
    elif text.count(":") == 1:  # IPv4 with a port
        text, _, port = text.partition(":")
        if not _PORT.fullmatch(":" + port):
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        # A zone ("fe80::1%eth0") is free text after the '%': keep the address, not the zone.
        return ipaddress.IPv6Address(address.packed)
    return address


def _forwarded_for(element: str) -> str:
    for pair in element.split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return value
    return ""


def _trusted(address: IPAddress, trusted: Sequence[ProxyNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def device_text(user_agent: str) -> str:
    """The User-Agent as recorded: no control or bidi characters, single spaces, at most MAX_DEVICE characters."""
    return " ".join(without_unsafe(user_agent).split())[:MAX_DEVICE]


# The browser's own token comes before Chrome's and Safari's, which every Chromium and WebKit browser also sends.
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\b(?:OPR|OPT)/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[.\d]*(?: Mobile/\S+)? Safari/")),
)
_SYSTEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iPad", re.compile(r"\biPad\b")),
    ("iPhone", re.compile(r"\biPhone\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def device_summary(device: str) -> str:
    """The device in a few words ("Chrome 131 on Android", "Safari 17 on iPad"); "" if it names nothing we know."""
    browser = next((f"{name} {m.group(1)}" for name, pattern in _BROWSERS if (m := pattern.search(device))), "")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(device)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system


def limit_key(request: web.Request) -> str:
    """What per-client limits (web/limits.py) count against: the client's address behind the trusted
    proxies; clients whose address cannot be told share one share."""
    return address_of(request) or "unknown"
