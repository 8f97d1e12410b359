"""Where a webhook endpoint may point. In production (``OUTBOUND_ALLOW_PRIVATE_URLS`` off) an endpoint
must resolve only to public addresses: private, loopback, link-local, shared (CGNAT), multicast, reserved
and unspecified ranges are refused — when the endpoint is saved *and* when each delivery is sent (DNS can
change). A delivery connects to the very address it checked (``Destination.pinned``), so a name that
resolves differently a moment later (DNS rebinding) cannot redirect it; redirects are never followed.

The URL rule (``URL_PATTERN``) is also the API's JSON Schema pattern: http(s), a host name or IPv4
address, an optional port, a path and query; no user:password (secrets do not belong in URLs shown on
pages), no fragment.
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_PCHAR = "A-Za-z0-9._~!$&'()*+,;=:@%/-"
URL_PATTERN = f"^https?://{_LABEL}(?:\\.{_LABEL})*(?::{_PORT})?(?:/[{_PCHAR}]*)?(?:\\?[{_PCHAR}?]*)?$"
URL_MAX_LENGTH = 2000
_URL_RE = re.compile(URL_PATTERN)
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class UnsafeDestination(ValueError):
    """The URL is malformed or resolves to an address endpoints may not use. Safe to show."""


def url_valid(url: str) -> bool:
    return len(url) <= URL_MAX_LENGTH and bool(_URL_RE.fullmatch(url))


def address_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


@dataclass(frozen=True)
class Destination:
    url: str
    host: str
    port: int
    address: str | None  # the checked address to connect to (None: not pinned, private URLs allowed)

    @property
    def pinned(self) -> tuple[str, dict]:
        """``(url, extra headers)`` connecting to ``address`` with the original Host (and TLS name)."""
        if self.address is None:
            return self.url, {}
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        return parts._replace(netloc=netloc).geturl(), {"Host": parts.netloc}


def destination_check(url: str, *, resolve=socket.getaddrinfo) -> Destination:
    """Check ``url`` (syntax always; its addresses unless private URLs are allowed)."""
    if not url_valid(url):
        raise UnsafeDestination("Enter an http:// or https:// URL with a host name (no user:password).")
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if settings.OUTBOUND_ALLOW_PRIVATE_URLS:
        return Destination(url, host, port, None)
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeDestination(f"The host {host} does not resolve.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UnsafeDestination(f"The host {host} does not resolve.")
    refused = [a for a in addresses if not address_public(a)]
    if refused:
        raise UnsafeDestination(
            f"The host {host} resolves to a private, loopback or link-local address ({refused[0]}); "
            "webhook endpoints must be public."
        )
    return Destination(url, host, port, addresses[0])
