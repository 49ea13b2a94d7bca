"""``autopainter serve``: the web app and REST API under uvicorn, bound before it starts.

The option defaults are read from ``server.ServerSettings`` and ``server.fetch.FetchPolicy``, so the
dataclasses are the one place they are declared.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from .outputs import CLIError, check_size

__all__ = ["add_serve_command", "cmd_serve"]

MB = 2**20


def _defaults(cls: type) -> dict[str, Any]:
    """Field name -> default value of a dataclass, without building (and so validating) an instance."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def cmd_serve(args: argparse.Namespace) -> int:
    from ..server import missing_dependencies

    check_size(args)
    missing = missing_dependencies()
    if missing:
        raise CLIError(f"the web app needs {', '.join(missing)}: pip install 'autopainter[serve]'")
    from ..server import ServerSettings, create_app
    from ..server.connections import run_server
    from ..server.fetch import FetchPolicy
    from ..server.hosts import hosts_for_bind

    if not 0 <= args.region_cache_mb < float("inf"):
        raise CLIError(f"--region-cache-mb must be a number >= 0, got {args.region_cache_mb}")
    for name in ("max_upload_mb", "max_pixels", "max_in_flight", "max_pixels_in_flight", "max_connections"):
        if not 0 < getattr(args, name) < float("inf"):
            raise CLIError(f"--{name.replace('_', '-')} must be a number > 0, got {getattr(args, name)}")
    # The Host names served: localhost always (the app adds it), the --host address, this machine's addresses
    # and names when listening on all interfaces, and --allowed-hosts.
    allowed = [*hosts_for_bind(args.host), *(h for item in args.allowed_hosts or () for h in item.split(",") if h.strip())]
    try:
        settings = ServerSettings(
            model_dir=args.model, device=args.device, size=args.size, max_upload_bytes=int(args.max_upload_mb * MB),
            max_pixels=args.max_pixels, max_in_flight=args.max_in_flight, data_dir=args.data_dir,
            max_pixels_in_flight=args.max_pixels_in_flight, max_connections=args.max_connections,
            header_timeout_s=args.header_timeout, body_timeout_s=args.body_timeout, allowed_hosts=tuple(allowed),
            shutdown_timeout_s=args.shutdown_timeout, region_cache_bytes=int(args.region_cache_mb * MB),
            fetch=FetchPolicy(allow=tuple(args.allow_url or ())),
        )
    except ValueError as e:
        raise CLIError(str(e)) from None
    app = create_app(settings)  # loads the model first: a missing model is a one-line error, not a dead page
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"
    if host not in ("127.0.0.1", "::1") and not host.startswith("127."):
        print(f"autopainter: warning: listening on {host}: anyone who can reach this machine can use the app", file=sys.stderr)
    print(f"Auto-Painter is running at {url}  (API docs: {url}docs; Ctrl+C stops it)", flush=True)
    # SIGTERM/Ctrl+C: requests in flight get --shutdown-timeout, then the process exits 143 (130)
    run_server(app, settings, sockets=[sock], log_level="warning" if args.quiet else "info", access_log=not args.quiet)
    return 0


def _listen(host: str, port: int):
    """A bound TCP socket, so that a taken port is a one-line error before the server starts."""
    import socket

    if not 0 <= port <= 65535:
        raise CLIError(f"--port must be in 0..65535, got {port}")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror:
        raise CLIError(f"--host {host}: not an address of this machine") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise CLIError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port") from None
    return sock


def add_serve_command(sub) -> None:
    """Add ``serve`` to the ``autopainter`` subparsers ``sub``."""
    from ..server.settings import ServerSettings  # light: no FastAPI until create_app

    d = _defaults(ServerSettings)
    v = sub.add_parser("serve", help="start the web app and REST API",
                       description="Start the web page and REST API (FastAPI + uvicorn); needs pip install 'autopainter[serve]'.")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    v.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    v.add_argument("--model", default=d["model_dir"], metavar="DIR", help="model folder (default, or 'bundled': the bundled model)")
    v.add_argument("--size", type=int, default=d["size"], metavar="PX",
                   help="working resolution, long side in pixels (default: the model's training size)")
    v.add_argument("--device", default=d["device"], help=f"cpu or cuda (default: {d['device']})")
    v.add_argument("--max-upload-mb", type=float, default=d["max_upload_bytes"] / MB, metavar="MB",
                   help=f"largest request body (default: {d['max_upload_bytes'] / MB:g})")
    v.add_argument("--max-pixels", type=int, default=d["max_pixels"], metavar="N",
                   help=f"largest image, width x height (default: {d['max_pixels']})")
    v.add_argument("--max-in-flight", type=int, default=d["max_in_flight"], metavar="N",
                   help=f"requests worked on at once; more get 503 (default: {d['max_in_flight']})")
    v.add_argument("--max-pixels-in-flight", type=int, default=d["max_pixels_in_flight"], metavar="N",
                   help="image pixels worked on at once, all requests together (memory grows with them); "
                        f"more wait their turn (default: {d['max_pixels_in_flight']})")
    v.add_argument("--region-cache-mb", type=float, default=d["region_cache_bytes"] / MB, metavar="MB",
                   help="memory for the regions of recent sketches (5 bytes a pixel), so a re-color with new hints does "
                        f"not find them again; 0 keeps none (default: {d['region_cache_bytes'] / MB:g})")
    v.add_argument("--max-connections", type=int, default=d["max_connections"], metavar="N",
                   help=f"open connections; beyond it idle ones are closed, then requests get 503 (default: {d['max_connections']})")
    v.add_argument("--header-timeout", type=float, default=d["header_timeout_s"], metavar="S",
                   help="seconds a connection has to send a whole request head; idle and half-sent ones are closed "
                        f"(default: {d['header_timeout_s']:g})")
    v.add_argument("--body-timeout", type=float, default=d["body_timeout_s"], metavar="S",
                   help=f"seconds of grace for a request body, after which it must arrive at {d['min_body_rate'] // 1024} KiB/s "
                        f"on average; slower: 408 (default: {d['body_timeout_s']:g})")
    v.add_argument("--shutdown-timeout", type=float, default=d["shutdown_timeout_s"], metavar="S",
                   help="seconds the requests in flight get after SIGTERM or Ctrl+C; then the server exits 143 "
                        f"(130 for Ctrl+C) without them (default: {d['shutdown_timeout_s']:g})")
    v.add_argument("--allowed-hosts", action="append", metavar="NAME[,NAME]",
                   help="Host names the server answers to besides localhost, the --host address and, with --host 0.0.0.0, "
                        "this machine's addresses: the names a browser or proxy uses to reach it (repeatable; "
                        "'.example.org' is the domain and its subdomains; '*' any, which turns off the DNS-rebinding guard)")
    v.add_argument("--allow-url", action="append", metavar="HOST|CIDR",
                   help="a private host or network that image URLs may reach (repeatable; default: none)")
    v.add_argument("--data-dir", default=d["data_dir"], metavar="DIR",
                   help="where the visitor counter is kept (default: ~/.local/share/autopainter)")
    v.add_argument("-q", "--quiet", action="store_true", help="no request log")
    v.set_defaults(func=cmd_serve)
