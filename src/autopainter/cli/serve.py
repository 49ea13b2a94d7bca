"""``autopainter serve``: the web app and REST API under uvicorn, bound before it starts.

The option defaults are read from ``server.ServerSettings`` and ``server.fetch.FetchPolicy``, so the
dataclasses are the one place they are declared.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from .outputs import CLIError

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

    missing = missing_dependencies()
    if missing:
        raise CLIError(f"the web app needs {', '.join(missing)}: pip install 'autopainter[serve]'")
    import uvicorn

    from ..server import ServerSettings, create_app
    from ..server.fetch import FetchPolicy

    for name in ("max_upload_mb", "max_pixels", "max_in_flight"):
        if not 0 < getattr(args, name) < float("inf"):
            raise CLIError(f"--{name.replace('_', '-')} must be a number > 0, got {getattr(args, name)}")
    settings = ServerSettings(
        model_dir=args.model, device=args.device, size=args.size, max_upload_bytes=int(args.max_upload_mb * MB),
        max_pixels=args.max_pixels, max_in_flight=args.max_in_flight, data_dir=args.data_dir,
        fetch=FetchPolicy(allow=tuple(args.allow_url or ())),
    )
    app = create_app(settings)  # loads the model first: a missing model is a one-line error, not a dead page
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"
    if host not in ("127.0.0.1", "::1") and not host.startswith("127."):
        print(f"autopainter: warning: listening on {host}: anyone who can reach this machine can use the app", file=sys.stderr)
    print(f"Auto-Painter is running at {url}  (API docs: {url}docs; Ctrl+C stops it)", flush=True)
    config = uvicorn.Config(app, log_level="warning" if args.quiet else "info", access_log=not args.quiet,
                            limit_concurrency=max(64, 16 * args.max_in_flight), timeout_keep_alive=5)
    uvicorn.Server(config).run(sockets=[sock])
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
    v.add_argument("--model", default=d["model_dir"], metavar="DIR", help="model folder (default: the bundled model)")
    v.add_argument("--size", type=int, default=d["size"], metavar="PX",
                   help="working resolution, long side in pixels (default: the model's training size)")
    v.add_argument("--device", default=d["device"], help=f"cpu or cuda (default: {d['device']})")
    v.add_argument("--max-upload-mb", type=float, default=d["max_upload_bytes"] / MB, metavar="MB",
                   help=f"largest request body (default: {d['max_upload_bytes'] / MB:g})")
    v.add_argument("--max-pixels", type=int, default=d["max_pixels"], metavar="N",
                   help=f"largest image, width x height (default: {d['max_pixels']})")
    v.add_argument("--max-in-flight", type=int, default=d["max_in_flight"], metavar="N",
                   help=f"requests worked on at once; more get 503 (default: {d['max_in_flight']})")
    v.add_argument("--allow-url", action="append", metavar="HOST|CIDR",
                   help="a private host or network that image URLs may reach (repeatable; default: none)")
    v.add_argument("--data-dir", default=d["data_dir"], metavar="DIR",
                   help="where the visitor counter is kept (default: ~/.local/share/autopainter)")
    v.add_argument("-q", "--quiet", action="store_true", help="no request log")
    v.set_defaults(func=cmd_serve)
