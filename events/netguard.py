"""Which webhook URLs we may send to: http(s) only, and (unless allowed) only to public addresses.

A merchant's URL is checked when the endpoint is created and again before every
delivery, since DNS can change in between. Every address the host resolves to
must be globally routable (``ipaddress``'s ``is_global``, and not multicast,
reserved, loopback, link-local, private or unspecified); one bad address refuses
the URL. ``resolve_host`` is a module-level function so tests can replace it.

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


def is_public_address(address: str) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local, reserved…"""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_unspecified
    )


def private_urls_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_URLS", False))


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
