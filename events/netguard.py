"""Which webhook URLs we may send to: http(s) only, and (unless allowed) only to public addresses.

A merchant's URL is checked when the endpoint is created and again before every
delivery, since DNS can change in between. Every address the host resolves to
must be globally routable (``ipaddress``'s ``is_global``, and not multicast,
reserved, loopback, link-local, private or unspecified); one bad address refuses
the URL. ``resolve_host`` is a module-level function so tests can replace it.

IPv6 forms that carry an IPv4 address (issue 12, item 5) are judged by that address too,
since a tunnel or translator on the path delivers to it: 6to4 (2002::/16), Teredo
(2001::/32, server and client), NAT64 (64:ff9b::/96; the local-use 64:ff9b:1::/48 is
refused whole, its layout being the operator's), IPv4-mapped (::ffff:0:0/96),
IPv4-compatible (::/96) and IPv4-translated (::ffff:0:0:0/96). One non-public embedded
address refuses the URL; a public one leaves the verdict to the IPv6 address itself
(6to4 of 8.8.8.8 is accepted, Teredo and the deprecated forms never are), except that a
mapped or NAT64 address is the IPv4 address it translates to.

What this does not stop: a DNS answer that changes between our check and the
connection ``requests`` makes (rebinding). Production should also send webhooks
through an egress proxy that refuses private ranges.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class UrlRefused(Exception):
    """The URL may not receive webhooks; ``str(exc)`` says why, safe to show to the merchant."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6). Raises OSError when it does not resolve."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return sorted({info[4][0] for info in infos})


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str
    host: str
    port: int


def parse_url(url: str) -> ParsedUrl:
    """Check the URL's form: http or https, a host, no credentials. Raises UrlRefused."""
    if not isinstance(url, str) or not url or len(url) > 2048 or any(c.isspace() for c in url):
        raise UrlRefused("url must be an absolute http or https URL of at most 2048 characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("url is not a valid URL.") from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("url must start with http:// or https://.")
    if not parts.hostname:
        raise UrlRefused("url must name a host.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("url must not contain credentials.")
    return ParsedUrl(scheme=parts.scheme, host=parts.hostname, port=port or (443 if parts.scheme == "https" else 80))


_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: any RFC 6052 layout the operator picks
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291, deprecated
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (6to4, Teredo, NAT64, mapped, compatible, translated)."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:  # (server, client); the client's address un-XOR-ed
        found.extend(ip.teredo)
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64_WELL_KNOWN or ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED:
        found.append(low32)
    return found


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (
        ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_unspecified
    )


def is_public_address(address: str) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local, reserved…

    An IPv6 address that embeds an IPv4 address is public only if that address is too (module docstring).
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL_USE:
            return False
        embedded = embedded_ipv4(ip)
        if not all(_is_public(ipv4) for ipv4 in embedded):
            return False
        if ip.ipv4_mapped is not None or ip in _NAT64_WELL_KNOWN:
            return True  # the IPv4 address it stands for, public (above)
    return _is_public(ip)


def private_urls_allowed() -> bool:
    return settings.WEBHOOK_ALLOW_PRIVATE_URLS


def check_url(url: str) -> ParsedUrl:
    """Raise UrlRefused for a URL that may not receive webhooks now (resolves the host unless private is allowed)."""
    parsed = parse_url(url)
    if private_urls_allowed():
        return parsed
    try:
        addresses = [parsed.host] if _is_ip_literal(parsed.host) else resolve_host(parsed.host, parsed.port)
    except (OSError, UnicodeError) as exc:
        raise UrlRefused(f"The host {parsed.host!r} of url does not resolve.") from exc
    if not addresses:
        raise UrlRefused(f"The host {parsed.host!r} of url does not resolve.")
    for address in addresses:
        if not is_public_address(address):
            raise UrlRefused(
                f"url must resolve to public addresses only; {parsed.host!r} resolves to a loopback, private, "
                "link-local or reserved address."
            )
    return parsed


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
