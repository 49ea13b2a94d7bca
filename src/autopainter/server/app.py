"""The web app and REST API: ``create_app(settings) -> FastAPI``.

A thin shell over the library (``Colorizer``, ``extract_sketch``, ``imageio.decode_image``):

* ``GET /`` the page (``static/``: plain HTML, CSS and JavaScript, nothing from a CDN), ``GET /docs``
  the OpenAPI docs (Swagger UI served from the ``fastapi-offline`` package, also offline);
* ``POST /api/v1/colorize`` (``style`` flat or soft), ``POST /api/v1/regions`` (the label map of the
  sketch's closed regions), ``POST /api/v1/sketchify``, ``POST /api/v1/fetch`` (an image URL, checked
  and re-served for the page), ``GET /api/v1/health``, ``GET /api/v1/examples``, ``GET /api/v1/visitors``.

Work (decoding, fetching, the generator, encoding) runs in worker threads, at most
``settings.max_in_flight`` requests at once; one more is answered at once with 503 and Retry-After
rather than queued. Every error is a JSON ``{"error": "..."}`` with a 4xx status (500 only for a bug,
without the traceback, which goes to the server log). Results go back in the response, so there are no
result files to name or prune (uploads over 1 MB are spooled to a temporary file for the request only).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any, Callable

import anyio
import numpy as np
from fastapi import File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..data.sketch import SKETCH_METHODS, extract_sketch
from ..imageio import ImageError, decode_image, flatten_on_white
from .counter import Counter
from .fetch import FetchError, Resolver, fetch_image
from ..inference.colorizer import STYLES
from ..inference.regions import MAX_GAP, check_gap, encode_png, encode_runs, segment
from .responses import APIError, image_response, png_bytes, read_upload, status_of, too_large, wants_json
from .settings import ServerSettings

__all__ = ["create_app", "STATIC_DIR"]

log = logging.getLogger("autopainter.server")
STATIC_DIR = Path(__file__).parent / "static"
VISITOR_COOKIE = "autopainter_visitor"
_BROWSER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
             "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


class InFlight:
    """A counter of requests being worked on, with a bound: enter() is False when full (never waits)."""

    def __init__(self, limit: int):
        self.limit, self.count = limit, 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.count >= self.limit:
                return False
            self.count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


class _Guard:
    """ASGI middleware: caps request bodies (413 before anything is parsed) and adds security headers."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_page = scope["path"] == "/"

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if is_page:
                    headers += [(b"content-security-policy", _PAGE_CSP.encode()), (b"x-frame-options", b"DENY")]
                message = {**message, "headers": headers}
            await send(message)

        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send_with_headers)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await too_large(self.max_body)(scope, receive, send_with_headers)
        # Read the whole body here (at most max_body bytes), then hand it to the app.
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                return await too_large(self.max_body)(scope, receive, send_with_headers)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send_with_headers)


def _examples() -> list[dict[str, Any]]:
    out = []
    for p in sorted((STATIC_DIR / "examples").glob("*.png")):
        with Image.open(p) as im:
            out.append({"name": p.stem, "url": f"/static/examples/{p.name}", "width": im.width, "height": im.height})
    return out


def create_app(settings: ServerSettings | None = None, colorizer: Any = None, resolver: Resolver | None = None):
    """The FastAPI app.

    Args:
        settings: limits, model folder, data folder (defaults: ``ServerSettings()``).
        colorizer: a loaded ``Colorizer`` (the app uses ``__call__``, ``colorize`` and ``size``); None loads
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
                                              max_pixels=settings.max_pixels)
    counter = Counter(settings.counter_path)
    policy = settings.fetch
    gate = InFlight(settings.max_in_flight)
    examples = _examples()
    index_html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    model_name = Path(settings.model_dir).name if settings.model_dir else "bundled"

    app = FastAPIOffline(
        title="Auto-Painter",
        version=__version__,
        description="Color black-and-white line art, guided by optional color hints. Errors are JSON "
                    '`{"error": "..."}`; busy servers answer 503 with Retry-After.',
        redoc_url=None,
        static_url="/static-docs",
    )
    app.state.settings, app.state.gate, app.state.counter = settings, gate, counter
    app.add_middleware(_Guard, max_body=settings.max_upload_bytes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ------------------------------------------------------------------ errors: always {"error": ...}
    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError):
        return JSONResponse({"error": e.message}, e.status, headers=e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, e: StarletteHTTPException):
        return JSONResponse({"error": str(e.detail)}, e.status_code, headers=getattr(e, "headers", None))

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
        return JSONResponse({"error": "; ".join(parts) or "invalid request"}, 422)

    async def run_gated(job: Callable[[], Any]) -> Any:
        """Run ``job`` in a worker thread if a slot is free; else 503 at once."""
        if not gate.enter():
            raise APIError(503, f"busy: {gate.limit} requests are being worked on; try again in a moment",
                           {"Retry-After": str(settings.retry_after_s)})
        try:
            # the thread is never abandoned on cancellation, so the slot is held until the work ends
            return await anyio.to_thread.run_sync(job)
        except (ImageError, FetchError, ValueError) as e:
            raise APIError(status_of(e), str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None
        except APIError:
            raise
        except Exception:
            log.exception("request failed")
            raise APIError(500, "internal error while processing the image (see the server log)") from None
        finally:
            gate.leave()

    def load_input(data: bytes | None, url: str | None, what: str) -> Image.Image:
        if url:
            img, _ = fetch_image(url, policy, settings.max_pixels, resolver)
            return img
        return decode_image(data, name=what, max_pixels=settings.max_pixels)

    def one_source(data: bytes | None, url: str | None, what: str) -> None:
        if data is not None and url:
            raise APIError(422, f"give either a {what} file or a url, not both")
        if data is None and not url:
            raise APIError(422, f"missing input: send a {what} file (multipart field '{what}') or a url")

    # ------------------------------------------------------------------ page
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        response = HTMLResponse(index_html, headers={"Cache-Control": "no-cache"})
        if VISITOR_COOKIE not in request.cookies:
            try:
                counter.increment()
                response.set_cookie(VISITOR_COOKIE, "1", max_age=365 * 24 * 3600, httponly=True, samesite="lax")
            except Exception:  # a locked or broken counter file must not take the page down
                log.exception("visitor counter")
        return response

    # ------------------------------------------------------------------ API
    png_or_json = {
        "content": {"image/png": {}, "application/json": {"example": {"width": 512, "height": 384, "media_type": "image/png", "image": "iVBORw0..."}}},
        "description": "the image as PNG, or JSON with base64 PNGs when format=json",
    }
    error_responses = {
        code: {"description": why, "content": {"application/json": {"example": {"error": "..."}}}}
        for code, why in [(400, "bad URL"), (413, "too large (bytes or pixels)"), (415, "not an image"),
                          (422, "corrupt image or bad parameter"), (503, "busy: retry after Retry-After seconds")]
    }

    @app.get("/api/v1/health", tags=["service"])
    def health():
        """Whether the app is up, its model and limits, and how busy it is."""
        return {
            "status": "ok",
            "version": __version__,
            "model": {"name": model_name, "working_size": colorizer.size},
            "layers": True,  # format=json&layers=true gives the color layer, the line layer and the flats
            "styles": list(STYLES), "default_style": getattr(colorizer, "style", "soft"),
            "in_flight": gate.count,
            "max_in_flight": gate.limit,
            "limits": {"max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                       "url_max_bytes": policy.max_bytes, "url_timeout_s": policy.timeout_s},
            "sketch_methods": list(SKETCH_METHODS),
        }

    @app.get("/api/v1/examples", tags=["page"])
    def list_examples():
        """Example sketches to try, served under /static/examples/."""
        return {"examples": examples}

    @app.get("/api/v1/visitors", tags=["page"])
    def visitors():
        """How many browsers have opened the page (kept in SQLite across restarts)."""
        return {"visitors": counter.get()}

    @app.post("/api/v1/colorize", tags=["images"], responses={200: png_or_json, **error_responses}, response_class=Response)
    async def colorize(
        request: Request,
        sketch: UploadFile | None = File(None, description="the sketch: PNG, JPEG, WebP, BMP, GIF or TIFF (or give url)"),
        hints: UploadFile | None = File(None, description="optional RGBA PNG, transparent except painted colors; any size (stretched over the sketch)"),
        url: str | None = Form(None, description="http(s) URL of the sketch, instead of the file"),
        format: str | None = Form(None, description="png (default) or json (base64 PNGs); also a query parameter"),
        layers: bool = Form(False, description="with format=json: also the color layer, the transparent line layer and the flats"),
        style: str | None = Form(None, description="flat (one color per region; the default) or soft (the model's colors as they vary)"),
    ):
        """Color a sketch. The result has the sketch's exact size."""
        as_json = wants_json(request, format)
        if layers and not as_json:
            raise APIError(422, "layers come as JSON: add format=json")
        if style is not None and style not in STYLES:
            raise APIError(422, f"style must be one of: {', '.join(STYLES)}; got {style!r}")
        sketch_data = await read_upload(sketch, "sketch")
        hints_data = await read_upload(hints, "hints")
        one_source(sketch_data, url, "sketch")

        chosen = {"style": style} if style is not None else {}  # a colorizer of one's own may not know styles

        def job() -> dict[str, Any]:
            sk = load_input(sketch_data, url, "sketch")
            hint = decode_image(hints_data, name="hints", max_pixels=settings.max_pixels) if hints_data else None
            if layers:
                res = colorizer.colorize(sk, hints=hint, **chosen)
                images = {"image": res.image, "color": res.color, "lines": res.lines, "flats": res.flats}
                images = {k: v for k, v in images.items() if v is not None}
            else:
                images = {"image": colorizer(sk, hints=hint, **chosen)}
            return {"size": images["image"].size, **{k: png_bytes(v) for k, v in images.items()}}

        out = await run_gated(job)
        return image_response(out, as_json, "colored.png", layer_names=tuple(k for k in ("color", "lines", "flats") if k in out) if layers else ())

    @app.post("/api/v1/regions", tags=["images"], responses={200: {"content": {"image/png": {}, "application/json": {}}},
                                                             **error_responses}, response_class=Response)
    async def regions(
        request: Request,
        sketch: UploadFile | None = File(None, description="the sketch (or give url)"),
        url: str | None = Form(None, description="http(s) URL of the sketch, instead of the file"),
        format: str | None = Form(None, description="png (default: label = R + 256 G + 65536 B) or json (run lengths)"),
        gap: int | None = Form(None, description=f"widest gap in a line (px) that still closes a region, 0-{MAX_GAP} "
                                                 "(default: twice the line width)"),
    ):
        """The sketch's closed regions at its full size, as the flat style and a fill tool use them: every
        pixel's region number (1..count; line pixels belong to the nearest region)."""
        as_json = wants_json(request, format)
        try:
            check_gap(gap)
        except ValueError as e:
            raise APIError(422, str(e)) from None
        data = await read_upload(sketch, "sketch")
        one_source(data, url, "sketch")

        def job() -> Any:
            sk = np.asarray(flatten_on_white(load_input(data, url, "sketch")).convert("L"))
            found = segment(sk, gap=gap if gap is not None else getattr(colorizer, "gap", None))
            return encode_runs(found) if as_json else (encode_png(found), found)

        out = await run_gated(job)
        if as_json:
            return Response(json.dumps(out), media_type="application/json", headers={"Cache-Control": "no-store"})
        body, found = out
        h, w = found.labels.shape
        return Response(body, media_type="image/png", headers={
            "Cache-Control": "no-store", "X-Image-Width": str(w), "X-Image-Height": str(h),
            "X-Region-Count": str(found.count), "X-Region-Gap": str(found.gap)})

    @app.post("/api/v1/sketchify", tags=["images"], responses={200: png_or_json, **error_responses}, response_class=Response)
    async def sketchify(
        request: Request,
        image: UploadFile | None = File(None, description="a colored image (or give url)"),
        url: str | None = Form(None, description="http(s) URL of the image, instead of the file"),
        method: str = Form("xdog", description=f"line extraction: {', '.join(SKETCH_METHODS)}"),
        format: str | None = Form(None, description="png (default) or json"),
    ):
        """Extract black-on-white line art from a colored image (the same function training uses)."""
        as_json = wants_json(request, format)
        if method not in SKETCH_METHODS:
            raise APIError(422, f"unknown method {method!r}; choose one of: {', '.join(SKETCH_METHODS)}")
        data = await read_upload(image, "image")
        one_source(data, url, "image")

        def job() -> dict[str, Any]:
            rgb = np.asarray(flatten_on_white(load_input(data, url, "image")))  # (H, W, 3) uint8
            sk = Image.fromarray(extract_sketch(rgb, method=method))  # (H, W) gray, 255 paper
            return {"size": sk.size, "image": png_bytes(sk)}

        out = await run_gated(job)
        return image_response(out, as_json, "sketch.png")

    @app.post("/api/v1/fetch", tags=["images"], responses={200: {"content": {"image/png": {}}}, **error_responses}, response_class=Response)
    async def fetch(url: str = Form(..., description="http(s) URL of an image")):
        """Download an image from a URL (checked against SSRF, size-capped) and send it back, so the page can show
        it. PNG, JPEG, WebP and GIF come back as they are; other formats as PNG."""

        def job() -> tuple[bytes, str]:
            img, data = fetch_image(url, policy, settings.max_pixels, resolver)
            if img.format in _BROWSER_FORMATS:
                return data, _BROWSER_FORMATS[img.format]
            return png_bytes(img), "image/png"

        data, media = await run_gated(job)
        return Response(data, media_type=media, headers={"Cache-Control": "no-store"})

    return app
