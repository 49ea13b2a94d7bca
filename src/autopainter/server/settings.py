"""Settings of the web app and REST API: one dataclass, checked when built, filled by ``autopainter serve``.

Every default is declared here (and the URL fetch limits in ``fetch.FetchPolicy``): the serve command
reads its option defaults from these dataclasses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..imageio import DEFAULT_MAX_PIXELS
from .fetch import MB, FetchPolicy

__all__ = ["ServerSettings", "FetchPolicy", "default_data_dir"]


def default_data_dir() -> Path:
    """Where the app keeps its state (the visitor counter): ``$AUTOPAINTER_DATA_DIR``, else
    ``$XDG_DATA_HOME/autopainter``, else ``~/.local/share/autopainter``."""
    if os.environ.get("AUTOPAINTER_DATA_DIR"):
        return Path(os.environ["AUTOPAINTER_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "autopainter"


@dataclass
class ServerSettings:
    """Everything ``create_app`` needs besides the model itself."""

    model_dir: str | Path | None = None  # model folder (config.json + model.safetensors); None: the bundled model
    device: str = "cpu"  # cpu or cuda
    size: int | None = None  # working resolution, long side in px; None: the size the model was trained at
    max_upload_bytes: int = 20 * MB  # largest request body (all of a request's files together); larger: 413
    # largest image (upload or URL), width x height, checked before decoding (bombs): the CLI's and the library's
    # limit too (8192 x 8192), so a sketch the CLI colors is not refused by the page; a larger one runs alone
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_in_flight: int = 4  # requests colored (or sketched, fetched) at once; beyond that: 503 + Retry-After
    max_pixels_in_flight: int = 4096 * 2048  # image pixels worked on at once, all requests; more wait their turn
    region_cache_bytes: int = 256 * MB  # regions kept per sketch, gap and closing lines (5 bytes a pixel), so a re-color does not segment again
    retry_after_s: int = 2  # the Retry-After a 503 carries
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides localhost and the loopback addresses ("*": any)
    # How autopainter serve holds connections (connections.py; another ASGI server has its own rules):
    max_connections: int = 256  # open connections; beyond it idle ones are closed first, then 503
    header_timeout_s: float = 5.0  # a connection must send a whole request head this soon (else it is closed)
    body_timeout_s: float = 10.0  # a request body's grace before it must keep min_body_rate (else 408)
    min_body_rate: int = 64 * 1024  # bytes/s a request body must average after body_timeout_s
    shutdown_timeout_s: float = 10.0  # after SIGTERM/Ctrl+C, requests in flight get this long; then exit 143 (130)
    data_dir: str | Path | None = None  # where visitors.sqlite3 lives; None: default_data_dir()
    fetch: FetchPolicy = field(default_factory=FetchPolicy)  # what image URLs may reach, how long and how much

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "max_in_flight", "max_pixels_in_flight", "max_connections",
                     "min_body_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if isinstance(self.region_cache_bytes, bool) or not isinstance(self.region_cache_bytes, int) or self.region_cache_bytes < 0:
            raise ValueError(f"region_cache_bytes must be a whole number >= 0, got {self.region_cache_bytes!r}")
        if isinstance(self.retry_after_s, bool) or not isinstance(self.retry_after_s, int) or self.retry_after_s < 0:
            raise ValueError(f"retry_after_s must be a whole number >= 0, got {self.retry_after_s!r}")
        for name in ("header_timeout_s", "body_timeout_s", "shutdown_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a number > 0, got {value!r}")
        if not self.shutdown_timeout_s < 1e6:  # a deadline: inf would wait for ever (and cannot be timed)
            raise ValueError(f"shutdown_timeout_s must be below 1e6 seconds, got {self.shutdown_timeout_s!r}")
        if self.max_connections <= self.max_in_flight:
            raise ValueError(f"max_connections ({self.max_connections}) must be above max_in_flight ({self.max_in_flight}): "
                             "health checks and refusals need connections of their own")
        hosts = (self.allowed_hosts,) if isinstance(self.allowed_hosts, str) else tuple(self.allowed_hosts)
        for h in hosts:
            if not isinstance(h, str) or not h.strip() or any(c in h for c in "/ @"):
                raise ValueError(f"allowed_hosts (--allowed-hosts): {h!r} is not a host name or address")
        self.allowed_hosts = tuple(h.strip() for h in hosts)
        if self.size is not None and self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if not isinstance(self.fetch, FetchPolicy):
            raise ValueError(f"fetch must be a FetchPolicy, got {type(self.fetch).__name__}")

    @property
    def counter_path(self) -> Path:
        return Path(self.data_dir if self.data_dir is not None else default_data_dir()) / "visitors.sqlite3"
