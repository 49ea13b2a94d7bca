"""The web app and REST API of Auto-Painter (``autopainter serve``; needs ``pip install 'autopainter[serve]'``).

``create_app(settings) -> FastAPI`` in ``app.py``; ``ServerSettings`` in ``settings.py`` (it holds the URL
fetch limits, a ``FetchPolicy``); the SSRF-safe image URL fetcher in ``fetch.py``; the page in ``static/``.
Importing this package does not import FastAPI; ``create_app`` does.
"""

from __future__ import annotations

from .settings import FetchPolicy, ServerSettings, default_data_dir

__all__ = ["ServerSettings", "FetchPolicy", "create_app", "default_data_dir", "missing_dependencies"]

SERVE_MODULES = ("fastapi", "uvicorn", "multipart", "httpx", "fastapi_offline")


def missing_dependencies() -> list[str]:
    """The modules of the ``serve`` extra that are not installed."""
    import importlib.util

    return [m for m in SERVE_MODULES if importlib.util.find_spec(m) is None]


def create_app(*args, **kwargs):
    """See ``autopainter.server.app.create_app``."""
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)
