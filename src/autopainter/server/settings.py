"""Settings of the web app and REST API: one dataclass, checked when built, filled by ``autopainter serve``."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServerSettings", "default_data_dir"]

MB = 1 << 20


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
    max_upload_bytes: int = 20 * MB  # largest request body (sketch and hints together); larger: 413
    max_pixels: int = 4096 * 4096  # largest image, width x height, checked before decoding (decompression bombs)
    max_in_flight: int = 4  # requests colored (or sketched, fetched) at once; beyond that: 503 + Retry-After
    retry_after_s: int = 2  # the Retry-After a 503 carries
    url_allow: tuple[str, ...] = ()  # hosts or CIDR networks that URLs may reach although private (intranets, tests)
    url_timeout_s: float = 10.0  # per URL: connect and read timeout, and the deadline of the whole download
    url_max_bytes: int = 20 * MB  # largest download from a URL
    url_max_redirects: int = 3  # redirects followed (each one checked again)
    data_dir: str | Path | None = None  # where visitors.sqlite3 lives; None: default_data_dir()
    allowed_hosts: frozenset[str] = field(init=False, repr=False)  # url_allow's host names, lower case
    allowed_networks: tuple = field(init=False, repr=False)  # url_allow's networks (ipaddress objects)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "max_in_flight", "url_max_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if not isinstance(self.url_max_redirects, int) or self.url_max_redirects < 0:
            raise ValueError(f"url_max_redirects must be a whole number >= 0, got {self.url_max_redirects!r}")
        if not isinstance(self.retry_after_s, int) or self.retry_after_s < 0:
            raise ValueError(f"retry_after_s must be a whole number >= 0, got {self.retry_after_s!r}")
        if not self.url_timeout_s > 0:
            raise ValueError(f"url_timeout_s must be > 0, got {self.url_timeout_s!r}")
        if self.size is not None and self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        hosts, nets = set(), []
        for item in (self.url_allow,) if isinstance(self.url_allow, str) else self.url_allow:
            item = item.strip()
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
                continue
            except ValueError:
                pass
            name = item.lower().rstrip(".")
            if not name or "/" in name or ":" in name or " " in name:
                raise ValueError(f"url_allow: {item!r} is neither a host name nor an IP network (e.g. 10.0.0.0/8)")
            hosts.add(name)
        self.url_allow = tuple((self.url_allow,) if isinstance(self.url_allow, str) else self.url_allow)
        self.allowed_hosts = frozenset(hosts)
        self.allowed_networks = tuple(nets)

    @property
    def counter_path(self) -> Path:
        return Path(self.data_dir if self.data_dir is not None else default_data_dir()) / "visitors.sqlite3"
