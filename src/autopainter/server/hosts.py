"""Which ``Host`` names the app answers to, and whether a request comes from another site.

**Host allow-list (DNS rebinding).** A page on ``evil.example`` can make its DNS name point at
127.0.0.1 a moment after it loaded; the browser then sends the page's requests to the app on this
machine, as same-origin requests to ``evil.example``, and lets the page read the answers. Checking the
``Host`` header against the names the server is really known by stops that: the request says
``Host: evil.example`` and is refused (421). Always allowed: ``localhost`` (and ``*.localhost``), the
loopback addresses; ``autopainter serve`` adds its ``--host`` address, and when it listens on all
interfaces, this machine's addresses and names; ``--allowed-hosts`` adds more (``.example.org`` is
the domain and its subdomains, ``*`` turns the check off).

**Same origin.** Browsers send cross-site form posts with cookies and without asking; the app has no
accounts, but such a post still spends the server's work on a stranger's page. A request that changes
or costs something (any method but GET, HEAD, OPTIONS) is refused (403) when the browser says it comes
from another site: ``Sec-Fetch-Site: cross-site``, or an ``Origin`` that is not this server's.
Requests without either header (curl, scripts, other non-browser clients) pass.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlsplit

from .fetch import _is_ip_literal

__all__ = ["HostAllowList", "machine_addresses", "hosts_for_bind", "split_host", "cross_site"]

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
ALL_INTERFACES = ("0.0.0.0", "::", "")


def split_host(value: str) -> tuple[str, int | None]:
    """``Host`` header value -> (host lower-case without a trailing dot or IPv6 brackets, port or None).
    A malformed value gives ("", None)."""
    value = value.strip().lower()
    port: int | None = None
    if value.startswith("["):  # [v6]:port
        end = value.find("]")
        if end < 0:
            return "", None
        host, rest = value[1:end], value[end + 1:]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                return "", None
            port = int(rest[1:])
        return host, port
    if value.count(":") == 1:
        host, _, p = value.partition(":")
        if not p.isdigit():
            return "", None
        value, port = host, int(p)
    elif ":" in value:  # a bare IPv6 address (not valid in Host, but unambiguous)
        return (value, None) if _is_ip_literal(value) else ("", None)
    return value.rstrip("."), port


def _canonical(host: str) -> str:
    """An IP address in its one spelling (``::0001`` is ``::1``), a name lower-case without a trailing dot."""
    host = host.strip().lower().strip("[]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host


class HostAllowList:
    """The ``Host`` names a server answers to: ``localhost`` and the loopback addresses always, plus ``extra``
    (names, IP addresses, ``.domain`` for a domain and its subdomains, ``*`` for any host)."""

    def __init__(self, extra: tuple[str, ...] | list[str] = ()):
        self.any = "*" in extra
        # an entry may carry a port (paint.example.org:8080, as a browser's Host shows it): the port is not checked
        extra = [h if h == "*" or h.startswith(".") else (split_host(h)[0] or h) for h in extra]
        self.names: set[str] = {_canonical(h) for h in (*LOCAL_NAMES, *extra) if h and h != "*" and not h.startswith(".")}
        self.domains = tuple(h.lower().rstrip(".") for h in extra if h.startswith(".") and len(h) > 1)

    def allows(self, header: str | None) -> bool:
        """Whether a request with this ``Host`` header is served; no header at all (HTTP/1.0) is."""
        if self.any or header is None:
            return True
        host, _ = split_host(header)
        if not host:
            return False
        host = _canonical(host)
        if host in self.names or host.endswith(".localhost"):
            return True
        if _is_ip_literal(host):
            return ipaddress.ip_address(host).is_loopback
        return any(host == d[1:] or host.endswith(d) for d in self.domains)


def machine_addresses() -> list[str]:
    """This machine's IP addresses and names, as far as they can be found without extra packages:
    the host name and its fully qualified name, what they resolve to, and on Linux every local address
    of every interface (``/proc/net/fib_trie`` for IPv4, ``/proc/net/if_inet6`` for IPv6)."""
    found: list[str] = []
    names = {socket.gethostname()}
    try:
        names.add(socket.getfqdn())
    except OSError:
        pass
    for name in sorted(n for n in names if n):
        found.append(name)
        try:
            found += [info[4][0] for info in socket.getaddrinfo(name, None)]
        except OSError:
            pass
    try:  # lines "|-- 10.1.2.3" followed by "/32 host LOCAL" are this machine's IPv4 addresses
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for prev, line in zip(lines, lines[1:]):
            if line.strip() == "/32 host LOCAL":
                found.append(prev.strip().split()[-1])
    except OSError:
        pass
    try:  # "fe800000000000000000000000000001 02 40 20 80 eth0"
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            hex32 = line.split()[0]
            found.append(str(ipaddress.IPv6Address(bytes.fromhex(hex32))))
    except (OSError, ValueError, IndexError):
        pass
    return list(dict.fromkeys(_canonical(f) for f in found if f))


def hosts_for_bind(host: str) -> list[str]:
    """The ``Host`` names to allow for a server listening on ``host``: that address or name, and when it
    is all interfaces (``0.0.0.0``, ``::``), every address and name of this machine."""
    if host in ALL_INTERFACES:
        return machine_addresses()
    return [_canonical(host)]


def _origin_parts(scheme: str, host: str, port: int | None) -> tuple[str, int | None]:
    default = {"http": 80, "https": 443}.get(scheme)
    return _canonical(host), None if port == default else port


def cross_site(headers, host_header: str | None) -> str | None:
    """Why a request is cross-site by what the browser says (None: same origin, or no browser word on it).

    ``headers``: a mapping with lower-case keys (``sec-fetch-site``, ``origin``); ``host_header``: the
    request's ``Host``. ``Origin`` is compared with ``Host`` by host name and port (the scheme is left out,
    so that a TLS proxy in front, which talks plain HTTP to the app, changes nothing)."""
    if (headers.get("sec-fetch-site") or "").strip().lower() == "cross-site":
        return "Sec-Fetch-Site says cross-site"
    origin = headers.get("origin")
    if origin is None:
        return None
    origin = origin.strip()
    if origin.lower() == "null":  # sandboxed frames, file: pages, redirects across sites
        return "the Origin is null"
    try:
        u = urlsplit(origin)
        theirs = _origin_parts(u.scheme.lower(), u.hostname or "", u.port)
    except ValueError:
        return "the Origin is malformed"
    if host_header is None:
        return "an Origin without a Host"
    host, port = split_host(host_header)
    ours = _canonical(host), port
    # Host carries no scheme: a missing port matches the Origin's scheme default (http 80, https 443)
    if theirs[0] == ours[0] and (theirs[1] == ours[1] or (ours[1] in (80, 443) and theirs[1] is None)):
        return None
    return "the Origin is another site"
