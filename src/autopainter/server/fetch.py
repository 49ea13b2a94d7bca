"""Fetching an image from a user-given URL without letting the URL reach inside the network (SSRF).

A URL typed into a public web page makes the server open a connection on the user's behalf. Without
care that connection can reach what only the server can: ``http://127.0.0.1:6379/``, the cloud
metadata service at ``169.254.169.254``, the office intranet. So, for every hop (the URL and each
redirect, at most ``max_redirects``):

1. only ``http`` and ``https``, no credentials in the URL;
2. the host name is resolved here, and *every* address it resolves to is checked with ``ipaddress``:
   loopback, private, link-local, multicast, reserved, unspecified and other non-global addresses are
   refused, including IPv4 addresses wrapped in IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64);
3. the connection goes to the address that was checked (never to a second lookup, which a
   DNS-rebinding server could answer differently), with the original ``Host`` header and TLS server
   name, so virtual hosts and certificate checks work as usual;
4. redirects are followed by hand, each one checked again from step 1;
5. the body is streamed with a byte cap and a deadline for the whole download, and must decode as an
   image (``imageio.decode_image``, with its pixel cap).

Proxies from the environment are ignored: a proxy would resolve the names itself. ``FetchPolicy.allow``
(``autopainter serve --allow-url``) opens chosen private hosts or networks, for an intranet or tests.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from PIL import Image

from ..imageio import decode_image

__all__ = ["FetchError", "FetchTooLargeError", "FetchPolicy", "address_problem", "fetch_bytes", "fetch_image", "short_url"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]  # (host, port) -> IP address strings
MAX_URL_LENGTH = 2048
_REDIRECTS = (301, 302, 303, 307, 308)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_USER_AGENT = "autopainter-fetch/1 (+image URL input of the Auto-Painter web app)"


class FetchError(ValueError):
    """A URL that cannot be used; the message says why, in one line."""


class FetchTooLargeError(FetchError):
    """The download is over the byte cap."""


MB = 1 << 20


@dataclass(frozen=True)
class FetchPolicy:
    """What a URL fetch may do; ``ServerSettings.fetch`` holds the web app's. Checked when built."""

    timeout_s: float = 10.0  # connect and read timeout, and the deadline of the whole fetch (name lookup included)
    max_bytes: int = 20 * MB  # largest download
    max_redirects: int = 3  # redirects followed (each one checked again)
    allow: tuple[str, ...] = ()  # host names or CIDR networks that URLs may reach although private (intranets, tests)
    allowed_hosts: frozenset[str] = field(init=False, repr=False)  # allow's host names, lower case
    allowed_networks: tuple = field(init=False, repr=False)  # allow's networks (ipaddress objects)

    def __post_init__(self) -> None:
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) or not self.timeout_s > 0:
            raise ValueError(f"fetch timeout_s must be a number > 0, got {self.timeout_s!r}")
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int) or self.max_bytes < 1:
            raise ValueError(f"fetch max_bytes must be a whole number >= 1, got {self.max_bytes!r}")
        if isinstance(self.max_redirects, bool) or not isinstance(self.max_redirects, int) or self.max_redirects < 0:
            raise ValueError(f"fetch max_redirects must be a whole number >= 0, got {self.max_redirects!r}")
        items = (self.allow,) if isinstance(self.allow, str) else tuple(self.allow)
        hosts, nets = set(), []
        for item in items:
            item = str(item).strip()
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
                continue
            except ValueError:
                pass
            name = item.lower().rstrip(".")
            if not name or "/" in name or ":" in name or " " in name:
                raise ValueError(f"fetch allow (--allow-url): {item!r} is neither a host name nor an IP network "
                                 "(e.g. 10.0.0.0/8)")
            hosts.add(name)
        # frozen: set the normalised and derived fields the way dataclasses do
        object.__setattr__(self, "allow", items)
        object.__setattr__(self, "allowed_hosts", frozenset(hosts))
        object.__setattr__(self, "allowed_networks", tuple(nets))


def address_problem(ip: IPAddress) -> str | None:
    """Why a connection to ``ip`` is refused ("loopback", "private", ...), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d (Python < 3.13 calls them all private)
            return address_problem(ip.ipv4_mapped)
        embedded = [ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        for v4 in embedded:
            if v4 is not None and (problem := address_problem(v4)):
                return problem
    for attr, what in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"), ("is_link_local", "link-local"),
                       ("is_multicast", "multicast"), ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return what
    if not ip.is_global:  # e.g. 100.64.0.0/10, shared address space behind carrier-grade NAT
        return "non-global"
    return None


def _is_allowed_network(ip: IPAddress, policy: FetchPolicy) -> bool:
    cands = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        cands.append(ip.ipv4_mapped)
    return any(c.version == n.version and c in n for c in cands for n in policy.allowed_networks)


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


class _Lookups:
    """Name lookups in worker threads, with a deadline each: ``getaddrinfo`` has no timeout of its own.

    A lookup that outlives its deadline cannot be stopped: its thread stays busy until the system resolver
    gives up. So a lookup is only started when a worker is free for it at once (never queued behind
    hanging ones, which would make every later lookup time out too), and with all ``workers`` hanging
    a fetch fails at once with "try again" rather than waiting.
    """

    def __init__(self, workers: int = 16):
        self.workers, self.busy = workers, 0
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="autopainter-dns")
        self._lock = threading.Lock()

    def _run(self, resolve: Resolver, host: str, port: int) -> list[str]:
        try:
            return list(resolve(host, port))
        finally:
            with self._lock:
                self.busy -= 1

    def __call__(self, resolve: Resolver, host: str, port: int, seconds: float) -> list[str]:
        with self._lock:
            if self.busy >= self.workers:
                raise FetchError(f"{self.workers} host name lookups are still pending; try again in a moment")
            self.busy += 1
        try:
            future = self._pool.submit(self._run, resolve, host, port)
        except BaseException:
            with self._lock:
                self.busy -= 1
            raise
        try:
            return future.result(timeout=max(seconds, 0.0))
        except concurrent.futures.TimeoutError:
            raise FetchError(f"timed out resolving the host {host!r}") from None


_lookup = _Lookups()


def _checked_addresses(host: str, port: int, policy: FetchPolicy, resolve: Resolver, seconds: float | None = None) -> list[IPAddress]:
    """The addresses of ``host``, all of them checked; FetchError when any is refused."""
    try:
        if _is_ip_literal(host):
            found = [host]
        else:
            found = list(dict.fromkeys(_lookup(resolve, host, port, policy.timeout_s if seconds is None else seconds)))
    except (socket.gaierror, UnicodeError, OSError):
        raise FetchError(f"cannot resolve the host {host!r}") from None
    if not found:
        raise FetchError(f"cannot resolve the host {host!r}")
    host_allowed = host.lower().rstrip(".") in policy.allowed_hosts
    ips = []
    for text in found:
        ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id ("fe80::1%eth0")
        if not host_allowed and not _is_allowed_network(ip, policy) and (problem := address_problem(ip)):
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise FetchError(f"refused: {shown} is a {problem} address; URLs must point to public hosts")
        ips.append(ip)
    return ips


def _parse(url: str):
    import httpx

    if not isinstance(url, str) or not url.strip():
        raise FetchError("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        u = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as e:
        raise FetchError(f"not a valid URL ({e})") from None
    if u.scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs can be fetched, not {u.scheme + ':' if u.scheme else 'a relative URL'}")
    if not u.raw_host:
        raise FetchError("the URL has no host")
    if u.userinfo:
        raise FetchError("URLs with a user name or password are not accepted")
    return u


def fetch_bytes(url: str, policy: FetchPolicy, resolve: Resolver | None = None) -> tuple[bytes, str]:
    """Download ``url`` under ``policy``: (body, final URL). Raises FetchError with the reason."""
    import httpx

    resolve = resolve or _system_resolver
    deadline = time.monotonic() + policy.timeout_s
    u = _parse(url)
    timed_out = f"timed out after {policy.timeout_s:g} s"
    # trust_env=False: no proxies from the environment (a proxy would resolve and connect on its own)
    with httpx.Client(timeout=httpx.Timeout(policy.timeout_s), follow_redirects=False, trust_env=False) as client:
        for hop in range(policy.max_redirects + 1):
            host = u.raw_host.decode("ascii")  # IDNA-encoded; IPv6 without brackets
            port = u.port or (443 if u.scheme == "https" else 80)
            # One deadline for the whole fetch: lookups, connects and reads of every hop share it.
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(timed_out)
            try:
                ip = _checked_addresses(host, port, policy, resolve, remaining)[0]
            except FetchError as e:
                raise FetchError(f"redirect to {short_url(str(u))}: {e}" if hop else str(e)) from None
            # Connect to the address that was checked; keep Host and the TLS server name of the URL.
            target = u.copy_with(host=str(ip))
            headers = {"Host": u.netloc.decode("ascii"), "User-Agent": _USER_AGENT, "Accept": "image/*",
                       "Accept-Encoding": "identity"}
            ext = {}
            if u.scheme == "https" and not _is_ip_literal(host):
                ext["sni_hostname"] = host
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(timed_out)
            try:
                with client.stream("GET", target, headers=headers, extensions=ext, timeout=httpx.Timeout(remaining)) as r:
                    if r.status_code in _REDIRECTS and r.headers.get("location"):
                        if hop == policy.max_redirects:
                            raise FetchError(f"too many redirects (more than {policy.max_redirects})")
                        try:
                            u = _parse(str(u.join(r.headers["location"])))
                        except FetchError as e:
                            raise FetchError(f"redirect: {e}") from None
                        except (httpx.InvalidURL, ValueError, TypeError):  # join: e.g. "http:x", "http:\\host/"
                            raise FetchError("redirect: not a valid URL") from None
                        continue
                    if r.status_code != 200:
                        raise FetchError(f"the server answered {r.status_code} {r.reason_phrase}".rstrip())
                    return _read_capped(r, policy, deadline), str(u)
            except httpx.TimeoutException:
                raise FetchError(timed_out) from None
            except httpx.InvalidURL:  # httpx reads a redirect's Location as it answers, even unfollowed: "http:\\host/"
                raise FetchError("redirect: not a valid URL") from None
            except (httpx.HTTPError, httpx.StreamError) as e:  # connection refused, TLS failure, protocol errors ...
                detail = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise FetchError(f"could not fetch the URL ({detail})") from None
    raise AssertionError("unreachable")


def _read_capped(r, policy: FetchPolicy, deadline: float) -> bytes:
    length = r.headers.get("content-length")
    if length and length.isdigit() and int(length) > policy.max_bytes:
        raise FetchTooLargeError(f"the image is {int(length):,} bytes, over the {policy.max_bytes:,}-byte limit")
    chunks, total = [], 0
    for chunk in r.iter_bytes():
        total += len(chunk)
        if total > policy.max_bytes:
            raise FetchTooLargeError(f"the download is over the {policy.max_bytes:,}-byte limit")
        if time.monotonic() > deadline:  # a server trickling bytes must not hold a worker for ever
            raise FetchError(f"timed out after {policy.timeout_s:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def fetch_image(url: str, policy: FetchPolicy, max_pixels: int,
                resolve: Resolver | None = None) -> tuple[Image.Image, bytes]:
    """Download and decode an image of at most ``max_pixels`` (width x height; the web app uses
    ``fetch_bytes`` and decodes within its pixel budget, with the cap of uploads): (decoded image, the bytes).
    Raises FetchError or ImageError."""
    data, final = fetch_bytes(url, policy, resolve)
    return decode_image(data, name=short_url(final), max_pixels=max_pixels), data


def short_url(url: str, n: int = 80) -> str:
    """``url`` cut to ``n`` characters, for messages."""
    return url if len(url) <= n else url[: n - 3] + "..."
