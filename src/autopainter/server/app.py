"""The web app and REST API: ``create_app(settings) -> FastAPI``.

A thin shell over the library (``Colorizer``, ``extract_sketch``, ``imageio.decode_image``); the endpoints
live on one ``api.ImageAPI`` object, which reaches the colorizer through the typed ``api.ColoringService``:

* ``GET /`` the page (``static/``: plain HTML, CSS and JavaScript, nothing from a CDN), ``GET /docs``
  the OpenAPI docs (Swagger UI served from the ``fastapi-offline`` package, also offline);
* ``POST /api/v1/colorize`` (``style`` flat or soft; ``format`` png, json or ora), ``POST /api/v1/regions`` (the label map of the
  sketch's closed regions), ``POST /api/v1/sketchify``, ``POST /api/v1/fetch`` (an image URL, checked
  and re-served for the page), ``GET /api/v1/health``, ``GET /api/v1/examples``, ``GET /api/v1/visitors``.

Work (decoding, fetching, the generator, encoding) runs in worker threads, at most
``settings.max_in_flight`` requests at once; one more is answered at once with 503 and Retry-After
rather than queued, before its body is read (``guard.Guard``, which also checks the Host, the origin and
the byte cap). Every error is a JSON ``{"error": "..."}`` with a 4xx status (500 only for a bug, without
the traceback, which goes to the server log). Results go back in the response, so there are no result
files to name or prune (uploads over 1 MB are spooled to a temporary file for the request only, and
decoded from there).
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .api import COLORIZE_FORMATS, VISITOR_COOKIE, ColoringService, ImageAPI, visitor_cookie
from .bounds import InFlight, PixelBudget
from .counter import Counter
from .fetch import Resolver
from .guard import Guard, clip_message
from .hosts import HostAllowList
from .memory import release_memory
from .responses import APIError
from .settings import ServerSettings

__all__ = ["create_app", "STATIC_DIR", "COLORIZE_FORMATS"]

log = logging.getLogger("autopainter.server")
STATIC_DIR = Path(__file__).parent / "static"


def _examples() -> list[dict[str, Any]]:
    out = []
    for p in sorted((STATIC_DIR / "examples").glob("*.png")):
        with Image.open(p) as im:
            out.append({"name": p.stem, "url": f"/static/examples/{p.name}", "width": im.width, "height": im.height})
    return out


def _disk_full(e: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT OSError behind ``e`` (its causes and contexts), if any: FastAPI answers a form whose
    upload could not be spooled to disk with a plain 400."""
    import errno

    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def create_app(settings: ServerSettings | None = None, colorizer: ColoringService | None = None,
               resolver: Resolver | None = None):
    """The FastAPI app.

    Args:
        settings: limits, model folder, data folder (defaults: ``ServerSettings()``).
        colorizer: a loaded ``Colorizer``, or anything else that is a ``api.ColoringService``; None loads
            ``settings.model_dir`` (None: the bundled model), raising ModelFileError when there is none.
        resolver: host name resolution for URL fetches, ``(host, port) -> [ip, ...]`` (tests); None: the system's.
    """
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError as e:  # pragma: no cover - the serve extra installs it
        raise ImportError(f"the web app needs its extra: pip install 'autopainter[serve]' ({e})") from None

    settings = settings or ServerSettings()
    if colorizer is None:
        from ..inference import Colorizer

        colorizer = Colorizer.from_pretrained(settings.model_dir, device=settings.device, size=settings.size,
                                              max_pixels=settings.max_pixels, region_cache_bytes=settings.region_cache_bytes)
    counter = Counter(settings.counter_path)
    gate = InFlight(settings.max_in_flight, on_idle=release_memory)
    budget = PixelBudget(settings.max_pixels_in_flight, after_big=release_memory)
    index_html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    model_name = Path(settings.model_dir).name if settings.model_dir else "bundled"
    api = ImageAPI(settings, colorizer, gate, budget, counter, _examples(), model_name, resolver)

    @asynccontextmanager
    async def lifespan(app):
        yield
        try:
            counter.flush()
        except Exception:
            log.exception("visitor counter")

    app = FastAPIOffline(
        lifespan=lifespan,
        title="Auto-Painter",
        version=__version__,
        description="Color black-and-white line art, guided by optional color hints. Errors are JSON "
                    '`{"error": "..."}`; busy servers answer 503 with Retry-After.',
        redoc_url=None,
        static_url="/static-docs",
    )
    app.state.settings, app.state.gate, app.state.counter = settings, gate, counter
    app.add_middleware(Guard, max_body=settings.max_upload_bytes, gate=gate, hosts=HostAllowList(settings.allowed_hosts),
                       retry_after_s=settings.retry_after_s)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ------------------------------------------------------------------ errors: always {"error": ...}
    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError):
        return JSONResponse({"error": clip_message(e.message)}, e.status, headers=e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        full = _disk_full(e)
        if full is not None:  # the multipart parser could not spool the upload: the server's fault, said and logged
            logging.getLogger("autopainter.server").error("no room to spool an upload on %s: %s", request.url.path, full)
            return JSONResponse({"error": "the server has no room for the upload now; try again later"}, 507,
                                headers={"Retry-After": str(settings.retry_after_s)})
        return JSONResponse({"error": clip_message(str(e.detail))}, e.status_code, headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception):  # never a traceback or plain text to the client
        logging.getLogger("autopainter.server").exception("unexpected error on %s", request.url.path)
        return JSONResponse({"error": "internal error"}, 500)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, e: RequestValidationError):
        parts = []
        for err in e.errors()[:3]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
        return JSONResponse({"error": clip_message("; ".join(parts) or "invalid request")}, 422)

    # ------------------------------------------------------------------ page
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        response = HTMLResponse(index_html, headers={"Cache-Control": "no-cache"})
        if VISITOR_COOKIE not in request.cookies:
            visitor_cookie(response, "0")  # counted when the page asks for the count (nothing is written now)
        return response

    # ------------------------------------------------------------------ API
    api.add_routes(app)

    return app
